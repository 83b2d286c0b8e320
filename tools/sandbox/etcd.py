"""etcd for the sandbox: one member, data in ``<dir>/etcd``, no fsync.

It listens on 127.0.0.1 (the node's loopback in a cluster sandbox, where
kube-apiserver is its only client).
"""

from __future__ import annotations

import json
import urllib.request

from tools.sandbox.process import Command
from tools.sandbox.state import SandboxState

NAME = "etcd"


def prepare(sb: SandboxState) -> None:
    """Nothing: etcd makes its data directory itself."""


def command(sb: SandboxState) -> Command:
    c, p = sb.ports["etcd-client"], sb.ports["etcd-peer"]
    argv = [
        sb.etcd_binary,
        "--name=sandbox",
        f"--data-dir={sb.directory / 'etcd'}",
        f"--listen-client-urls=http://127.0.0.1:{c}",
        f"--advertise-client-urls=http://127.0.0.1:{c}",
        f"--listen-peer-urls=http://127.0.0.1:{p}",
        f"--initial-advertise-peer-urls=http://127.0.0.1:{p}",
        f"--initial-cluster=sandbox=http://127.0.0.1:{p}",
        "--initial-cluster-state=new",
        "--log-level=warn",
        # Test data only: skip fsync (much faster on small disks).
        "--unsafe-no-fsync",
    ]
    return Command(argv, in_node=sb.cluster)


def ready(sb: SandboxState) -> bool:
    """Its /health says so."""
    if sb.cluster:
        return True  # not reachable from here: kube-apiserver's /readyz checks etcd
    url = f"http://127.0.0.1:{sb.ports['etcd-client']}/health"
    with urllib.request.urlopen(url, timeout=2) as resp:
        return bool(json.loads(resp.read()).get("health") == "true")
