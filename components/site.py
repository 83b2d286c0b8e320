"""Site: one web site's certificate, Ingress, optional workload and DNS records."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import pulumi
import pulumi_kubernetes as k8s
from pydantic import AfterValidator, Field

from components import gateway_api
from components.cluster import Cluster
from components.cluster_issuers import ClusterIssuers, IssuerChoice, wait_annotations
from components.dns import DnsRecords
from components.edge import Edge
from components.fields import (
    DNS_1035_LABEL,
    DNS_LABEL,
    NAMESPACE,
    Host,
    KeysRule,
    Model,
    Pattern,
    is_host,
    validate_host,
)
from components.metadata import PART_OF, await_annotations, custom_resource, labels, object_meta

# A container image reference, after the OCI distribution reference grammar:
# [registry[:port]/]path[:tag][@algorithm:hex].
_IMAGE_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_IMAGE_DOMAIN = (
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::[0-9]+)?"
)
_IMAGE = re.compile(
    rf"^(?:{_IMAGE_DOMAIN}/)?{_IMAGE_PATH_COMPONENT}(?:/{_IMAGE_PATH_COMPONENT})*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$"
)

NamespaceName = Annotated[
    str,
    AfterValidator(
        Pattern(
            DNS_LABEL,
            "expected a Kubernetes namespace name: a-z, 0-9 and '-', at most 63 characters,"
            " a letter or digit at each end",
            name="Kubernetes namespace name",
        )
    ),
]
ServiceName = Annotated[
    str,
    AfterValidator(
        Pattern(
            DNS_1035_LABEL,
            "expected a Kubernetes Service name: a lower-case letter first, then a-z, 0-9"
            " and '-', at most 63 characters, not ending in '-'",
            name="Kubernetes Service name",
        )
    ),
]


def kubernetes_name(host: str) -> str:
    """A stable DNS-1123 label for a host's objects: `www.example.com` -> `www-example-com`.

    Names longer than 63 characters are cut and end in a hash of the host, so
    two long hosts never share a name.
    """
    name = host.replace(".", "-")
    if len(name) <= 63:
        return name
    digest = hashlib.sha256(host.encode()).hexdigest()[:8]
    return f"{name[:54].rstrip('-')}-{digest}"


def service_name(host: str) -> str:
    """The name of the Service deployed for an `image` site: a DNS-1035 label.

    Kubernetes wants a letter first in a Service name, so a host that starts
    with a digit (`1.example.com`) gets a `web-` prefix.
    """
    name = kubernetes_name(host)
    return name if name[0].isalpha() else kubernetes_name(f"web-{host}")


def host_list(value: list[str]) -> list[str]:
    """Check a site's aliases: each a host name (how many fit on one certificate is the
    CA's rule: `settings` checks Let's Encrypt's)."""
    problems = []
    for i, alias in enumerate(value):
        try:
            validate_host(alias)
        except ValueError as err:
            problems.append(f"[{i}] {alias!r}: {err}")
    if problems:
        raise ValueError("; ".join(problems))
    return value


def image_reference(value: str) -> str:
    """Check a container image reference; return it unchanged."""
    if len(value) > 255 or not _IMAGE.match(value):
        raise ValueError(
            "expected a container image reference such as"
            " 'nginxinc/nginx-unprivileged:1.29' or 'registry.example.com/web@sha256:<hex>'"
        )
    return value


# One check of the whole list, not a Host per item: a per-item type would report
# `aliases[1]` as the key path instead of the list's.
HostList = Annotated[list[str], AfterValidator(host_list)]
ImageReference = Annotated[str, AfterValidator(image_reference)]


