"""Each component on its own under mocks: type, children, names, options and outputs."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.cert_manager import CertManager, CertManagerArgs
from components.cluster_issuers import ClusterIssuers, ClusterIssuersArgs
from components.config import AcmeConfig, CertManagerConfig, IngressNginxConfig, SiteConfig
from components.edge import Edge, EdgeArgs
from components.edge.ingress_nginx import INGRESS_NGINX
from components.site import DnsArgs, Site, SiteArgs
from components.static_ip import StaticIp, StaticIpArgs
from tests.support import STATIC_IP, ProgramRun, record

STAGING = AcmeConfig(issuer="staging")


def children(run: ProgramRun, parent_name: str) -> dict[str, str]:
    (parent,) = [r for r in run.resources if r.name == parent_name and not r.custom]
    return {r.name: r.type for r in run.resources if r.parent == parent.urn}


def checked(run: ProgramRun) -> ProgramRun:
    assert run.error is None, run.error
    return run


def test_static_ip() -> None:
    def build() -> None:
        ip = StaticIp("ip", StaticIpArgs(name="my-ip", region="asia-northeast1", network_tier="STANDARD"))
        pulumi.export("address", ip.address)

    run = checked(record(build))
    assert children(run, "ip") == {"ip-address": "gcp:compute/address:Address"}
    address = run.named("ip-address")
    assert address.protect
    assert address.retain_on_delete  # never released by the stack, even once unprotected
    # A new description would replace (release) an address reserved under the old one.
    assert address.ignore_changes == ("description",)
    assert address.inputs == {
        "name": "my-ip",
        "region": "asia-northeast1",
        "addressType": "EXTERNAL",
        "networkTier": "STANDARD",
        "description": "multisite: the edge's load balancer for every site",
    }
    assert run.outputs == {"address": STATIC_IP}


def test_edge_from_a_local_chart_without_waiting() -> None:
    def build() -> None:
        config = IngressNginxConfig(
            replicas=3, chart="charts/ingress-nginx", values={"controller": {"metrics": {"enabled": True}}}
        )
        Edge(
            "edge",
            EdgeArgs(
                controller=INGRESS_NGINX, config=config, load_balancer_ip="203.0.113.9", skip_await=True
            ),
        )

    run = checked(record(build))
    assert children(run, "edge") == {
        "edge-namespace": "kubernetes:core/v1:Namespace",
        "edge-release": "kubernetes:helm.sh/v3:Release",
    }
    namespace = run.named("edge-namespace")
    assert namespace.inputs["metadata"] == {
        "name": "ingress-nginx",
        "annotations": {"pulumi.com/skipAwait": "true"},
    }
    release = run.named("edge-release")
    assert release.inputs["chart"] == "charts/ingress-nginx" and "repositoryOpts" not in release.inputs
    assert release.inputs["skipAwait"] is True
    assert "skipCrds" not in release.inputs  # no new input for existing ingress-nginx releases
    controller = release.inputs["values"]["controller"]
    assert controller["replicaCount"] == 3
    assert controller["service"]["loadBalancerIP"] == "203.0.113.9"
    assert controller["metrics"] == {"enabled": True}


def test_cert_manager_protection_reaches_every_child() -> None:
    for protect in (True, False):

        def build(protect: bool = protect) -> None:
            CertManager(
                "cm",
                CertManagerArgs(config=CertManagerConfig()),
                opts=pulumi.ResourceOptions(protect=protect),
            )

        run = checked(record(build))
        assert children(run, "cm") == {
            "cm-namespace": "kubernetes:core/v1:Namespace",
            "cm-release": "kubernetes:helm.sh/v3:Release",
        }
        assert run.named("cm-release").protect is protect
        assert run.named("cm-namespace").protect is protect
        assert run.named("cm-release").inputs["waitForJobs"] is True


def test_cluster_issuers_depend_on_what_they_are_given() -> None:
    def build() -> None:
        gate = k8s.core.v1.ConfigMap("gate")
        solver = {"http01": {"ingress": {"ingressClassName": "nginx"}}}
        ClusterIssuers("issuers", ClusterIssuersArgs(cert_manager=gate, http01_solver=solver, acme=STAGING))

    run = checked(record(build))
    assert children(run, "issuers") == {
        "issuers-staging": "kubernetes:cert-manager.io/v1:ClusterIssuer",
        "issuers-prod": "kubernetes:cert-manager.io/v1:ClusterIssuer",
    }
    gate = run.named("gate")
    for name in ("issuers-staging", "issuers-prod"):
        assert run.named(name).dependencies == (gate.urn,)


def _site_run(site: SiteConfig, **extra: Any) -> ProgramRun:
    def build() -> None:
        issuers = k8s.core.v1.ConfigMap("issuers")
        edge = Edge("edge", EdgeArgs(controller=INGRESS_NGINX, config=IngressNginxConfig()))
        s = Site(
            site.host,
            SiteArgs(site=site, issuer="letsencrypt-prod", edge=edge, issuers=issuers, **extra),
        )
        pulumi.export("url", s.url)

    return checked(record(build))


def test_site_with_existing_service() -> None:
    run = _site_run(SiteConfig(host="some.dummy-url.com", service="some-my-service"))
    assert children(run, "some.dummy-url.com") == {
        "some.dummy-url.com-certificate": "kubernetes:cert-manager.io/v1:Certificate",
        "some.dummy-url.com-ingress": "kubernetes:networking.k8s.io/v1:Ingress",
    }
    issuers, controller = run.named("issuers"), run.named("edge-release")
    assert run.named("some.dummy-url.com-certificate").dependencies == (issuers.urn,)
    assert run.named("some.dummy-url.com-ingress").dependencies == (controller.urn,)
    assert run.outputs == {"url": "https://some.dummy-url.com/"}


def test_site_with_image_and_dns() -> None:
    site = SiteConfig(host="www.example.com", aliases=["example.com"], image="nginx:1.29", port=8080)
    run = _site_run(site, dns=DnsArgs(zone="example-com", ip="203.0.113.5", ttl=60, project="p"))
    assert children(run, "www.example.com") == {
        "www.example.com-certificate": "kubernetes:cert-manager.io/v1:Certificate",
        "www.example.com-deployment": "kubernetes:apps/v1:Deployment",
        "www.example.com-service": "kubernetes:core/v1:Service",
        "www.example.com-ingress": "kubernetes:networking.k8s.io/v1:Ingress",
        "www.example.com-dns": "gcp:dns/recordSet:RecordSet",
        "example.com-dns": "gcp:dns/recordSet:RecordSet",
    }
    ingress = run.named("www.example.com-ingress")
    deps = {run.by_urn(u).name for u in ingress.dependencies}
    assert deps == {"edge-release", "www.example.com-deployment", "www.example.com-service"}
    record_ = run.named("example.com-dns")
    assert record_.alias_names == ("www.example.com-dns-example.com",)  # existing records stay put
    assert record_.inputs == {
        "name": "example.com.",
        "type": "A",
        "ttl": 60,
        "managedZone": "example-com",
        "project": "p",
        "rrdatas": ["203.0.113.5"],
    }


def outputs_of(run: ProgramRun, component: str) -> dict[str, Any]:
    (urn,) = [r.urn for r in run.resources if r.name == component and not r.custom]
    return run.component_outputs[urn]


def test_components_register_what_they_expose() -> None:
    def build() -> None:
        gate = k8s.core.v1.ConfigMap("gate")
        solver = {"http01": {"ingress": {"ingressClassName": "nginx"}}}
        issuers = ClusterIssuers(
            "issuers", ClusterIssuersArgs(cert_manager=gate, http01_solver=solver, acme=STAGING)
        )
        assert issuers.names == {"staging": "letsencrypt-staging", "prod": "letsencrypt-prod"}
        StaticIp("ip", StaticIpArgs(name="my-ip", region="europe-west1"))
        site = Site(
            "www.example.com",
            SiteArgs(
                site=SiteConfig(host="www.example.com", service="web"),
                issuer="letsencrypt-staging",
                edge=Edge("edge", EdgeArgs(controller=INGRESS_NGINX, config=IngressNginxConfig())),
                issuers=issuers,
            ),
        )
        assert site.secret_name == "www-example-com-tls"

    run = checked(record(build))
    assert outputs_of(run, "issuers") == {
        "names": {"staging": "letsencrypt-staging", "prod": "letsencrypt-prod"}
    }
    assert outputs_of(run, "ip") == {"address": STATIC_IP, "name": "my-ip"}
    assert outputs_of(run, "www.example.com") == {
        "url": "https://www.example.com/",
        "secretName": "www-example-com-tls",
    }
    (address,) = run.of_type("gcp:compute/address:Address")
    assert address.inputs["networkTier"] == "PREMIUM"  # GKE's default tier (docs/configuration.md)
