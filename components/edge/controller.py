"""What the edge wing needs to know about one ingress controller."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from components.fields import KeysRule, Model
from components.helm_chart import ChartConfig, ChartRelease

# A year: what ingress-nginx sends by default, and the least the browsers' preload list takes.
ONE_YEAR = 31536000


class HstsConfig(Model):
    """Strict-Transport-Security (RFC 6797) on every HTTPS answer of the edge: browsers that
    saw it use only HTTPS for the name, for `maxAge` seconds."""

    enabled: bool = True
    """Send the header; false sends none (browsers that saw it keep it until it expires)."""
    max_age: int = Field(default=ONE_YEAR, ge=0, le=2 * ONE_YEAR)
    """Seconds browsers keep to HTTPS for the name; 0 tells them to forget it."""
    include_subdomains: bool = False
    """The rule covers every subdomain of each name too: only when all of them serve HTTPS."""
    preload: bool = False
    """Ask to be built into browsers (hstspreload.org); needs `includeSubdomains` and a
    `maxAge` of at least a year, and is hard to undo."""

    @classmethod
    def shape_problems(cls, given: Mapping[str, Any]) -> list[KeysRule]:
        return hsts_problems(given)

    def header(self) -> str:
        """The header's value: `max-age=31536000; includeSubDomains; preload`."""
        parts = [f"max-age={self.max_age}"]
        if self.include_subdomains:
            parts.append("includeSubDomains")
        if self.preload:
            parts.append("preload")
        return "; ".join(parts)


def hsts_problems(given: Mapping[str, Any]) -> list[KeysRule]:
    """The rules between HSTS keys, on the keys as given."""
    problems = []
    others = tuple(k for k in ("maxAge", "includeSubdomains", "preload") if k in given)
    if given.get("enabled") is False and others:
        problems.append(KeysRule(("enabled", *others), "expected no other HSTS keys when 'enabled' is false"))
    max_age = given.get("maxAge")  # absent: the default, a year
    short = isinstance(max_age, int) and max_age < ONE_YEAR  # a wrong type is the field's own problem
    if given.get("preload") is True and (given.get("includeSubdomains") is not True or short):
        problems.append(
            KeysRule(
                ("preload", "includeSubdomains", "maxAge"),
                f"expected 'preload' only with 'includeSubdomains: true' and a 'maxAge' of at least"
                f" {ONE_YEAR} (a year): the browsers' preload list (hstspreload.org) takes nothing less",
            )
        )
    return problems


class EdgeConfig(ChartConfig):
    """The release of an edge controller: a chart plus how many replicas serve."""

    replicas: int = Field(default=2, ge=1, le=20)
    """Replicas of the controller; from two on, a PodDisruptionBudget keeps one serving."""
    hsts: HstsConfig = Field(default_factory=HstsConfig)
    """Strict-Transport-Security on every HTTPS answer (on by default, a year)."""
    routes: Literal["ingress", "gateway"] = "ingress"
    """How sites are routed: `ingress` (an Ingress per site) or `gateway` (Gateway API: a
    Gateway and HTTPRoutes per site; Traefik only)."""
    gateway_crds: str | None = None
    """With `routes: gateway`: where the Gateway API standard CRDs come from, a URL, a file
    or a directory of CRD files (default: the release's standard-install.yaml); or `cluster`
    when the cluster manages them (GKE's Gateway API): none are installed, and the `up` stops
    unless theirs are v1.5.0 or newer."""

    @classmethod
    def shape_problems(cls, given: Mapping[str, Any]) -> list[KeysRule]:
        problems = super().shape_problems(given)
        if "gatewayCrds" in given and given.get("routes") != "gateway":
            problems.append(
                KeysRule(("gatewayCrds", "routes"), "expected 'gatewayCrds' only with 'routes: gateway'")
            )
        return problems


ValuesBuilder = Callable[..., dict[str, Any]]
"""`(replicas=, load_balancer_ip=, hsts=, overrides=) -> Helm values` of a controller's chart."""
RedirectAnnotations = Callable[[str], dict[str, str]]
"""`host -> annotations` of an Ingress whose names answer 308 to `https://<host>/`, path kept."""


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
    redirect_annotations: RedirectAnnotations | None = None
    """How a route redirects its names to a site's host; None when this edge cannot keep
    the path (a site's `redirects` are then refused)."""
    redirect_refusal: str = ""
    """Why this edge takes no `redirects`, when it takes none."""
    gateway_values: Callable[[str], dict[str, Any]] | None = None
    """`namespace -> chart values` that serve Gateway API routes too; None when this edge
    has no Gateway mode."""

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