class SiteConfig(Model):
    """One web site: its host names and the backend that serves them."""

    host: Host
    """The site's name, unique across every site's names (hosts, aliases, redirects); its objects are named
    after it (`www.example.com`: `www-example-com`, TLS Secret `www-example-com-tls`)."""
    aliases: HostList = Field(default_factory=list)
    """More names on the same certificate, served the same way."""
    redirects: HostList = Field(default_factory=list)
    """Names that answer a permanent redirect (308) to `https://<host>/`, path and query kept,
    over HTTP and HTTPS; they are on the site's certificate. The Traefik edge only."""
    namespace: NamespaceName = "default"
    """Namespace of the site's objects."""
    service: ServiceName | None = None
    """An existing Service to route to, as in the write-up; exactly one of `service` and `image`."""
    port: int = Field(default=80, ge=1, le=65535)
    """The port the backend listens on: the Service's port for `service`, the container's for `image`."""
    image: ImageReference | None = None
    """A container image to deploy: a Deployment running as non-root with TCP probes and
    resource requests, and a ClusterIP Service in front of it."""
    replicas: int | None = Field(default=None, ge=1, le=100)
    """Replicas of the `image` Deployment (1 when not set)."""
    issuer: IssuerChoice | None = None
    """This site's issuer instead of the stack's `acme.issuer`."""

    @classmethod
    def shape_problems(cls, given: Mapping[str, Any]) -> list[KeysRule]:
        problems = []
        if ("service" in given) == ("image" in given):
            problems.append(
                KeysRule(
                    ("service", "image"),
                    "expected exactly one of 'service' (route to an existing Service) or"
                    " 'image' (deploy this container)",
                )
            )
        if "replicas" in given and "image" not in given:
            problems.append(
                KeysRule(
                    ("replicas", "image"),
                    "expected 'replicas' only with 'image' (we do not scale your Service)",
                )
            )
        return problems

    @property
    def hosts(self) -> list[str]:
        """The host followed by its aliases: the names the site is served on."""
        return [self.host, *self.aliases]

    @property
    def names(self) -> list[str]:
        """Every name on the certificate (and in DNS): the hosts, then the redirects."""
        return [*self.hosts, *self.redirects]

    def keyed_names(self) -> list[tuple[str, str]]:
        """Each name with its key in the site: `host`, `aliases[0]`, ..., `redirects[0]`, ..."""
        return [
            ("host", self.host),
            *((f"aliases[{i}]", alias) for i, alias in enumerate(self.aliases)),
            *((f"redirects[{i}]", name) for i, name in enumerate(self.redirects)),
        ]

    @property
    def resource_name(self) -> str:
        """The Kubernetes name of this site's objects."""
        return kubernetes_name(self.host)

    @property
    def service_name(self) -> str:
        """The Service its Ingress routes to: the user's, or the one we deploy for `image`."""
        return self.service or service_name(self.host)


def _names_of(raw: Any) -> tuple[list[tuple[str, str | None]], str | None, bool]:
    """((key, name) of the host, aliases and redirects, namespace, deploys a Service) of one raw
    site; the name None where it is invalid.

    Read from the raw entry, valid or not, so that a wrong field elsewhere in
    it never hides a duplicate host. For a valid site these are its fields as
    validated: hosts and namespaces are taken unchanged.
    """
    if not isinstance(raw, Mapping):
        return [], None, False
    names: list[tuple[str, Any]] = [("host", raw.get("host"))]
    for key in ("aliases", "redirects"):
        listed = raw.get(key)
        names += [(f"{key}[{i}]", name) for i, name in enumerate(listed if isinstance(listed, list) else [])]
    namespace = raw.get("namespace", "default")
    valid_namespace = isinstance(namespace, str) and bool(DNS_LABEL.match(namespace))
    return (
        [(key, name if is_host(name) else None) for key, name in names],
        namespace if valid_namespace else None,
        "image" in raw,
    )


