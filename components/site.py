"""Site: one web site's certificate, Ingress, optional workload and DNS records."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from components.config import SiteConfig
from components.edge import Edge
from components.metadata import (
    PART_OF,
    TIMEOUT,
    WAIT_FOR,
    await_annotations,
    custom_resource,
    labels,
    object_meta,
)
from components.secrets import secret_if


def certificate_manifest(
    site: SiteConfig, *, issuer: pulumi.Input[str], wait: bool, secret: bool = False, timeout: int = 300
) -> dict[str, Any]:
    """The `cert-manager.io/v1` Certificate for the host and its aliases.

    No commonName: Let's Encrypt puts the names in subjectAltName, and a
    commonName caps the first name at 64 characters. `wait` adds
    `pulumi.com/waitFor: condition=Ready`, so `pulumi up` fails loudly when
    issuance fails instead of reporting success, after at most `timeout`
    seconds (`pulumi.com/timeoutSeconds`). `secret`: the ACME settings
    (issuer, wait) were set with `--secret`; the annotations are secret too.
    """
    name = site.resource_name
    annotations = (
        {WAIT_FOR: secret_if(secret, "condition=Ready"), TIMEOUT: secret_if(secret, str(timeout))}
        if wait
        else {}
    )
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": object_meta(
            name, namespace=site.namespace, labels=labels(name, "certificate"), annotations=annotations
        ),
        "spec": {
            "secretName": tls_secret_name(site),
            "dnsNames": site.hosts,
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
    name = site.resource_name
    backend = {"service": {"name": site.service_name, "port": {"number": site.port}}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": object_meta(
            name,
            namespace=site.namespace,
            labels=labels(name, "ingress"),
            annotations={**annotations, **await_annotations(skip_await)},
        ),
        "spec": {
            "ingressClassName": ingress_class,
            "tls": [{"hosts": site.hosts, "secretName": tls_secret_name(site)}],
            "rules": [
                {"host": host, "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]}}
                for host in site.hosts
            ],
        },
    }


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
class DnsArgs:
    """Where to write the site's A records."""

    zone: pulumi.Input[str]
    ip: pulumi.Input[str]
    ttl: pulumi.Input[int] = 300
    project: pulumi.Input[str] | None = None


@dataclass(frozen=True)
class SiteArgs:
    """One site, validated, and what it hangs off."""

    site: SiteConfig
    issuer: pulumi.Input[str]
    """Name of the ClusterIssuer its Certificate references."""
    edge: Edge
    """The edge that serves the Ingress; the Ingress waits for its release
    (ingress-nginx's admission webhook validates Ingresses)."""
    issuers: pulumi.Resource
    """The ClusterIssuers component: the Certificate waits for it."""
    wait_for_certificate: bool = False
    certificate_timeout: int = 300
    """Seconds `pulumi up` waits for the Certificate when `wait_for_certificate`."""
    acme_secret: bool = False
    """The stack's ACME settings are secret: so are the issuer and wait annotation here."""
    skip_await: bool = False
    dns: DnsArgs | None = None


class Site(pulumi.ComponentResource):
    """Certificate + Ingress for a host (and aliases), with an optional Deployment,
    Service and Cloud DNS A records."""

    url: str
    secret_name: str

    def __init__(self, name: str, args: SiteArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("multisite:site:Site", name, None, opts)
        site = args.site
        self.url = f"https://{site.host}/"
        self.secret_name = tls_secret_name(site)

        certificate = certificate_manifest(
            site,
            issuer=args.issuer,
            wait=args.wait_for_certificate,
            secret=args.acme_secret,
            timeout=args.certificate_timeout,
        )
        custom_resource(
            f"{name}-certificate", certificate, pulumi.ResourceOptions(parent=self, depends_on=[args.issuers])
        )

        backend: list[pulumi.Resource] = []
        if site.image is not None:
            deployment = deployment_manifest(site, skip_await=args.skip_await)
            service = service_manifest(site, skip_await=args.skip_await)
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
        ingress = ingress_manifest(
            site,
            ingress_class=edge.ingress_class,
            annotations=edge.route_annotations,
            skip_await=args.skip_await,
        )
        k8s.networking.v1.Ingress(
            f"{name}-ingress",
            metadata=ingress["metadata"],
            spec=ingress["spec"],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[edge.release, *backend]),
        )

        if args.dns is not None:
            for host in site.hosts:
                # Named after the host alone, which is unique across sites. The old
                # `<site>-dns-<host>` could repeat (a.com + c.com-dns-d.com vs
                # a.com-dns-c.com + d.com): a duplicate URN stops the engine half-way.
                # The alias keeps records made under the old name in place.
                gcp.dns.RecordSet(
                    f"{host}-dns",
                    name=f"{host}.",
                    type="A",
                    ttl=args.dns.ttl,
                    managed_zone=args.dns.zone,
                    project=args.dns.project,
                    rrdatas=[args.dns.ip],
                    opts=pulumi.ResourceOptions(
                        parent=self, aliases=[pulumi.Alias(name=f"{name}-dns-{host}")]
                    ),
                )
        self.register_outputs({"url": self.url, "secretName": self.secret_name})
