"""kube-controller-manager for the sandbox.

The real controllers (namespace deletion, garbage collection, Deployments,
ReplicaSets, Jobs, EndpointSlices, service accounts and their tokens, ...)
from the same Kubernetes module as kube-apiserver: in the node namespace of
a cluster sandbox, on loopback beside a bare API server. It signs in with a
static token as `system:kube-controller-manager` and, like kubeadm's, gives
each controller its own service account, so the bootstrap RBAC roles apply as
on a real cluster.
"""

from __future__ import annotations

from tools.engine_env import engine_env
from tools.sandbox import network, pki
from tools.sandbox.process import Command
from tools.sandbox.state import SandboxState

NAME = "kube-controller-manager"
KUBECONFIG = "kube-controller-manager.kubeconfig"
USER = "system:kube-controller-manager"


def _server(sb: SandboxState) -> str:
    if sb.cluster:  # in the node namespace, where the well-known ports are free
        return f"https://{network.NODE_IP}:{sb.ports['apiserver']}"
    return sb.server


def prepare(sb: SandboxState) -> None:
    """Write its kubeconfig (its token is in pki/tokens.csv)."""
    pki.write_kubeconfig(sb.directory / KUBECONFIG, sb.pki, _server(sb), user=USER)


def command(sb: SandboxState) -> Command:
    """Every default controller, one replica (no leader election).

    Beside a bare API server it serves its health endpoints on a free port of
    127.0.0.1; in a node namespace of its own, on the default (10257).
    """
    kubeconfig = sb.directory / KUBECONFIG
    secure_port = None if sb.cluster else sb.ports["controller-manager"]
    argv = [
        engine_env()["MULTISITE_KUBE_CONTROLLER_MANAGER"],
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--leader-elect=false",
        "--use-service-account-credentials=true",
        f"--service-account-private-key-file={sb.pki / 'sa.key'}",
        f"--root-ca-file={sb.pki / 'ca.crt'}",
        f"--cluster-name={pki.CLUSTER_NAME}",
        "--bind-address=127.0.0.1",
        *([f"--secure-port={secure_port}"] if secure_port is not None else []),
        # Quick to react: the sandbox is small and tests wait on it.
        "--node-monitor-period=2s",
        "--concurrent-gc-syncs=5",
        "--v=1",
    ]
    return Command(argv, in_node=sb.cluster)


def ready(sb: SandboxState) -> bool:
    """At once: nothing waits for it (a crash shows in `Sandbox.start`'s last check)."""
    return True
