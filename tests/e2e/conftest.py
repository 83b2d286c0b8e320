"""Fixtures for the end-to-end tests (markers ``engine`` and ``e2e``): one sandbox cluster.

The cluster (``Sandbox(cluster=True)``) runs kube-controller-manager, the
node agent, cert-manager's real binaries as pods, Pebble as the ACME CA and
the load balancer, in network namespaces it makes (root needed). When that
cannot start these fixtures FAIL with the reason: a skipped end-to-end test
would hide that nothing was proven.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.engine.conftest import engine  # noqa: F401 - the same fixture: fails with the command to run
from tools.kube import Cluster
from tools.sandbox import Sandbox, SandboxError


@pytest.fixture(scope="session")
def cluster_sandbox(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Sandbox]:
    request.getfixturevalue("engine")  # fails with the command to run when the engine is missing
    sb = Sandbox(tmp_path_factory.mktemp("cluster"), cluster=True)
    try:
        sb.start()
    except SandboxError as err:
        pytest.fail(f"the sandbox cluster did not start: {err}", pytrace=False)
    try:
        yield sb
    finally:
        sb.stop()


@pytest.fixture(scope="session")
def kube(cluster_sandbox: Sandbox) -> Cluster:
    return Cluster(cluster_sandbox.kubeconfig)
