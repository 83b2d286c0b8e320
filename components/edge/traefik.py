"""Traefik Proxy: the maintained edge, serving the sites' Ingresses as ingress-nginx did.

Traefik runs its ingress-nginx-compatible provider (`kubernetesIngressNGINX`,
generally available since Traefik v3.6.2): it serves Ingresses of class
`nginx` and honours their `nginx.ingress.kubernetes.io/*` annotations, so the
Sites and cert-manager's HTTP-01 solver are the same on both edges. It
redirects HTTP to HTTPS per Ingress that has TLS (`ssl-redirect`), never the
solver's Ingress, which has none. Traefik's own Ingress and CRD providers
are off, so nothing else on the cluster can add routes to this edge.
"""

from __future__ import annotations

from typing import Any, ClassVar

from components.edge.controller import Controller, EdgeConfig, HstsConfig, load_balancer_service
from components.fields import NAMESPACE, ChartVersion
from components.gateway_api import traefik_gateway_values
from components.helm_chart import ChartRelease, ProgramValues, merge_values

CHART_VERSION = "41.3.0"
# The chart's appVersion, pinned as the image tag so a chart bump never
# changes the proxy unseen.
TRAEFIK_VERSION = "v3.7.11"
INGRESS_CLASS = "nginx"
HSTS_MIDDLEWARE = "hsts"
# The controller value ingress-nginx's IngressClass carries, which Traefik's
# compatible provider matches.
NGINX_CONTROLLER = "k8s.io/ingress-nginx"


class TraefikConfig(EdgeConfig):
    """The Traefik release (edge `traefik`)."""

    PROGRAM_VALUES: ClassVar[tuple[ProgramValues, ...]] = (
        ProgramValues(
            ("service.enabled", "service.single", "service.spec.type", "service.spec.loadBalancerIP"),
            "one LoadBalancer Service on the stack's static IP",
            f"choose the address with {NAMESPACE}:staticIp",
        ),
        ProgramValues(
            ("fullnameOverride", "nameOverride", "namespaceOverride", "service.nameOverride"),
            "the stack's `ingressService` output names the Service traefik/traefik",
            "keep the chart's names",
        ),
        ProgramValues(
            (
                "ports.web.expose.default",
                "ports.web.exposedPort",
                "ports.web.http.redirections",
                "ports.websecure.expose.default",
                "ports.websecure.exposedPort",
            ),
            "ACME HTTP-01 challenges reach the solver on port 80 unredirected, and sites answer"
            " HTTPS on 443 (each site's Ingress redirects HTTP to HTTPS itself)",
            "leave the entry points as the chart has them",
        ),
        ProgramValues(
            (
                "providers.kubernetesIngressNGINX.enabled",
                "providers.kubernetesIngressNGINX.ingressClass",
                "providers.kubernetesIngressNGINX.controllerClass",
                "providers.kubernetesIngressNGINX.publishService",
                "ingressClass.enabled",
            ),
            f"Traefik serves the Ingresses of class {INGRESS_CLASS!r} (the sites' and the ACME"
            " solver's) and no Ingress without a class",
            "keep the provider as the program sets it",
        ),
        ProgramValues(
            ("providers.file", "ports.websecure.http.middlewares"),
            "every HTTPS answer carries the Strict-Transport-Security header the stack's settings say",
            f"set {NAMESPACE}:traefik.hsts",
        ),
        ProgramValues(
            ("providers.kubernetesGateway", "gateway", "gatewayClass"),
            "Gateway API routes are served as the stack's `routes` says, on the shared `edge` Gateway",
            f"set {NAMESPACE}:traefik.routes",
        ),
        ProgramValues(
            ("image.tag",),
            f"the proxy is pinned to {TRAEFIK_VERSION}, the chart's appVersion",
            "a different Traefik is a change to TRAEFIK_VERSION in components/edge/traefik.py, reviewed"
            " like one (image.registry and image.repository may point at a mirror)",
        ),
        ProgramValues(
            ("deployment.replicas",),
            "the replicas and the PodDisruptionBudget follow one setting",
            f"set {NAMESPACE}:traefik.replicas",
        ),
    )
    EXTENDED_LISTS: ClassVar[dict[str, str]] = {
        "extraObjects": "expected a list of objects, which the program adds after its own (the `nginx`"
        " IngressClass the sites' Ingresses name)"
    }
    version: ChartVersion = CHART_VERSION
    """The exact chart version (a pin, not a range)."""


def ingress_class_manifest() -> dict[str, Any]:
    """The `nginx` IngressClass, rendered by the Traefik release itself.

    The ingress-nginx chart creates this class; Traefik's chart only makes a
    class of its own controller. Rendering it through the release keeps the
    class owned by whichever edge is installed, so switching edges never
    meets a class that the other release still owns.
    """
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "IngressClass",
        "metadata": {"name": INGRESS_CLASS},
        "spec": {"controller": NGINX_CONTROLLER},
    }


