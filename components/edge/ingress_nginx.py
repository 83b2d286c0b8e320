"""IngressNginx: the NGINX ingress controller behind the static IP.

ingress-nginx is retired upstream (no fixes after March 2026); see the README
for the risk and the way out. The chart is pinned to its final release.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.helm_chart import chart_source, merge_values
from components.metadata import await_annotations, object_meta
from components.secrets import secret_if

CHART = "ingress-nginx"
REPOSITORY = "https://kubernetes.github.io/ingress-nginx"
RELEASE_NAME = "ingress-nginx"
NAMESPACE = "ingress-nginx"
INGRESS_CLASS = "nginx"
CONTROLLER_SERVICE = f"{RELEASE_NAME}-controller"


def ingress_nginx_values(
    *, replicas: int, load_balancer_ip: str | None, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Helm values for the controller: hardened, bound to the static IP.

    The Service is bound with `loadBalancerIP`: GKE still honours it, and it
    works both for an address we reserve and for one the user brings (the
    GKE address-name annotation would need a name we do not have then).
    `overrides` (the stack's `ingressNginx.values`) merge last.
    """
    service: dict[str, Any] = {
        "type": "LoadBalancer",
        # Keep client source IPs; GKE health-checks only nodes with a ready pod.
        "externalTrafficPolicy": "Local",
    }
    if load_balancer_ip is not None:
        service["loadBalancerIP"] = load_balancer_ip
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
                "hsts": "true",
                "hsts-max-age": "31536000",
                "server-tokens": "false",
                "strict-validate-path-type": "true",
                # no-tls-redirect-locations is left at its default,
                # /.well-known/acme-challenge, so HTTP-01 is never redirected.
            },
            "service": service,
            "admissionWebhooks": {"enabled": True},
            "resources": {"requests": {"cpu": "100m", "memory": "90Mi"}},
        }
    }
    return merge_values(values, overrides or {})


@dataclass(frozen=True)
class IngressNginxArgs:
    """The controller release."""

    version: str
    """Chart version (pinned)."""
    replicas: int = 2
    load_balancer_ip: pulumi.Input[str] | None = None
    """The static IP, or None for an ephemeral one."""
    chart: str | None = None
    """Chart source override: repository URL or local directory."""
    values: dict[str, Any] = field(default_factory=dict)
    """Extra values, merged last."""
    secret: bool = False
    """The stack's section for this chart was set with `--secret`: every input from it is secret."""
    skip_await: bool = False
    """Do not wait for the controller to become ready (sandbox clusters)."""


class IngressNginx(pulumi.ComponentResource):
    """A namespace and a `helm.v3.Release` of ingress-nginx.

    `helm.v3.Release` (not `helm.v4.Chart`) because the chart's admission
    webhook certificate is made by Helm hook Jobs, which `Chart` drops.
    """

    release: k8s.helm.v3.Release
    ingress_class: str = INGRESS_CLASS
    service_name: str = f"{NAMESPACE}/{CONTROLLER_SERVICE}"

    def __init__(self, name: str, args: IngressNginxArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("multisite:ingress_nginx:IngressNginx", name, None, opts)
        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=object_meta(NAMESPACE, annotations=await_annotations(args.skip_await)),
            opts=pulumi.ResourceOptions(parent=self),
        )
        values = pulumi.Output.from_input(args.load_balancer_ip).apply(
            lambda ip: ingress_nginx_values(
                replicas=args.replicas, load_balancer_ip=ip, overrides=args.values
            )
        )
        self.release = k8s.helm.v3.Release(
            f"{name}-release",
            name=RELEASE_NAME,
            namespace=namespace.metadata["name"],
            version=secret_if(args.secret, args.version),
            values=secret_if(args.secret, values),
            timeout=600,
            skip_await=args.skip_await,
            **chart_source(CHART, REPOSITORY, args.chart, secret=args.secret),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"release": self.release.status})
