"""What the edge wing needs to know about one ingress controller."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import Field

from components.helm_chart import ChartConfig, ChartRelease


class EdgeConfig(ChartConfig):
    """The release of an edge controller: a chart plus how many replicas serve."""

    replicas: int = Field(default=2, ge=1, le=20)
    """Replicas of the controller; from two on, a PodDisruptionBudget keeps one serving."""


ValuesBuilder = Callable[..., dict[str, Any]]
"""`(replicas=, load_balancer_ip=, overrides=) -> Helm values` of a controller's chart."""


@dataclass(frozen=True)
class Controller:
    """One edge controller: its chart, where it runs, and how routes reach it.

    Routes (the sites' Ingresses, cert-manager's HTTP-01 solver) name
    `ingress_class` and carry `route_annotations`: the edge decides what a
    route says, never the Site.
    """

    key: str
    """Its value of `multisite:edge`."""
    section: str
    """Its config section, `multisite:<section>`."""
    config: type[EdgeConfig]
    """The model of that section; its `version` defaults to the pin."""
    release: ChartRelease
    service: str
    """Name of the LoadBalancer Service the chart creates, in `namespace`."""
    values: ValuesBuilder
    ingress_class: str
    route_annotations: Mapping[str, str]
    install_crds: bool
    """Whether the chart's `crds/` are needed (False: skipped)."""
    retired: str | None = None
    """A warning for every preview when the controller gets no fixes any more."""

    @property
    def version(self) -> str:
        """The pinned chart version: the default of its config section, stated there once."""
        return str(self.config.model_fields["version"].default)

    def http01_solver(self) -> dict[str, Any]:
        """The ACME HTTP-01 solver of a ClusterIssuer that answers through this edge."""
        return {"http01": {"ingress": {"ingressClassName": self.ingress_class}}}


def load_balancer_service(load_balancer_ip: str | None) -> dict[str, Any]:
    """The edge's Service on GKE: a LoadBalancer on the static IP, keeping client addresses.

    Bound with `loadBalancerIP`: GKE still honours it, and it works both for an
    address we reserve and for one the user brings (the GKE address-name
    annotation would need a name we do not have then).
    """
    service: dict[str, Any] = {
        "type": "LoadBalancer",
        # Keep client source IPs; GKE health-checks only nodes with a ready pod.
        "externalTrafficPolicy": "Local",
    }
    if load_balancer_ip is not None:
        service["loadBalancerIP"] = load_balancer_ip
    return service
