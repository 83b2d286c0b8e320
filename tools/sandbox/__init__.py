"""The sandbox: a throwaway Kubernetes API server, or a small cluster, on this machine.

``Sandbox()`` starts etcd and kube-apiserver (the binaries that
``scripts/engine`` provides) on 127.0.0.1 with free ports, a CA and serving
certificate made with the ``openssl`` CLI, a static bearer token in group
``system:masters``, a service-account key pair and RBAC, and writes a
kubeconfig into its directory.

``Sandbox(cluster=True)`` is a small cluster instead: the same two plus
kube-controller-manager, a node agent that runs pods as local processes, a
load balancer, and Pebble as the ACME CA, each in its own module of this
package (docs/development.md "The sandbox cluster"), in network namespaces of their own.

On the bare API server kube-controller-manager runs too (namespace deletion,
garbage collection, Deployments, Jobs: ``tools.sandbox.controller_manager``),
but no scheduler, node agent or load balancer: objects are stored, validated
and reconciled, and no pod ever runs. Charts whose install waits for a pod
(cert-manager's startupapicheck hook, ingress-nginx's admission hooks) need
the cluster.

Everything lives in one directory (default ``<repo>/.sandbox``, git-ignored):
``pki/``, ``etcd/``, ``logs/``, ``kubeconfig`` and ``sandbox.json`` (pids and
ports). ``stop()`` terminates every process it started and waits for it.

Python::

    from tools.sandbox import Sandbox
    with Sandbox() as sb:                     # or Sandbox(directory=tmp_path)
        sb.kubeconfig                         # Path of the kubeconfig file
        sb.kubeconfig_text()                  # its contents (for k8s.Provider)
        sb.server, sb.token

CLI::

    python -m tools.sandbox start [--dir D] [--cluster]   # prints the kubeconfig path
    python -m tools.sandbox status [--dir D]
    python -m tools.sandbox stop [--dir D]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tools.engine_env import REPO_ROOT, EngineNotProvided, engine_env
from tools.sandbox import network
from tools.sandbox.api import ApiClient

DEFAULT_DIR = REPO_ROOT / ".sandbox"
STATE_FILE = "sandbox.json"
OWNED = (
    "pki", "etcd", "logs", "kubeconfig", "node.kubeconfig", "kube-controller-manager.kubeconfig",
    "pebble-config.json", "pods", "acme-root.pem", STATE_FILE,
)  # fmt: skip
CLUSTER_NAME = "multisite-sandbox"


class SandboxError(RuntimeError):
    """The sandbox could not be started, or is in an unexpected state."""


# --------------------------------------------------------------------------
# small helpers


def _free_ports(count: int) -> list[int]:
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


def _run(cmd: list[str], cwd: Path) -> None:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SandboxError(f"{' '.join(cmd)} failed: {proc.stderr.strip()}")


def _proc_start_time(pid: int) -> str | None:
    """Start time of a process (field 22 of /proc/PID/stat), None if gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] == "Z":
        return None
    return fields[19]


def _alive(pid: int, start_time: str | None = None) -> bool:
    current = _proc_start_time(pid)
    if current is None:
        return False
    return start_time is None or current == start_time


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _terminate(pid: int, start_time: str | None, timeout: float = 15.0) -> None:
    """SIGTERM, wait, then SIGKILL a process we started (checked by start time)."""
    if not _alive(pid, start_time):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap_child(pid)
        if not _alive(pid, start_time):
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    for _ in range(50):
        _reap_child(pid)
        if not _alive(pid, start_time):
            return
        time.sleep(0.1)
    raise SandboxError(f"process {pid} did not exit after SIGKILL")