def hsts_values(hsts: HstsConfig) -> dict[str, Any]:
    """HSTS on the `websecure` entry point: a headers middleware from Traefik's file provider
    (the chart's ConfigMap), applied to every router there, whichever provider made it.

    `customResponseHeaders` rather than `stsSeconds`: the header is exactly what the
    stack says, `max-age=0` included (`stsSeconds: 0` sends nothing). Only HTTPS
    answers carry it: browsers ignore it over plain HTTP (RFC 6797, 8.1).
    """
    if not hsts.enabled:
        return {}
    middleware = {"headers": {"customResponseHeaders": {"Strict-Transport-Security": hsts.header()}}}
    return {
        "providers": {
            "file": {"enabled": True, "content": {"http": {"middlewares": {HSTS_MIDDLEWARE: middleware}}}}
        },
        "ports": {"websecure": {"http": {"middlewares": [f"{HSTS_MIDDLEWARE}@file"]}}},
    }


def redirect_annotations(host: str) -> dict[str, str]:
    """The compatible provider's annotations for an Ingress whose names answer 308 to
    `https://<host>/`, path and query kept, over HTTP and HTTPS alike.

    `permanent-redirect` replaces the whole URL, and Traefik expands no nginx variable
    (`$request_uri` would be empty); with `use-regex` its regex is
    `^https?://[^/]+<path>`, so the path `/(.*)` hands the path and query on as `$1`.
    `ssl-redirect: false`: plain HTTP goes to the host in one hop, not via
    `https://<name>/` first. ACME challenges still reach the solver: its Ingress's
    longer rule (an exact token path) outranks `/(.*)`.
    """
    return {
        "nginx.ingress.kubernetes.io/use-regex": "true",
        "nginx.ingress.kubernetes.io/permanent-redirect": f"https://{host}/$1",
        "nginx.ingress.kubernetes.io/permanent-redirect-code": "308",
        "nginx.ingress.kubernetes.io/ssl-redirect": "false",
    }


def traefik_values(
    *,
    replicas: int,
    load_balancer_ip: str | None,
    hsts: HstsConfig | None = None,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Helm values for Traefik: hardened, bound to the static IP, serving class `nginx`,
    HSTS on HTTPS (`hsts`, default on for a year).

    `overrides` (the stack's `traefik.values`) merge last.
    """
    values: dict[str, Any] = {
        "image": {"tag": TRAEFIK_VERSION},
        "deployment": {"replicas": replicas},
        # Like ingress-nginx's chart: a budget only when a second replica can serve.
        "podDisruptionBudget": {"enabled": replicas > 1, "minAvailable": 1},
        "service": {"spec": load_balancer_service(load_balancer_ip)},
        # No dashboard and no API; the `traefik` entry point stays unexposed (chart default).
        "api": {"dashboard": False},
        "providers": {
            "kubernetesIngressNGINX": {
                "enabled": True,
                "ingressClass": INGRESS_CLASS,
                "controllerClass": NGINX_CONTROLLER,
                # Ingresses report the load balancer's address, as with ingress-nginx.
                "publishService": {"enabled": True},
            },
            "kubernetesIngress": {"enabled": False},
            "kubernetesCRD": {"enabled": False},
        },
        # Traefik's own (default!) IngressClass would claim Ingresses without a class.
        "ingressClass": {"enabled": False},
        "extraObjects": [ingress_class_manifest()],
        "accessLog": {"enabled": True, "format": "json"},
        "global": {"checkNewVersion": False, "sendAnonymousUsage": False},
        "resources": {"requests": {"cpu": "100m", "memory": "90Mi"}},
    }
    values = merge_values(values, hsts_values(hsts or HstsConfig()))
    # A user's extraObjects come after ours: the `nginx` IngressClass stays.
    return merge_values(values, overrides or {}, extend=frozenset(TraefikConfig.EXTENDED_LISTS))


TRAEFIK = Controller(
    key="traefik",
    section="traefik",
    config=TraefikConfig,
    release=ChartRelease(
        chart="traefik",
        repository="https://traefik.github.io/charts",
        release_name="traefik",
        namespace="traefik",
    ),
    service="traefik",
    values=traefik_values,
    ingress_class=INGRESS_CLASS,
    # Honoured by the compatible provider: a 308 to HTTPS on the plain-HTTP
    # router of an Ingress with TLS.
    route_annotations={"nginx.ingress.kubernetes.io/ssl-redirect": "true"},
    # The chart's crds/ are Traefik's and Traefik Hub's CRDs, for providers we turn off.
    install_crds=False,
    redirect_annotations=redirect_annotations,
    gateway_values=traefik_gateway_values,
)
