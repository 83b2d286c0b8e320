"""What the sandbox's node agent (`kubelet`) reads from a pod spec and reports back, as a kubelet does.

Pure functions, tested without a cluster: which binary runs an image
(``IMAGES``, ``STAND_INS``), ``$(VAR)`` expansion, the container's
environment, the command line that mounts the service-account token and
resolv.conf into a private mount namespace, its readiness probe, and the
pod and node status to report.
"""

from __future__ import annotations

import math
import os
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tools.sandbox import network

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


def now() -> str:
    """The time now, as the API's timestamps."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def node_status() -> dict[str, Any]:
    """The node's status: this machine's CPUs and memory, the node IP, Ready."""
    capacity = {
        "cpu": str(os.cpu_count() or 1),
        "memory": f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') // 1024}Ki",
        "pods": "250",
    }
    return {
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
                "lastHeartbeatTime": now(),
                "lastTransitionTime": now(),
            }
        ],
        "nodeInfo": {"kubeletVersion": "sandbox", "operatingSystem": "linux", "architecture": "amd64"},
    }


def container_command(
    container: dict[str, Any],
    binary: str,
    env: dict[str, str],
    mounts: list[tuple[str, str]],
    *,
    overlays: list[tuple[str, str, str]] | None = None,
) -> list[str]:
    """The command that runs `container` with `binary` (or a stand-in, ``python -m ...``),
    its `mounts` (host path, container path) bound in a private mount namespace, after
    `overlays` (`overlays_for`) make room for mount paths this machine lacks.

    A stand-in (``STAND_INS``) takes the first container port only; a binary
    gets the container's command (its first word replaced) and args, expanded.
    """
    if binary.startswith("python -m "):
        port = (container.get("ports") or [{"containerPort": 80}])[0]["containerPort"]
        argv = [sys.executable, "-m", binary.removeprefix("python -m "), "--port", str(port)]
    else:
        argv = [binary, *[expand(a, env) for a in (container.get("command") or [])[1:]]]
        argv += [expand(a, env) for a in container.get("args") or []]
    # In a private mount namespace: a tmpfs over /run (so the token directory
    # can be made without touching this machine's files), then bind mounts.
    script = "set -e; mount -t tmpfs -o size=4m tmpfs /run; "
    for lower, upper, work in overlays or []:
        script += (
            f'mount -t overlay overlay -o "lowerdir={lower},upperdir={upper},workdir={work}" "{lower}"; '
        )
    # A mount over a directory that holds another mount's source (an emptyDir on /tmp, with
    # the pod's files under /tmp) comes after it: it would hide that source.
    mounts = sorted(mounts, key=lambda m: any(Path(source).is_relative_to(m[1]) for source, _ in mounts))
    for i, (_, target) in enumerate(mounts):
        script += f'mkdir -p "{target}" 2>/dev/null || true; mount --bind "${i + 1}" "{target}"; '
    script += f'shift {len(mounts)}; exec "$@"'
    return [
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


def volume_mounts(
    container: dict[str, Any], directory: Path, *, exclude: set[str] | frozenset[str] = frozenset()
) -> list[tuple[str, str]]:
    """emptyDir-like mounts: a private directory under `directory` for each mount path
    that exists on this machine (the service-account path and `exclude` are mounted apart)."""
    mounts = []
    for mount in container.get("volumeMounts") or []:
        path = mount["mountPath"]
        if path.startswith("/var/run/secrets/") or path in exclude or not Path(path).is_dir():
            continue
        private = directory / "volumes" / mount["name"]
        private.mkdir(parents=True, exist_ok=True)
        mounts.append((str(private), mount["mountPath"]))
    return mounts


def config_map_files(data: dict[str, str], items: list[dict[str, str]] | None) -> dict[str, str]:
    """The files a ConfigMap volume holds: every key, or only `items` (key -> path)."""
    if items is None:
        return dict(data)
    return {item["path"]: data[item["key"]] for item in items if item["key"] in data}


def write_config_maps(config_maps: dict[str, dict[str, str]], directory: Path) -> list[tuple[str, str]]:
    """Each ConfigMap volume's files written under `directory`, and its (host, container) mount."""
    mounts = []
    for i, (mount_path, files) in enumerate(sorted(config_maps.items())):
        volume = directory / "configmaps" / str(i)
        volume.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (volume / name).parent.mkdir(parents=True, exist_ok=True)
            (volume / name).write_text(text)
        mounts.append((str(volume), mount_path))
    return mounts


def overlays_for(mounts: list[tuple[str, str]], directory: Path) -> list[tuple[str, str, str]]:
    """(lower, upper, work) overlays that let a mount path this machine lacks be made inside
    the pod's mount namespace without writing to this machine: the nearest existing directory
    above it is overlaid with a private upper directory under `directory`."""
    overlays: list[tuple[str, str, str]] = []
    for _, target in mounts:
        path = Path(os.path.realpath(target))  # /var/run/... is /run/...
        if path.exists() or path.is_relative_to("/run"):  # /run is the pod's own tmpfs
            continue
        lower = next(p for p in path.parents if p.is_dir())
        if any(lower == Path(o[0]) for o in overlays):
            continue
        scratch = directory / "overlays" / str(len(overlays))
        (scratch / "upper").mkdir(parents=True, exist_ok=True)
        (scratch / "work").mkdir(parents=True, exist_ok=True)
        overlays.append((str(lower), str(scratch / "upper"), str(scratch / "work")))
    return overlays


def pod_status(
    container: dict[str, Any],
    *,
    ip: str | None,
    started_at: str,
    restarts: int,
    ready: bool,
    exit_code: int | None = None,
    waiting: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """The status a kubelet reports for a one-container pod: Pending while `waiting`
    (reason, message), Succeeded/Failed once it exited with `exit_code`, else Running.
    `ip` is None for a pod that never ran."""
    state: dict[str, Any]
    if waiting is not None:
        phase, state = "Pending", {"waiting": {"reason": waiting[0], "message": waiting[1]}}
    elif exit_code is not None:
        phase = "Succeeded" if exit_code == 0 else "Failed"
        state = {
            "terminated": {
                "exitCode": exit_code,
                "reason": "Completed" if exit_code == 0 else "Error",
                "finishedAt": now(),
            }
        }
    else:
        phase, state = "Running", {"running": {"startedAt": started_at or now()}}
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
                "restartCount": restarts,
                "state": state,
            }
        ],
    }
    if ip is not None:
        status["podIP"] = ip
        status["podIPs"] = [{"ip": ip}]
        status["startTime"] = started_at
    return status


def readiness_url(container: dict[str, Any], ip: str) -> str | None:
    """What its readiness probe asks, at pod address `ip`: an ``http(s)://`` or
    ``tcp://`` URL; None when it counts as ready once running (no probe, or an
    exec or gRPC probe); "" when it names a port the container does not have."""
    probe = container.get("readinessProbe")
    check = (probe or {}).get("httpGet") or (probe or {}).get("tcpSocket")
    if not probe or not check:
        return None
    port = check["port"]
    if isinstance(port, str):
        port = next((p["containerPort"] for p in container.get("ports") or [] if p.get("name") == port), None)
        if port is None:
            return ""
    if "httpGet" in probe:
        return f"{check.get('scheme', 'HTTP').lower()}://{ip}:{port}{check.get('path', '/')}"
    return f"tcp://{ip}:{port}"


# An HTTP(S) GET from inside the node namespace, as a readiness probe (TLS not verified, as the kubelet's).
PROBE = """
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
