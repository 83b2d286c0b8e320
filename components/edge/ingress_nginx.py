"""ingress-nginx: the NGINX ingress controller the 2018 write-up used.

ingress-nginx is retired upstream (no fixes after March 2026); see the README
for the risk and the way out. The chart is pinned to its final release.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from components.edge.controller import Controller, EdgeConfig, HstsConfig, load_balancer_service
from components.fields import NAMESPACE, ChartVersion
from components.helm_chart import ChartRelease, ProgramValues, merge_values

# The final release of the retired project (2026-03-19, controller v1.15.1).
CHART_VERSION = "4.15.1"
INGRESS_CLASS = "nginx"
RETIRED = (
    "ingress-nginx is retired: it gets no releases or security fixes since March 2026, and NGINX"
    " vulnerabilities disclosed since stay open on this stack's public IP. Switch to the maintained"
    " Traefik edge: `pulumi config set multisite:edge traefik`, and move any multisite:ingressNginx"
    " settings to multisite:traefik (README, 'The edge')."
)


class IngressNginxConfig(EdgeConfig):
    """The ingress-nginx release (edge `ingress-nginx`)."""

    PROGRAM_VALUES: ClassVar[tuple[ProgramValues, ...]] = (
        ProgramValues(
            ("fullnameOverride", "nameOverride", "namespaceOverride", "controller.name"),
            "the stack's `ingressService` output names the Service ingress-nginx/ingress-nginx-controller",
            "keep the chart's names",
        ),
        ProgramValues(
            (
                "controller.service.enabled",
                "controller.service.type",
                "controller.service.loadBalancerIP",
                "controller.service.enableHttp",
                "controller.service.enableHttps",
                "controller.service.ports.http",
                "controller.service.ports.https",
            ),
            "one LoadBalancer Service on the stack's static IP, answering ACME HTTP-01 challenges on"
            " port 80 and the sites on 443",
            f"choose the address with {NAMESPACE}:staticIp",
        ),
        ProgramValues(
            ("controller.ingressClass", "controller.ingressClassResource"),
            f"the controller serves the IngressClass {INGRESS_CLASS!r} (the sites' and the ACME solver's)",
            "keep the class as the program sets it",
        ),
        ProgramValues(
            (
                "controller.config.hsts",
                "controller.config.hsts-max-age",
                "controller.config.hsts-include-subdomains",
                "controller.config.hsts-preload",
            ),
            "every HTTPS answer carries the Strict-Transport-Security header the stack's settings say",
            f"set {NAMESPACE}:ingressNginx.hsts",
        ),
        ProgramValues(
            ("controller.image.tag", "controller.image.digest"),
            f"the controller is pinned by the chart ({CHART_VERSION}), digest included",
            f"pin another chart with {NAMESPACE}:ingressNginx.version (image.registry may point at a mirror)",
        ),
        ProgramValues(
            ("controller.replicaCount",),
            "the replicas and the PodDisruptionBudget follow one setting",
            f"set {NAMESPACE}:ingressNginx.replicas",
        ),
    )

    version: ChartVersion = CHART_VERSION
    """The exact chart version (a pin, not a range)."""
    routes: Literal["ingress"] = "ingress"
    """How sites are routed: `ingress` only (Gateway API needs the Traefik edge)."""


def ingress_nginx_values(
    *,
    replicas: int,
    load_balancer_ip: str | None,
    hsts: HstsConfig | None = None,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Helm values for the controller: hardened, bound to the static IP, HSTS as `hsts`
    says (default on for a year).

    `overrides` (the stack's `ingressNginx.values`) merge last.
    """
    hsts = hsts or HstsConfig()
    values: dict[str, Any] = {
        "controller": {
            "replicaCount": replicas,
            # The chart renders a PodDisruptionBudget only when replicas > 1.
            "minAvailable": 1,
            "ingressClass": INGRESS_CLASS,
            "ingressClassResource": {
                "name": INGRESS_CLASS,
                "enabled": True,
                "default": False,
                "controllerValue": "k8s.io/ingress-nginx",
            },
            "watchIngressWithoutClass": False,
            "allowSnippetAnnotations": False,
            "config": {
                "allow-snippet-annotations": "false",
                # Rejects High and Critical risk annotations; cert-manager's HTTP-01
                # solver uses whitelist-source-range, which is Medium.
                "annotations-risk-level": "Medium",
                "ssl-redirect": "true",
                # ingress-nginx sends HSTS on HTTPS answers only, for hosts with a real certificate.
                "hsts": _flag(hsts.enabled),
                "hsts-max-age": str(hsts.max_age),
                "hsts-include-subdomains": _flag(hsts.include_subdomains),
                "hsts-preload": _flag(hsts.preload),
                "server-tokens": "false",
                "strict-validate-path-type": "true",
                # no-tls-redirect-locations is left at its default,
                # /.well-known/acme-challenge, so HTTP-01 is never redirected.
            },
            "service": load_balancer_service(load_balancer_ip),
            "admissionWebhooks": {"enabled": True},
            "resources": {"requests": {"cpu": "100m", "memory": "90Mi"}},
        }
    }
    return merge_values(values, overrides or {})


def _flag(value: bool) -> str:
    """A boolean as ingress-nginx's ConfigMap takes it."""
    return "true" if value else "false"


INGRESS_NGINX = Controller(
    key="ingress-nginx",
    section="ingressNginx",
    config=IngressNginxConfig,
    release=ChartRelease(
        chart="ingress-nginx",
        repository="https://kubernetes.github.io/ingress-nginx",
        release_name="ingress-nginx",
        namespace="ingress-nginx",
    ),
    service="ingress-nginx-controller",
    values=ingress_nginx_values,
    ingress_class=INGRESS_CLASS,
    # ingress-nginx's default; kept explicit so the policy pack can see it.
    route_annotations={"nginx.ingress.kubernetes.io/ssl-redirect": "true"},
    install_crds=True,
    retired=RETIRED,
    redirect_refusal=(
        "ingress-nginx keeps the path of a redirect only through `$request_uri`, which it refuses"
        " unless annotation validation or snippets are turned off, and this stack keeps both on;"
        f" use the Traefik edge ({NAMESPACE}:edge traefik)"
    ),
)
