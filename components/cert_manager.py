"""CertManager: cert-manager and its CRDs, installed so issuers never race the webhook."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.helm_chart import chart_source, merge_values
from components.metadata import await_annotations, object_meta
from components.secrets import secret_if

CHART = "cert-manager"
# The newest patch of the newest supported line (see README "Pinned versions").
CHART_VERSION = "v1.21.2"
REPOSITORY = "https://charts.jetstack.io"
RELEASE_NAME = "cert-manager"
NAMESPACE = "cert-manager"
# cert-manager >= 1.18 makes HTTP-01 solver Ingresses with pathType Exact, which
# ingress-nginx's strict path validation rejects for the challenge path. We turn
# the gate off on cert-manager's side so ingress-nginx keeps strict validation.
FEATURE_GATES = "ACMEHTTP01IngressPathTypeExact=false"


def cert_manager_values(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Helm values: CRDs installed and kept on uninstall, the startup API check on.

    Only keys of the chart's values schema appear here: the 1.21 chart
    rejects unknown keys. `overrides` (the stack's `certManager.values`) merge last.
    """
    values: dict[str, Any] = {
        # Deleting the CRDs would delete every Certificate in the cluster.
        "crds": {"enabled": True, "keep": True},
        "featureGates": FEATURE_GATES,
        # A post-install hook Job that waits until the webhook answers; the
        # release (and so every issuer that depends on it) waits for it.
        "startupapicheck": {"enabled": True},
    }
    return merge_values(values, overrides or {})


@dataclass(frozen=True)
class CertManagerArgs:
    """The cert-manager release."""

    version: str
    """Chart version (pinned)."""
    chart: str | None = None
    """Chart source override: repository URL or local directory."""
    values: dict[str, Any] = field(default_factory=dict)
    """Extra values, merged last."""
    secret: bool = False
    """The stack's section for this chart was set with `--secret`: every input from it is secret."""
    skip_await: bool = False
    """Do not wait for workloads to become ready (sandbox clusters)."""


class CertManager(pulumi.ComponentResource):
    """A namespace and a `helm.v3.Release` of cert-manager, waiting for its hook Jobs."""

    release: k8s.helm.v3.Release

    def __init__(self, name: str, args: CertManagerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("multisite:cert_manager:CertManager", name, None, opts)
        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=object_meta(NAMESPACE, annotations=await_annotations(args.skip_await)),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.release = k8s.helm.v3.Release(
            f"{name}-release",
            name=RELEASE_NAME,
            namespace=namespace.metadata["name"],
            version=secret_if(args.secret, args.version),
            values=secret_if(args.secret, cert_manager_values(args.values)),
            timeout=600,
            wait_for_jobs=not args.skip_await,
            skip_await=args.skip_await,
            **chart_source(CHART, REPOSITORY, args.chart, secret=args.secret),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"release": self.release.status})
