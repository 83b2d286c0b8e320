"""Fixtures for tests that need the real engine (marker: ``engine``).

The engine binaries come from ``scripts/engine`` (cached outside the repo).
When they are missing these fixtures FAIL with the command to run: an engine
test that silently skipped would hide that nothing was tested.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tools.engine_env import EngineNotProvided, engine_env
from tools.kube import Cluster
from tools.sandbox import Sandbox, SandboxError


def pytest_configure(config: pytest.Config) -> None:
    # Also registered in the project's pytest configuration; repeating it here
    # keeps `pytest tests/engine` free of unknown-marker warnings on its own.
    config.addinivalue_line(
        "markers",
        "engine: needs the offline engine binaries from scripts/engine (Pulumi CLI, "
        "Kubernetes provider, kube-apiserver, etcd) and starts a sandbox cluster",
    )


@pytest.fixture(scope="session")
def engine() -> dict[str, str]:
    """The engine environment (see tools.engine_env.engine_env)."""
    try:
        return engine_env()
    except EngineNotProvided as err:
        problem = str(err)
    pytest.fail(f"engine not provided: {problem}", pytrace=False)


@pytest.fixture(scope="session")
def sandbox(engine: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """A bare sandbox (API server and controllers, no pods) shared by the session."""
    sb = Sandbox(
        tmp_path_factory.mktemp("sandbox"),
        etcd=engine["MULTISITE_ETCD"],
        kube_apiserver=engine["MULTISITE_KUBE_APISERVER"],
    )
    sb.start()
    try:
        yield sb
    finally:
        sb.stop()


@pytest.fixture(scope="module")
def cluster_sandbox(engine: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """A sandbox cluster for one test module (``Sandbox(cluster=True)``): kube-controller-manager,
    the node agent running cert-manager and Traefik as pods, Pebble as the ACME CA and the load
    balancer, in network namespaces it makes (root needed).

    When it cannot start this FAILS with the reason: a skipped test would hide
    that nothing was proven.
    """
    sb = Sandbox(tmp_path_factory.mktemp("cluster"), cluster=True)
    try:
        sb.start()
    except SandboxError as err:
        pytest.fail(f"the sandbox cluster did not start: {err}", pytrace=False)
    try:
        yield sb
    finally:
        sb.stop()


@pytest.fixture(scope="module")
def kube(cluster_sandbox: Sandbox) -> Cluster:
    """The Kubernetes client of the module's sandbox cluster."""
    return Cluster(cluster_sandbox.kubeconfig)
