"""The sandbox cluster starts, serves the Kubernetes API and stops cleanly."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from kubernetes import client, config

from tools.sandbox import Sandbox, _alive

pytestmark = pytest.mark.engine


def _api_client(kubeconfig: Path) -> client.ApiClient:
    api: client.ApiClient = config.new_client_from_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
    return api


def test_sandbox_serves_and_stops_cleanly(engine: dict[str, str], tmp_path: Path) -> None:
    sb = Sandbox(
        tmp_path / "sb",
        etcd=engine["MULTISITE_ETCD"],
        kube_apiserver=engine["MULTISITE_KUBE_APISERVER"],
    )
    sb.start()
    processes = dict(sb.processes)
    try:
        assert set(processes) == {"etcd", "kube-apiserver", "namespace-reaper"}
        assert sb.server.startswith("https://127.0.0.1:")
        with _api_client(sb.kubeconfig) as api:
            version = client.VersionApi(api).get_code()
            assert version.git_version == "v" + engine["MULTISITE_KUBERNETES_VERSION"]

            core = client.CoreV1Api(api)
            core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="smoke")))
            core.create_namespaced_config_map(
                "smoke",
                client.V1ConfigMap(metadata=client.V1ObjectMeta(name="hello"), data={"greeting": "hi"}),
            )
            got = core.read_namespaced_config_map("hello", "smoke")
            assert got.data == {"greeting": "hi"}
    finally:
        sb.stop()

    for name, info in processes.items():
        assert not _alive(info["pid"], info["start_time"]), f"{name} still running"
    assert not (sb.directory / "sandbox.json").exists()


def test_namespace_delete_completes(sandbox: Sandbox) -> None:
    """The namespace reaper stands in for the namespace controller."""
    with _api_client(sandbox.kubeconfig) as api:
        core = client.CoreV1Api(api)
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="doomed")))
        core.create_namespaced_config_map(
            "doomed", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="c"), data={"a": "b"})
        )
        # Foreground, as the Pulumi provider deletes: the namespace registry then adds
        # the foregroundDeletion finalizer even with the garbage collector off.
        core.delete_namespace("doomed", body=client.V1DeleteOptions(propagation_policy="Foreground"))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            names = {ns.metadata.name for ns in core.list_namespace().items if ns.metadata}
            if "doomed" not in names:
                break
            time.sleep(0.3)
        else:
            pytest.fail("namespace 'doomed' still present after 30 s")
        assert core.list_namespaced_config_map("doomed").items == []


def test_foreground_delete_does_not_hang(sandbox: Sandbox) -> None:
    """With --enable-garbage-collector=false a foreground delete removes the object at once."""
    with _api_client(sandbox.kubeconfig) as api:
        core = client.CoreV1Api(api)
        core.create_namespaced_config_map(
            "default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="fg"), data={"a": "b"})
        )
        core.delete_namespaced_config_map(
            "fg", "default", body=client.V1DeleteOptions(propagation_policy="Foreground")
        )
        names = {c.metadata.name for c in core.list_namespaced_config_map("default").items if c.metadata}
        assert "fg" not in names
