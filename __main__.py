"""multisite: many web sites on one Kubernetes cluster behind one static IP.

Composition only: read and validate the stack config, build the Kubernetes
provider, wire the components, export. Every piece lives in `components/`.
"""

from __future__ import annotations

from typing import Any

import pulumi

from components.cert_manager import CertManager, CertManagerArgs
from components.cluster import kubernetes_provider
from components.cluster_issuers import ClusterIssuers, ClusterIssuersArgs
from components.config import KNOWN_KEYS, NAMESPACE, StackSettings, issuer_name, load_settings
from components.ingress_nginx import IngressNginx, IngressNginxArgs
from components.site import DnsArgs, Site, SiteArgs
from components.static_ip import StaticIp, StaticIpArgs


def read_settings() -> StackSettings:
    """Every `multisite:` key of this stack, validated before anything is registered."""
    config = pulumi.Config(NAMESPACE)
    # Every key set in the stack, so a typo such as `multisite:site` is reported.
    prefix = f"{NAMESPACE}:"
    keys = {*pulumi.runtime.config.get_config_env(), *pulumi.runtime.config.CONFIG.get()}
    present = {k.removeprefix(prefix) for k in keys if k.startswith(prefix)}
    raw: dict[str, Any] = {}
    for key in sorted(present | set(KNOWN_KEYS)):
        value = config.get_object(key)
        if value is not None:
            raw[key] = value
    gcp = pulumi.Config("gcp")
    return load_settings(
        raw, stack=pulumi.get_stack(), gcp_project=gcp.get("project"), gcp_region=gcp.get("region")
    )


def main() -> None:
    """Register the whole stack."""
    settings = read_settings()
    skip_await = settings.cluster is not None and settings.cluster.skip_await
    provider = kubernetes_provider("kubernetes", settings.cluster, gcp_project=settings.gcp_project)
    on_cluster = pulumi.ResourceOptions(providers=[provider])

    ingress_ip: pulumi.Input[str] | None = settings.static_ip.address
    if settings.reserves_ip:
        region = settings.static_ip_region
        assert region is not None  # checked by load_settings
        static_ip = StaticIp(
            "ingress-ip",
            StaticIpArgs(
                name=settings.static_ip_name,
                region=region,
                network_tier=settings.static_ip.network_tier,
                project=settings.gcp_project,
            ),
        )
        ingress_ip = static_ip.address

    ingress_nginx = IngressNginx(
        "ingress-nginx",
        IngressNginxArgs(
            version=settings.ingress_nginx.version,
            replicas=settings.ingress_nginx.replicas,
            load_balancer_ip=ingress_ip,
            chart=settings.ingress_nginx.chart,
            values=settings.ingress_nginx.values,
            skip_await=skip_await,
        ),
        opts=on_cluster,
    )
    cert_manager = CertManager(
        "cert-manager",
        CertManagerArgs(
            version=settings.cert_manager.version,
            chart=settings.cert_manager.chart,
            values=settings.cert_manager.values,
            # Production certificates live here: removing cert-manager must be deliberate.
            protect=settings.acme.issuer == "prod",
            skip_await=skip_await,
        ),
        opts=on_cluster,
    )
    issuers = ClusterIssuers(
        "cluster-issuers",
        ClusterIssuersArgs(
            cert_manager=cert_manager.release,
            ingress_class=ingress_nginx.ingress_class,
            email=settings.acme.email,
        ),
        opts=on_cluster,
    )

    site_dns = None
    if settings.dns is not None and ingress_ip is not None:  # config forbids dns without a static IP
        dns = settings.dns
        site_dns = DnsArgs(
            zone=dns.zone, ip=ingress_ip, ttl=dns.ttl, project=dns.project or settings.gcp_project
        )
    urls: dict[str, str] = {}
    for site in settings.sites:
        Site(
            site.host,
            SiteArgs(
                site=site,
                issuer=settings.issuer_for(site),
                ingress_class=ingress_nginx.ingress_class,
                issuers=issuers,
                ingress_controller=ingress_nginx.release,
                wait_for_certificate=settings.acme.wait_for_certificates,
                skip_await=skip_await,
                dns=site_dns,
            ),
            opts=on_cluster,
        )
        urls.update({host: f"https://{host}/" for host in site.hosts})

    pulumi.export("ingressIp", ingress_ip)
    pulumi.export("ingressService", ingress_nginx.service_name)
    pulumi.export("issuer", issuer_name(settings.acme.issuer))
    pulumi.export("urls", urls)


if __name__ == "__main__":
    main()
