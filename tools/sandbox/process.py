"""One lifecycle for every process the sandbox runs: spawn, wait until ready, stop.

A process is started with ``spawn`` (its log in a file, optionally in a
network namespace, optionally dying with its parent), watched with
``Running.check``, waited for with ``wait_ready`` and stopped with
``terminate``, which checks the start time so that a reused pid is never
signalled. ``free_ports`` asks the kernel for ports on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tools.engine_env import REPO_ROOT
from tools.sandbox import network


class SandboxError(RuntimeError):
    """The sandbox could not be started, or is in an unexpected state."""


@dataclass(frozen=True)
class Command:
    """How to start one process: its argv, its environment (None: this one's),
    and whether it runs in the sandbox's node namespace."""

    argv: list[str]
    env: dict[str, str] | None = None
    in_node: bool = False


def entry_point(entry: str, directory: Path, *, in_node: bool) -> Command:
    """`python -m tools.sandbox <entry> --dir <directory>`: a process of this package (see `cli`)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return Command([sys.executable, "-m", "tools.sandbox", entry, "--dir", str(directory)], env, in_node)


def free_ports(count: int) -> list[int]:
    """Ask the kernel for ``count`` distinct free TCP ports on 127.0.0.1."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def start_time(pid: int) -> str | None:
    """Start time of a process (field 22 of /proc/PID/stat), None if gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] == "Z":
        return None
    return fields[19]


def alive(pid: int, started: str | None = None) -> bool:
    """Whether `pid` runs (and is the process that started at `started`, when given)."""
    current = start_time(pid)
    if current is None:
        return False
    return started is None or current == started


def reap(pid: int) -> None:
    """Collect the exit status if ``pid`` is our child (avoids zombies)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def terminate(pid: int, started: str | None, timeout: float = 15.0) -> None:
    """SIGTERM, wait `timeout` seconds, then SIGKILL a process we started (checked by start time)."""
    for sig, seconds in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        if not alive(pid, started):
            return
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            reap(pid)
            if not alive(pid, started):
                return
            time.sleep(0.1)
    raise SandboxError(f"process {pid} did not exit after SIGKILL")


def tail(path: Path, lines: int = 25) -> str:
    """The last `lines` lines of a log file."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def die_with_parent() -> None:
    """In a child before exec: get SIGTERM when the thread that started it dies (Linux prctl)."""
    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGTERM)


def spawn(
    argv: list[str],
    *,
    log: Path,
    cwd: Path,
    env: dict[str, str] | None = None,
    netns: str | None = None,
    with_parent: bool = True,
    append: bool = False,
) -> subprocess.Popen[bytes]:
    """Start `argv` in a session of its own (no terminal signals from the caller's
    shell), stdout and stderr to `log`, in network namespace `netns` if given.

    `with_parent`: it gets SIGTERM when the thread that started it dies, so a
    killed test run leaves nothing behind.
    """

    def before_exec() -> None:
        if with_parent:
            die_with_parent()
        if netns:
            network.enter(netns)

    with open(log, "ab" if append else "wb") as out:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            start_new_session=True,
            preexec_fn=before_exec,
        )


@dataclass
class Running:
    """A process the sandbox started, by name, with its log."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def check(self) -> None:
        """Raise SandboxError with the last log lines if it has exited."""
        if self.popen.poll() is not None:
            raise SandboxError(
                f"{self.name} exited with code {self.popen.returncode}; last log lines "
                f"({self.log}):\n{tail(self.log)}"
            )


def wait_ready(running: Running, ready: Callable[[], bool], timeout: float) -> None:
    """Poll `ready` until it answers True; fail at once if the process exits.

    An OSError or ValueError from `ready` (a refused connection, a bad answer)
    means "not yet"; the last one is shown when `timeout` runs out.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        running.check()
        try:
            if ready():
                return
        except (OSError, ValueError) as err:
            last = err
        if time.monotonic() > deadline:
            raise SandboxError(
                f"{running.name} not ready after {timeout}s (last: {last!r}):\n{tail(running.log)}"
            )
        time.sleep(0.25)
