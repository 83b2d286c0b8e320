"""Gateway API on the Traefik edge: the standard CRDs, and a site's Gateway and HTTPRoutes.

`multisite:traefik.routes: gateway` serves the sites through Gateway API
objects on the same Traefik release, Service and static IP: one shared
`edge` Gateway (the chart's) with the plain-HTTP listener for ACME challenges
and redirects, and per site a Gateway with one HTTPS listener per name, an
HTTPRoute to its backend, an HTTPRoute that redirects HTTP to HTTPS, and one
that sends its redirect names to its host. Traefik serves every Gateway of its
class on the same entry points, so per-site Gateways are cheap; once Traefik
serves ListenerSets, each becomes a ListenerSet under `edge`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.cluster import Cluster
from components.metadata import labels, object_meta

# The Gateway API that Traefik v3.7.11 is built on (its go.mod: sigs.k8s.io/gateway-api
# v1.6.1); cert-manager v1.21.2 is built on v1.6.0 and reads only v1 kinds.
GATEWAY_API_VERSION = "v1.6.1"
STANDARD_CRDS = f"https://github.com/kubernetes-sigs/gateway-api/releases/download/{GATEWAY_API_VERSION}/standard-install.yaml"
GROUP = "gateway.networking.k8s.io"
GATEWAY_CLASS = "traefik"
EDGE_GATEWAY = "edge"
"""The shared Gateway (the Traefik chart's), in Traefik's namespace."""
HTTP_LISTENER = "web"
HTTP_PORT = 8000
"""Traefik's `web` entry point: a listener's port names the entry point it is served on."""
HTTPS_PORT = 8443
"""Traefik's `websecure` entry point."""
MAX_LISTENERS = 64
"""Listeners on one Gateway (the Gateway CRD's maxItems)."""
MAX_ROUTE_HOSTNAMES = 16
"""Hostnames on one HTTPRoute (the HTTPRoute CRD's maxItems)."""


def crd_files(source: str) -> list[str]:
    """What `k8s.yaml.v2.ConfigGroup` reads for `source`: a URL or a file as it is, a directory's
    YAML files by a glob."""
    if "://" in source or source.endswith((".yaml", ".yml")):
        return [source]
    return [f"{source.rstrip('/')}/*.yaml"]


@dataclass(frozen=True)
class GatewayApiCrdsArgs:
    """Where the CRDs come from, and the cluster."""

    source: str
    """A URL (the release's standard-install.yaml), a file, or a directory of CRD files."""
    cluster: Cluster


class GatewayCrds(pulumi.ComponentResource):
    """The Gateway API CRDs the edge and cert-manager need first, however they came."""

    ready: pulumi.Output[str]
    """Resolves once the CRDs are there and fit (what the releases' values wait for)."""


class GatewayApiCrds(GatewayCrds):
    """The Gateway API standard CRDs, kept when the stack goes (other users may rely on them).

    Applied server-side (the HTTPRoute CRD is larger than the annotation a client-side apply
    needs), before Traefik's Gateway provider and cert-manager start: both wait for, or fail
    without, every kind they watch.
    """

    def __init__(
        self, name: str, args: GatewayApiCrdsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("multisite:gateway_api:GatewayApiCrds", name, None, args.cluster.options(opts))
        self.crds = k8s.yaml.v2.ConfigGroup(
            f"{name}-crds",
            files=crd_files(args.source),
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True, transforms=[adopt_existing]),
        )
        self.ready = self.crds.resources.apply(lambda _: GATEWAY_API_VERSION)
        self.register_outputs({})


def adopt_existing(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
    """Each object of the CRD bundle is applied with `pulumi.com/patchForce`: objects this stack
    kept when it left Gateway mode (`retainOnDelete`) carry another field manager, whose fields a
    plain server-side apply would refuse to take over when the stack comes back."""
    metadata = args.props.get("metadata")
    if not args.type_.startswith("kubernetes:") or not isinstance(metadata, dict):
        return None
    annotations = {**(metadata.get("annotations") or {}), PATCH_FORCE: "true"}
    props = {**args.props, "metadata": {**metadata, "annotations": annotations}}
    return pulumi.ResourceTransformResult(props=props, opts=args.opts)


PATCH_FORCE = "pulumi.com/patchForce"


CLUSTER_MANAGED = "cluster"
"""`gatewayCrds: cluster`: the cluster manages the CRDs (GKE's Gateway API); none are installed."""
BUNDLE_VERSION = "gateway.networking.k8s.io/bundle-version"
# TLSRoute v1, which Traefik's provider watches (and without which it waits silently), is
# served from v1.5.0; cert-manager reads Gateway and HTTPRoute v1 only.
OLDEST_BUNDLE = (1, 5, 0)


def bundle_problem(annotations: Any) -> str | None:
    """Why the cluster's own Gateway API CRDs (their Gateway CRD's `annotations`) do not serve
    what Traefik and cert-manager read, or None."""
    version = (annotations or {}).get(BUNDLE_VERSION) or "(none)"
    parts = version.removeprefix("v").split("-")[0].split(".")
    try:
        found = tuple(int(p) for p in parts)
    except ValueError:
        found = ()
    if len(found) == 3 and found >= OLDEST_BUNDLE:
        return None
    oldest = "v" + ".".join(str(n) for n in OLDEST_BUNDLE)
    return (
        f"multisite:traefik.gatewayCrds = {CLUSTER_MANAGED!r}: expected the cluster's Gateway API CRDs at"
        f" {oldest} or newer (Traefik's Gateway provider waits silently without TLSRoute v1, served from"
        f" {oldest}); the cluster's gateways.gateway.networking.k8s.io says {BUNDLE_VERSION}: {version}."
        f" Upgrade the cluster's Gateway API, or turn it off and let the stack install {GATEWAY_API_VERSION}"
        " (remove gatewayCrds)"
    )


class ClusterGatewayApiCrds(GatewayCrds):
    """The cluster's own Gateway API CRDs (`gatewayCrds: cluster`), read, never changed: the
    `up` stops with the reason when their bundle is older than Traefik and cert-manager need."""

    def __init__(self, name: str, cluster: Cluster, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("multisite:gateway_api:ClusterGatewayApiCrds", name, None, cluster.options(opts))
        gateways = k8s.apiextensions.v1.CustomResourceDefinition.get(
            f"{name}-gateways", f"gateways.{GROUP}", opts=pulumi.ResourceOptions(parent=self)
        )
        self.ready = gateways.metadata.apply(_checked_bundle)
        self.register_outputs({"bundleVersion": self.ready})


def _checked_bundle(metadata: Any) -> str:
    annotations = metadata.annotations  # the provider's ObjectMeta output type
    problem = bundle_problem(annotations)
    if problem is not None:
        raise pulumi.RunError(problem)
    return str((annotations or {}).get(BUNDLE_VERSION))


def http01_solver(namespace: str) -> dict[str, Any]:
    """cert-manager's HTTP-01 solver through an HTTPRoute on the `edge` Gateway's HTTP listener,
    routed to the solver's ClusterIP Service (Traefik routes to endpoints; no node port)."""
    return {
        "http01": {"gatewayHTTPRoute": {"parentRefs": [edge_parent(namespace)], "serviceType": "ClusterIP"}}
    }


def traefik_gateway_values(namespace: str) -> dict[str, Any]:
    """Traefik chart values that turn its Gateway provider on beside the Ingress one: the
    `traefik` class and the shared `edge` Gateway with the plain-HTTP listener, open to routes
    from every namespace (sites and ACME challenges live in the sites' namespaces)."""
    return {
        "providers": {"kubernetesGateway": {"enabled": True}},
        "gatewayClass": {"enabled": True, "name": GATEWAY_CLASS},
        "gateway": {
            "enabled": True,
            "name": EDGE_GATEWAY,
            "namespace": namespace,
            "listeners": {
                HTTP_LISTENER: {"port": HTTP_PORT, "protocol": "HTTP", "namespacePolicy": {"from": "All"}}
            },
        },
    }


def _chunks(names: list[str]) -> list[list[str]]:
    return [names[i : i + MAX_ROUTE_HOSTNAMES] for i in range(0, len(names), MAX_ROUTE_HOSTNAMES)]


def site_gateway_manifest(
    name: str, namespace: str, names: list[str], secret: str, annotations: dict[str, str]
) -> dict[str, Any]:
    """A site's Gateway: one HTTPS listener per name, each with the site's certificate. One listener
    per name: on Traefik a listener whose Secret is missing is invalid as a whole."""
    listeners = [
        {
            "name": f"https-{i}",
            "hostname": host,
            "port": HTTPS_PORT,
            "protocol": "HTTPS",
            "tls": {"mode": "Terminate", "certificateRefs": [{"kind": "Secret", "name": secret}]},
            "allowedRoutes": {"namespaces": {"from": "Same"}},
        }
        for i, host in enumerate(names)
    ]
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": "Gateway",
        "metadata": object_meta(
            name, namespace=namespace, labels=labels(name, "gateway"), annotations=annotations
        ),
        "spec": {"gatewayClassName": GATEWAY_CLASS, "listeners": listeners},
    }


def route_manifests(
    name: str,
    namespace: str,
    *,
    site: str,
    component: str,
    hostnames: list[str],
    parents: list[dict[str, Any]],
    rule: dict[str, Any],
    annotations: dict[str, str],
) -> list[dict[str, Any]]:
    """HTTPRoutes `<name>`, `<name>-1`, ... of one `rule` for `hostnames`, 16 names per route,
    labelled as the objects of `site`."""
    return [
        {
            "apiVersion": f"{GROUP}/v1",
            "kind": "HTTPRoute",
            "metadata": object_meta(
                name if i == 0 else f"{name}-{i}",
                namespace=namespace,
                labels=labels(site, component),
                annotations=annotations,
            ),
            "spec": {"parentRefs": parents, "hostnames": chunk, "rules": [rule]},
        }
        for i, chunk in enumerate(_chunks(hostnames))
    ]


def redirect_rule(hostname: str | None = None) -> dict[str, Any]:
    """A rule that answers 308 to HTTPS (to `hostname`, when given), the path kept."""
    redirect: dict[str, Any] = {"scheme": "https", "statusCode": 308}
    if hostname is not None:
        redirect["hostname"] = hostname
    return {"filters": [{"type": "RequestRedirect", "requestRedirect": redirect}]}


def edge_parent(namespace: str) -> dict[str, Any]:
    """The `edge` Gateway's HTTP listener, as a route's parent."""
    return {
        "group": GROUP,
        "kind": "Gateway",
        "name": EDGE_GATEWAY,
        "namespace": namespace,
        "sectionName": HTTP_LISTENER,
    }
