"""How the program reaches the cluster: one Kubernetes provider for the whole stack."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s
from pydantic import AfterValidator

from components.fields import GcpLocation, GcpProjectId, KeysRule, Model, Pattern

GkeClusterName = Annotated[
    str,
    AfterValidator(
        Pattern(
            re.compile(r"^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$"),
            "expected a GKE cluster name: lower-case letter first, then a-z, 0-9 or '-',"
            " at most 40 characters",
            name="GKE cluster name",
        )
    ),
]


def kubeconfig_source(value: str) -> str:
    """Check a kubeconfig: inline YAML, or the path of an existing file (returned with `~`
    expanded)."""
    if not value.strip():
        raise ValueError("expected inline kubeconfig YAML or the path of an existing file")
    if "\n" in value or value.lstrip().startswith(("apiVersion", "{")):
        return value  # inline kubeconfig
    path = os.path.expanduser(value)
    if not os.path.isfile(path):
        raise ValueError("expected inline kubeconfig YAML or the path of an existing file")
    return path


KubeconfigSource = Annotated[str, AfterValidator(kubeconfig_source)]


class ClusterConfig(Model):
    """How to reach the cluster: a GKE cluster by name, or a kubeconfig."""

    FREE_TEXT: ClassVar[frozenset[str]] = frozenset({"kubeconfig"})

    name: GkeClusterName | None = None
    """A GKE cluster to look up (with `location`); the program builds a kubeconfig that
    authenticates with `gke-gcloud-auth-plugin`, so no credentials are stored."""
    location: GcpLocation | None = None
    """The GKE cluster's region (a regional cluster) or zone (a zonal cluster)."""
    project: GcpProjectId | None = None
    """The GKE cluster's project, when it is not `gcp:project`."""
    kubeconfig: KubeconfigSource | None = None
    """Any other cluster: the path of a kubeconfig file, or inline kubeconfig YAML."""
    context: str | None = None
    """The kubeconfig's context to use (default: its current-context)."""
    skip_await: bool = False
    """Apply workloads without waiting for readiness (clusters with no controllers, like the
    local sandbox)."""

    @classmethod
    def shape_problems(cls, given: Mapping[str, Any]) -> list[KeysRule]:
        gke = tuple(k for k in ("name", "location") if k in given)
        problems = []
        if gke and "kubeconfig" in given:
            problems.append(
                KeysRule(
                    (*gke, "kubeconfig"),
                    "expected either {name, location} of a GKE cluster or {kubeconfig}, not both",
                )
            )
        elif len(gke) == 1:
            problems.append(
                KeysRule(("name", "location"), "expected both 'name' and 'location' to look up a GKE cluster")
            )
        if "context" in given and "kubeconfig" not in given:
            problems.append(
                KeysRule(("context", "kubeconfig"), "expected 'context' only together with 'kubeconfig'")
            )
        if "project" in given and not gke:
            problems.append(
                KeysRule(
                    ("project", "name", "location"),
                    "expected 'project' only together with a GKE {name, location}",
                )
            )
        return problems


@dataclass(frozen=True)
class Cluster:
    """The cluster every Kubernetes object goes to, as the components receive it."""

    provider: k8s.Provider
    """The stack's one Kubernetes provider."""
    skip_await: bool = False
    """Do not wait for workloads to become ready (clusters without controllers, the sandbox)."""
    protect: bool = False
    """A production stack: every resource is protected from an accidental delete."""

    def options(self, opts: pulumi.ResourceOptions | None = None) -> pulumi.ResourceOptions:
        """`opts` with this cluster's provider and protection (children inherit both)."""
        return pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(providers=[self.provider], protect=self.protect)
        )


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


def connect(name: str, cluster: ClusterConfig | None, *, gcp_project: str | None, protect: bool) -> Cluster:
    """The stack's cluster, reached through its single Kubernetes provider `name`.

    GKE `{name, location}`: looks the cluster up and builds a kubeconfig;
    `{kubeconfig, context}`: uses it as given; neither (absent, or only
    `skipAwait`): the ambient kubeconfig. The kubeconfig is secret when the
    cluster section is. `protect`: a production stack, where nothing may be
    deleted by accident.
    """
    provider = kubernetes_provider(name, cluster, gcp_project=gcp_project, protect=protect)
    return Cluster(provider, skip_await=cluster is not None and cluster.skip_await, protect=protect)


def kubernetes_provider(
    name: str, cluster: ClusterConfig | None, *, gcp_project: str | None, protect: bool
) -> k8s.Provider:
    """The Kubernetes provider of `connect`."""
    opts = pulumi.ResourceOptions(protect=protect)
    if cluster is not None and cluster.kubeconfig is not None:
        return k8s.Provider(
            name,
            kubeconfig=cluster.input(cluster.kubeconfig),
            context=None if cluster.context is None else cluster.input(cluster.context),
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
    return k8s.Provider(name, kubeconfig=cluster.input(kubeconfig), opts=opts)
