"""CertManager: cert-manager and its CRDs, installed so issuers never race the webhook."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import pulumi
import pulumi_kubernetes as k8s

from components.cluster import Cluster
from components.fields import NAMESPACE, ChartVersion, KeysRule
from components.gateway_api import GatewayCrds
from components.helm_chart import ChartConfig, ChartRelease, ProgramValues, merge_values, namespaced_release

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
FEATURE_GATE = "ACMEHTTP01IngressPathTypeExact"
FEATURE_GATES = f"{FEATURE_GATE}=false"


class CertManagerConfig(ChartConfig):
    """The cert-manager release."""

    PROGRAM_VALUES: ClassVar[tuple[ProgramValues, ...]] = (
        ProgramValues(
            ("crds.enabled", "crds.keep"),
            "the release installs cert-manager's CRDs and keeps them when it is deleted (deleting"
            " them deletes every Certificate in the cluster)",
            "leave CRD handling to the program",
        ),
        ProgramValues(
            ("startupapicheck.enabled",),
            "the release is ready only once the webhook answers, so no issuer races it",
            "keep the startup API check",
        ),
        ProgramValues(
            ("enableCertificateOwnerRef",),
            "removing a site removes its TLS Secret (its private key) with its Certificate",
            "keep the owner references",
        ),
        ProgramValues(
            ("namespace", "fullnameOverride", "nameOverride"),
            f"cert-manager runs in the namespace {RELEASE.namespace!r} that the program creates, under"
            " the chart's names",
            "keep the chart's names",
        ),
        ProgramValues(
            tuple(
                f"{image}.{key}"
                for image in (
                    "image",
                    "webhook.image",
                    "cainjector.image",
                    "acmesolver.image",
                    "startupapicheck.image",
                )
                for key in ("tag", "digest")
            ),
            f"every cert-manager image is the chart's own ({CHART_VERSION})",
            f"pin another chart with {NAMESPACE}:certManager.version (imageRegistry may point at a mirror)",
        ),
    )
    EXTENDED_LISTS: ClassVar[dict[str, str]] = {
        "extraArgs": "expected a list of arguments, which the program adds after its own"
        " (`--enable-gateway-api` in Gateway mode)"
    }
    version: ChartVersion = CHART_VERSION
    """The exact chart version (a pin, not a range)."""

    @classmethod
    def shape_problems(cls, given: Mapping[str, Any]) -> list[KeysRule]:
        problems = super().shape_problems(given)
        values = given.get("values")
        gates = values.get("featureGates") if isinstance(values, Mapping) else None
        if isinstance(gates, str) and FEATURE_GATE in gates:
            problems.append(
                KeysRule(
                    ("values.featureGates",),
                    f"expected other gates than {FEATURE_GATE}, which the program sets to false (the"
                    " ACME solver's Ingress must pass ingress-nginx's strict path check); the gates"
                    " given are added to it",
                )
            )
        return problems


def cert_manager_values(
    overrides: dict[str, Any] | None = None, *, gateway_api: bool = False
) -> dict[str, Any]:
    """Helm values: CRDs installed and kept on uninstall, the startup API check on; with
    `gateway_api`, HTTP-01 solved through Gateway API HTTPRoutes too.

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
    if gateway_api:
        # The flag, not the chart's `config.gatewayAPI`: that writes a config file, which the
        # controller built from the Go module (engine/cert-manager) does not read.
        values["extraArgs"] = ["--enable-gateway-api"]
    given = overrides or {}
    merged = merge_values(values, given, extend=frozenset(CertManagerConfig.EXTENDED_LISTS))
    if given.get("featureGates"):  # a user's gates join ours (the config refuses ours among them)
        merged["featureGates"] = f"{FEATURE_GATES},{given['featureGates']}"
    return merged


@dataclass(frozen=True)
class CertManagerArgs:
    """The cert-manager release."""

    config: CertManagerConfig
    """The stack's `multisite:certManager`, whole."""
    cluster: Cluster
    """Where it runs."""
    gateway_crds: GatewayCrds | None = None
    """The Gateway API CRDs: given, cert-manager solves HTTP-01 through HTTPRoutes too, and
    starts after them (it fails without them)."""


class CertManager(pulumi.ComponentResource):
    """A namespace and a `helm.v3.Release` of cert-manager, waiting for its hook Jobs."""

    release: k8s.helm.v3.Release

    def __init__(self, name: str, args: CertManagerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("multisite:cert_manager:CertManager", name, None, args.cluster.options(opts))
        skip_await = args.cluster.skip_await
        crds = args.gateway_crds
        values: pulumi.Input[dict[str, Any]] = cert_manager_values(
            args.config.values, gateway_api=crds is not None
        )
        if crds is not None:  # it fails to start without the CRDs: its values wait for them
            values = pulumi.Output.all(values, crds.ready).apply(lambda got: got[0])
        self.release = namespaced_release(
            name,
            RELEASE,
            args.config,
            values,
            parent=self,
            skip_await=skip_await,
            # The startupapicheck hook Job succeeds only once the webhook answers.
            wait_for_jobs=not skip_await,
            after=[args.gateway_crds] if args.gateway_crds is not None else [],
        )
        self.register_outputs({"release": self.release.status})
