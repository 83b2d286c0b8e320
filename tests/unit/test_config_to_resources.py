"""Every optional config key followed into the resource that must carry it.

A key that is validated and documented (docs/configuration.md) but never
reaches its resource is a silent bug; each test sets one key to a value that
differs from its default and finds it in the registered inputs.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.support import (
    ADDRESS,
    CERTIFICATE,
    DEPLOYMENT,
    ISSUER,
    PROVIDER,
    RECORD,
    STATIC_IP,
    TEST_CA,
    ProgramRun,
    run_program,
)

INLINE = "apiVersion: v1\nkind: Config\n"
BASE: dict[str, Any] = {
    "gcp:project": "base-project",
    "gcp:region": "europe-west1",
    "multisite:acme": {"issuer": "staging"},
    "multisite:sites": [{"host": "www.example.com", "service": "web"}],
}


def run(**sections: Any) -> ProgramRun:
    return run_program({**BASE, **{f"multisite:{k}": v for k, v in sections.items()}})


def test_gke_cluster_name_location_and_project_reach_the_lookup_and_kubeconfig() -> None:
    r = run(cluster={"name": "web-cluster", "location": "europe-west4-a", "project": "cluster-project"})
    assert r.calls == ["gcp:container/getCluster:getCluster"]
    (args,) = r.call_args
    assert (args["name"], args["location"], args["project"]) == (
        "web-cluster",
        "europe-west4-a",
        "cluster-project",
    )
    (provider,) = r.of_type(PROVIDER)
    kubeconfig = json.loads(provider.inputs["kubeconfig"])
    assert kubeconfig["current-context"] == "gke_web-cluster"


def test_gke_cluster_project_defaults_to_gcp_project() -> None:
    (args,) = run(cluster={"name": "web-cluster", "location": "europe-west1"}).call_args
    assert args["project"] == "base-project"


def test_kubeconfig_and_context_reach_the_provider() -> None:
    (provider,) = run(cluster={"kubeconfig": INLINE, "context": "ci"}).of_type(PROVIDER)
    assert provider.inputs["kubeconfig"] == INLINE
    assert provider.inputs["context"] == "ci"
    (without,) = run(cluster={"kubeconfig": INLINE}).of_type(PROVIDER)
    assert "context" not in without.inputs


def test_skip_await_alone_keeps_the_ambient_kubeconfig() -> None:
    # docs/configuration.md: `multisite:cluster` absent is the ambient kubeconfig; skipAwait
    # applies to any form.
    r = run(
        cluster={"skipAwait": True}, sites=[{"host": "www.example.com", "image": "nginx:1.29", "port": 80}]
    )
    assert r.error is None
    assert r.calls == []
    (provider,) = r.of_type(PROVIDER)
    assert "kubeconfig" not in provider.inputs and "context" not in provider.inputs
    (deployment,) = r.of_type(DEPLOYMENT)
    assert deployment.prop("metadata", "annotations")["pulumi.com/skipAwait"] == "true"


@pytest.mark.parametrize(
    "cluster",
    [None, {"kubeconfig": INLINE}, {"name": "web-cluster", "location": "europe-west1"}],
    ids=["ambient", "kubeconfig", "gke"],
)
def test_a_production_stack_protects_its_kubernetes_provider_whatever_the_cluster(
    cluster: dict[str, str] | None,
) -> None:
    # Deleting the provider would orphan every object it made (docs/operations.md: prod protects
    # every resource).
    sections = {} if cluster is None else {"cluster": cluster}
    (staging,) = run(**sections).of_type(PROVIDER)
    (production,) = run(**sections, acme={"issuer": "prod"}).of_type(PROVIDER)
    assert (staging.protect, production.protect) == (False, True)


def test_static_ip_name_region_and_tier_reach_the_address() -> None:
    r = run(staticIp={"name": "web-ingress", "region": "us-central1", "networkTier": "STANDARD"})
    (address,) = r.of_type(ADDRESS)
    assert address.inputs == {
        "name": "web-ingress",
        "region": "us-central1",
        "project": "base-project",
        "addressType": "EXTERNAL",
        "networkTier": "STANDARD",
        "description": "multisite: the edge's load balancer for every site",
    }
    assert address.protect and address.retain_on_delete


def test_a_reserved_address_of_your_own_binds_the_controller_and_is_exported() -> None:
    r = run(staticIp={"address": "34.120.10.20"}, dns={"zone": "example-com"})
    assert not r.of_type(ADDRESS)
    service = r.named("edge-release").inputs["values"]["controller"]["service"]
    assert service["loadBalancerIP"] == "34.120.10.20"
    assert r.outputs["ingressIp"] == "34.120.10.20"
    (record,) = r.of_type(RECORD)
    assert record.inputs["rrdatas"] == ["34.120.10.20"]


def test_dns_project_and_ttl_reach_every_record() -> None:
    r = run(dns={"zone": "example-com", "project": "dns-project", "ttl": 60})
    (record,) = r.of_type(RECORD)
    assert record.inputs == {
        "name": "www.example.com.",
        "type": "A",
        "ttl": 60,
        "managedZone": "example-com",
        "project": "dns-project",
        "rrdatas": [STATIC_IP],
    }


def test_dns_defaults_to_the_gcp_project_and_a_five_minute_ttl() -> None:
    (record,) = run(dns={"zone": "example-com"}).of_type(RECORD)
    assert record.inputs["project"] == "base-project" and record.inputs["ttl"] == 300


def test_chart_versions_sources_and_values_reach_the_releases() -> None:
    r = run(
        ingressNginx={
            "version": "4.14.0",
            "chart": "https://mirror.example.com/ingress-nginx",
            "values": {"controller": {"metrics": {"enabled": True}}},
        },
        certManager={
            "version": "v1.20.0",
            "chart": "oci://quay.io/jetstack/charts/cert-manager",
            "values": {"prometheus": {"enabled": False}},
        },
    )
    nginx = r.named("edge-release").inputs
    assert nginx["version"] == "4.14.0"
    assert (nginx["chart"], nginx["repositoryOpts"]) == (
        "ingress-nginx",
        {"repo": "https://mirror.example.com/ingress-nginx"},
    )
    assert nginx["values"]["controller"]["metrics"] == {"enabled": True}
    cert_manager = r.named("cert-manager-release").inputs
    assert cert_manager["version"] == "v1.20.0"
    assert cert_manager["chart"] == "oci://quay.io/jetstack/charts/cert-manager"
    assert "repositoryOpts" not in cert_manager
    assert cert_manager["values"]["prometheus"] == {"enabled": False}
    assert cert_manager["values"]["crds"] == {"enabled": True, "keep": True}  # merged, not replaced


def test_default_chart_pins_are_the_documented_ones() -> None:
    r = run()
    assert r.named("edge-release").inputs["version"] == "4.15.1"  # docs/design.md "Pinned versions"
    assert r.named("cert-manager-release").inputs["version"] == "v1.21.2"
    assert r.named("edge-release").inputs["values"]["controller"]["replicaCount"] == 2


def test_acme_email_reaches_both_issuers_and_no_wait_by_default() -> None:
    r = run(acme={"issuer": "staging", "email": "ops@example.com"})
    assert sorted(i.prop("spec", "acme", "email") for i in r.of_type(ISSUER)) == ["ops@example.com"] * 2
    (certificate,) = r.of_type(CERTIFICATE)
    assert "annotations" not in certificate.inputs["metadata"]
    assert r.outputs["issuer"] == "letsencrypt-staging"


def test_certificate_timeout_reaches_every_waiting_certificate() -> None:
    r = run(acme={"issuer": "staging", "waitForCertificates": True, "certificateTimeout": 90})
    (certificate,) = r.of_type(CERTIFICATE)
    assert certificate.prop("metadata", "annotations", "pulumi.com/timeoutSeconds") == "90"


def test_a_private_acme_server_and_its_ca_reach_only_its_own_issuer() -> None:
    r = run(
        acme={
            "issuer": "staging",
            "servers": {"staging": "https://pebble.test:14000/dir"},
            "caBundle": TEST_CA,
        }
    )
    staging, prod = (
        r.named(f"cluster-issuers-{choice}").prop("spec", "acme") for choice in ("staging", "prod")
    )
    assert staging["server"] == "https://pebble.test:14000/dir"
    # cert-manager's ACMEIssuer.caBundle: base64 of the PEM bundle (CRD format: byte).
    assert base64.b64decode(staging["caBundle"]).decode() == TEST_CA
    assert prod["server"] == "https://acme-v02.api.letsencrypt.org/directory"
    assert "caBundle" not in prod


def test_private_acme_servers_for_both_issuers() -> None:
    servers = {"staging": "https://ca.internal/staging", "prod": "https://ca.internal/prod"}
    r = run(acme={"issuer": "prod", "servers": servers, "caBundle": TEST_CA})
    for choice, url in servers.items():
        acme = r.named(f"cluster-issuers-{choice}").prop("spec", "acme")
        assert (acme["server"], base64.b64decode(acme["caBundle"]).decode()) == (url, TEST_CA)


def test_site_namespace_port_and_issuer_reach_its_objects() -> None:
    r = run(
        sites=[
            {
                "host": "www.example.com",
                "service": "web",
                "namespace": "shop",
                "port": 8443,
                "issuer": "prod",
            },
        ]
    )
    (certificate,) = r.of_type(CERTIFICATE)
    assert certificate.prop("metadata", "namespace") == "shop"
    assert certificate.prop("spec", "issuerRef", "name") == "letsencrypt-prod"
    ingress = r.named("www.example.com-ingress")
    assert ingress.prop("metadata", "namespace") == "shop"
    assert ingress.prop("spec", "rules", 0, "http", "paths", 0, "backend") == {
        "service": {"name": "web", "port": {"number": 8443}}
    }
    assert r.outputs["issuer"] == "letsencrypt-staging"  # the stack's issuer, not the site's
    assert all(res.protect for res in r.resources)  # one prod site makes a production stack


def test_image_site_replicas_and_namespace_reach_the_workload() -> None:
    r = run(sites=[{"host": "www.example.com", "image": "nginx:1.29", "replicas": 3, "namespace": "web"}])
    deployment = r.named("www.example.com-deployment")
    assert deployment.prop("spec", "replicas") == 3
    assert deployment.prop("metadata", "namespace") == "web"
    assert r.named("www.example.com-service").prop("metadata", "namespace") == "web"


def test_traefik_settings_reach_the_edge_release() -> None:
    r = run(
        edge="traefik",
        traefik={
            "version": "41.2.0",
            "replicas": 3,
            "chart": "https://mirror.example.com/traefik",
            "values": {"logs": {"general": {"level": "WARN"}}},
        },
    )
    release = r.named("edge-release").inputs
    assert release["version"] == "41.2.0"
    assert (release["chart"], release["repositoryOpts"]) == (
        "traefik",
        {"repo": "https://mirror.example.com/traefik"},
    )
    assert release["values"]["deployment"]["replicas"] == 3
    assert release["values"]["logs"] == {"general": {"level": "WARN"}}
    # docs/design.md "Pinned versions"
    assert run(edge="traefik").named("edge-release").inputs["version"] == "41.3.0"
