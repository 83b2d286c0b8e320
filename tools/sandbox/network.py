"""The sandbox's network: a node namespace, one namespace per pod, and a loopback door.

A real cluster gives each pod its own network namespace and IP, and lets the
API server reach pods (webhooks) and pods reach the API server. Here:

* the *node* is a network namespace of its own (``ip netns add``), with the
  node IP ``NODE_IP`` on its loopback. etcd, kube-apiserver, the controllers,
  the ACME CA and the DNS server run in it;
* each pod gets a namespace and a veth pair to the node (the CNI "ptp"
  layout): ``eth0`` with a /32 from ``POD_NETWORK`` in the pod, a host route
  to it on the node, and the node IP as the pod's gateway;
* the load balancer's addresses (``LB_NETWORK``) live on the node's loopback;
* processes in the caller's namespace (the Pulumi CLI, tests, kubectl) reach
  the API server through ``forward_main``: a TCP forwarder listening on
  127.0.0.1 in the caller's namespace that connects from inside the node.

Nothing here touches the caller's namespace except the forwarder's loopback
port: no address, route or link is added outside the namespaces made here.
Creating network namespaces needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import hashlib
import ipaddress
import os
import signal
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

NETNS_DIR = Path("/run/netns")
NODE_IP = "10.244.0.1"
POD_NETWORK = ipaddress.IPv4Network("10.244.0.0/17")
LB_NETWORK = ipaddress.IPv4Network("10.244.128.0/24")
_CLONE_NEWNET = 0x40000000


class NetworkError(RuntimeError):
    """A namespace, link, address or route could not be set up."""


def available() -> str | None:
    """None when this process can make network namespaces, else why not."""
    if os.geteuid() != 0:
        return "making network namespaces needs root (the sandbox cluster runs pods in their own)"
    if not which("ip"):
        return "the `ip` command (iproute2) is needed"
    return None


def which(name: str) -> str | None:
    """`name` on PATH, or in /usr/sbin or /sbin (where iproute2 lives, often off a user's PATH)."""
    for d in [*os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep), "/usr/sbin", "/sbin"]:
        candidate = Path(d) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def ip(*args: str, netns: str | None = None, check: bool = True) -> str:
    """Run `ip [-n netns] args...`; raise NetworkError with its message on failure."""
    cmd = [which("ip") or "ip", *(["-n", netns] if netns else []), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise NetworkError(f"{' '.join(cmd)}: {proc.stderr.strip()}")
    return proc.stdout


def enter(netns: str) -> None:
    """Move the calling thread into network namespace `netns` (setns(2))."""
    fd = os.open(NETNS_DIR / netns, os.O_RDONLY)
    try:
        if ctypes.CDLL(None, use_errno=True).setns(fd, _CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {netns}")
    finally:
        os.close(fd)


def node_name_for(directory: Path) -> str:
    """A netns name unique to a sandbox directory (names are global to the machine)."""
    return "multisite-" + hashlib.sha256(str(directory).encode()).hexdigest()[:10]


@dataclass(frozen=True)
class PodNetwork:
    """One pod's namespace, its IP and the node-side end of its veth."""

    netns: str
    ip: str
    host_link: str


@dataclass(frozen=True)
class NodeNetwork:
    """The node namespace `netns` and the namespaces of its pods (`<netns>-p<N>`)."""

    netns: str

    def create(self) -> NodeNetwork:
        """Make the node namespace (removing a stale one of the same name first)."""
        self.destroy()
        ip("netns", "add", self.netns)
        ip("link", "set", "lo", "up", netns=self.netns)
        ip("addr", "add", f"{NODE_IP}/32", "dev", "lo", netns=self.netns)
        # Pods reach each other through the node, as through a node's routing table.
        self._sysctl("net.ipv4.ip_forward", "1")
        return self

    def _sysctl(self, key: str, value: str) -> None:
        proc = subprocess.run(
            [which("ip") or "ip", "netns", "exec", self.netns, "sysctl", "-qw", f"{key}={value}"],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise NetworkError(f"sysctl {key}={value} in {self.netns}: {proc.stderr.strip()}")

    def exists(self) -> bool:
        return (NETNS_DIR / self.netns).exists()

    def pod_namespaces(self) -> list[str]:
        if not NETNS_DIR.is_dir():
            return []
        return sorted(p.name for p in NETNS_DIR.iterdir() if p.name.startswith(f"{self.netns}-p"))

    def destroy(self) -> None:
        """Delete every pod namespace and the node namespace (their veths go with them)."""
        for pod in self.pod_namespaces():
            ip("netns", "del", pod, check=False)
        if self.exists():
            ip("netns", "del", self.netns, check=False)

    def add_pod(self, index: int) -> PodNetwork:
        """Namespace and veth for pod number `index` (its IP: the index-th of POD_NETWORK after the node)."""
        address = str(POD_NETWORK.network_address + 1 + index)
        if ipaddress.IPv4Address(address) not in POD_NETWORK or index < 1:
            raise NetworkError(f"no pod address for index {index}")
        pod, host_link = f"{self.netns}-p{index}", f"vp{index}"
        ip("netns", "del", pod, check=False)
        ip("netns", "add", pod)
        ip("link", "add", host_link, "type", "veth", "peer", "name", "eth0", "netns", pod, netns=self.netns)
        ip("link", "set", host_link, "up", netns=self.netns)
        ip("route", "add", f"{address}/32", "dev", host_link, netns=self.netns)
        ip("link", "set", "lo", "up", netns=pod)
        ip("addr", "add", f"{address}/32", "dev", "eth0", netns=pod)
        ip("link", "set", "eth0", "up", netns=pod)
        ip("route", "add", f"{NODE_IP}/32", "dev", "eth0", "scope", "link", netns=pod)
        ip("route", "add", "default", "via", NODE_IP, "dev", "eth0", netns=pod)
        return PodNetwork(netns=pod, ip=address, host_link=host_link)

    def remove_pod(self, pod: PodNetwork) -> None:
        ip("netns", "del", pod.netns, check=False)

    def add_load_balancer_ip(self, index: int) -> str:
        address = str(LB_NETWORK.network_address + index)
        ip("addr", "replace", f"{address}/32", "dev", "lo", netns=self.netns)
        return address


# --------------------------------------------------------------------------
# the loopback door: caller's 127.0.0.1:PORT -> (inside the node) HOST:PORT


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy `reader` to `writer` until end of stream, then close `writer`."""
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def _serve(listener: socket.socket, target_host: str, target_port: int) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(target_host, target_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    server = await asyncio.start_server(handle, sock=listener)
    async with server:
        await server.serve_forever()


def forward_main(netns: str, listen_port: int, target: str) -> int:
    """Listen on 127.0.0.1:`listen_port` here, connect to `target` from inside `netns`."""
    host, _, port = target.rpartition(":")
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", listen_port))
    listener.listen(128)
    # The listening socket stays in this namespace; every socket made from now on is the node's.
    enter(netns)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    print(f"forwarding 127.0.0.1:{listen_port} -> {target} in {netns}", flush=True)
    asyncio.run(_serve(listener, host, int(port)))
    return 0
