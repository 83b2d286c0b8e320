"""`Sandbox`: the processes of the sandbox, started in order, stopped in reverse.

Each process is a module of this package with the same small interface
(`Part`): ``NAME``, ``prepare(sb)`` (files it needs), ``command(sb)`` (how
to start it) and ``ready(sb)`` (whether it serves yet). ``Sandbox.start``
makes the PKI and the ports, then runs the parts one after another, each
ready before the next starts (`process` holds that lifecycle).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from typing import Protocol

from tools.sandbox import (
    apiserver,
    controller_manager,
    dns,
    door,
    etcd,
    kubelet,
    load_balancer,
    network,
    pebble,
    pki,
    process,
)
from tools.sandbox.process import Command, Running, SandboxError
from tools.sandbox.state import OWNED, SandboxState, read_state


class Part(Protocol):
    """One process of the sandbox (each module named in `Sandbox.parts` is one)."""

    NAME: str

    def prepare(self, sb: SandboxState) -> None:
        """Write what it needs before it starts (certificates, config, kubeconfig)."""

    def command(self, sb: SandboxState) -> Command:
        """Its command line, environment, and namespace."""
        ...

    def ready(self, sb: SandboxState) -> bool:
        """Whether it serves yet (an OSError or ValueError also means no)."""
        ...


# The order `stop` terminates them in: the pods' agent first, etcd last.
STOP_ORDER = (
    "kubelet", "load-balancer", "pebble", "dns",
    "kube-controller-manager", "kube-apiserver", "etcd", "apiserver-door",
)  # fmt: skip


class Sandbox(SandboxState):
    """etcd + kube-apiserver on loopback, or a small cluster; a context manager.

    Args:
        directory: where all state goes (wiped of the sandbox's own files on
            start). Default ``<repo>/.sandbox``.
        etcd, kube_apiserver: binary paths; default from the env file that
            ``scripts/engine`` writes (``tools.engine_env.engine_env``), or the
            ``MULTISITE_ETCD`` / ``MULTISITE_KUBE_APISERVER`` variables.
        die_with_parent: the processes get SIGTERM when the thread that
            started them dies (so a killed test run leaves nothing behind).
            The CLI ``start`` turns it off to leave the sandbox running.
        extra_apiserver_args: appended to the kube-apiserver command line.
        startup_timeout: seconds to wait for etcd and for /readyz.
        cluster: run a small cluster instead of a bare API server: a node
            network namespace (``tools.sandbox.network``) with etcd,
            kube-apiserver and kube-controller-manager in it, a node agent
            that runs pods as local processes (``tools.sandbox.kubelet``) and
            an API server door on this namespace's loopback. Needs root.
        acme_always_valid: Pebble accepts every authorization without
            validating it (PEBBLE_VA_ALWAYS_VALID). Off by default: the
            sandbox validates HTTP-01 for real, through the edge.
    """

    def parts(self) -> list[Part]:
        """The processes, in the order they start."""
        if not self.cluster:
            return [etcd, apiserver, controller_manager]
        return [door, etcd, apiserver, controller_manager, kubelet, load_balancer, dns, pebble]

    # lifecycle ---------------------------------------------------------------
    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Sandbox:
        """Start the parts in order, each ready before the next; stop them all if one fails."""
        self.resolve_binaries()
        if self.cluster and (problem := network.available()):
            raise SandboxError(f"the sandbox cluster cannot start: {problem}")
        self._clear_directory()
        self.token = secrets.token_hex(24)
        pki.make(self.pki, self.token)
        self._choose_ports()
        try:
            if self.cluster:
                self.node.create()
            for part in self.parts():
                self._start(part)
            time.sleep(0.5)  # a process that cannot start exits at once
            for running in self._children.values():
                running.check()
        except BaseException:
            self.stop()
            raise
        return self

    def _choose_ports(self) -> None:
        if self.cluster:
            # Inside the node namespace the well-known ports are free; only
            # the door on this namespace's loopback needs a free port.
            (door_port,) = process.free_ports(1)
            self.ports = {"etcd-client": 2379, "etcd-peer": 2380, "apiserver": 6443, "door": door_port}
            self.server = f"https://127.0.0.1:{door_port}"
        else:
            client, peer, secure, controllers = process.free_ports(4)
            self.ports = {
                "etcd-client": client,
                "etcd-peer": peer,
                "apiserver": secure,
                "controller-manager": controllers,
            }
            self.server = f"https://127.0.0.1:{secure}"

    def _clear_directory(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        existing = read_state(self.directory)
        if existing and any(
            process.alive(p["pid"], p.get("start_time")) for p in existing["processes"].values()
        ):
            raise SandboxError(
                f"a sandbox is already running in {self.directory}; "
                f"stop it first (python -m tools.sandbox stop --dir {self.directory})"
            )
        for name in OWNED:
            target = self.directory / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
        self.logs.mkdir()

    def _start(self, part: Part) -> None:
        """Prepare, spawn (logging to logs/<NAME>.log) and wait until ready; recorded in sandbox.json."""
        part.prepare(self)
        command = part.command(self)
        log = self.logs / f"{part.NAME}.log"
        popen = process.spawn(
            command.argv,
            log=log,
            cwd=self.directory,
            env=command.env,
            netns=self.node.netns if command.in_node else None,
            with_parent=self.die_with_parent,
        )
        running = self._children[part.NAME] = Running(part.NAME, popen, log)
        self.processes[part.NAME] = {
            "pid": popen.pid,
            "start_time": process.start_time(popen.pid),
            "cmd": command.argv[0],
        }
        self.write_state()
        process.wait_ready(running, lambda: part.ready(self), self.startup_timeout)

    def detach(self) -> None:
        """Leave the processes running after this Python process exits (the CLI's `start`)."""
        self._children.clear()

    def stop(self) -> None:
        """Stop every process (the pods' agent first, etcd last), wait for them,
        and remove the cluster's network namespaces."""
        if not self.processes:
            state = read_state(self.directory)
            if state:
                self.processes = state["processes"]
        names = [n for n in STOP_ORDER if n in self.processes]
        names += [n for n in self.processes if n not in STOP_ORDER]
        errors = []
        for name in names:
            info = self.processes[name]
            try:
                process.terminate(info["pid"], info.get("start_time"))
            except SandboxError as err:
                errors.append(f"{name}: {err}")
            running = self._children.pop(name, None)
            if running is not None:
                try:
                    running.popen.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    errors.append(f"{name}: still running")
        self.processes = {}
        if self.state_file.exists():
            self.state_file.unlink()
        if self.cluster:
            try:
                self.node.destroy()
            except network.NetworkError as err:
                errors.append(str(err))
        if errors:
            raise SandboxError("; ".join(errors))

    @classmethod
    def attach(cls, directory: str | os.PathLike[str] | None = None) -> Sandbox:
        """A Sandbox object for one started by another process (e.g. the CLI)."""
        sb = cls(directory)
        sb.load_state()
        return sb

    # the ACME CA (cluster sandboxes) -----------------------------------------
    def acme_root(self) -> str:
        """The PEM root certificate the sandbox's ACME CA (Pebble) signs with."""
        return pebble.root(self)

    @property
    def acme_directory(self) -> str:
        """The sandbox CA's ACME directory (cluster sandboxes); trust pki/ca.crt for it."""
        return pebble.DIRECTORY

    @property
    def acme_server(self) -> tuple[str, str]:
        """(directory URL, PEM CA bundle) of the sandbox's ACME CA: what
        `multisite:acme.servers` and `caBundle` take (`LocalStack.create(acme=...)`)."""
        return self.acme_directory, (self.pki / "ca.crt").read_text().strip()
