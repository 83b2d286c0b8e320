"""Fixtures for the end-to-end tests (markers ``engine`` and ``e2e``): one sandbox cluster.

The cluster (``Sandbox(cluster=True)``) runs kube-controller-manager, the
node agent, cert-manager's real binaries as pods, Pebble as the ACME CA and
the load balancer, in network namespaces it makes (root needed). The
fixtures are the engine tests' (tests/engine/conftest.py): they fail, never
skip, when the engine is missing or the cluster cannot start.
"""

from tests.engine.conftest import cluster_sandbox, engine, kube  # noqa: F401 - fixtures, shared
