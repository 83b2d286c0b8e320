"""Benchmark: the real Pulumi engine against kubectl on the same API server, by site count.

`make bench-engine` (root: the sandbox cluster needs network namespaces).

One sandbox cluster serves the whole run. The local stack's platform
(cert-manager, Traefik, both issuers; no sites) is brought up once, then
cert-manager's controller is scaled to zero, so that a new Certificate starts
no ACME order: what is measured is the engine and the API server, not
issuance (bench/issuance.py measures that). Its webhook stays: every
Certificate is still validated on the way in.

For each site count N (`service` sites, one host each, in `default`), in
this order, each Pulumi step beside its kubectl floor on the same API server:

    up             `pulumi up` from no sites to N sites
    apply floor    `kubectl apply --server-side` of the same objects (read
                   back from the cluster after `up`) into a namespace of their own
    preview        unchanged `pulumi preview` (its change count is printed too)
    diff floor     `kubectl diff --server-side` of those objects
    add site       `pulumi up` from N to N + 1 sites
    reapply floor  `kubectl apply --server-side` of all N + 1 sites' objects
                   (N unchanged, one new)
    destroy        `pulumi up` from N + 1 sites to none: every site's resources
                   deleted. The platform stays: it does not grow with N, and a
                   Helm uninstall has no kubectl floor.
    delete floor   `kubectl delete --wait=false` of the floor's objects

Backends (`--backend`, default both): `file` (a directory, as the local stack
uses) and `gs` (Pulumi's Google Cloud Storage backend against fake-gcs-server
on loopback, built by scripts/engine; the stack's state is moved there with
export and import). `--skip-checkpoints` adds a run of each with
`PULUMI_SKIP_CHECKPOINTS=true`, which saves the state only at the end of an
operation (see docs/scale.md for what a crash then costs).

Prints a table of medians (`--runs`, default 3) with each step's ratio to
its floor; with `--json` one JSON object per row after it, the last line
being the last row.

    .venv/bin/python -m bench.engine_scale [--sites 10 100 300] [--runs 3] [--backend file gs]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tools.engine_env import engine_env
from tools.fake_gcs import FakeGcs
from tools.local_stack import LocalStack, service_sites
from tools.sandbox import Sandbox

SITE_NAMESPACE = "default"
FLOOR_NAMESPACE = "kubectl-floor"
#: What one `service` site makes in the cluster.
SITE_KINDS = "ingresses.networking.k8s.io,certificates.cert-manager.io"
#: The issue's goals: each Pulumi step at most this many times its floor.
GOALS = {"up": 10.0, "preview": 2.0, "add_site": 2.0, "destroy": 10.0}


@dataclass(frozen=True)
class Row:
    """One backend and site count: medians in seconds, and what was measured."""

    backend: str
    sites: int
    resources: int
    up_s: float
    apply_floor_s: float
    preview_s: float
    preview_changes: int
    diff_floor_s: float
    add_site_s: float
    reapply_floor_s: float
    destroy_s: float
    delete_floor_s: float

    def ratios(self) -> dict[str, float]:
        return {
            "up": self.up_s / self.apply_floor_s,
            "preview": self.preview_s / self.diff_floor_s,
            "add_site": self.add_site_s / self.reapply_floor_s,
            "destroy": self.destroy_s / self.delete_floor_s,
        }


class Kubectl:
    """The pinned kubectl (scripts/engine) on the sandbox's kubeconfig."""

    def __init__(self, binary: str, kubeconfig: Path) -> None:
        self.argv = [binary, "--kubeconfig", str(kubeconfig)]

    def run(self, *args: str, ok_codes: tuple[int, ...] = (0,)) -> str:
        proc = subprocess.run([*self.argv, *args], capture_output=True, text=True, check=False)
        if proc.returncode not in ok_codes:
            raise RuntimeError(f"kubectl {' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()}")
        return proc.stdout

    def timed(self, *args: str, ok_codes: tuple[int, ...] = (0,)) -> float:
        start = time.monotonic()
        self.run(*args, ok_codes=ok_codes)
        return time.monotonic() - start

    def dump_sites(self, path: Path) -> None:
        """Write the sites' objects as they are in the cluster, moved to the floor's
        namespace and stripped of what the API server fills in."""
        listed = json.loads(self.run("get", SITE_KINDS, "-n", SITE_NAMESPACE, "-o", "json"))
        items = []
        for obj in listed["items"]:
            meta = obj["metadata"]
            items.append(
                {
                    "apiVersion": obj["apiVersion"],
                    "kind": obj["kind"],
                    "metadata": {
                        "name": meta["name"],
                        "namespace": FLOOR_NAMESPACE,
                        "labels": meta.get("labels", {}),
                        "annotations": meta.get("annotations", {}),
                    },
                    "spec": obj["spec"],
                }
            )
        path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))


