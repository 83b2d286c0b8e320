"""The sandbox cluster's node agent: pods run as local processes, as a kubelet would run them.

Test-only, and small on purpose. It plays the scheduler (binds every pending
pod to the one node) and the kubelet (runs the pod, reports its status), so
that Deployments, Jobs and EndpointSlices are made by the real controllers
(`kube-controller-manager`) from pods that really run:

* the node: a Node object with the node IP, Ready, its Lease renewed;
* each pod: its own network namespace and IP (`tools.sandbox.network`) and a
  private mount namespace holding what a kubelet mounts into a container: the
  service-account token (a TokenRequest bound to the pod), the cluster CA,
  the namespace, and a resolv.conf naming the sandbox's DNS server;
* its one container runs the binary that `scripts/engine` built for its image
  (`IMAGES`), with the container's `command`/`args` (``$(VAR)`` expanded) and
  `env` (values, field and resource references) as the kubelet gives them,
  plus ``KUBERNETES_SERVICE_HOST``/``PORT`` pointing at the API server;
* status: Running with the pod IP once started, Ready when its readiness
  probe (HTTP GET) answers, Succeeded/Failed when it exits; restarted after
  an exit when its restart policy says so;
* a pod being deleted: SIGTERM, the grace period, SIGKILL, then the final
  delete (grace period 0), as the kubelet does.

A pod whose image has no binary here stays Pending with the reason in its
status (``ImageNotInSandbox``). Not modelled: init and sidecar containers
(a pod with more than one container is not run), volumes other than the
service-account token and ConfigMaps (read once, when the container starts;
emptyDir mounts onto existing directories get a private directory),
security contexts (processes run as this user), resource limits, liveness
and startup probes, image pulls.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tools.engine_env import REPO_ROOT, engine_env
from tools.sandbox import network, process
from tools.sandbox.api import MERGE_PATCH, STRATEGIC_MERGE_PATCH, ApiClient
from tools.sandbox.pods import (
    IMAGES,
    NODE_NAME,
    PROBE,
    SA_MOUNT,
    STAND_INS,
    config_map_files,
    container_command,
    container_env,
    image_repository,
    node_status,
    now,
    overlays_for,
    pod_status,
    readiness_url,
    volume_mounts,
    write_config_maps,
)
from tools.sandbox.process import Command
from tools.sandbox.state import SandboxState

NAME = "kubelet"
POLL_SECONDS = 0.5
LEASE_SECONDS = 40


def prepare(sb: SandboxState) -> None:
    """Nothing: it reads the sandbox's state file, PKI and engine itself."""


def command(sb: SandboxState) -> Command:
    """`python -m tools.sandbox _kubelet`, in this namespace: it reaches the API
    server through the door (`server` in sandbox.json) and enters pods' namespaces itself."""
    return process.entry_point("_kubelet", sb.directory, in_node=False)


def ready(sb: SandboxState) -> bool:
    """At once: pods wait for the node, as on any cluster."""
    return True


@dataclass
class RunningPod:
    """A pod this agent runs: its process, network and what it last reported."""

    uid: str
    namespace: str
    name: str
    net: network.PodNetwork
    directory: Path
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    ready: bool = False
    started_at: str = ""
    deleting_since: float | None = None
    finished: bool = False
    reported: dict[str, Any] = field(default_factory=dict)