def _reap_child(pid: int) -> None:
    """Collect the exit status if ``pid`` is our child (avoids zombies)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def make_pki(pki: Path, token: str) -> None:
    """CA, serving cert for 127.0.0.1/localhost, SA key pair and token file."""
    pki.mkdir(parents=True, exist_ok=True)
    openssl = shutil.which("openssl")
    if not openssl:
        raise SandboxError("the openssl command is needed to make the sandbox certificates")

    def ssl(args: str, *extra: str) -> None:
        _run([openssl, *shlex.split(args), *extra], pki)

    ec = "-algorithm EC -pkeyopt ec_paramgen_curve:P-256"
    ssl(f"genpkey {ec} -out ca.key")
    ssl(
        "req -x509 -new -key ca.key -days 3650 -out ca.crt"
        " -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign",
        "-subj",
        f"/CN={CLUSTER_NAME}-ca",
    )
    ssl(f"genpkey {ec} -out server.key")
    ssl("req -new -key server.key -subj /CN=kube-apiserver -out server.csr")
    (pki / "server.ext").write_text(
        "basicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
        f"subjectAltName=IP:127.0.0.1,IP:{network.NODE_IP},DNS:localhost,DNS:kubernetes,"
        "DNS:kubernetes.default,DNS:kubernetes.default.svc\n"
    )
    ssl(
        "x509 -req -in server.csr -CA ca.crt -CAkey ca.key -days 365 -extfile server.ext -out server.crt",
        "-set_serial",
        str(secrets.randbits(63)),
    )
    ssl("genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out sa.key")
    ssl("pkey -in sa.key -pubout -out sa.pub")
    # Static token file: token,user,uid,"group1,group2"
    # The controller manager signs in as the user its bootstrap RBAC role is bound to.
    (pki / "tokens.csv").write_text(
        f'{token},sandbox-admin,sandbox-admin,"system:masters"\n'
        f"{secrets.token_hex(24)},system:kube-controller-manager,system:kube-controller-manager\n"
    )
    for p in pki.iterdir():
        p.chmod(0o600)


def kubeconfig_yaml(server: str, ca_pem: bytes, token: str, *, user: str = "sandbox-admin") -> str:
    """A kubeconfig for the API server at `server` (CA `ca_pem`), as `user` with `token`."""
    ca = base64.b64encode(ca_pem).decode()
    return (
        "apiVersion: v1\n"
        "kind: Config\n"
        "clusters:\n"
        f"- name: {CLUSTER_NAME}\n"
        "  cluster:\n"
        f"    server: {server}\n"
        f"    certificate-authority-data: {ca}\n"
        "users:\n"
        f"- name: {user}\n"
        "  user:\n"
        f"    token: {token}\n"
        "contexts:\n"
        f"- name: {CLUSTER_NAME}\n"
        "  context:\n"
        f"    cluster: {CLUSTER_NAME}\n"
        f"    user: {user}\n"
        "    namespace: default\n"
        f"current-context: {CLUSTER_NAME}\n"
    )


# --------------------------------------------------------------------------
# the sandbox


class Sandbox:
    """etcd + kube-apiserver on loopback; a context manager.

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
        self.directory = Path(directory) if directory is not None else DEFAULT_DIR
        self.directory = self.directory.resolve()
        self._etcd_bin = etcd
        self._apiserver_bin = kube_apiserver
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
        self._popen: dict[str, subprocess.Popen[bytes]] = {}

    # paths -----------------------------------------------------------------
    @property
    def kubeconfig(self) -> Path:
        return self.directory / "kubeconfig"

    @property
    def node_kubeconfig(self) -> Path:
        """The admin kubeconfig for use inside the node namespace (cluster sandboxes)."""
        return self.directory / "node.kubeconfig"

    def run_in_node(self, cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        """`subprocess.run(cmd)` inside the node namespace, where pods, the ACME CA,
        the DNS server and the load balancer's addresses are reachable."""
        netns = self.node.netns
        return subprocess.run(cmd, preexec_fn=lambda: network.enter(netns), text=True, **kwargs)

    def run_python_in_node(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        """`python ARGS` inside the node with this repository importable (`"-m", "tools.status", ...`)."""
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        return self.run_in_node([sys.executable, *args], cwd=REPO_ROOT, env=env, **kwargs)

    @property
    def pki(self) -> Path:
        return self.directory / "pki"

    @property
    def logs(self) -> Path:
        return self.directory / "logs"

    @property
    def state_file(self) -> Path:
        return self.directory / STATE_FILE

    def kubeconfig_text(self) -> str:
        return self.kubeconfig.read_text()

    def env(self) -> dict[str, str]:
        """Variables that point kubectl/clients at this sandbox."""
        return {"KUBECONFIG": str(self.kubeconfig)}

    # binaries ----------------------------------------------------------------
    def _binaries(self) -> tuple[str, str]:
        etcd = self._etcd_bin or os.environ.get("MULTISITE_ETCD")
        apiserver = self._apiserver_bin or os.environ.get("MULTISITE_KUBE_APISERVER")
        if not etcd or not apiserver:
            env = engine_env()  # raises EngineNotProvided with the fix
            etcd = etcd or env["MULTISITE_ETCD"]
            apiserver = apiserver or env["MULTISITE_KUBE_APISERVER"]
        for b in (etcd, apiserver):
            if not Path(b).is_file():
                raise EngineNotProvided(f"{b} not found; run scripts/engine")
        return etcd, apiserver

    # lifecycle ---------------------------------------------------------------
    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Sandbox:
        etcd_bin, apiserver_bin = self._binaries()
        self.directory.mkdir(parents=True, exist_ok=True)
        existing = _read_state(self.directory)
        if existing and any(_alive(p["pid"], p.get("start_time")) for p in existing["processes"].values()):
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
        self.token = secrets.token_hex(24)
        make_pki(self.pki, self.token)

        if self.cluster:
            problem = network.available()
            if problem:
                raise SandboxError(f"the sandbox cluster cannot start: {problem}")
            # Inside the node namespace the well-known ports are free; only
            # the door on this namespace's loopback needs a free port.
            (door,) = _free_ports(1)
            self.ports = {"etcd-client": 2379, "etcd-peer": 2380, "apiserver": 6443, "door": door}
            self.server = f"https://127.0.0.1:{door}"
        else:
            client, peer, secure, controllers = _free_ports(4)
            self.ports = {
                "etcd-client": client,
                "etcd-peer": peer,
                "apiserver": secure,
                "controller-manager": controllers,
            }
            self.server = f"https://127.0.0.1:{secure}"
        try:
            if self.cluster:
                self.node.create()
                self._write_state()  # the door reads its ports from it
                self._spawn_module("apiserver-door", "_forward")
            self._start_etcd(etcd_bin)
            self._start_apiserver(apiserver_bin)
            self.kubeconfig.write_text(
                kubeconfig_yaml(self.server, (self.pki / "ca.crt").read_bytes(), self.token)
            )
            self.kubeconfig.chmod(0o600)
            if self.cluster:
                self.node_kubeconfig.write_text(
                    kubeconfig_yaml(
                        f"https://{network.NODE_IP}:{self.ports['apiserver']}",
                        (self.pki / "ca.crt").read_bytes(),
                        self.token,
                    )
                )
                self.node_kubeconfig.chmod(0o600)
            self._wait_ready()
            self._start_controller_manager()
            if self.cluster:
                self._start_cluster_processes()
            time.sleep(0.5)  # a process that cannot start exits at once
            for name in list(self._popen):
                self._check_running(name)
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(
        self, name: str, cmd: list[str], env: dict[str, str] | None = None, *, in_node: bool | None = None
    ) -> None:
        """Start `cmd`, logging to logs/<name>.log; in the node namespace when
        `in_node` (default: whenever this is a cluster sandbox)."""
        netns = self.node.netns if (self.cluster if in_node is None else in_node) else None

        def before_exec() -> None:
            if self.die_with_parent:
                network.die_with_parent()
            if netns:
                network.enter(netns)

        with open(self.logs / f"{name}.log", "wb") as log:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.directory,
                env=env,
                start_new_session=True,  # no terminal signals from the caller's shell
                preexec_fn=before_exec,
            )
        self._popen[name] = proc
        self.processes[name] = {
            "pid": proc.pid,
            "start_time": _proc_start_time(proc.pid),
            "cmd": cmd[0],
        }
        self._write_state()

    def _check_running(self, name: str) -> None:
        proc = self._popen[name]
        if proc.poll() is not None:
            raise SandboxError(
                f"{name} exited with code {proc.returncode}; last log lines "
                f"({self.logs / (name + '.log')}):\n{_tail(self.logs / (name + '.log'))}"
            )

    def _start_etcd(self, etcd_bin: str) -> None:
        c, p = self.ports["etcd-client"], self.ports["etcd-peer"]
        self._spawn(
            "etcd",
            [
                etcd_bin,
                "--name=sandbox",
                f"--data-dir={self.directory / 'etcd'}",
                f"--listen-client-urls=http://127.0.0.1:{c}",
                f"--advertise-client-urls=http://127.0.0.1:{c}",
                f"--listen-peer-urls=http://127.0.0.1:{p}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{p}",
                f"--initial-cluster=sandbox=http://127.0.0.1:{p}",
                "--initial-cluster-state=new",
                "--log-level=warn",
                # Test data only: skip fsync (much faster on small disks).
                "--unsafe-no-fsync",
            ],
        )
        if self.cluster:
            return  # not reachable from here: kube-apiserver's /readyz checks etcd
        deadline = time.monotonic() + self.startup_timeout
        url = f"http://127.0.0.1:{c}/health"
        while True:
            self._check_running("etcd")
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    if json.loads(resp.read()).get("health") == "true":
                        return
            except (OSError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise SandboxError(
                    f"etcd not healthy after {self.startup_timeout}s:\n{_tail(self.logs / 'etcd.log')}"
                )
            time.sleep(0.2)

    def _start_apiserver(self, apiserver_bin: str) -> None:
        pki = self.pki
        self._spawn(
            "kube-apiserver",
            [
                apiserver_bin,
                f"--etcd-servers=http://127.0.0.1:{self.ports['etcd-client']}",
                *self._apiserver_network_args(),
                f"--secure-port={self.ports['apiserver']}",
                f"--cert-dir={pki}",
                f"--tls-cert-file={pki / 'server.crt'}",
                f"--tls-private-key-file={pki / 'server.key'}",
                f"--token-auth-file={pki / 'tokens.csv'}",
                "--authorization-mode=RBAC",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={pki / 'sa.pub'}",
                f"--service-account-signing-key-file={pki / 'sa.key'}",
                "--service-cluster-ip-range=10.96.0.0/16",
                "--allow-privileged=true",
                "--profiling=false",
                *self.extra_apiserver_args,
            ],
        )

    def _apiserver_network_args(self) -> list[str]:
        if self.cluster:
            return [
                "--bind-address=0.0.0.0",
                f"--advertise-address={network.NODE_IP}",
                # Webhooks and aggregated APIs are called at a ready endpoint
                # of their Service (a pod IP), as no kube-proxy serves ClusterIPs.
                "--enable-aggregator-routing=true",
            ]
        return [
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            # Endpoints of the `kubernetes` Service may not be a loopback IP.
            "--endpoint-reconciler-type=none",
        ]

    def _spawn_module(self, name: str, command: str, *, in_node: bool = False) -> None:
        """Run `python -m tools.sandbox <command> --dir <dir>` (it may enter the node itself)."""
        env = dict(os.environ)
        env["PYTHONPATH"] = str(REPO_ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self._spawn(
            name,
            [sys.executable, "-m", "tools.sandbox", command, "--dir", str(self.directory)],
            env=env,
            in_node=in_node,
        )

    def _start_controller_manager(self) -> None:
        from tools.sandbox import controller_manager

        if self.cluster:  # in the node namespace, where the well-known ports are free
            server, port = f"https://{network.NODE_IP}:{self.ports['apiserver']}", None
        else:
            server, port = self.server, self.ports["controller-manager"]
        kubeconfig = controller_manager.prepare(self.pki, self.directory, server=server)
        command = controller_manager.command(engine_env(), kubeconfig, self.pki, secure_port=port)
        self._spawn("kube-controller-manager", command)

    def _start_cluster_processes(self) -> None:
        from tools.sandbox import pebble

        env = engine_env()
        self._spawn_module("kubelet", "_kubelet")
        self._spawn_module("load-balancer", "_load_balancer", in_node=False)
        self._spawn("dns", pebble.dns_command(env))
        config = pebble.prepare(self.directory, self.pki)
        self._spawn(
            "pebble",
            pebble.pebble_command(env, config),
            env={**os.environ, **pebble.pebble_env(always_valid=self.acme_always_valid)},
        )

    def acme_root(self) -> str:
        """The PEM root certificate the sandbox's ACME CA (Pebble) signs with."""
        from tools.sandbox import pebble

        fetch = (
            "import ssl,sys,urllib.request;"
            "c=ssl.create_default_context(cafile=sys.argv[2]);"
            "sys.stdout.write(urllib.request.urlopen(sys.argv[1],context=c,timeout=5).read().decode())"
        )
        proc = self.run_python_in_node(
            "-c", fetch, pebble.ROOT_URL, str(self.pki / "ca.crt"), capture_output=True, timeout=30
        )
        if proc.returncode != 0:
            raise SandboxError(
                f"could not read the ACME CA's root from {pebble.ROOT_URL}: {proc.stderr[-400:]}"
            )
        return proc.stdout

    @property
    def acme_directory(self) -> str:
        """The sandbox CA's ACME directory (cluster sandboxes); trust pki/ca.crt for it."""
        from tools.sandbox import pebble

        return pebble.DIRECTORY

    @property
    def acme_server(self) -> tuple[str, str]:
        """(directory URL, PEM CA bundle) of the sandbox's ACME CA: what
        `multisite:acme.servers` and `caBundle` take (`LocalStack.create(acme=...)`)."""
        return self.acme_directory, (self.pki / "ca.crt").read_text().strip()

    def _api(self) -> ApiClient:
        return ApiClient(self.server, self.pki / "ca.crt", self.token)

    def _wait_ready(self) -> None:
        api = self._api()
        deadline = time.monotonic() + self.startup_timeout
        last: Any = None
        while True:
            self._check_running("kube-apiserver")
            try:
                status, body = api.request("GET", "/readyz", timeout=3)
                if status == 200:
                    # The default namespace appears shortly after readyz.
                    status, _ = api.request("GET", "/api/v1/namespaces/default", timeout=3)
                    if status == 200:
                        return
                last = body
            except OSError as err:
                last = err
            if time.monotonic() > deadline:
                raise SandboxError(
                    f"kube-apiserver not ready after {self.startup_timeout}s (last: {last!r}):\n"
                    f"{_tail(self.logs / 'kube-apiserver.log')}"
                )
            time.sleep(0.3)

    def _write_state(self) -> None:
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

    def pids(self) -> list[int]:
        return [p["pid"] for p in self.processes.values()]

    def stop(self) -> None:
        """Stop every process (the pods' agent first, etcd last), wait for them,
        and remove the cluster's network namespaces."""
        if not self.processes:
            state = _read_state(self.directory)
            if state:
                self.processes = state["processes"]
        order = [
            "kubelet", "load-balancer", "pebble", "dns",
            "kube-controller-manager", "kube-apiserver", "etcd", "apiserver-door",
        ]  # fmt: skip
        names = [n for n in order if n in self.processes] + [n for n in self.processes if n not in order]
        errors = []
        for name in names:
            info = self.processes[name]
            try:
                _terminate(info["pid"], info.get("start_time"))
            except SandboxError as err:
                errors.append(f"{name}: {err}")
            proc = self._popen.pop(name, None)
            if proc is not None:
                try:
                    proc.wait(timeout=5)
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
        state = _read_state(sb.directory)
        if not state:
            raise SandboxError(f"no sandbox state in {sb.directory}")
        sb.server = state["server"]
        sb.cluster = state.get("cluster", False)
        sb.ports = state["ports"]
        sb.processes = state["processes"]
        tokens = (sb.pki / "tokens.csv").read_text().split(",", 1)
        sb.token = tokens[0]
        return sb

    def running(self) -> bool:
        return bool(self.processes) and all(
            _alive(p["pid"], p.get("start_time")) for p in self.processes.values()
        )


def _read_state(directory: Path) -> dict[str, Any] | None:
    path = directory / STATE_FILE
    if not path.is_file():
        return None
    try:
        state: dict[str, Any] = json.loads(path.read_text())
    except ValueError:
        return None
    return state


# --------------------------------------------------------------------------
# CLI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.sandbox", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("start", "start a sandbox and leave it running; prints the kubeconfig path"),
        ("stop", "stop the sandbox started in --dir"),
        ("status", "say whether a sandbox runs in --dir"),
        ("_forward", argparse.SUPPRESS),
        ("_kubelet", argparse.SUPPRESS),
        ("_load_balancer", argparse.SUPPRESS),
    ):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--dir", default=str(DEFAULT_DIR), help="sandbox directory (default: %(default)s)")
        if name == "start":
            p.add_argument(
                "--cluster",
                action="store_true",
                help="a small cluster (controllers and pods in network namespaces; needs root)",
            )
    args = parser.parse_args(argv)
    directory = Path(args.dir).resolve()

    if args.command == "_forward":
        ports = (_read_state(directory) or {})["ports"]
        return network.forward_main(
            network.node_name_for(directory), ports["door"], f"127.0.0.1:{ports['apiserver']}"
        )
    if args.command == "_kubelet":
        from tools.sandbox import kubelet

        return kubelet.main(directory)
    if args.command == "_load_balancer":
        from tools.sandbox import load_balancer

        return load_balancer.main(directory)
    if args.command == "start":
        sb = Sandbox(directory, die_with_parent=False, cluster=args.cluster)
        try:
            sb.start()
        except (SandboxError, EngineNotProvided) as err:
            print(f"sandbox: {err}", file=sys.stderr)
            return 1
        # Detach: the processes keep running after this CLI exits.
        sb._popen.clear()
        print(f"sandbox: running at {sb.server} (pids in {sb.state_file})", file=sys.stderr)
        print(sb.kubeconfig)
        return 0
    if args.command == "stop":
        state = _read_state(directory)
        if not state:
            print(f"sandbox: nothing running in {directory}", file=sys.stderr)
            return 0
        try:
            Sandbox.attach(directory).stop()
        except SandboxError as err:
            print(f"sandbox: {err}", file=sys.stderr)
            return 1
        print(f"sandbox: stopped ({directory})", file=sys.stderr)
        return 0
    if args.command == "status":
        state = _read_state(directory)
        if not state:
            print("stopped")
            return 1
        sb = Sandbox.attach(directory)
        print(("running " if sb.running() else "partly running ") + sb.server)
        return 0 if sb.running() else 1
    return 2
