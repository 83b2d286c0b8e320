"""The README's main job: a real `pulumi up` of the local stack against a sandbox API server.

Starts the sandbox (etcd + kube-apiserver on loopback), runs `up` on the
`local` stack with its example sites, prints the stack outputs and what now
exists in the cluster, then tears the sandbox down (`--keep` leaves it up and
prints how to reach it).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from tools.engine_env import REPO_ROOT, UPSTREAM
from tools.kube import Cluster
from tools.local_stack import CHARTS, LocalStack, chart_dir
from tools.sandbox import DEFAULT_DIR, Sandbox


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="leave the sandbox running afterwards")
    args = parser.parse_args()

    for name in CHARTS:
        source = chart_dir(name)
        kind = (
            "real chart" if "fixtures" not in source.parts else "STAND-IN chart (see tests/fixtures/charts)"
        )
        print(f"chart {name}: {source.relative_to(REPO_ROOT)} ({kind})", flush=True)
    print(f"chart traefik (multisite:edge traefik): real chart from {UPSTREAM / 'charts'}", flush=True)

    sandbox = Sandbox(DEFAULT_DIR)
    print(f"starting the sandbox cluster in {DEFAULT_DIR} ...", flush=True)
    started = time.monotonic()
    sandbox.start()
    print(f"sandbox ready at {sandbox.server} in {time.monotonic() - started:.1f}s", flush=True)
    try:
        stack = LocalStack.create(DEFAULT_DIR / "stack", kubeconfig=sandbox.kubeconfig)
        print("pulumi up --stack local", flush=True)
        started = time.monotonic()
        result = stack.up(on_output=lambda line: print(line, flush=True))
        changes = json.dumps(result.summary.resource_changes)
        print(f"\nup finished in {time.monotonic() - started:.1f}s: {changes}")
        print("\nStack outputs:")
        print(json.dumps(stack.outputs(), indent=2))
        print("\nIn the cluster (read back with the Kubernetes API):")
        print(Cluster(sandbox.kubeconfig).report())
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


if __name__ == "__main__":
    sys.exit(main())
