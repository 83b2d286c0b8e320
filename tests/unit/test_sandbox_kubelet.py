"""The sandbox node agent gives a container what a kubelet would (rules from the Kubernetes docs)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from tools.sandbox import network, pods

POD: dict[str, Any] = {
    "metadata": {"name": "web-1", "namespace": "shop", "uid": "u-1", "labels": {"app": "web"}},
    "spec": {"serviceAccountName": "web", "nodeName": pods.NODE_NAME},
}


def test_dollar_paren_references_expand_like_the_kubelet() -> None:
    # "If a variable cannot be resolved, the reference in the input string will be
    # unchanged. Double $$ are reduced to a single $" (Container.args, API reference).
    env = {"POD_NAMESPACE": "cert-manager"}
    assert pods.expand("--ns=$(POD_NAMESPACE)", env) == "--ns=cert-manager"
    assert pods.expand("$(MISSING)-x", env) == "$(MISSING)-x"
    assert pods.expand("$$(POD_NAMESPACE)", env) == "$(POD_NAMESPACE)"
    assert pods.expand("cost: $$5", env) == "cost: $5"


def test_images_map_to_their_repository_whatever_the_tag_or_digest() -> None:
    assert pods.image_repository("quay.io/jetstack/cert-manager-controller:v1.21.2") == (
        "quay.io/jetstack/cert-manager-controller"
    )
    assert pods.image_repository("docker.io/traefik:v3.7.11@sha256:" + "a" * 64) == "docker.io/traefik"
    assert pods.image_repository("registry:5000/team/app") == "registry:5000/team/app"


def test_environment_from_values_fields_and_resources() -> None:
    container = {
        "env": [
            {"name": "A", "value": "1"},
            {"name": "B", "value": "$(A)-2"},
            {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
            {"name": "CPUS", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1"}}},
            {
                "name": "MEM_MI",
                "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}},
            },
        ],
        "resources": {"limits": {"cpu": "1500m", "memory": "256Mi"}},
    }
    env = pods.container_env(POD, container, "10.244.0.9", 6443)
    assert {k: env[k] for k in ("A", "B", "NS", "IP", "APP")} == {
        "A": "1",
        "B": "1-2",
        "NS": "shop",
        "IP": "10.244.0.9",
        "APP": "web",
    }
    # resourceFieldRef rounds up to the divisor: 1.5 CPUs -> 2.
    assert (env["CPUS"], env["MEM_MI"]) == ("2", "256")
    assert (env["KUBERNETES_SERVICE_HOST"], env["KUBERNETES_SERVICE_PORT"]) == (network.NODE_IP, "6443")


def test_pod_addresses_come_after_the_node_and_stay_in_the_pod_network() -> None:
    node = network.NodeNetwork("unused")
    assert str(network.POD_NETWORK.network_address + 1) == network.NODE_IP
    for bad in (0, 2**15):
        try:
            node.add_pod(bad)
        except network.NetworkError as err:
            assert f"index {bad}" in str(err)
        else:
            raise AssertionError(f"pod index {bad} accepted")


def test_readiness_probes_ask_what_the_pod_spec_names() -> None:
    # HTTPGetAction: "scheme ... Defaults to HTTP", path defaults to "/"; a port may be
    # "a number or name" of one of the container's ports (Probe, API reference).
    ports = [{"name": "http", "containerPort": 8080}]
    http = {"ports": ports, "readinessProbe": {"httpGet": {"port": "http"}}}
    assert pods.readiness_url(http, "10.244.0.9") == "http://10.244.0.9:8080/"
    https = {"readinessProbe": {"httpGet": {"port": 9443, "scheme": "HTTPS", "path": "/healthz"}}}
    assert pods.readiness_url(https, "10.244.0.9") == "https://10.244.0.9:9443/healthz"
    assert pods.readiness_url({"readinessProbe": {"tcpSocket": {"port": 53}}}, "10.244.0.9") == (
        "tcp://10.244.0.9:53"
    )
    # No probe: Ready once running ("the default state of readiness ... is Success").
    assert pods.readiness_url({}, "10.244.0.9") is None
    assert pods.readiness_url({"readinessProbe": {"httpGet": {"port": "metrics"}}}, "10.244.0.9") == ""


def test_a_pod_that_cannot_run_stays_pending_with_the_reason() -> None:
    container = {"name": "app", "image": "example/app:1"}
    status = pods.pod_status(
        container, ip=None, started_at="", restarts=0, ready=False, waiting=("ImageNotInSandbox", "no binary")
    )
    assert status["phase"] == "Pending"
    (state,) = status["containerStatuses"]
    assert state["state"] == {"waiting": {"reason": "ImageNotInSandbox", "message": "no binary"}}
    assert "podIP" not in status


def test_a_config_map_volume_holds_its_keys_or_only_its_items() -> None:
    data = {"config.yml": "a: 1\n", "other.yml": "b: 2\n"}
    assert pods.config_map_files(data, None) == data
    # `items` project chosen keys to chosen paths; a key the ConfigMap lacks is left out.
    items = [{"key": "config.yml", "path": "dynamic/traefik.yml"}, {"key": "gone", "path": "x"}]
    assert pods.config_map_files(data, items) == {"dynamic/traefik.yml": "a: 1\n"}


def test_a_config_map_mounted_where_this_machine_has_no_directory_is_seen_by_the_process_only(
    tmp_path: Path,
) -> None:
    """Traefik's file provider reads /etc/traefik/dynamic, which this machine lacks: the pod's
    mount namespace overlays /etc with a private upper directory, so the mount path can be
    made there without writing to this machine's /etc."""
    target = f"/etc/multisite-test-{os.getpid()}/dynamic"
    # Traefik's chart also mounts an emptyDir on /tmp, where these files are (pytest's tmp_path):
    # that mount must not hide the ConfigMap's files before they are bound.
    (tmp_path / "empty").mkdir()
    mounts = [
        (str(tmp_path / "empty"), "/tmp"),
        *pods.write_config_maps({target: {"config.yml": "hsts: on\n"}}, tmp_path),
    ]
    overlays = pods.overlays_for(mounts, tmp_path)
    assert [o[0] for o in overlays] == ["/etc"]
    container = {"command": ["cat"], "args": [f"{target}/config.yml"]}
    command = pods.container_command(container, "/bin/cat", {}, mounts, overlays=overlays)
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    assert (proc.returncode, proc.stdout) == (0, "hsts: on\n"), proc.stderr
    assert not Path(target).parent.exists()
