"""multisite: many web sites on one Kubernetes cluster behind one static IP.

Composition only: read and validate the stack config, build the Kubernetes
provider, wire the components, export. Every piece lives in `components/`.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi

from components.cert_manager import CertManager, CertManagerArgs
from components.cluster import kubernetes_provider
from components.cluster_issuers import ClusterIssuers, ClusterIssuersArgs
from components.config import NAMESPACE, StackSettings, issuer_name, load_settings
from components.edge import CONTROLLERS, Edge, EdgeArgs
from components.secrets import secret_if
from components.site import DnsArgs, Site, SiteArgs
from components.static_ip import StaticIp, StaticIpArgs


def read_settings() -> StackSettings:
    """Every `multisite:` key of this stack, validated before anything is registered."""
    config = pulumi.Config(NAMESPACE)
    # Every key set in the stack, so a typo such as `multisite:site` is reported.
    prefix = f"{NAMESPACE}:"
    keys = {*pulumi.runtime.config.get_config_env(), *pulumi.runtime.config.CONFIG.get()}
    present = sorted(k.removeprefix(prefix) for k in keys if k.startswith(prefix))
    raw: dict[str, Any] = {}
    for key in present:
        text = config.require(key)
        try:
            raw[key] = json.loads(text)
        except ValueError:
            raw[key] = text  # a plain string where an object belongs: load_settings says so
    secret = frozenset(k for k in present if pulumi.runtime.config.is_config_secret(prefix + k))
    gcp = pulumi.Config("gcp")
    return load_settings(
        raw,
        stack=pulumi.get_stack(),
        gcp_project=gcp.get("project"),
        gcp_region=gcp.get("region"),
        secret_keys=secret,
    )


def main() -> None:
    """Register the whole stack."""
    settings = read_settings()
    skip_await = settings.cluster is not None and settings.cluster.skip_await
    # A production stack protects every resource (components pass it on to
    # their children): an accidental `pulumi destroy` deletes nothing.
    protect = settings.production
    provider = kubernetes_provider(
        "kubernetes",
        settings.cluster,
        gcp_project=settings.gcp_project,
        secret=settings.is_secret("cluster"),
        protect=protect,
    )
    on_cluster = pulumi.ResourceOptions(providers=[provider], protect=protect)

    ip_secret = settings.is_secret("staticIp")
    ingress_ip: pulumi.Input[str] | None = None
    if settings.static_ip.address is not None:
        ingress_ip = secret_if(ip_secret, settings.static_ip.address)
    if settings.reserves_ip:
        region = settings.static_ip_region
        assert region is not None  # checked by load_settings
        static_ip = StaticIp(
            "ingress-ip",
            StaticIpArgs(
                name=secret_if(ip_secret, settings.static_ip_name),
                region=secret_if(ip_secret, region),
                network_tier=secret_if(ip_secret, settings.static_ip.network_tier),
                project=settings.gcp_project,
            ),
            opts=pulumi.ResourceOptions(protect=protect),
        )
        ingress_ip = static_ip.address

    edge = Edge(
        "edge",
        EdgeArgs(
            controller=CONTROLLERS[settings.edge],
            config=settings.edge_config,
            load_balancer_ip=ingress_ip,
            secret=settings.is_secret(settings.edge_section),
            skip_await=skip_await,
        ),
        opts=on_cluster,
    )
    acme_secret = settings.is_secret("acme")
    cert_manager = CertManager(
        "cert-manager",
        CertManagerArgs(
            config=settings.cert_manager,
            secret=settings.is_secret("certManager"),
            skip_await=skip_await,
        ),
        opts=on_cluster,
    )
    issuers = ClusterIssuers(
        "cluster-issuers",
        ClusterIssuersArgs(
            cert_manager=cert_manager.release,
            http01_solver=edge.http01_solver,
            acme=settings.acme,
            secret=acme_secret,
        ),
        opts=on_cluster,
    )

    site_dns = None
    if settings.dns is not None and ingress_ip is not None:  # config forbids dns without a static IP
        dns, dns_secret = settings.dns, settings.is_secret("dns")
        site_dns = DnsArgs(
            zone=secret_if(dns_secret, dns.zone),
            ip=ingress_ip,
            ttl=secret_if(dns_secret, dns.ttl),
            project=secret_if(dns_secret, dns.project) if dns.project else settings.gcp_project,
        )
    urls: dict[str, str] = {}
    for site in settings.sites:
        Site(
            site.host,
            SiteArgs(
                site=site,
                issuer=secret_if(acme_secret, settings.issuer_for(site)),
                edge=edge,
                issuers=issuers,
                wait_for_certificate=settings.acme.wait_for_certificates,
                certificate_timeout=settings.acme.certificate_timeout,
                acme_secret=acme_secret,
                skip_await=skip_await,
                dns=site_dns,
            ),
            opts=on_cluster,
        )
        urls.update({host: f"https://{host}/" for host in site.hosts})

    pulumi.export("ingressIp", ingress_ip)
    pulumi.export("ingressService", edge.service_name)
    pulumi.export("issuer", secret_if(acme_secret, issuer_name(settings.acme.issuer)))
    pulumi.export("urls", urls)


if __name__ == "__main__":
    main()
