"""Benchmark: how long the program takes to evaluate under Pulumi's mocks, by site count.

Prints the median of several runs for 1, 10, 100 and 500 sites, the cost per
site, and each median as a ratio to the 1-site baseline of the same run.
Measures our code plus the Pulumi SDK's registration work; no engine, no
network. Usage: `.venv/bin/python -m bench.program_eval [--runs N]`.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from tests.support import run_program

SITE_COUNTS = (1, 10, 100, 500)


def config_with_sites(count: int) -> dict[str, Any]:
    """A dev-like stack with `count` sites, every third one deploying an image."""
    sites = []
    for i in range(count):
        site: dict[str, Any] = {"host": f"site{i}.example.com", "aliases": [f"www.site{i}.example.com"]}
        if i % 3 == 0:
            site.update(image="nginxinc/nginx-unprivileged:1.29-alpine", port=8080)
        else:
            site.update(service=f"svc-{i}", port=80)
        sites.append(site)
    return {
        "gcp:region": "europe-west1",
        "multisite:acme": {"issuer": "staging"},
        "multisite:sites": sites,
    }


def measure(count: int, runs: int) -> tuple[float, int]:
    """Median wall time of `runs` evaluations, and the number of resources registered."""
    config = config_with_sites(count)
    times, resources = [], 0
    for _ in range(runs):
        start = time.perf_counter()
        run = run_program(config)
        times.append(time.perf_counter() - start)
        resources = len(run.resources)
    return statistics.median(times), resources


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per site count (median is reported)")
    args = parser.parse_args()
    measure(1, 1)  # warm-up: imports and first-use caches
    print(f"program evaluation under mocks, median of {args.runs} runs")
    print(f"{'sites':>6} {'resources':>10} {'median s':>10} {'ms/site':>9} {'x baseline':>11}")
    baseline = None
    for count in SITE_COUNTS:
        median, resources = measure(count, args.runs)
        baseline = baseline or median
        per_site_ms = 1000 * median / count
        print(f"{count:>6} {resources:>10} {median:>10.3f} {per_site_ms:>9.2f} {median / baseline:>11.1f}")


if __name__ == "__main__":
    main()
