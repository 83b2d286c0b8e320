"""The sandbox cluster's DNS server: pebble-challtestsrv answering every name with the edge's address.

Pebble's validation authority and the pods (their resolv.conf) ask it, so
every host name leads to the edge's load-balancer address (``pebble.EDGE_IP``),
as a real zone would once its records point at the edge.
"""

from __future__ import annotations

from tools.engine_env import engine_env
from tools.sandbox import network
from tools.sandbox.pebble import DNS, EDGE_IP
from tools.sandbox.process import Command
from tools.sandbox.state import SandboxState

NAME = "dns"


def prepare(sb: SandboxState) -> None:
    """Nothing to write."""


def command(sb: SandboxState) -> Command:
    """pebble-challtestsrv as a plain DNS server: its challenge servers off."""
    argv = [
        engine_env()["MULTISITE_PEBBLE_CHALLTESTSRV"],
        "-dnsserver", DNS, "-defaultIPv4", EDGE_IP, "-defaultIPv6", "",
        "-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "",
        "-management", f"{network.NODE_IP}:8055",
    ]  # fmt: skip
    return Command(argv, in_node=True)


def ready(sb: SandboxState) -> bool:
    """At once: its clients retry."""
    return True
