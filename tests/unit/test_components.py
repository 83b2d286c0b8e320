"""Each component on its own under mocks: type, children, names, options and outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest

from components.cert_manager import CertManager, CertManagerArgs, CertManagerConfig
from components.cluster import Cluster
from components.cluster_issuers import AcmeConfig, ClusterIssuers, ClusterIssuersArgs
from components.dns import DnsConfig, DnsRecords
from components.edge import Controller, Edge, EdgeArgs, EdgeConfig
from components.edge.ingress_nginx import INGRESS_NGINX, IngressNginxConfig
from components.edge.traefik import TRAEFIK, TraefikConfig
from components.site import Site, SiteArgs, SiteConfig
from components.static_ip import StaticIp, StaticIpArgs, StaticIpConfig
from tests.support import STATIC_IP, ProgramRun, record

STAGING = AcmeConfig(issuer="staging")
SOLVER = {"http01": {"ingress": {"ingressClassName": "nginx"}}}


def cluster(*, skip_await: bool = False, protect: bool = False) -> Cluster:
    """A cluster handle on a provider of its own (call inside a build)."""
    return Cluster(k8s.Provider("k8s"), skip_await=skip_await, protect=protect)


def children(run: ProgramRun, parent_name: str) -> dict[str, str]:
    (parent,) = [r for r in run.resources if r.name == parent_name and not r.custom]
    return {r.name: r.type for r in run.resources if r.parent == parent.urn}


def checked(run: ProgramRun) -> ProgramRun:
    assert run.error is None, run.error
    return run


def test_static_ip() -> None:
    def build() -> None:
        config = StaticIpConfig(name="my-ip", region="asia-northeast1", network_tier="STANDARD")
        ip = StaticIp("ip", StaticIpArgs(config=config))
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


def test_edge_from_a_local_chart_without_waiting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "charts" / "ingress-nginx").mkdir(parents=True)
    (tmp_path / "charts" / "ingress-nginx" / "Chart.yaml").write_text("name: ingress-nginx\n")

    def build() -> None:
        config = IngressNginxConfig(
            replicas=3, chart="charts/ingress-nginx", values={"controller": {"metrics": {"enabled": True}}}
        )
        Edge(
            "edge",
            EdgeArgs(
                controller=INGRESS_NGINX,
                config=config,
                cluster=cluster(skip_await=True),
                load_balancer_ip="203.0.113.9",
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
            CertManager("cm", CertManagerArgs(config=CertManagerConfig(), cluster=cluster(protect=protect)))

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
        ClusterIssuers(
            "issuers",
            ClusterIssuersArgs(cert_manager=gate, http01_solver=SOLVER, acme=STAGING, cluster=cluster()),
        )

    run = checked(record(build))
    assert children(run, "issuers") == {
        "issuers-staging": "kubernetes:cert-manager.io/v1:ClusterIssuer",
        "issuers-prod": "kubernetes:cert-manager.io/v1:ClusterIssuer",
    }
    gate = run.named("gate")
    for name in ("issuers-staging", "issuers-prod"):
        assert run.named(name).dependencies == (gate.urn,)


def _site_run(
    site: SiteConfig,
    edge: tuple[Controller, EdgeConfig] = (INGRESS_NGINX, IngressNginxConfig()),
    *,
    expect_error: bool = False,
    **extra: Any,
) -> ProgramRun:
    def build() -> None:
        on = cluster()
        gate = k8s.core.v1.ConfigMap("gate")
        args = ClusterIssuersArgs(
            cert_manager=gate, http01_solver=SOLVER, acme=AcmeConfig(issuer="prod"), cluster=on
        )
        issuers = ClusterIssuers("issuers", args)
        controller, config = edge
        edge_ = Edge("edge", EdgeArgs(controller=controller, config=config, cluster=on))
        s = Site(site.host, SiteArgs(site=site, edge=edge_, issuers=issuers, cluster=on, **extra))
        pulumi.export("url", s.url)

    run = record(build)
    return run if expect_error else checked(run)


def test_site_with_existing_service() -> None:
    run = _site_run(SiteConfig(host="some.dummy-url.com", service="some-my-service"))
    assert children(run, "some.dummy-url.com") == {
        "some.dummy-url.com-certificate": "kubernetes:cert-manager.io/v1:Certificate",
        "some.dummy-url.com-ingress": "kubernetes:networking.k8s.io/v1:Ingress",
    }
    certificate, controller = run.named("some.dummy-url.com-certificate"), run.named("edge-release")
    assert certificate.prop("spec", "issuerRef", "name") == "letsencrypt-prod"
    # Waiting on the component is waiting on both issuers in it.
    issuers = {run.named("issuers-staging").urn, run.named("issuers-prod").urn}
    assert set(certificate.dependencies) == issuers
    assert run.named("some.dummy-url.com-ingress").dependencies == (controller.urn,)
    assert run.outputs == {"url": "https://some.dummy-url.com/"}


def test_site_with_image_and_dns() -> None:
    site = SiteConfig(host="www.example.com", aliases=["example.com"], image="nginx:1.29", port=8080)
    run = _site_run(
        site, dns=DnsRecords(config=DnsConfig(zone="example-com", ttl=60), ip="203.0.113.5", project="p")
    )
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


def test_a_site_built_in_code_with_redirects_on_an_edge_that_cannot_is_refused() -> None:
    # The settings refuse this config; a Site built in code meets the edge's reason itself.
    site = SiteConfig(host="www.example.com", service="web", redirects=["old.example.com"])
    run = _site_run(site, expect_error=True)
    assert isinstance(run.error, ValueError)
    assert str(run.error).startswith(
        "www.example.com: ingress-nginx keeps the path of a redirect only through `$request_uri`"
    )
    assert not [r for r in run.resources if r.name.startswith("www.example.com-redirect")]


def test_a_sites_redirect_ingress_waits_for_the_edge_only() -> None:
    site = SiteConfig(host="www.example.com", service="web", redirects=["old.example.com"])
    run = _site_run(site, edge=(TRAEFIK, TraefikConfig()))
    redirect = run.named("www.example.com-redirect")
    assert {run.by_urn(u).name for u in redirect.dependencies} == {"edge-release"}
    assert run.by_urn(redirect.parent).name == "www.example.com"  # a child of the Site
    assert redirect.prop("metadata", "labels")["app.kubernetes.io/component"] == "redirect"


def outputs_of(run: ProgramRun, component: str) -> dict[str, Any]:
    (urn,) = [r.urn for r in run.resources if r.name == component and not r.custom]
    return run.component_outputs[urn]


def test_components_register_what_they_expose() -> None:
    def build() -> None:
        on = cluster()
        gate = k8s.core.v1.ConfigMap("gate")
        issuers = ClusterIssuers(
            "issuers", ClusterIssuersArgs(cert_manager=gate, http01_solver=SOLVER, acme=STAGING, cluster=on)
        )
        assert issuers.names == {"staging": "letsencrypt-staging", "prod": "letsencrypt-prod"}
        StaticIp("ip", StaticIpArgs(config=StaticIpConfig(name="my-ip", region="europe-west1")))
        site = Site(
            "www.example.com",
            SiteArgs(
                site=SiteConfig(host="www.example.com", service="web"),
                edge=Edge(
                    "edge", EdgeArgs(controller=INGRESS_NGINX, config=IngressNginxConfig(), cluster=on)
                ),
                issuers=issuers,
                cluster=on,
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


def test_every_component_keeps_the_options_it_is_given() -> None:
    # The Pulumi component shape, (name, args, opts): a caller's options (here a parent)
    # reach the component, merged with the cluster's provider and protection.
    def build() -> None:
        on = cluster()
        root = pulumi.ComponentResource("test:index:Root", "root")
        under = pulumi.ResourceOptions(parent=root)
        gate = k8s.core.v1.ConfigMap("gate")
        edge = Edge(
            "edge", EdgeArgs(controller=INGRESS_NGINX, config=IngressNginxConfig(), cluster=on), under
        )
        CertManager("cm", CertManagerArgs(config=CertManagerConfig(), cluster=on), under)
        issuers_args = ClusterIssuersArgs(cert_manager=gate, http01_solver=SOLVER, acme=STAGING, cluster=on)
        issuers = ClusterIssuers("issuers", issuers_args, under)
        site = SiteConfig(host="www.example.com", service="web")
        Site(site.host, SiteArgs(site=site, edge=edge, issuers=issuers, cluster=on), under)

    run = checked(record(build))
    (root,) = [r.urn for r in run.resources if r.name == "root"]
    for name in ("edge", "cm", "issuers", "www.example.com"):
        (component,) = [r for r in run.resources if r.name == name and not r.custom]
        assert component.parent == root, name
