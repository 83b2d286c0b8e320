"""The README's main job: a real `pulumi up` of the local stack on the sandbox cluster.

Starts the sandbox cluster (tools/sandbox: controllers, cert-manager and
Traefik as pods, Pebble as the ACME CA; needs root for its network
namespaces), runs `up` on the `local` stack with its example sites through
the Automation API (tools/local_stack.py), printing its progress as the
`pulumi` CLI's display ends it: one line per resource. Then the stack
outputs, what now exists in the cluster, the status report (each host's
certificate, issued by the sandbox CA, with its expiry, the redirect and the
HTTPS answer) and two requests through the edge with the real `curl -v`.

The status report and the requests run inside the sandbox's node namespace,
where its DNS server and the edge's address are, with ``ip netns exec``;
each is printed exactly as it ran (``$ ...``), so a user (root) can run it
again from the repository while the sandbox runs (``--keep``). Then it tears
the sandbox down. Without root it stops at once and says why: the real
charts need pods to run.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pulumi import automation as auto

from tools.engine_env import REPO_ROOT, UPSTREAM, cache_dir
from tools.kube import Cluster
from tools.local_stack import LocalStack
from tools.sandbox import DEFAULT_DIR, Sandbox, network, pebble

# The CLI's symbol and past tense for each step it shows ("same" steps it does not).
STEPS = {
    "create": ("+", "created"),
    "update": ("~", "updated"),
    "delete": ("-", "deleted"),
    "replace": ("+-", "replaced"),
    "create-replacement": ("++", "created replacement"),
    "delete-replaced": ("--", "deleted original"),
    "read": (">", "read"),
    "import": ("=", "imported"),
}


class Progress:
    """An `on_event` handler that prints `up`'s progress as the CLI's terminal
    display leaves it: one line per resource when its step is done, with how
    long it took, warnings and errors, and the closing count of changes.

    The text stream (`on_output`) is the CLI's non-interactive display, which
    prints a line at every status change (creating, each await message,
    created), so each resource appears three or four times there.
    """

    def __init__(self, write: Callable[[str], None] = print) -> None:
        self.write = write
        self.started: dict[str, float] = {}

    def __call__(self, event: auto.EngineEvent) -> None:
        if event.resource_pre_event is not None:
            self.started[event.resource_pre_event.metadata.urn] = time.monotonic()
        elif event.res_outputs_event is not None:
            meta = event.res_outputs_event.metadata
            if meta.op in STEPS:
                symbol, done = STEPS[meta.op]
                self.write(f" {symbol:<2} {meta.type} {_name(meta.urn)} {done} ({self._took(meta.urn)})")
        elif event.res_op_failed_event is not None:
            meta = event.res_op_failed_event.metadata
            symbol = STEPS.get(meta.op, ("", ""))[0]
            self.write(f" {symbol:<2} {meta.type} {_name(meta.urn)} failed ({self._took(meta.urn)})")
        elif event.summary_event is not None:
            changes = event.summary_event.resource_changes or {}
            self.write("\nResources:")
            for op, count in changes.items():
                symbol, done = STEPS.get(op, ("", "unchanged" if op == "same" else op))
                self.write(f"    {symbol + ' ' if symbol else ''}{count} {done}")
            self.write(f"\nDuration: {_duration(event.summary_event.duration_seconds)}")
        elif event.diagnostic_event is not None:
            diag = event.diagnostic_event
            if not diag.ephemeral and diag.severity in ("warning", "error"):
                where = f" {_name(diag.urn)}" if diag.urn else ""
                self.write(f"    {diag.severity}{where}: {diag.message.strip()}")

    def _took(self, urn: str) -> str:
        seconds = time.monotonic() - self.started.get(urn, time.monotonic())
        return f"{seconds:.2f}s" if seconds < 1 else _duration(round(seconds))


def _duration(seconds: int) -> str:
    """As the CLI writes a duration: `37s`, `1m3s`."""
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes}m{seconds}s" if minutes else f"{seconds}s"


def _name(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="leave the sandbox running afterwards")
    parser.add_argument(
        "--gateway",
        action="store_true",
        help="route the sites through Gateway API objects (multisite:traefik.routes: gateway)",
    )
    args = parser.parse_args()
    problem = network.available()
    if problem is not None:
        print(f"make demo needs the sandbox cluster, which cannot start here: {problem}", file=sys.stderr)
        return 1
    if not network.which("curl"):
        # Checked before the sandbox starts: its requests through the edge run the real curl.
        print("make demo needs the `curl` command for its requests through the edge", file=sys.stderr)
        return 1
    print(
        f"charts: the real Traefik chart from {UPSTREAM / 'charts'}, cert-manager's from its Go module "
        f"(packaged into {cache_dir() / 'charts'})",
        flush=True,
    )
    # With --keep its processes must outlive this one (they die with it otherwise).
    sandbox = Sandbox(DEFAULT_DIR, cluster=True, die_with_parent=not args.keep)
    print(f"starting the sandbox cluster in {DEFAULT_DIR} ...", flush=True)
    started = time.monotonic()
    sandbox.start()
    print(f"sandbox ready at {sandbox.server} in {time.monotonic() - started:.1f}s", flush=True)
    try:
        # The sandbox starts empty, so must the stack's state: a state left by an
        # earlier demo would describe objects this cluster never had.
        shutil.rmtree(DEFAULT_DIR / "stack", ignore_errors=True)
        stack = LocalStack.create(
            DEFAULT_DIR / "stack",
            kubeconfig=sandbox.kubeconfig,
            acme=sandbox.acme_server,
            routes="gateway" if args.gateway else "ingress",
        )
        print("\n`up` of the local stack (the Automation API, tools/local_stack.py):", flush=True)
        stack.up(on_event=Progress(lambda line: print(line, flush=True)))
        print("\nStack outputs:")
        print(json.dumps(stack.outputs(), indent=2))
        print("\nIn the cluster (read back with the Kubernetes API):")
        print(Cluster(sandbox.kubeconfig).report())
        root = sandbox.directory / "acme-root.pem"
        root.write_text(sandbox.acme_root())
        outputs = stack.outputs()
        kube = Cluster(sandbox.kubeconfig)
        for problem in edge_not_serving(sandbox, kube, outputs["ingressService"], set(outputs["urls"]), root):
            print(f"the edge does not serve its certificate yet: {problem}", flush=True)
        print("\nIn the sandbox's node namespace, where its DNS server and the edge's address are:")
        for command in node_commands(sandbox, root):
            run_shown(command)
    finally:
        if args.keep:
            sandbox.detach()
            print(
                f"\nSandbox left running. KUBECONFIG={sandbox.kubeconfig}\n"
                "The commands above run again from this directory (as root).\n"
                "Stop it with: .venv/bin/python -m tools.sandbox stop"
            )
        else:
            sandbox.stop()
            print("\nsandbox stopped (`make demo DEMO_FLAGS=--keep` leaves it running)")
    return 0


def edge_not_serving(
    sandbox: Sandbox, kube: Cluster, service: str, hosts: set[str], root: Path, *, seconds: float = 60
) -> list[str]:
    """Wait until every ready pod behind the edge's `service` (`namespace/name`) serves each
    of `hosts` a certificate for it that verifies against `root`; what still fails after
    `seconds` (empty when every pod serves every host).

    A Certificate is Ready once its Secret is written; the edge loads the Secret a
    moment later, and each of its pods on its own, so a request through the load
    balancer alone can meet a pod that still serves its default certificate.
    """
    namespace, name = service.split("/")
    https = next(p for p in kube.core.read_namespaced_service(name, namespace).spec.ports if p.port == 443)
    deadline = time.monotonic() + seconds
    while True:
        pods = kube.ready_endpoints(namespace, name, https.name or "")
        failing = [] if pods else [f"no ready pod behind {service}"]
        for address, port in pods:
            for host in sorted(hosts):
                url, pod = f"https://{host}:{port}/", f"{address}:{port}"
                proc = sandbox.run_python_in_node(
                    "-m", "tools.probe", url, "--connect", address, "--cafile", str(root), capture_output=True
                )
                served: dict[str, Any] = (
                    json.loads(proc.stdout) if proc.stdout else {"error": proc.stderr.strip()}
                )
                if "error" in served or host not in served["certificate"]["names"]:
                    failing.append(f"{host} at {pod}: {served.get('error') or served['certificate']}")
        if not failing or time.monotonic() > deadline:
            return failing
        time.sleep(1)


def node_commands(sandbox: Sandbox, root: Path) -> list[list[str]]:
    """What the demo runs at its end, from the repository, as a user would type it:
    `tools.status` with its requests, then `curl -v` of http:// and https:// of a
    site, and of https:// of one of its redirect names, through the edge's address
    (``--resolve``: the sandbox DNS gives every name that address), trusting the
    ACME CA's root `root`."""
    python = _shown(Path(sys.executable))
    status = [
        python, "-m", "tools.status", "--kubeconfig", _shown(sandbox.node_kubeconfig),
        "--ip", pebble.EDGE_IP, "--resolver", pebble.DNS, "--requests", "--cafile", _shown(root),
    ]  # fmt: skip
    commands = [sandbox.node_command(status)]
    for url in (
        "http://www.example.com/",
        "https://www.example.com/",
        "https://old-brand.example.net/a/page?x=1",
    ):
        parts = urllib.parse.urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        curl = ["curl", "-sSv", "--resolve", f"{parts.hostname}:{port}:{pebble.EDGE_IP}"]
        commands.append(sandbox.node_command([*curl, "--cacert", _shown(root), url]))
    return commands


def run_shown(command: list[str]) -> int:
    """Print `command` as a shell line (``$ ...``), then run exactly it from the repository."""
    print(f"\n$ {shlex.join(command)}", flush=True)
    return subprocess.run(command, cwd=REPO_ROOT, check=False).returncode


def _shown(path: Path) -> str:
    """`path` relative to the repository when inside it (the commands run there), else whole."""
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


if __name__ == "__main__":
    sys.exit(main())