def site_name_clashes(raw_sites: Any) -> list[str]:
    """Names that two places claim: the same host twice, or two hosts one object name."""
    problems: list[str] = []
    if not isinstance(raw_sites, list):
        return problems  # reported by the loader
    seen_hosts: dict[str, str] = {}
    seen_names: dict[str, str] = {}
    for i, raw in enumerate(raw_sites):
        names, namespace, deploys = _names_of(raw)
        duplicate = False
        for key, host in names:
            if host is None:
                continue
            path = f"{NAMESPACE}:sites[{i}].{key}"
            if host in seen_hosts:
                duplicate = True
                problems.append(
                    f"{path} = {host!r}: expected each host once; already used by {seen_hosts[host]}"
                )
            else:
                seen_hosts[host] = path
        host = names[0][1] if names else None
        if host is None or namespace is None or duplicate:
            continue
        # Distinct hosts can still collide once dots become dashes (a-b.com, a.b-com).
        object_names = {kubernetes_name(host)}
        if deploys:
            object_names.add(service_name(host))
        if any(key.startswith("redirects[") for key, _ in names):
            object_names.add(f"{kubernetes_name(host)}-redirect")  # its redirect Ingress
        for name in sorted(object_names):
            key = f"{namespace}/{name}"
            if key in seen_names:
                problems.append(
                    f"{NAMESPACE}:sites[{i}].host = {host!r}: expected a host whose object"
                    f" name {name!r} is unique in namespace {namespace!r};"
                    f" {seen_names[key]} maps to the same name"
                )
            seen_names.setdefault(key, f"{NAMESPACE}:sites[{i}].host")
    return problems


def certificate_manifest(
    site: SiteConfig, *, issuer: pulumi.Input[str], annotations: Mapping[str, pulumi.Input[str]] | None = None
) -> dict[str, Any]:
    """The `cert-manager.io/v1` Certificate for every name of the site (`SiteConfig.names`).

    No commonName: Let's Encrypt puts the names in subjectAltName, and a
    commonName caps the first name at 64 characters. `annotations` are the
    issuers' (`cluster_issuers.wait_annotations`): how `pulumi up` waits for it.
    """
    name = site.resource_name
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": object_meta(
            name, namespace=site.namespace, labels=labels(name, "certificate"), annotations=annotations or {}
        ),
        "spec": {
            "secretName": tls_secret_name(site),
            "dnsNames": site.names,
            "issuerRef": {"name": issuer, "kind": "ClusterIssuer", "group": "cert-manager.io"},
            "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
        },
    }


def tls_secret_name(site: SiteConfig) -> str:
    """The Secret cert-manager writes the key pair into."""
    return f"{site.resource_name}-tls"


def ingress_manifest(
    site: SiteConfig, *, ingress_class: str, annotations: Mapping[str, str], skip_await: bool
) -> dict[str, Any]:
    """The `networking.k8s.io/v1` Ingress: TLS for every name, HTTP redirected to HTTPS.

    `ingress_class` and `annotations` are the edge's: what its controller
    needs of a route to serve it with TLS and redirect plain HTTP.
    """
    return _site_ingress(
        site,
        name=site.resource_name,
        component="ingress",
        hosts=site.hosts,
        path=("/", "Prefix"),
        ingress_class=ingress_class,
        annotations={**annotations, **await_annotations(skip_await)},
    )


def redirect_ingress_manifest(
    site: SiteConfig, *, ingress_class: str, annotations: Mapping[str, str], skip_await: bool
) -> dict[str, Any]:
    """The Ingress `<site>-redirect` of the site's `redirects`: TLS with the site's certificate,
    and every request answered by the edge's redirect (`annotations`) to the host.

    Every path (`/(.*)`, a regex the annotations turn on) goes to the redirect; the backend,
    which an Ingress path must name, is never reached.
    """
    return _site_ingress(
        site,
        name=f"{site.resource_name}-redirect",
        component="redirect",
        hosts=site.redirects,
        path=("/(.*)", "ImplementationSpecific"),
        ingress_class=ingress_class,
        annotations={**annotations, **await_annotations(skip_await)},
    )


def _site_ingress(
    site: SiteConfig,
    *,
    name: str,
    component: str,
    hosts: list[str],
    path: tuple[str, str],
    ingress_class: str,
    annotations: Mapping[str, str],
) -> dict[str, Any]:
    """An Ingress of the site: `hosts` on one (path, pathType) to its backend, TLS with its Secret."""
    backend = {"service": {"name": site.service_name, "port": {"number": site.port}}}
    paths = [{"path": path[0], "pathType": path[1], "backend": backend}]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": object_meta(
            name,
            namespace=site.namespace,
            labels=labels(site.resource_name, component),
            annotations=dict(annotations),
        ),
        "spec": {
            "ingressClassName": ingress_class,
            "tls": [{"hosts": hosts, "secretName": tls_secret_name(site)}],
            "rules": [{"host": host, "http": {"paths": paths}} for host in hosts],
        },
    }


