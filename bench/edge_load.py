"""Benchmark: requests per second through the edge (Traefik) for one site, beside its backend directly.

Starts the sandbox cluster and `up`s the local stack, then, from inside the
node, runs the same bounded load loop (`--requests` GETs over `--concurrency`
keep-alive connections) against:

* `https://www.example.com/` through the edge's address (TLS to Traefik,
  which proxies to the site's backend pod), and
* `http://<backend pod IP>:8080/` directly (no edge, no TLS).

Prints the median requests per second of `--runs` rounds of each, the ratio
edge/direct, and the CPU seconds and resident memory of the Traefik
processes over the edge rounds. The load generator is Python on the same 2
cores, so the figures are a floor for Traefik, not its capacity; the ratio
is what they are for. Needs root.

    .venv/bin/python -m bench.edge_load [--requests 2000] [--concurrency 8] [--runs 3]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import ssl
import statistics
import tempfile
import threading
import time
from pathlib import Path

from tools.engine_env import engine_env
from tools.kube import Cluster
from tools.local_stack import LocalStack
from tools.sandbox import Sandbox, pebble


def load(url: str, address: str, cafile: str, requests: int, concurrency: int) -> float:
    """Requests per second of `requests` GETs of `url` at `address`, over `concurrency` connections."""
    host = url.split("/")[2].split(":")[0]
    https = url.startswith("https://")
    port = int(url.split("/")[2].split(":")[1]) if url.count(":") > 1 else (443 if https else 80)
    context = ssl.create_default_context(cafile=cafile)
    per_thread = requests // concurrency
    errors: list[str] = []

    def worker() -> None:
        conn: http.client.HTTPConnection
        if https:
            conn = http.client.HTTPSConnection(host, port, context=context, timeout=10)
            raw = socket.create_connection((address, port), 10)
            conn.sock = context.wrap_socket(raw, server_hostname=host)
        else:
            conn = http.client.HTTPConnection(address, port, timeout=10)
        for _ in range(per_thread):
            conn.request("GET", "/", headers={"Host": host})
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                errors.append(str(response.status))
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.perf_counter() - start
    if errors:
        raise SystemExit(f"{len(errors)} answers were not 200: {sorted(set(errors))}")
    return per_thread * concurrency / took


def _cpu_seconds_and_rss(pids: list[int]) -> tuple[float, int]:
    ticks = os.sysconf("SC_CLK_TCK")
    cpu, rss = 0.0, 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu += (int(fields[11]) + int(fields[12])) / ticks
        rss += int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    return cpu, rss


def traefik_pids() -> list[int]:
    binary = os.path.realpath(engine_env()["MULTISITE_TRAEFIK"])
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.path.realpath(entry / "exe") == binary:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--_load", nargs=3, metavar=("URL", "ADDRESS", "CAFILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._load:  # inside the node: one round, printed as JSON
        url, address, cafile = args._load
        print(json.dumps(load(url, address, cafile, args.requests, args.concurrency)))
        return 0

    with tempfile.TemporaryDirectory(prefix="bench-edge-") as tmp:
        sandbox = Sandbox(Path(tmp) / "sandbox", cluster=True).start()
        try:
            stack = LocalStack.create(
                Path(tmp) / "stack",
                kubeconfig=sandbox.kubeconfig,
                acme=sandbox.acme_server,
            )
            stack.up()
            root = Path(tmp) / "root.pem"
            root.write_text(sandbox.acme_root())
            pods = Cluster(sandbox.kubeconfig).core.list_namespaced_pod(
                "default", label_selector="app.kubernetes.io/name=www-example-com"
            )
            backend = next(p.status.pod_ip for p in pods.items if p.status.pod_ip)
            targets = {
                "edge (HTTPS)": ("https://www.example.com/", pebble.EDGE_IP),
                "direct (HTTP)": ("http://www.example.com:8080/", backend),
            }

            def one_round(url: str, address: str) -> float:
                proc = sandbox.run_python_in_node(
                    "-m", "bench.edge_load", "--requests", str(args.requests),
                    "--concurrency", str(args.concurrency), "--_load", url, address, str(root),
                    capture_output=True,
                )  # fmt: skip
                if proc.returncode != 0:
                    raise SystemExit(f"load round failed: {proc.stdout}{proc.stderr}")
                return float(proc.stdout)

            one_round(*targets["edge (HTTPS)"])  # warm-up: connections, route caches
            pids = traefik_pids()
            cpu_before, _ = _cpu_seconds_and_rss(pids)
            edge = [one_round(*targets["edge (HTTPS)"]) for _ in range(args.runs)]
            cpu_after, rss = _cpu_seconds_and_rss(pids)
            direct = [one_round(*targets["direct (HTTP)"]) for _ in range(args.runs)]
        finally:
            sandbox.stop()
    e, d = statistics.median(edge), statistics.median(direct)
    print(
        f"{args.requests} GETs over {args.concurrency} keep-alive connections, median of {args.runs} rounds"
    )
    print(f"{'target':<15} {'req/s':>8}")
    print(f"{'edge (HTTPS)':<15} {e:>8.0f}")
    print(f"{'direct (HTTP)':<15} {d:>8.0f}")
    print(f"edge / direct: {e / d:.2f}")
    total = args.requests * args.runs
    print(
        f"Traefik ({len(pids)} processes) over the edge rounds: {cpu_after - cpu_before:.1f} CPU s"
        f" ({1000 * (cpu_after - cpu_before) / total:.2f} ms per request), RSS {rss / 2**20:.0f} MiB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
