"""CertManager: cert-manager and its CRDs, installed so issuers never race the webhook."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.cluster import Cluster
from components.fields import ChartVersion
from components.helm_chart import ChartConfig, ChartRelease, merge_values, namespaced_release

# The newest patch of the newest supported line (see docs/design.md, "Pinned versions").
CHART_VERSION = "v1.21.2"
RELEASE = ChartRelease(
    chart="cert-manager",
    repository="https://charts.jetstack.io",
    release_name="cert-manager",
    namespace="cert-manager",
)
# cert-manager >= 1.18 makes HTTP-01 solver Ingresses with pathType Exact, which
# ingress-nginx's strict path validation rejects for the challenge path. We turn
# the gate off on cert-manager's side so ingress-nginx keeps strict validation.
FEATURE_GATES = "ACMEHTTP01IngressPathTypeExact=false"


class CertManagerConfig(ChartConfig):
    """The cert-manager release."""

    version: ChartVersion = CHART_VERSION
    """The exact chart version (a pin, not a range)."""


def cert_manager_values(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Helm values: CRDs installed and kept on uninstall, the startup API check on.

    Only keys of the chart's values schema appear here: the 1.21 chart
    rejects unknown keys. `overrides` (the stack's `certManager.values`) merge last.
    """
    values: dict[str, Any] = {
        # Deleting the CRDs would delete every Certificate in the cluster.
        "crds": {"enabled": True, "keep": True},
        "featureGates": FEATURE_GATES,
        # Each TLS Secret is owned by its Certificate: removing a site removes its
        # private key too, instead of leaving it in the cluster.
        "enableCertificateOwnerRef": True,
        # A post-install hook Job that waits until the webhook answers; the
        # release (and so every issuer that depends on it) waits for it.
        "startupapicheck": {"enabled": True},
    }
    return merge_values(values, overrides or {})


@dataclass(frozen=True)
class CertManagerArgs:
    """The cert-manager release."""

    config: CertManagerConfig
    """The stack's `multisite:certManager`, whole."""
    cluster: Cluster
    """Where it runs."""


class CertManager(pulumi.ComponentResource):
    """A namespace and a `helm.v3.Release` of cert-manager, waiting for its hook Jobs."""

    release: k8s.helm.v3.Release

    def __init__(self, name: str, args: CertManagerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("multisite:cert_manager:CertManager", name, None, args.cluster.options(opts))
        skip_await = args.cluster.skip_await
        self.release = namespaced_release(
            name,
            RELEASE,
            args.config,
            cert_manager_values(args.config.values),
            parent=self,
            skip_await=skip_await,
            # The startupapicheck hook Job succeeds only once the webhook answers.
            wait_for_jobs=not skip_await,
        )
        self.register_outputs({"release": self.release.status})