def gateway_manifests(
    site: SiteConfig, *, edge_namespace: str, skip_await: bool
) -> list[tuple[str, dict[str, Any]]]:
    """(resource key, manifest) of a site's Gateway API objects: its Gateway (an HTTPS listener
    per name), the HTTPRoute to its backend, the HTTPRoute that redirects its names from HTTP
    to HTTPS on the shared `edge` Gateway, and, with `redirects`, the HTTPRoute that sends
    them to its host (over HTTP and HTTPS)."""
    name, namespace = site.resource_name, site.namespace
    annotations = await_annotations(skip_await)
    own = {"group": gateway_api.GROUP, "kind": "Gateway", "name": name}
    edge = gateway_api.edge_parent(edge_namespace)
    backend = {"backendRefs": [{"name": site.service_name, "port": site.port}]}

    def routes(
        key: str, route: str, component: str, hostnames: list[str], parents: list[dict[str, Any]], rule: Any
    ) -> tuple[str, list[dict[str, Any]]]:
        manifests = gateway_api.route_manifests(
            route,
            namespace,
            site=name,
            component=component,
            hostnames=hostnames,
            parents=parents,
            rule=rule,
            annotations=annotations,
        )
        return key, manifests

    every = [
        routes("route", name, "route", site.hosts, [own], backend),
        routes("http-route", f"{name}-http", "http-route", site.hosts, [edge], gateway_api.redirect_rule()),
    ]
    if site.redirects:
        to_host = gateway_api.redirect_rule(site.host)
        every.append(
            routes("redirect-route", f"{name}-redirect", "redirect", site.redirects, [own, edge], to_host)
        )
    gateway = gateway_api.site_gateway_manifest(
        name, namespace, site.names, tls_secret_name(site), annotations
    )
    return [("gateway", gateway)] + [
        (key if i == 0 else f"{key}-{i}", manifest)
        for key, manifests in every
        for i, manifest in enumerate(manifests)
    ]


def pod_selector(site: SiteConfig) -> dict[str, str]:
    """The labels that tie a site's Service to its Deployment's pods."""
    return {"app.kubernetes.io/name": site.resource_name, "app.kubernetes.io/part-of": PART_OF}


def _workload_meta(site: SiteConfig, skip_await: bool, *, name: str) -> k8s.meta.v1.ObjectMetaArgsDict:
    """Metadata of the Deployment or Service that serves an `image` site."""
    return object_meta(
        name,
        namespace=site.namespace,
        labels=labels(site.resource_name, "web"),
        annotations=await_annotations(skip_await),
    )


def deployment_manifest(site: SiteConfig, *, skip_await: bool) -> dict[str, Any]:
    """An `apps/v1` Deployment for `image`: non-root, probes, resource requests."""
    name = site.resource_name
    probe = {"tcpSocket": {"port": "http"}, "periodSeconds": 10}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _workload_meta(site, skip_await, name=name),
        "spec": {
            "replicas": site.replicas or 1,
            "selector": {"matchLabels": pod_selector(site)},
            "template": {
                "metadata": {"labels": labels(name, "web")},
                "spec": {
                    "automountServiceAccountToken": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": "web",
                            "image": site.image,
                            "ports": [{"name": "http", "containerPort": site.port}],
                            "readinessProbe": {**probe, "initialDelaySeconds": 2},
                            "livenessProbe": {**probe, "initialDelaySeconds": 10},
                            "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}},
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "capabilities": {"drop": ["ALL"]},
                            },
                        }
                    ],
                },
            },
        },
    }