class Kubelet:
    """The agent's loop. `directory` is the sandbox's (its state file, PKI and logs)."""

    def __init__(self, directory: Path) -> None:
        state = json.loads((directory / "sandbox.json").read_text())
        self.api = ApiClient.admin(directory, state["server"])
        self.apiserver_port = int(state["ports"]["apiserver"])
        self.node = network.NodeNetwork(network.node_name_for(directory))
        self.ca = (directory / "pki" / "ca.crt").read_bytes()
        self.root = directory / "pods"
        self.logs = directory / "logs" / "pods"
        self.binaries = engine_env()
        self.pods: dict[str, RunningPod] = {}
        self.unrunnable: set[str] = set()
        self.next_index = 1
        self.stopping = False
        self.last_lease = 0.0

    # the node -----------------------------------------------------------
    def register_node(self) -> None:
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": NODE_NAME,
                "labels": {"kubernetes.io/hostname": NODE_NAME, "kubernetes.io/os": "linux"},
            },
        }
        status, _ = self.api.request("POST", "/api/v1/nodes", node)
        if status not in (201, 409):
            raise RuntimeError(f"could not register node {NODE_NAME}: HTTP {status}")
        self.api.request(
            "PATCH",
            f"/api/v1/nodes/{NODE_NAME}/status",
            {"status": node_status()},
            content_type=STRATEGIC_MERGE_PATCH,
        )

    def renew_lease(self) -> None:
        if time.monotonic() - self.last_lease < 10:
            return
        self.last_lease = time.monotonic()
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        path = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{NODE_NAME}"
        lease = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": NODE_NAME, "namespace": "kube-node-lease"},
            "spec": {"holderIdentity": NODE_NAME, "leaseDurationSeconds": LEASE_SECONDS, "renewTime": now},
        }
        status, _ = self.api.request("PATCH", path, {"spec": lease["spec"]}, content_type=MERGE_PATCH)
        if status == 404:
            self.api.request("POST", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", lease)

    # pods ---------------------------------------------------------------
    def sync(self) -> None:
        status, body = self.api.request("GET", "/api/v1/pods")
        if status != 200:
            return
        seen = set()
        for pod in body.get("items", []):
            meta, spec = pod["metadata"], pod["spec"]
            uid = meta["uid"]
            seen.add(uid)
            if not spec.get("nodeName"):
                if not meta.get("deletionTimestamp"):
                    self.bind(pod)
                continue
            if spec["nodeName"] != NODE_NAME:
                continue
            running = self.pods.get(uid)
            if meta.get("deletionTimestamp"):
                self.delete(pod, running)
            elif running is None:
                if uid not in self.unrunnable and pod.get("status", {}).get("phase") not in (
                    "Succeeded",
                    "Failed",
                ):
                    self.start(pod)
            else:
                self.check(pod, running)
        for uid in [u for u in self.pods if u not in seen]:
            self.stop(self.pods.pop(uid))

    def bind(self, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        self.api.request(
            "POST",
            f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/binding",
            {
                "apiVersion": "v1",
                "kind": "Binding",
                "metadata": {"name": meta["name"], "uid": meta["uid"]},
                "target": {"apiVersion": "v1", "kind": "Node", "name": NODE_NAME},
            },
        )

    def _container(self, pod: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
        containers = pod["spec"].get("containers") or []
        if len(containers) != 1 or pod["spec"].get("initContainers"):
            return None, "the sandbox node runs pods of exactly one container and no init containers"
        container = containers[0]
        repository = image_repository(container["image"])
        if repository in STAND_INS:
            return container, f"python -m {STAND_INS[repository]}"
        key = IMAGES.get(repository)
        if key is None or not self.binaries.get(key):
            return None, f"no sandbox binary for image {container['image']} (tools/sandbox/pods.py IMAGES)"
        return container, self.binaries[key]

    def start(self, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        container, binary = self._container(pod)
        if container is None:
            self.report(pod, None, waiting=("ImageNotInSandbox", binary))
            self.unrunnable.add(meta["uid"])  # reported once; it stays Pending
            return
        if self._config_maps(pod, container) is None:
            return  # as the kubelet does: the pod waits until its ConfigMaps exist
        net = self.node.add_pod(self.next_index)
        self.next_index += 1
        running = RunningPod(
            uid=meta["uid"],
            namespace=meta["namespace"],
            name=meta["name"],
            net=net,
            directory=self.root / meta["uid"],
        )
        self.pods[running.uid] = running
        self.launch(pod, running, container, binary)

    def _config_maps(
        self, pod: dict[str, Any], container: dict[str, Any]
    ) -> dict[str, dict[str, str]] | None:
        """The data of each ConfigMap volume the container mounts, by mount path; None while
        one of them does not exist yet."""
        volumes = {v["name"]: v["configMap"] for v in pod["spec"].get("volumes") or [] if "configMap" in v}
        found = {}
        for mount in container.get("volumeMounts") or []:
            source = volumes.get(mount["name"])
            if source is None:
                continue
            path = f"/api/v1/namespaces/{pod['metadata']['namespace']}/configmaps/{source['name']}"
            status, body = self.api.request("GET", path)
            if status != 200:
                return None
            found[mount["mountPath"]] = config_map_files(body.get("data") or {}, source.get("items"))
        return found

    def _service_account_files(self, pod: dict[str, Any], directory: Path) -> Path:
        meta = pod["metadata"]
        account = pod["spec"].get("serviceAccountName") or "default"
        sa_dir = directory / "serviceaccount"
        sa_dir.mkdir(parents=True, exist_ok=True)
        if pod["spec"].get("automountServiceAccountToken") is False:
            return sa_dir  # mounted empty: the pod asked for no token
        status, body = self.api.request(
            "POST",
            f"/api/v1/namespaces/{meta['namespace']}/serviceaccounts/{account}/token",
            {
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenRequest",
                "spec": {
                    "expirationSeconds": 24 * 3600,
                    "boundObjectRef": {
                        "apiVersion": "v1",
                        "kind": "Pod",
                        "name": meta["name"],
                        "uid": meta["uid"],
                    },
                },
            },
        )
        token = body["status"]["token"] if status == 201 else ""
        (sa_dir / "token").write_text(token)
        (sa_dir / "ca.crt").write_bytes(self.ca)
        (sa_dir / "namespace").write_text(meta["namespace"])
        return sa_dir

    def launch(
        self, pod: dict[str, Any], running: RunningPod, container: dict[str, Any], binary: str
    ) -> None:
        directory = running.directory
        directory.mkdir(parents=True, exist_ok=True)
        sa_dir = self._service_account_files(pod, directory)
        resolv = directory / "resolv.conf"
        resolv.write_text(f"nameserver {network.NODE_IP}\noptions ndots:1\n")
        env = container_env(pod, container, running.net.ip, self.apiserver_port)
        if binary.startswith("python -m "):  # a stand-in (STAND_INS): this repository importable
            env["PYTHONPATH"] = str(REPO_ROOT)
        config_maps = self._config_maps(pod, container) or {}
        mounts = [
            (str(sa_dir), SA_MOUNT),
            (str(resolv), "/etc/resolv.conf"),
            *volume_mounts(container, directory, exclude=set(config_maps)),
            *write_config_maps(config_maps, directory),
        ]
        self.logs.mkdir(parents=True, exist_ok=True)
        running.process = process.spawn(
            container_command(container, binary, env, mounts, overlays=overlays_for(mounts, directory)),
            log=self.logs / f"{running.namespace}_{running.name}.log",
            cwd=directory,
            env=env,
            netns=running.net.netns,  # a killed agent leaves no pod behind: they die with it
            append=True,
        )
        running.started_at = now()
        running.ready = False
        self.report(pod, running)

    def check(self, pod: dict[str, Any], running: RunningPod) -> None:
        if running.finished:
            return
        process = running.process
        code = process.poll() if process else None
        if code is not None:
            policy = pod["spec"].get("restartPolicy", "Always")
            if policy == "Always" or (policy == "OnFailure" and code != 0):
                running.restarts += 1
                container, binary = self._container(pod)
                if container is not None:
                    time.sleep(min(10, running.restarts))  # crash-loop back-off, shortened
                    self.launch(pod, running, container, binary)
                return
            running.finished = True
            self.report(pod, running, exit_code=code)
            return
        if not running.ready and self.probe(pod, running):
            running.ready = True
            self.report(pod, running)

    def probe(self, pod: dict[str, Any], running: RunningPod) -> bool:
        """Its readiness probe, from inside the node namespace."""
        url = readiness_url(pod["spec"]["containers"][0], running.net.ip)
        if url is None:
            return True
        if not url:
            return False
        proc = subprocess.run(
            [sys.executable, "-c", PROBE, url],
            capture_output=True,
            timeout=10,
            preexec_fn=lambda: network.enter(self.node.netns),
        )
        return proc.returncode == 0

    def report(
        self,
        pod: dict[str, Any],
        running: RunningPod | None,
        *,
        exit_code: int | None = None,
        waiting: tuple[str, str] | None = None,
    ) -> None:
        ready = bool(running and running.ready and exit_code is None)
        status = pod_status(
            pod["spec"]["containers"][0],
            ip=running.net.ip if running else None,
            started_at=running.started_at if running else "",
            restarts=running.restarts if running else 0,
            ready=ready,
            exit_code=exit_code,
            waiting=waiting,
        )
        if running is not None and running.reported == status:
            return
        meta = pod["metadata"]
        code, _ = self.api.request(
            "PATCH",
            f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/status",
            {"status": status},
            content_type=MERGE_PATCH,
        )
        if running is not None and code == 200:
            running.reported = status

    def delete(self, pod: dict[str, Any], running: RunningPod | None) -> None:
        meta = pod["metadata"]
        if running is not None:
            grace = pod["spec"].get("terminationGracePeriodSeconds", 30)
            if running.deleting_since is None:
                running.deleting_since = time.monotonic()
                self._signal(running, signal.SIGTERM)
            exited = running.process is None or running.process.poll() is not None
            if not exited and time.monotonic() - running.deleting_since < grace:
                return
            self.stop(self.pods.pop(running.uid))
        self.api.request(
            "DELETE",
            f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}",
            {
                "apiVersion": "v1",
                "kind": "DeleteOptions",
                "gracePeriodSeconds": 0,
                "preconditions": {"uid": meta["uid"]},
            },
        )

    def _signal(self, running: RunningPod, sig: int) -> None:
        if running.process is not None and running.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(running.process.pid, sig)

    def stop(self, running: RunningPod) -> None:
        """Kill the pod's process (SIGTERM, then SIGKILL after 5 s) and remove its network."""
        self._signal(running, signal.SIGTERM)
        if running.process is not None:
            try:
                running.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._signal(running, signal.SIGKILL)
                running.process.wait(timeout=5)
        self.node.remove_pod(running.net)

    def run(self) -> int:
        def on_term(*_: object) -> None:
            self.stopping = True

        signal.signal(signal.SIGTERM, on_term)
        signal.signal(signal.SIGINT, on_term)
        self.register_node()
        print(f"node {NODE_NAME} registered", flush=True)
        while not self.stopping:
            try:
                self.renew_lease()
                self.sync()
            except (OSError, ValueError, KeyError, subprocess.SubprocessError) as err:
                print(f"sync: {type(err).__name__}: {err}", flush=True)
            time.sleep(POLL_SECONDS)
        for running in list(self.pods.values()):
            self.stop(running)
        return 0


def main(directory: Path) -> int:
    return Kubelet(directory).run()