def timed(step: Any) -> tuple[float, Any]:
    start = time.monotonic()
    result = step()
    return time.monotonic() - start, result


def one_cycle(stack: LocalStack, kubectl: Kubectl, count: int, work: Path) -> dict[str, float]:
    """One pass of every step at `count` sites, from (and back to) a stack with no sites."""
    measured: dict[str, float] = {}
    stack.update_config("multisite:sites", service_sites(count))
    measured["up_s"], _ = timed(stack.up)
    measured["resources"] = len((stack.stack.export_stack().deployment or {}).get("resources", []))
    floor = work / "floor.json"
    kubectl.dump_sites(floor)
    measured["apply_floor_s"] = kubectl.timed("apply", "--server-side", "-f", str(floor))
    measured["preview_s"], preview = timed(stack.preview)
    measured["preview_changes"] = sum(n for op, n in preview.change_summary.items() if op != "same")
    # kubectl diff exits 1 when it finds a difference; the floor only times it.
    measured["diff_floor_s"] = kubectl.timed("diff", "--server-side", "-f", str(floor), ok_codes=(0, 1))
    stack.update_config("multisite:sites", service_sites(count + 1))
    measured["add_site_s"], _ = timed(stack.up)
    kubectl.dump_sites(floor)
    measured["reapply_floor_s"] = kubectl.timed("apply", "--server-side", "-f", str(floor))
    stack.update_config("multisite:sites", [])
    measured["destroy_s"], _ = timed(stack.up)
    measured["delete_floor_s"] = kubectl.timed("delete", "--wait=false", "-f", str(floor))
    kubectl.run(
        "wait", "--for=delete", SITE_KINDS.split(",")[0], "--all", "-n", FLOOR_NAMESPACE, "--timeout=300s"
    )
    return measured


def measure(stack: LocalStack, kubectl: Kubectl, backend: str, count: int, runs: int, work: Path) -> Row:
    cycles = [one_cycle(stack, kubectl, count, work) for _ in range(runs)]

    def median(key: str) -> float:
        return statistics.median(c[key] for c in cycles)

    return Row(
        backend=backend,
        sites=count,
        resources=int(max(c["resources"] for c in cycles)),
        up_s=median("up_s"),
        apply_floor_s=median("apply_floor_s"),
        preview_s=median("preview_s"),
        preview_changes=int(max(c["preview_changes"] for c in cycles)),
        diff_floor_s=median("diff_floor_s"),
        add_site_s=median("add_site_s"),
        reapply_floor_s=median("reapply_floor_s"),
        destroy_s=median("destroy_s"),
        delete_floor_s=median("delete_floor_s"),
    )


def start_platform(sandbox: Sandbox, work: Path, kubectl: Kubectl) -> tuple[LocalStack, float]:
    """The local stack with no sites, up, and cert-manager's controller stopped."""
    stack = LocalStack.create(work / "stack", kubeconfig=sandbox.kubeconfig, acme=sandbox.acme_server)
    config = stack.read_config()
    config["multisite:sites"] = []
    config["multisite:acme"] = {**config["multisite:acme"], "waitForCertificates": False}
    stack.write_config(config)
    seconds, _ = timed(stack.up)
    kubectl.run("-n", "cert-manager", "scale", "deployment/cert-manager", "--replicas=0")
    kubectl.run(
        "-n", "cert-manager", "wait", "--for=delete", "pod",
        "-l", "app.kubernetes.io/component=controller", "--timeout=120s",
    )  # fmt: skip
    kubectl.run("create", "namespace", FLOOR_NAMESPACE)
    return stack, seconds


