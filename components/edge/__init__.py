"""The edge: the ingress controller that takes every site's traffic on the stack's IP.

The rest of the program knows the edge only through `Edge`: the ingress
class and annotations its routes carry, the release routes wait on, the
HTTP-01 solver for the ClusterIssuers and the LoadBalancer Service's name.
Each controller is one module here (`ingress_nginx`, `traefik`); nothing
outside this package names one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import gateway_api
from components.cluster import Cluster
from components.edge.controller import Controller, EdgeConfig
from components.edge.ingress_nginx import INGRESS_NGINX
from components.edge.traefik import TRAEFIK
from components.gateway_api import GatewayCrds
from components.helm_chart import merge_values, namespaced_release

CONTROLLERS: dict[str, Controller] = {c.key: c for c in (INGRESS_NGINX, TRAEFIK)}
"""Every edge, by its `multisite:edge` value."""
__all__ = ["CONTROLLERS", "DEFAULT", "Controller", "Edge", "EdgeArgs", "EdgeConfig"]
DEFAULT = INGRESS_NGINX
"""The edge of a stack that sets no `multisite:edge` (the write-up's)."""


@dataclass(frozen=True)
class EdgeArgs:
    """Which controller, and how it is installed."""

    controller: Controller
    config: EdgeConfig
    """Its config section (`multisite:ingressNginx`, `multisite:traefik`), whole."""
    cluster: Cluster
    """Where it runs."""
    load_balancer_ip: pulumi.Input[str] | None = None
    """The static IP, or None for an ephemeral one."""
    gateway_crds: GatewayCrds | None = None
    """With `routes: gateway`: the Gateway API CRDs, which its Gateway provider needs first."""


class Edge(pulumi.ComponentResource):
    """A namespace and a `helm.v3.Release` of the selected controller.

    Both controllers share these resources' names, so switching edges is a
    replacement of the edge's own resources and nothing else. The release is
    deleted before its replacement is installed: a GKE address backs one
    LoadBalancer Service at a time, and both charts' releases render the
    `nginx` IngressClass.
    """

    release: k8s.helm.v3.Release
    ingress_class: str
    route_annotations: dict[str, str]
    http01_solver: dict[str, Any]
    routes: str
    """`ingress` or `gateway`: what the sites' routes are (the section's `routes`)."""
    namespace: str
    """The edge's namespace, where the shared `edge` Gateway is in `gateway` mode."""
    service_name: str
    """`namespace/name` of the LoadBalancer Service."""
    controller: Controller
    """The controller it runs: what its routes say (`redirect_annotations`, ...)."""

    def __init__(self, name: str, args: EdgeArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        # Stacks made before the edge wing had these resources as `ingress-nginx`;
        # the alias keeps them (and so the children's names) in place.
        previous = pulumi.Alias(name="ingress-nginx", type_="multisite:ingress_nginx:IngressNginx")
        super().__init__(
            "multisite:edge:Edge",
            name,
            None,
            args.cluster.options(
                pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(aliases=[previous]))
            ),
        )
        controller, config = args.controller, args.config
        if controller.retired is not None:
            pulumi.log.warn(controller.retired, resource=self)
        self.controller = controller
        self.ingress_class = controller.ingress_class
        self.route_annotations = dict(controller.route_annotations)
        namespace = controller.release.namespace
        self.routes = config.routes
        self.namespace = namespace
        self.http01_solver = (
            gateway_api.http01_solver(namespace) if config.routes == "gateway" else controller.http01_solver()
        )
        self.service_name = f"{namespace}/{controller.service}"

        def chart_values(ip: str | None) -> dict[str, Any]:
            values = controller.values(
                replicas=config.replicas, load_balancer_ip=ip, hsts=config.hsts, overrides=config.values
            )
            if config.routes == "gateway" and controller.gateway_values is not None:
                values = merge_values(values, controller.gateway_values(namespace))
            return values

        # With Gateway routes the values wait for the CRDs (and, for the cluster's own, their check).
        gate = args.gateway_crds.ready if args.gateway_crds is not None else None
        values = pulumi.Output.all(args.load_balancer_ip, gate).apply(lambda got: chart_values(got[0]))
        self.release = namespaced_release(
            name,
            controller.release,
            config,
            values,
            parent=self,
            skip_await=args.cluster.skip_await,
            # None leaves the input out, so existing ingress-nginx releases see no new input.
            skip_crds=None if controller.install_crds else True,
            delete_before_replace=True,
            after=[args.gateway_crds] if args.gateway_crds is not None else [],
        )
        self.register_outputs({"release": self.release.status})
