"""multisite: many web sites on one Kubernetes cluster behind one static IP.

Composition only, in the order of the 2018 write-up: the cluster, the static
IP, the edge bound to it, cert-manager, the ClusterIssuers, then per domain a
Site. Every piece lives in `components/`; the settings arrive validated, each
section secret where it was set with `--secret`.
"""

from __future__ import annotations

import pulumi

from components.cert_manager import CertManager, CertManagerArgs
from components.cluster import connect
from components.cluster_issuers import ClusterIssuers, ClusterIssuersArgs
from components.dns import DnsRecords
from components.edge import Edge, EdgeArgs
from components.gateway_api import (
    CLUSTER_MANAGED,
    STANDARD_CRDS,
    ClusterGatewayApiCrds,
    GatewayApiCrds,
    GatewayApiCrdsArgs,
    GatewayCrds,
)
from components.settings import read_settings
from components.site import Site, SiteArgs
from components.static_ip import StaticIp, StaticIpArgs


def main() -> None:
    """Register the whole stack."""
    settings = read_settings()
    # A production stack protects every resource (components pass it on to
    # their children): an accidental `pulumi destroy` deletes nothing.
    protect = settings.production
    cluster = connect("kubernetes", settings.cluster, gcp_project=settings.gcp_project, protect=protect)

    static_ip = settings.static_ip
    ingress_ip: pulumi.Input[str] | None = None
    if static_ip.address is not None:
        ingress_ip = static_ip.input(static_ip.address)
    if settings.reserves_ip:
        ingress_ip = StaticIp(
            "ingress-ip",
            StaticIpArgs(config=settings.ip_to_reserve(), project=settings.gcp_project),
            opts=pulumi.ResourceOptions(protect=protect),
        ).address

    # Gateway API routes: the CRDs first, since Traefik's provider and cert-manager need them.
    crds: GatewayCrds | None = None
    source = settings.edge_config.gateway_crds or STANDARD_CRDS
    if settings.edge_config.routes == "gateway" and source == CLUSTER_MANAGED:
        crds = ClusterGatewayApiCrds("gateway-api", cluster)
    elif settings.edge_config.routes == "gateway":
        crds = GatewayApiCrds("gateway-api", GatewayApiCrdsArgs(source=source, cluster=cluster))
    edge = Edge(
        "edge",
        EdgeArgs(
            controller=settings.edge,
            config=settings.edge_config,
            cluster=cluster,
            load_balancer_ip=ingress_ip,
            gateway_crds=crds,
        ),
    )
    cert_manager = CertManager(
        "cert-manager", CertManagerArgs(config=settings.cert_manager, cluster=cluster, gateway_crds=crds)
    )
    issuers = ClusterIssuers(
        "cluster-issuers",
        ClusterIssuersArgs(
            cert_manager=cert_manager.release,
            http01_solver=edge.http01_solver,
            acme=settings.acme,
            cluster=cluster,
        ),
    )

    dns = None
    if settings.dns is not None and ingress_ip is not None:  # config forbids dns without a static IP
        dns = DnsRecords(config=settings.dns, ip=ingress_ip, project=settings.gcp_project)
    urls: dict[str, str] = {}
    for site in settings.sites:
        Site(site.host, SiteArgs(site=site, edge=edge, issuers=issuers, cluster=cluster, dns=dns))
        urls.update({host: f"https://{host}/" for host in site.hosts})

    pulumi.export("ingressIp", ingress_ip)
    pulumi.export("ingressService", edge.service_name)
    pulumi.export("issuer", issuers.issuer_for(None))
    pulumi.export("urls", urls)


if __name__ == "__main__":
    main()
