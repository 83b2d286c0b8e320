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
service-account token (emptyDir mounts onto existing directories get a
private directory), security contexts (processes run as this user),
resource limits, liveness and startup probes, image pulls.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tools.engine_env import REPO_ROOT, engine_env
from tools.sandbox import network
from tools.sandbox.api import MERGE_PATCH, STRATEGIC_MERGE_PATCH, ApiClient
from tools.sandbox.network import die_with_parent

NODE_NAME = "sandbox-node"
# Image repository (tag and digest dropped) -> the engine env key of its binary.
IMAGES: dict[str, str] = {
    "quay.io/jetstack/cert-manager-controller": "MULTISITE_CERT_MANAGER_CONTROLLER",
    "quay.io/jetstack/cert-manager-webhook": "MULTISITE_CERT_MANAGER_WEBHOOK",
    "quay.io/jetstack/cert-manager-cainjector": "MULTISITE_CERT_MANAGER_CAINJECTOR",
    "quay.io/jetstack/cert-manager-acmesolver": "MULTISITE_CERT_MANAGER_ACMESOLVER",
    "quay.io/jetstack/cert-manager-startupapicheck": "MULTISITE_CERT_MANAGER_STARTUPAPICHECK",
    "docker.io/traefik": "MULTISITE_TRAEFIK",
}
# Images the sandbox has no binary for but stands a small process in for:
# repository -> the Python module that runs, with `--port <first containerPort>`.
STAND_INS: dict[str, str] = {
    "nginxinc/nginx-unprivileged": "tools.sandbox.backend",
    "docker.io/nginxinc/nginx-unprivileged": "tools.sandbox.backend",
}
SA_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
POLL_SECONDS = 0.5
LEASE_SECONDS = 40
_VAR_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def image_repository(image: str) -> str:
    """An image without tag or digest: `quay.io/jetstack/x:v1@sha256:...` -> `quay.io/jetstack/x`."""
    name = image.split("@", 1)[0]
    head, _, last = name.rpartition("/")
    if ":" in last:
        last = last.split(":", 1)[0]
    return f"{head}/{last}" if head else last


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion of command and args: `$$` is a literal `$`, unknown names stay."""

    def sub(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env.get(name, match.group(0))

    return _VAR_REF.sub(sub, text)


def _quantity(value: str) -> float:
    """A Kubernetes resource quantity (`500m`, `2`, `128Mi`, `1G`) as a number."""
    suffixes = {
        "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
        "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
    }  # fmt: skip
    match = re.fullmatch(r"([0-9.]+)([a-zA-Z]*)", str(value))
    if not match or match.group(2) not in ("", *suffixes):
        raise ValueError(f"not a quantity: {value!r}")
    return float(match.group(1)) * suffixes.get(match.group(2), 1)


def resource_value(container: dict[str, Any], ref: dict[str, Any]) -> str:
    """A `resourceFieldRef`: the container's limit or request, else the node's capacity, over the divisor."""
    resource = ref["resource"]
    kind, _, name = resource.partition(".")
    given = ((container.get("resources") or {}).get(kind) or {}).get(name)
    if given is not None:
        amount = _quantity(given)
    elif name == "cpu":
        amount = float(os.cpu_count() or 1)
    else:
        amount = float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    return str(math.ceil(amount / _quantity(ref.get("divisor") or "1")))


def _field_value(pod: dict[str, Any], path: str, pod_ip: str) -> str:
    meta, spec = pod["metadata"], pod["spec"]
    match = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
    if match:
        return str((meta.get(match.group(1)) or {}).get(match.group(2), ""))
    values = {
        "metadata.name": meta["name"],
        "metadata.namespace": meta["namespace"],
        "metadata.uid": meta["uid"],
        "spec.nodeName": spec.get("nodeName", NODE_NAME),
        "spec.serviceAccountName": spec.get("serviceAccountName", "default"),
        "status.podIP": pod_ip,
        "status.podIPs": pod_ip,
        "status.hostIP": network.NODE_IP,
        "status.hostIPs": network.NODE_IP,
    }
    return str(values.get(path, ""))


def container_env(
    pod: dict[str, Any], container: dict[str, Any], pod_ip: str, apiserver_port: int
) -> dict[str, str]:
    """The environment a kubelet gives the container (Secret/ConfigMap references left out)."""
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOSTNAME": pod["metadata"]["name"],
        "KUBERNETES_SERVICE_HOST": network.NODE_IP,
        "KUBERNETES_SERVICE_PORT": str(apiserver_port),
        "KUBERNETES_SERVICE_PORT_HTTPS": str(apiserver_port),
    }
    for item in container.get("env") or []:
        source = item.get("valueFrom")
        if source is None:
            env[item["name"]] = expand(item.get("value", ""), env)
        elif "fieldRef" in source:
            env[item["name"]] = _field_value(pod, source["fieldRef"]["fieldPath"], pod_ip)
        elif "resourceFieldRef" in source:
            env[item["name"]] = resource_value(container, source["resourceFieldRef"])
    return env


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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
        capacity = {
            "cpu": str(os.cpu_count() or 1),
            "memory": f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') // 1024}Ki",
            "pods": "250",
        }
        self.api.request(
            "PATCH",
            f"/api/v1/nodes/{NODE_NAME}/status",
            {
                "status": {
                    "capacity": capacity,
                    "allocatable": capacity,
                    "addresses": [
                        {"type": "InternalIP", "address": network.NODE_IP},
                        {"type": "Hostname", "address": NODE_NAME},
                    ],
                    "conditions": [
                        {
                            "type": "Ready",
                            "status": "True",
                            "reason": "KubeletReady",
                            "message": "sandbox node agent is running",
                            "lastHeartbeatTime": _now(),
                            "lastTransitionTime": _now(),
                        }
                    ],
                    "nodeInfo": {
                        "kubeletVersion": "sandbox",
                        "operatingSystem": "linux",
                        "architecture": "amd64",
                    },
                }
            },
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
            return None, f"no sandbox binary for image {container['image']} (tools/sandbox/kubelet.py IMAGES)"
        return container, self.binaries[key]

    def start(self, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        container, binary = self._container(pod)
        if container is None:
            self.report(pod, None, waiting=("ImageNotInSandbox", binary))
            self.unrunnable.add(meta["uid"])  # reported once; it stays Pending
            return
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
        if binary.startswith("python -m "):  # a stand-in (STAND_INS): it takes the port only
            port = (container.get("ports") or [{"containerPort": 80}])[0]["containerPort"]
            argv = [sys.executable, "-m", binary.removeprefix("python -m "), "--port", str(port)]
            env["PYTHONPATH"] = str(REPO_ROOT)
        else:
            argv = [binary, *[expand(a, env) for a in (container.get("command") or [])[1:]]]
            argv += [expand(a, env) for a in container.get("args") or []]
        mounts = [(str(sa_dir), SA_MOUNT), (str(resolv), "/etc/resolv.conf")]
        for mount in container.get("volumeMounts") or []:
            if mount["mountPath"].startswith("/var/run/secrets/") or not Path(mount["mountPath"]).is_dir():
                continue
            private = directory / "volumes" / mount["name"]
            private.mkdir(parents=True, exist_ok=True)
            mounts.append((str(private), mount["mountPath"]))
        # In a private mount namespace: a tmpfs over /run (so the token directory
        # can be made without touching this machine's files), then bind mounts.
        script = "set -e; mount -t tmpfs -o size=4m tmpfs /run; "
        for i, (_, target) in enumerate(mounts):
            script += f'mkdir -p "{target}" 2>/dev/null || true; mount --bind "${i + 1}" "{target}"; '
        script += f'shift {len(mounts)}; exec "$@"'
        cmd = [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
            "pod",
            *[m[0] for m in mounts],
            *argv,
        ]
        self.logs.mkdir(parents=True, exist_ok=True)
        log = open(self.logs / f"{running.namespace}_{running.name}.log", "ab")  # noqa: SIM115 - the child keeps it
        netns = running.net.netns

        def in_pod() -> None:
            die_with_parent()  # a killed agent leaves no pod behind
            network.enter(netns)

        running.process = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=directory,
            start_new_session=True,
            preexec_fn=in_pod,
        )
        log.close()
        running.started_at = _now()
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
        container = pod["spec"]["containers"][0]
        probe = container.get("readinessProbe")
        if not probe:
            return True
        check = probe.get("httpGet") or probe.get("tcpSocket")
        if not check:
            return True  # exec and gRPC probes: counted ready once running
        port = check["port"]
        if isinstance(port, str):
            port = next(
                (p["containerPort"] for p in container.get("ports") or [] if p.get("name") == port),
                None,
            )
            if port is None:
                return False
        if "httpGet" in probe:
            url = f"{check.get('scheme', 'HTTP').lower()}://{running.net.ip}:{port}{check.get('path', '/')}"
        else:
            url = f"tcp://{running.net.ip}:{port}"
        proc = subprocess.run(
            [sys.executable, "-c", _PROBE, url],
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
        container = pod["spec"]["containers"][0]
        ready = bool(running and running.ready and exit_code is None)
        state: dict[str, Any]
        if waiting is not None:
            phase, state = "Pending", {"waiting": {"reason": waiting[0], "message": waiting[1]}}
        elif exit_code is not None:
            phase = "Succeeded" if exit_code == 0 else "Failed"
            state = {
                "terminated": {
                    "exitCode": exit_code,
                    "reason": "Completed" if exit_code == 0 else "Error",
                    "finishedAt": _now(),
                }
            }
        else:
            phase, state = "Running", {"running": {"startedAt": running.started_at if running else _now()}}
        status: dict[str, Any] = {
            "phase": phase,
            "hostIP": network.NODE_IP,
            "hostIPs": [{"ip": network.NODE_IP}],
            "conditions": [
                {"type": "PodScheduled", "status": "True"},
                {"type": "Initialized", "status": "True"},
                {"type": "ContainersReady", "status": str(ready)},
                {"type": "Ready", "status": str(ready)},
            ],
            "containerStatuses": [
                {
                    "name": container["name"],
                    "image": container["image"],
                    "imageID": "",
                    "ready": ready,
                    "started": phase == "Running",
                    "restartCount": running.restarts if running else 0,
                    "state": state,
                }
            ],
        }
        if running is not None:
            status["podIP"] = running.net.ip
            status["podIPs"] = [{"ip": running.net.ip}]
            status["startTime"] = running.started_at
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


# An HTTP(S) GET from inside the node namespace, as a readiness probe (TLS not verified, as the kubelet's).
_PROBE = """
import socket, ssl, sys, urllib.request
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
if sys.argv[1].startswith("tcp://"):
    host, port = sys.argv[1][6:].rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=3).close()
    except OSError:
        sys.exit(1)
    sys.exit(0)
try:
    with urllib.request.urlopen(sys.argv[1], timeout=3, context=ctx) as r:
        sys.exit(0 if 200 <= r.status < 400 else 1)
except Exception:
    sys.exit(1)
"""


def main(directory: Path) -> int:
    return Kubelet(directory).run()
