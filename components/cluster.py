"""How the program reaches the cluster: one Kubernetes provider for the whole stack."""

from __future__ import annotations

import json

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from components.config import ClusterConfig
from components.secrets import secret_if


def gke_kubeconfig(*, name: str, endpoint: str, ca_certificate: str) -> str:
    """A kubeconfig for a GKE cluster that authenticates through `gke-gcloud-auth-plugin`.

    It holds no credentials: the plugin asks gcloud for a token on each use,
    so the same file works on a laptop and in CI with Workload Identity.
    """
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": name,
                "cluster": {
                    "server": f"https://{endpoint}",
                    "certificate-authority-data": ca_certificate,
                },
            }
        ],
        "users": [
            {
                "name": name,
                "user": {
                    "exec": {
                        "apiVersion": "client.authentication.k8s.io/v1beta1",
                        "command": "gke-gcloud-auth-plugin",
                        "installHint": "Install gke-gcloud-auth-plugin: "
                        "gcloud components install gke-gcloud-auth-plugin",
                        "provideClusterInfo": True,
                    }
                },
            }
        ],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
    }
    return json.dumps(config)


def kubernetes_provider(
    name: str,
    cluster: ClusterConfig | None,
    *,
    gcp_project: str | None,
    secret: bool,
    protect: bool,
) -> k8s.Provider:
    """The stack's single Kubernetes provider.

    GKE `{name, location}`: looks the cluster up and builds a kubeconfig;
    `{kubeconfig, context}`: uses it as given; neither (absent, or only
    `skipAwait`): the ambient kubeconfig.
    `secret`: the cluster config was set with `--secret`, so the kubeconfig is too.
    `protect`: a production stack, where nothing may be deleted by accident.
    """
    opts = pulumi.ResourceOptions(protect=protect)
    if cluster is not None and cluster.kubeconfig is not None:
        return k8s.Provider(
            name,
            kubeconfig=secret_if(secret, cluster.kubeconfig),
            context=None if cluster.context is None else secret_if(secret, cluster.context),
            opts=opts,
        )
    if cluster is None or cluster.name is None:
        return k8s.Provider(name, opts=opts)
    # ClusterConfig refuses a name without a location.
    found = gcp.container.get_cluster_output(
        name=cluster.name, location=cluster.location, project=cluster.project or gcp_project
    )
    kubeconfig = pulumi.Output.all(found.endpoint, found.master_auths).apply(
        lambda parts: gke_kubeconfig(
            name=f"gke_{cluster.name}",
            endpoint=parts[0],
            ca_certificate=parts[1][0]["cluster_ca_certificate"],
        )
    )
    # Not a secret in itself: it holds the endpoint and CA only; the plugin fetches tokens.
    return k8s.Provider(name, kubeconfig=secret_if(secret, kubeconfig), opts=opts)
