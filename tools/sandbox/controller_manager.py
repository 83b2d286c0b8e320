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

from pathlib import Path

from tools.sandbox import kubeconfig_yaml

KUBECONFIG = "kube-controller-manager.kubeconfig"
USER = "system:kube-controller-manager"


def prepare(pki: Path, directory: Path, *, server: str) -> Path:
    """Write the controller manager's kubeconfig for the API server at `server`
    (its token is in pki/tokens.csv)."""
    token = next(
        line.split(",", 1)[0] for line in (pki / "tokens.csv").read_text().splitlines() if f",{USER}," in line
    )
    path = directory / KUBECONFIG
    path.write_text(kubeconfig_yaml(server, (pki / "ca.crt").read_bytes(), token, user=USER))
    path.chmod(0o600)
    return path


def command(env: dict[str, str], kubeconfig: Path, pki: Path, *, secure_port: int | None) -> list[str]:
    """The command line: every default controller, one replica (no leader election).

    `secure_port`: where it serves its health endpoints on 127.0.0.1 (None: the
    default, 10257, free inside a node namespace of its own).
    """
    return [
        env["MULTISITE_KUBE_CONTROLLER_MANAGER"],
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--leader-elect=false",
        "--use-service-account-credentials=true",
        f"--service-account-private-key-file={pki / 'sa.key'}",
        f"--root-ca-file={pki / 'ca.crt'}",
        "--cluster-name=multisite-sandbox",
        "--bind-address=127.0.0.1",
        *([f"--secure-port={secure_port}"] if secure_port is not None else []),
        # Quick to react: the sandbox is small and tests wait on it.
        "--node-monitor-period=2s",
        "--concurrent-gc-syncs=5",
        "--v=1",
    ]
