"""`python -m tools.sandbox start|stop|status`, and the entry points of the sandbox's own processes.

    python -m tools.sandbox start [--dir D] [--cluster]   # prints the kubeconfig path
    python -m tools.sandbox status [--dir D]
    python -m tools.sandbox stop [--dir D]

``_forward``, ``_kubelet`` and ``_load_balancer`` (hidden) are how the
sandbox starts its door, node agent and load balancer (`process.entry_point`):
running sandboxes were started that way, so these names stay.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tools.engine_env import EngineNotProvided
from tools.sandbox import door, kubelet, load_balancer
from tools.sandbox.plane import Sandbox
from tools.sandbox.process import SandboxError
from tools.sandbox.state import DEFAULT_DIR, read_state

ENTRY_POINTS = {"_forward": door.main, "_kubelet": kubelet.main, "_load_balancer": load_balancer.main}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.sandbox",
        description="The sandbox: a throwaway Kubernetes API server, or a small cluster, on this machine.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("start", "start a sandbox and leave it running; prints the kubeconfig path"),
        ("stop", "stop the sandbox started in --dir"),
        ("status", "say whether a sandbox runs in --dir"),
        *((entry, argparse.SUPPRESS) for entry in ENTRY_POINTS),
    ):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--dir", default=str(DEFAULT_DIR), help="sandbox directory (default: %(default)s)")
        if name == "start":
            p.add_argument(
                "--cluster",
                action="store_true",
                help="a small cluster (controllers and pods in network namespaces; needs root)",
            )
    args = parser.parse_args(argv)
    directory = Path(args.dir).resolve()
    if args.command in ENTRY_POINTS:
        return ENTRY_POINTS[args.command](directory)
    if args.command == "start":
        return _start(directory, cluster=args.cluster)
    if args.command == "stop":
        return _stop(directory)
    return _status(directory)


def _start(directory: Path, *, cluster: bool) -> int:
    sb = Sandbox(directory, die_with_parent=False, cluster=cluster)
    try:
        sb.start()
    except (SandboxError, EngineNotProvided) as err:
        print(f"sandbox: {err}", file=sys.stderr)
        return 1
    sb.detach()  # the processes keep running after this CLI exits
    print(f"sandbox: running at {sb.server} (pids in {sb.state_file})", file=sys.stderr)
    print(sb.kubeconfig)
    return 0


def _stop(directory: Path) -> int:
    if not read_state(directory):
        print(f"sandbox: nothing running in {directory}", file=sys.stderr)
        return 0
    try:
        Sandbox.attach(directory).stop()
    except SandboxError as err:
        print(f"sandbox: {err}", file=sys.stderr)
        return 1
    print(f"sandbox: stopped ({directory})", file=sys.stderr)
    return 0


def _status(directory: Path) -> int:
    if not read_state(directory):
        print("stopped")
        return 1
    sb = Sandbox.attach(directory)
    print(("running " if sb.running() else "partly running ") + sb.server)
    return 0 if sb.running() else 1
