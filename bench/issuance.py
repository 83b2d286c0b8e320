"""Benchmark: from `pulumi up` to every certificate Ready and every name serving HTTPS, by site count.

For each site count (default 3 and 30): a fresh sandbox cluster
(`Sandbox(cluster=True)`: cert-manager, Traefik and Pebble running, real
HTTP-01), the local stack with that many `service` sites (one host each,
every third with an alias), `up` with `waitForCertificates`, so `up` returns
only when every Certificate is Ready; then, from the start of `up`, until
every name's HTTPS handshake through the edge verifies against Pebble's root
with that name (the edge serving the new certificate). Prints, per count,
the medians of `--runs` runs, the time per site and the ratio to the
smallest count, and the sandbox start time beside them.
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
from tools.sandbox import Sandbox, pebble


def sites(count: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(count):
        site: dict[str, Any] = {"host": f"site{i}.example.com", "service": f"svc-{i}", "port": 80}
        if i % 3 == 0:
            site["aliases"] = [f"www.site{i}.example.com"]
        out.append(site)
    return out


def serving_https(sandbox: Sandbox, hosts: list[str], root: Path) -> bool:
    """True when every host's HTTPS handshake through the edge verifies for that host."""
    check = (
        "import sys\nfrom tools.probe import request\n"
        "for host in sys.argv[3:]:\n"
        "    request(f'https://{host}/', sys.argv[1], sys.argv[2], timeout=5)\n"
    )
    proc = sandbox.run_python_in_node("-c", check, pebble.EDGE_IP, str(root), *hosts, capture_output=True)
    return proc.returncode == 0


def one_run(count: int) -> tuple[float, float, float]:
    """(sandbox start, `up` to every certificate Ready, to every name serving HTTPS) in seconds."""
    with tempfile.TemporaryDirectory(prefix="bench-issuance-") as tmp:
        start = time.monotonic()
        sandbox = Sandbox(Path(tmp) / "sandbox", cluster=True).start()
        started = time.monotonic() - start
        try:
            stack = LocalStack.create(
                Path(tmp) / "stack",
                kubeconfig=sandbox.kubeconfig,
                acme=sandbox.acme_server,
            )
            stack.update_config("multisite:sites", sites(count))
            root = Path(tmp) / "root.pem"
            root.write_text(sandbox.acme_root())
            hosts = [h for site in sites(count) for h in [site["host"], *site.get("aliases", [])]]
            start = time.monotonic()
            stack.up()
            ready = time.monotonic() - start
            while not serving_https(sandbox, hosts, root):
                time.sleep(0.5)
            return started, ready, time.monotonic() - start
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
        rows.append((count, *(statistics.median(r[i] for r in runs) for i in range(3))))
        print(
            f"{count} sites: all Ready {rows[-1][2]:.1f} s, all serving HTTPS {rows[-1][3]:.1f} s", flush=True
        )
    base = rows[0][3]
    print(
        f"\n{'sites':>6} {'sandbox start s':>16} {'up to all Ready s':>18} {'to all HTTPS s':>15}"
        f" {'s per site':>11} {'ratio':>6}"
    )
    for count, started, ready, serving in rows:
        print(
            f"{count:>6} {started:>16.1f} {ready:>18.1f} {serving:>15.1f} {serving / count:>11.2f}"
            f" {serving / base:>6.2f}"
        )
    print(f"(median of {args.runs} run(s) each; 2 sites in 3 have one name, 1 in 3 two)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
