"""What a sandbox is, apart from starting and stopping it: its directory, options, ports and state file.

Each process module takes a ``SandboxState`` (``Sandbox`` is one) to read
what it needs: paths, ports, the server URL, the binaries. ``sandbox.json``
records the ports and the pids of a running sandbox for other processes
(the CLI's ``stop`` and ``status``, the node agent, the load balancer).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from tools.engine_env import REPO_ROOT, EngineNotProvided, engine_env
from tools.sandbox import network
from tools.sandbox.process import Running, SandboxError, alive

DEFAULT_DIR = REPO_ROOT / ".sandbox"
STATE_FILE = "sandbox.json"
# What `start` removes from the directory before it begins (nothing else there is touched).
OWNED = (
    "pki", "etcd", "logs", "kubeconfig", "node.kubeconfig", "kube-controller-manager.kubeconfig",
    "pebble-config.json", "pods", "acme-root.pem", STATE_FILE,
)  # fmt: skip


class SandboxState:
    """A sandbox's directory, options, ports, server and processes (see `Sandbox` for the options)."""

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        *,
        etcd: str | None = None,
        kube_apiserver: str | None = None,
        die_with_parent: bool = True,
        extra_apiserver_args: tuple[str, ...] | list[str] = (),
        startup_timeout: float = 90.0,
        cluster: bool = False,
        acme_always_valid: bool = False,
    ) -> None:
        self.directory = (Path(directory) if directory is not None else DEFAULT_DIR).resolve()
        self.kubeconfig = self.directory / "kubeconfig"  # the admin's, for use from this namespace
        self.node_kubeconfig = self.directory / "node.kubeconfig"  # the admin's inside the node (clusters)
        self.pki = self.directory / "pki"
        self.logs = self.directory / "logs"
        self.state_file = self.directory / STATE_FILE
        self.etcd_binary = etcd or ""
        self.kube_apiserver_binary = kube_apiserver or ""
        self.die_with_parent = die_with_parent
        self.extra_apiserver_args = list(extra_apiserver_args)
        self.startup_timeout = startup_timeout
        self.cluster = cluster
        self.acme_always_valid = acme_always_valid
        self.node = network.NodeNetwork(network.node_name_for(self.directory))
        self.token = ""
        self.server = ""
        self.ports: dict[str, int] = {}
        self.processes: dict[str, dict[str, Any]] = {}
        # The processes this object started, to wait for when they stop (none after `attach`).
        self._children: dict[str, Running] = {}

    def kubeconfig_text(self) -> str:
        return self.kubeconfig.read_text()

    def env(self) -> dict[str, str]:
        """Variables that point kubectl/clients at this sandbox."""
        return {"KUBECONFIG": str(self.kubeconfig)}

    def resolve_binaries(self) -> None:
        """etcd and kube-apiserver: as given, else ``MULTISITE_ETCD`` /
        ``MULTISITE_KUBE_APISERVER``, else the engine's."""
        self.etcd_binary = self.etcd_binary or os.environ.get("MULTISITE_ETCD", "")
        self.kube_apiserver_binary = self.kube_apiserver_binary or os.environ.get(
            "MULTISITE_KUBE_APISERVER", ""
        )
        if not self.etcd_binary or not self.kube_apiserver_binary:
            env = engine_env()  # raises EngineNotProvided with the fix
            self.etcd_binary = self.etcd_binary or env["MULTISITE_ETCD"]
            self.kube_apiserver_binary = self.kube_apiserver_binary or env["MULTISITE_KUBE_APISERVER"]
        for b in (self.etcd_binary, self.kube_apiserver_binary):
            if not Path(b).is_file():
                raise EngineNotProvided(f"{b} not found; run scripts/engine")

    # the node namespace ------------------------------------------------------
    def node_command(self, argv: list[str]) -> list[str]:
        """`argv` run inside the node namespace, as a command a user (root) can type:
        ``ip netns exec <node> ARGV``."""
        ip = "ip" if shutil.which("ip") else network.which("ip") or "ip"
        return [ip, "netns", "exec", self.node.netns, *argv]

    def run_in_node(self, cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        """`subprocess.run(cmd)` inside the node namespace, where pods, the ACME CA,
        the DNS server and the load balancer's addresses are reachable."""
        netns = self.node.netns
        return subprocess.run(cmd, preexec_fn=lambda: network.enter(netns), text=True, **kwargs)

    def run_python_in_node(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        """`python ARGS` inside the node with this repository importable (`"-m", "tools.status", ...`)."""
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        return self.run_in_node([sys.executable, *args], cwd=REPO_ROOT, env=env, **kwargs)

    # sandbox.json ------------------------------------------------------------
    def write_state(self) -> None:
        state = {
            "cluster": self.cluster,
            "server": self.server,
            "kubeconfig": str(self.kubeconfig),
            "ports": self.ports,
            "processes": self.processes,
        }
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        tmp.replace(self.state_file)

    def load_state(self) -> None:
        """Read the server, ports and processes of a sandbox started elsewhere; SandboxError if none."""
        state = read_state(self.directory)
        if not state:
            raise SandboxError(f"no sandbox state in {self.directory}")
        self.server = state["server"]
        self.cluster = state.get("cluster", False)
        self.ports = state["ports"]
        self.processes = state["processes"]
        self.token = (self.pki / "tokens.csv").read_text().split(",", 1)[0]

    def pids(self) -> list[int]:
        return [p["pid"] for p in self.processes.values()]

    def running(self) -> bool:
        """Whether every process it started still runs."""
        return bool(self.processes) and all(
            alive(p["pid"], p.get("start_time")) for p in self.processes.values()
        )


def read_state(directory: Path) -> dict[str, Any] | None:
    """The contents of `directory`'s sandbox.json, None if there is none (or it is unreadable)."""
    path = directory / STATE_FILE
    if not path.is_file():
        return None
    try:
        state: dict[str, Any] = json.loads(path.read_text())
    except ValueError:
        return None
    return state
