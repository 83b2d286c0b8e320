"""kube-apiserver for the sandbox: RBAC, static tokens, service-account keys from `pki`.

A bare sandbox binds it to 127.0.0.1; a cluster sandbox runs it in the node
namespace on the well-known port, where pods and webhooks reach it at the
node IP, and this namespace reaches it through the door (`door`).
"""

from __future__ import annotations

from tools.sandbox import network, pki
from tools.sandbox.api import ApiClient
from tools.sandbox.process import Command
from tools.sandbox.state import SandboxState

NAME = "kube-apiserver"


def prepare(sb: SandboxState) -> None:
    """Its serving certificate, and the admin kubeconfig(s) for it."""
    pki.serving_cert(
        sb.pki,
        "server",
        common_name="kube-apiserver",
        alt_names=[
            "IP:127.0.0.1", f"IP:{network.NODE_IP}", "DNS:localhost", "DNS:kubernetes",
            "DNS:kubernetes.default", "DNS:kubernetes.default.svc",
        ],
        days=365,
        key_usage="digitalSignature,keyEncipherment",
    )  # fmt: skip
    pki.write_kubeconfig(sb.kubeconfig, sb.pki, sb.server)
    if sb.cluster:
        pki.write_kubeconfig(sb.node_kubeconfig, sb.pki, f"https://{network.NODE_IP}:{sb.ports['apiserver']}")


def command(sb: SandboxState) -> Command:
    certs = sb.pki
    argv = [
        sb.kube_apiserver_binary,
        f"--etcd-servers=http://127.0.0.1:{sb.ports['etcd-client']}",
        *_network_args(sb.cluster),
        f"--secure-port={sb.ports['apiserver']}",
        f"--cert-dir={certs}",
        f"--tls-cert-file={certs / 'server.crt'}",
        f"--tls-private-key-file={certs / 'server.key'}",
        f"--token-auth-file={certs / 'tokens.csv'}",
        "--authorization-mode=RBAC",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={certs / 'sa.pub'}",
        f"--service-account-signing-key-file={certs / 'sa.key'}",
        "--service-cluster-ip-range=10.96.0.0/16",
        "--allow-privileged=true",
        "--profiling=false",
        *sb.extra_apiserver_args,
    ]
    return Command(argv, in_node=sb.cluster)


def _network_args(cluster: bool) -> list[str]:
    if cluster:
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


def ready(sb: SandboxState) -> bool:
    """/readyz answers 200 and the default namespace exists (it appears shortly after)."""
    api = ApiClient(sb.server, sb.pki / "ca.crt", sb.token)
    api.read("/readyz", timeout=3)  # an error status raises OSError naming it
    api.read("/api/v1/namespaces/default", timeout=3)
    return True
