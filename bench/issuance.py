"""Benchmark: from `pulumi up` to every certificate Ready, on the sandbox cluster, by site count.

For each site count (default 3 and 30): a fresh sandbox cluster
(`Sandbox(cluster=True)`: cert-manager, Traefik and Pebble running, real
HTTP-01), the local stack with that many `service` sites (one host each,
every third with an alias), `up` with `waitForCertificates`, so `up` returns
only when every Certificate is Ready. Prints, per count, the median of
`--runs` runs of that `up`, the time per certificate and the ratio to the
smallest count's median, and the sandbox start time beside it.
Needs root (the sandbox's network namespaces).

    .venv/bin/python -m bench.issuance [--sites 3 30] [--runs 1]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from tools.local_stack import LocalStack
from tools.sandbox import Sandbox


def sites(count: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(count):
        site: dict[str, Any] = {"host": f"site{i}.example.com", "service": f"svc-{i}", "port": 80}
        if i % 3 == 0:
            site["aliases"] = [f"www.site{i}.example.com"]
        out.append(site)
    return out


def one_run(count: int) -> tuple[float, float]:
    """(sandbox start seconds, `up` to every certificate Ready seconds) for `count` sites."""
    with tempfile.TemporaryDirectory(prefix="bench-issuance-") as tmp:
        start = time.monotonic()
        sandbox = Sandbox(Path(tmp) / "sandbox", cluster=True).start()
        started = time.monotonic() - start
        try:
            stack = LocalStack.create(
                Path(tmp) / "stack",
                kubeconfig=sandbox.kubeconfig,
                acme=(sandbox.acme_directory, (sandbox.pki / "ca.crt").read_text().strip()),
            )
            stack.update_config("multisite:sites", sites(count))
            start = time.monotonic()
            stack.up()
            return started, time.monotonic() - start
        finally:
            sandbox.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, nargs="+", default=[3, 30])
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    rows = []
    for count in args.sites:
        runs = [one_run(count) for _ in range(args.runs)]
        rows.append((count, statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)))
        print(f"{count} sites: up to every certificate Ready in {rows[-1][2]:.1f} s", flush=True)
    base = rows[0][2]
    print(f"\n{'sites':>6} {'sandbox start s':>16} {'up to all Ready s':>18} {'s per site':>11} {'ratio':>6}")
    for count, started, up in rows:
        print(f"{count:>6} {started:>16.1f} {up:>18.1f} {up / count:>11.2f} {up / base:>6.2f}")
    print(f"(median of {args.runs} run(s) each; 2 sites in 3 have one name, 1 in 3 two)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
