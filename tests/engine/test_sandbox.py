"""The bare sandbox starts, serves the Kubernetes API, runs the real controllers and stops cleanly."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from tools.sandbox import Sandbox
from tools.sandbox.process import alive

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
        assert set(processes) == {"etcd", "kube-apiserver", "kube-controller-manager"}
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
        assert not alive(info["pid"], info["start_time"]), f"{name} still running"
    assert not (sb.directory / "sandbox.json").exists()


def wait_until_gone(read: Callable[[], object], *, seconds: float = 120) -> bool:
    """Poll `read` until it raises 404 (the object is gone); False after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            read()
        except ApiException as err:
            if err.status == 404:
                return True
            raise
        time.sleep(0.3)
    return False


def test_namespace_delete_completes(sandbox: Sandbox) -> None:
    """kube-controller-manager's namespace controller empties and removes a deleted namespace."""
    with _api_client(sandbox.kubeconfig) as api:
        core = client.CoreV1Api(api)
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="doomed")))
        core.create_namespaced_config_map(
            "doomed", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="c"), data={"a": "b"})
        )
        # Foreground, as the Pulumi provider deletes.
        core.delete_namespace("doomed", body=client.V1DeleteOptions(propagation_policy="Foreground"))
        assert wait_until_gone(lambda: core.read_namespace("doomed")), "namespace 'doomed' still present"
        assert core.list_namespaced_config_map("doomed").items == []


def test_garbage_collector_deletes_dependents_and_finishes_foreground_deletes(sandbox: Sandbox) -> None:
    """A foreground delete (as the Pulumi provider deletes) waits for the dependents, then completes."""
    with _api_client(sandbox.kubeconfig) as api:
        core = client.CoreV1Api(api)
        owner: Any = core.create_namespaced_config_map(
            "default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="owner"), data={"a": "b"})
        )
        reference = client.V1OwnerReference(
            api_version="v1", kind="ConfigMap", name="owner", uid=owner.metadata.uid
        )
        core.create_namespaced_config_map(
            "default",
            client.V1ConfigMap(metadata=client.V1ObjectMeta(name="dependent", owner_references=[reference])),
        )
        core.delete_namespaced_config_map(
            "owner", "default", body=client.V1DeleteOptions(propagation_policy="Foreground")
        )
        assert wait_until_gone(lambda: core.read_namespaced_config_map("dependent", "default"))
        assert wait_until_gone(lambda: core.read_namespaced_config_map("owner", "default"))