def service_manifest(site: SiteConfig, *, skip_await: bool) -> dict[str, Any]:
    """A ClusterIP `v1` Service in front of the Deployment."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _workload_meta(site, skip_await, name=site.service_name),
        "spec": {
            "type": "ClusterIP",
            "selector": pod_selector(site),
            "ports": [{"name": "http", "port": site.port, "targetPort": "http"}],
        },
    }


@dataclass(frozen=True)
class SiteArgs:
    """One site, validated, and what it hangs off."""

    site: SiteConfig
    edge: Edge
    """The edge that serves the Ingress; the Ingress waits for its release
    (ingress-nginx's admission webhook validates Ingresses)."""
    issuers: ClusterIssuers
    """The ClusterIssuers: the Certificate names one and waits for them, and
    `pulumi up` waits for the Certificate as the stack's ACME settings say."""
    cluster: Cluster
    """Where it runs."""
    dns: DnsRecords | None = None
    """Where its A records go, if the stack manages DNS."""


class Site(pulumi.ComponentResource):
    """Certificate + Ingress for a host (and aliases), with an optional Deployment and
    Service, an Ingress that redirects the site's `redirects` to it, and Cloud DNS A records."""

    url: str
    secret_name: str

    def __init__(self, name: str, args: SiteArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("multisite:site:Site", name, None, args.cluster.options(opts))
        site, skip_await, issuers = args.site, args.cluster.skip_await, args.issuers
        self.url = f"https://{site.host}/"
        self.secret_name = tls_secret_name(site)

        certificate = certificate_manifest(
            site, issuer=issuers.issuer_for(site.issuer), annotations=wait_annotations(issuers.acme)
        )
        custom_resource(
            f"{name}-certificate", certificate, pulumi.ResourceOptions(parent=self, depends_on=[issuers])
        )

        backend: list[pulumi.Resource] = []
        if site.image is not None:
            deployment = deployment_manifest(site, skip_await=skip_await)
            service = service_manifest(site, skip_await=skip_await)
            backend = [
                k8s.apps.v1.Deployment(
                    f"{name}-deployment",
                    metadata=deployment["metadata"],
                    spec=deployment["spec"],
                    opts=pulumi.ResourceOptions(parent=self),
                ),
                k8s.core.v1.Service(
                    f"{name}-service",
                    metadata=service["metadata"],
                    spec=service["spec"],
                    opts=pulumi.ResourceOptions(parent=self),
                ),
            ]

        edge = args.edge
        if edge.routes == "gateway":
            for key, manifest in gateway_manifests(
                site, edge_namespace=edge.namespace, skip_await=skip_await
            ):
                depends = [edge.release, *backend] if key == "route" else [edge.release]
                custom_resource(
                    f"{name}-{key}", manifest, pulumi.ResourceOptions(parent=self, depends_on=depends)
                )
            self._dns_records(name, site, args.dns)
            return
        ingress = ingress_manifest(
            site,
            ingress_class=edge.ingress_class,
            annotations=edge.route_annotations,
            skip_await=skip_await,
        )
        k8s.networking.v1.Ingress(
            f"{name}-ingress",
            metadata=ingress["metadata"],
            spec=ingress["spec"],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[edge.release, *backend]),
        )
        if site.redirects:
            redirect = edge.controller.redirect_annotations
            if redirect is None:  # the settings refuse this; a site built in code meets it here
                raise ValueError(f"{site.host}: {edge.controller.redirect_refusal}")
            manifest = redirect_ingress_manifest(
                site, ingress_class=edge.ingress_class, annotations=redirect(site.host), skip_await=skip_await
            )
            k8s.networking.v1.Ingress(
                f"{name}-redirect",
                metadata=manifest["metadata"],
                spec=manifest["spec"],
                opts=pulumi.ResourceOptions(parent=self, depends_on=[edge.release]),
            )

        self._dns_records(name, site, args.dns)

    def _dns_records(self, name: str, site: SiteConfig, dns: DnsRecords | None) -> None:
        """The A records of every name, when the stack manages DNS; then the outputs."""
        if dns is not None:
            for host in site.names:
                dns.a_record(host, site=name, parent=self)
        self.register_outputs({"url": self.url, "secretName": self.secret_name})