def moved_to(stack: LocalStack, backend_env: dict[str, str], work: Path, sandbox: Sandbox) -> LocalStack:
    """The same stack (its config, its state exported and imported) in another backend."""
    deployment = stack.stack.export_stack()
    moved = LocalStack.create(
        work / "stack",
        kubeconfig=sandbox.kubeconfig,
        acme=sandbox.acme_server,
        env={**stack.env, **backend_env},
        backend_url=backend_env["PULUMI_BACKEND_URL"],
    )
    moved.write_config(stack.read_config())
    moved.stack.import_stack(deployment)
    return moved


def print_table(rows: list[Row]) -> None:
    print(
        f"\n{'backend':<26} {'sites':>5} {'res':>5} | {'up s':>7} {'floor':>6} {'x':>5} |"
        f" {'preview':>7} {'chg':>3} {'floor':>6} {'x':>5} | {'add 1':>6} {'floor':>6} {'x':>5} |"
        f" {'destroy':>7} {'floor':>6} {'x':>5}"
    )
    for r in rows:
        x = r.ratios()
        print(
            f"{r.backend:<26} {r.sites:>5} {r.resources:>5} | {r.up_s:>7.1f} {r.apply_floor_s:>6.2f}"
            f" {x['up']:>5.1f} | {r.preview_s:>7.1f} {r.preview_changes:>3} {r.diff_floor_s:>6.2f}"
            f" {x['preview']:>5.1f} | {r.add_site_s:>6.1f} {r.reapply_floor_s:>6.2f} {x['add_site']:>5.1f} |"
            f" {r.destroy_s:>7.1f} {r.delete_floor_s:>6.2f} {x['destroy']:>5.1f}"
        )
    print(
        "goal (x = Pulumi step / kubectl floor, same API server, same run): "
        + ", ".join(f"{step} <= {goal:g}x" for step, goal in GOALS.items())
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, nargs="+", default=[10, 100, 300])
    parser.add_argument("--runs", type=int, default=3, help="cycles per site count; medians are printed")
    parser.add_argument("--backend", nargs="+", choices=["file", "gs"], default=["file", "gs"])
    parser.add_argument(
        "--skip-checkpoints",
        action="store_true",
        help="also run each backend with PULUMI_SKIP_CHECKPOINTS=true",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per row after the table")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        parser.error("the sandbox cluster needs root (network namespaces); run as root")
    env = engine_env()
    variants: list[tuple[str, dict[str, str]]] = [("", {})]
    if args.skip_checkpoints:
        variants.append((", skip checkpoints", {"PULUMI_SKIP_CHECKPOINTS": "true"}))
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-engine-") as tmp, ExitStack() as cleanup:
        work = Path(tmp)
        started, sandbox = timed(lambda: Sandbox(work / "sandbox", cluster=True).start())
        cleanup.callback(sandbox.stop)
        kubectl = Kubectl(env["MULTISITE_KUBECTL"], sandbox.kubeconfig)
        stack, platform_s = start_platform(sandbox, work, kubectl)
        print(f"sandbox cluster started in {started:.1f} s; platform up in {platform_s:.1f} s", flush=True)
        for backend in args.backend:
            if backend == "gs":
                gcs = cleanup.enter_context(FakeGcs.start(env["MULTISITE_FAKE_GCS_SERVER"], work))
                stack = moved_to(stack, gcs.env, work / "gs", sandbox)
            for suffix, extra in variants:
                workspace = stack.stack.workspace
                plain_env = dict(workspace.env_vars)
                workspace.env_vars = {**plain_env, **extra}
                for count in args.sites:
                    row = measure(stack, kubectl, backend + suffix, count, args.runs, work)
                    rows.append(row)
                    print(json.dumps(asdict(row)), flush=True)
                workspace.env_vars = plain_env
    print_table(rows)
    print(f"(median of {args.runs} cycle(s) per row; per site an Ingress, a Certificate and their component)")
    if args.json:
        for row in rows:
            print(json.dumps({**asdict(row), "ratios": row.ratios()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
