"""The README's main job: a real `pulumi up` of the local stack on the sandbox cluster.

Starts the sandbox cluster (tools/sandbox: controllers, cert-manager and
Traefik as pods, Pebble as the ACME CA; needs root for its network
namespaces), runs `up` on the `local` stack with its example sites, prints
the stack outputs, what now exists in the cluster, the status report (each
host's certificate, issued by the sandbox CA, with its expiry, the redirect
and the HTTPS answer) and a live request through the edge. Then it
tears the sandbox down (`--keep` leaves it up and prints how to reach it).
Without root it stops at once and says why: the real charts need pods to run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time

from tools.engine_env import UPSTREAM, cache_dir
from tools.kube import Cluster
from tools.local_stack import LocalStack
from tools.sandbox import DEFAULT_DIR, Sandbox, network, pebble


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="leave the sandbox running afterwards")
    args = parser.parse_args()
    problem = network.available()
    if problem is not None:
        print(f"make demo needs the sandbox cluster, which cannot start here: {problem}", file=sys.stderr)
        return 1
    print(
        f"charts: the real Traefik chart from {UPSTREAM / 'charts'}, cert-manager's from its Go module "
        f"(packaged into {cache_dir() / 'charts'})",
        flush=True,
    )
    sandbox = Sandbox(DEFAULT_DIR, cluster=True)
    print(f"starting the sandbox cluster in {DEFAULT_DIR} ...", flush=True)
    started = time.monotonic()
    sandbox.start()
    print(f"sandbox ready at {sandbox.server} in {time.monotonic() - started:.1f}s", flush=True)
    try:
        # The sandbox starts empty, so must the stack's state: a state left by an
        # earlier demo would describe objects this cluster never had.
        shutil.rmtree(DEFAULT_DIR / "stack", ignore_errors=True)
        stack = LocalStack.create(
            DEFAULT_DIR / "stack", kubeconfig=sandbox.kubeconfig, acme=sandbox.acme_server
        )
        print("pulumi up --stack local", flush=True)
        started = time.monotonic()
        result = stack.up(on_output=lambda line: print(line, flush=True))
        changes = json.dumps(result.summary.resource_changes)
        print(f"\nup finished in {time.monotonic() - started:.1f}s: {changes}")
        print("\nStack outputs:")
        print(json.dumps(stack.outputs(), indent=2))
        print("\nIn the cluster (read back with the Kubernetes API):")
        print(Cluster(sandbox.kubeconfig).report())
        print_status(sandbox)
    finally:
        if args.keep:
            print(
                f"\nSandbox left running. KUBECONFIG={sandbox.kubeconfig}\n"
                "Stop it with: .venv/bin/python -m tools.sandbox stop"
            )
        else:
            sandbox.stop()
            print("\nsandbox stopped")
    return 0


def print_status(sandbox: Sandbox) -> None:
    """`make status` as a user runs it, then two requests as `curl -v` shows them: from
    inside the sandbox's node, where its DNS server and the edge's address are."""
    root = sandbox.directory / "acme-root.pem"
    root.write_text(sandbox.acme_root())
    flags = [
        "--kubeconfig", str(sandbox.node_kubeconfig), "--ip", pebble.EDGE_IP, "--resolver", pebble.DNS,
        "--requests", "--cafile", str(root),
    ]  # fmt: skip
    print("\n$ python -m tools.status " + " ".join(flags), flush=True)
    sandbox.run_python_in_node("-m", "tools.status", *flags)
    for url in ("http://www.example.com/", "https://www.example.com/"):
        print(flush=True)
        sandbox.run_python_in_node(
            "-m", "tools.probe", url, "--connect", pebble.EDGE_IP, "--cafile", str(root), "-v"
        )


if __name__ == "__main__":
    sys.exit(main())
