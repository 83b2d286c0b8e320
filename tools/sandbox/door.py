"""The API server's door: 127.0.0.1:<free port> in the caller's namespace -> kube-apiserver in the node.

A cluster sandbox runs kube-apiserver inside its node namespace; the Pulumi
CLI, tests and kubectl reach it through this forwarder
(``network.forward_main``), which listens here and connects from inside the
node. It runs as ``python -m tools.sandbox _forward --dir D``.
"""

from __future__ import annotations

from pathlib import Path

from tools.sandbox import network
from tools.sandbox.process import Command, entry_point
from tools.sandbox.state import SandboxState, read_state

NAME = "apiserver-door"


def prepare(sb: SandboxState) -> None:
    """Record the ports in sandbox.json: the door reads them from there."""
    sb.write_state()


def command(sb: SandboxState) -> Command:
    return entry_point("_forward", sb.directory, in_node=False)


def ready(sb: SandboxState) -> bool:
    """At once: kube-apiserver's readiness is checked through it."""
    return True


def main(directory: Path) -> int:
    """The `_forward` entry point: forward until SIGTERM."""
    ports = (read_state(directory) or {})["ports"]
    return network.forward_main(
        network.node_name_for(directory), ports["door"], f"127.0.0.1:{ports['apiserver']}"
    )
