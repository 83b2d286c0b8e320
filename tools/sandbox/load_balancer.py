"""The sandbox cluster's load balancer: what GKE's network load balancer and kube-proxy do.

Runs in the node namespace. Every Service of type LoadBalancer gets an
address from ``network.LB_NETWORK`` (in the order they appear; the first is
``pebble.EDGE_IP``, which the sandbox DNS hands out for every name), put on
the node's loopback and written to the Service's
``status.loadBalancer.ingress``. Each of its ports listens on that address
and forwards each connection to a ready endpoint of the Service, read from
its EndpointSlices (made by the real EndpointSlice controller from the pods
the node agent runs). Plain TCP: TLS passes through to the edge untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import random
import sys
from pathlib import Path

from tools.sandbox import network, process
from tools.sandbox.api import MERGE_PATCH, ApiClient
from tools.sandbox.process import Command
from tools.sandbox.state import SandboxState

NAME = "load-balancer"


def prepare(sb: SandboxState) -> None:
    """Nothing: it reads the sandbox's state file and PKI itself."""


def command(sb: SandboxState) -> Command:
    """`python -m tools.sandbox _load_balancer`; it enters the node namespace itself (`main`)."""
    return process.entry_point("_load_balancer", sb.directory, in_node=False)


def ready(sb: SandboxState) -> bool:
    """At once: a LoadBalancer Service waits for its address, as on any cluster."""
    return True


class LoadBalancer:
    """The loop: sync Services and their endpoints every half second."""

    def __init__(self, directory: Path, apiserver_port: int) -> None:
        self.api = ApiClient.admin(directory, f"https://{network.NODE_IP}:{apiserver_port}")
        self.addresses: dict[str, str] = {}  # "namespace/name" -> address
        self.listeners: dict[tuple[str, int], asyncio.Server] = {}  # (service key, port)
        self.backends: dict[tuple[str, int], list[tuple[str, int]]] = {}

    def _address(self, key: str) -> str:
        if key not in self.addresses:
            address = str(network.LB_NETWORK.network_address + 1 + len(self.addresses))
            network.ip("addr", "replace", f"{address}/32", "dev", "lo")
            self.addresses[key] = address
        return self.addresses[key]

    def _ready_endpoints(self, namespace: str, name: str, port_name: str) -> list[tuple[str, int]]:
        slices = self.api.read(
            f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices"
            f"?labelSelector=kubernetes.io/service-name%3D{name}"
        )
        found: list[tuple[str, int]] = []
        for item in slices.get("items", []):
            port = next(
                (p.get("port") for p in item.get("ports") or [] if (p.get("name") or "") == port_name), None
            )
            if port is None:
                continue
            for endpoint in item.get("endpoints") or []:
                if (endpoint.get("conditions") or {}).get("ready", True):
                    found.extend((address, port) for address in endpoint["addresses"][:1])
        return found

    async def sync(self) -> None:
        services = await asyncio.to_thread(self.api.read, "/api/v1/services")
        wanted: set[tuple[str, int]] = set()
        for svc in services.get("items", []):
            if svc["spec"].get("type") != "LoadBalancer":
                continue
            meta = svc["metadata"]
            key = f"{meta['namespace']}/{meta['name']}"
            address = self._address(key)
            ingress = [{"ip": address, "ipMode": "VIP"}]
            if (svc.get("status", {}).get("loadBalancer") or {}).get("ingress") != ingress:
                await asyncio.to_thread(
                    self.api.request,
                    "PATCH",
                    f"/api/v1/namespaces/{meta['namespace']}/services/{meta['name']}/status",
                    {"status": {"loadBalancer": {"ingress": ingress}}},
                    content_type=MERGE_PATCH,
                )
            for port in svc["spec"].get("ports") or []:
                slot = (key, port["port"])
                wanted.add(slot)
                self.backends[slot] = await asyncio.to_thread(
                    self._ready_endpoints, meta["namespace"], meta["name"], port.get("name") or ""
                )
                if slot not in self.listeners:
                    self.listeners[slot] = await asyncio.start_server(
                        functools.partial(self.forward, slot), address, port["port"]
                    )
                    print(f"{key}: listening on {address}:{port['port']}", flush=True)
        for slot in [s for s in self.listeners if s not in wanted]:
            self.listeners.pop(slot).close()
            self.backends.pop(slot, None)

    async def forward(
        self, slot: tuple[str, int], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        backends = self.backends.get(slot) or []
        if not backends:
            writer.close()  # no ready endpoint: the connection is refused, as by kube-proxy
            return
        host, port = random.choice(backends)
        try:
            up_reader, up_writer = await asyncio.open_connection(host, port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(network.pipe(reader, up_writer), network.pipe(up_reader, writer))

    async def run(self) -> None:
        while True:
            try:
                await self.sync()
            except (OSError, ValueError, KeyError) as err:  # a failed request is an OSError
                print(f"sync: {type(err).__name__}: {err}", flush=True)
            await asyncio.sleep(0.5)


def main(directory: Path) -> int:
    state = json.loads((directory / "sandbox.json").read_text())
    network.enter(network.node_name_for(directory))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(LoadBalancer(directory, int(state["ports"]["apiserver"])).run())
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
