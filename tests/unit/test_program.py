"""The whole program under mocks: resource graph, dependencies and exports per stack."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

import pulumi
import pulumi_kubernetes as k8s
import pytest
import yaml

from components.settings import ConfigError
from tests.support import (
    ADDRESS,
    CERTIFICATE,
    DEPLOYMENT,
    INGRESS,
    ISSUER,
    PROVIDER,
    RECORD,
    RELEASE,
    ROOT,
    SERVICE,
    STATIC_IP,
    DuplicateUrnError,
    ProgramRun,
    Registered,
    lay_out_local_stack,
    record,
    run_program,
    stack_config,
)


def depends_on(run: ProgramRun, resource: Registered, name: str) -> bool:
    return any(run.by_urn(urn).name == name for urn in resource.dependencies)


def program_run_scope(fixture_name: str, config: pytest.Config) -> Literal["function", "module"]:
    """One program run per module, except while mutmut collects its stats.

    mutmut runs, for each mutant, only the tests that called the mutated
    function, and credits a module fixture's calls to the first test that used
    it. Run per test during that collection, every test here is credited with
    the code it asserts on; mutants then run with the fixture per module again.
    """
    return "function" if os.environ.get("MUTANT_UNDER_TEST") == "stats" else "module"


@pytest.fixture(scope=program_run_scope)
def dev() -> ProgramRun:
    return run_program(stack_config("dev"), stack="dev")


@pytest.fixture(scope=program_run_scope)
def prod() -> ProgramRun:
    return run_program(stack_config("prod"), stack="prod")


def test_dev_registers_the_expected_components(dev: ProgramRun) -> None:
    components = sorted((r.type, r.name) for r in dev.resources if not r.custom)
    assert components == [
        ("multisite:cert_manager:CertManager", "cert-manager"),
        ("multisite:cluster_issuers:ClusterIssuers", "cluster-issuers"),
        ("multisite:edge:Edge", "edge"),
        ("multisite:site:Site", "blog.dev.example.com"),
        ("multisite:site:Site", "www.dev.example.com"),
        ("multisite:static_ip:StaticIp", "ingress-ip"),
    ]


def test_config_is_read_under_multisite_whatever_the_project_is_called() -> None:
    # docs/configuration.md documents `multisite:` keys; a team that renames the project in Pulumi.yaml
    # keeps its stack files as they are.
    run = run_program(stack_config("dev"), project="acme-web")
    hosts = sorted(r.name for r in run.resources if r.type == "multisite:site:Site")
    assert hosts == ["blog.dev.example.com", "www.dev.example.com"]


def test_static_ip_is_regional_external_and_protected(dev: ProgramRun) -> None:
    (address,) = dev.of_type(ADDRESS)
    assert address.protect
    assert address.inputs["name"] == "multisite-dev-ingress"
    assert address.inputs["region"] == "europe-west1"
    assert address.inputs["addressType"] == "EXTERNAL"
    assert address.inputs["networkTier"] == "PREMIUM"
    assert address.parent.endswith("::ingress-ip")


def test_dev_runs_the_traefik_edge_bound_to_the_static_ip(dev: ProgramRun) -> None:
    release = dev.named("edge-release")
    assert release.inputs["chart"] == "traefik"
    assert release.inputs["version"] == "41.3.0"
    assert release.inputs["repositoryOpts"] == {"repo": "https://traefik.github.io/charts"}
    assert release.inputs["name"] == "traefik"
    assert release.inputs["namespace"] == "traefik"
    assert release.inputs["values"]["service"]["spec"]["loadBalancerIP"] == STATIC_IP
    assert release.inputs["values"]["deployment"]["replicas"] == 1  # Pulumi.dev.yaml
    assert depends_on(dev, release, "ingress-ip-address")
    assert depends_on(dev, release, "edge-namespace")


def test_default_edge_is_ingress_nginx_bound_to_the_static_ip() -> None:
    config = {
        k: v for k, v in stack_config("dev").items() if k not in ("multisite:edge", "multisite:traefik")
    }
    release = run_program(config).named("edge-release")
    assert release.inputs["chart"] == "ingress-nginx"
    assert release.inputs["version"] == "4.15.1"
    assert release.inputs["repositoryOpts"] == {"repo": "https://kubernetes.github.io/ingress-nginx"}
    assert release.inputs["name"] == "ingress-nginx"
    assert release.inputs["namespace"] == "ingress-nginx"
    assert release.inputs["values"]["controller"]["service"]["loadBalancerIP"] == STATIC_IP
    assert release.inputs["values"]["controller"]["replicaCount"] == 2


def test_cert_manager_release_installs_crds_and_waits_for_its_jobs(dev: ProgramRun) -> None:
    release = dev.named("cert-manager-release")
    assert release.inputs["chart"] == "cert-manager"
    assert release.inputs["version"] == "v1.21.2"  # docs/design.md "Pinned versions"
    assert release.inputs["repositoryOpts"] == {"repo": "https://charts.jetstack.io"}
    assert release.inputs["values"]["crds"] == {"enabled": True, "keep": True}
    assert release.inputs["waitForJobs"] is True
    assert not release.protect  # dev: staging certificates only


def test_issuers_wait_for_the_cert_manager_release(dev: ProgramRun) -> None:
    issuers = dev.of_type(ISSUER)
    assert sorted(i.inputs["metadata"]["name"] for i in issuers) == [
        "letsencrypt-prod",
        "letsencrypt-staging",
    ]
    for issuer in issuers:
        assert depends_on(dev, issuer, "cert-manager-release")


def test_certificates_use_the_stack_issuer_and_wait_for_issuers(dev: ProgramRun) -> None:
    certificates = {c.inputs["metadata"]["name"]: c for c in dev.of_type(CERTIFICATE)}
    assert set(certificates) == {"www-dev-example-com", "blog-dev-example-com"}
    www = certificates["www-dev-example-com"]
    assert www.inputs["spec"]["issuerRef"]["name"] == "letsencrypt-staging"
    assert www.inputs["spec"]["dnsNames"] == ["www.dev.example.com", "dev.example.com"]
    assert depends_on(dev, www, "cluster-issuers-staging")
    assert depends_on(dev, www, "cluster-issuers-prod")


def test_ingresses_wait_for_the_controller_and_their_backend(dev: ProgramRun) -> None:
    ingresses = {i.inputs["metadata"]["name"]: i for i in dev.of_type(INGRESS)}
    www = ingresses["www-dev-example-com"]
    assert depends_on(dev, www, "edge-release")
    assert depends_on(dev, www, "www.dev.example.com-deployment")
    assert depends_on(dev, www, "www.dev.example.com-service")
    blog = ingresses["blog-dev-example-com"]
    assert blog.prop("spec", "rules", 0, "http", "paths", 0, "backend", "service", "name") == "blog"


def test_only_image_sites_get_a_workload(dev: ProgramRun) -> None:
    assert [d.inputs["metadata"]["name"] for d in dev.of_type(DEPLOYMENT)] == ["www-dev-example-com"]
    assert [s.inputs["metadata"]["name"] for s in dev.of_type(SERVICE)] == ["www-dev-example-com"]


def test_an_image_sites_service_routes_its_port_to_the_deployments_pods() -> None:
    # Kubernetes: a Service sends to the pods whose labels match its selector, on
    # the container port its targetPort names; the Ingress reaches the Service on
    # its port. docs/configuration.md: `port` is the container port of an image site.
    site = {"host": "app.example.com", "image": "nginx:1.29", "port": 8080}
    run = run_program({**stack_config("dev"), "multisite:sites": [site]})
    (service,) = run.of_type(SERVICE)
    (deployment,) = run.of_type(DEPLOYMENT)
    (ingress,) = run.of_type(INGRESS)
    assert service.prop("spec", "type") == "ClusterIP"
    selector = service.prop("spec", "selector")
    assert selector and selector.items() <= deployment.prop("spec", "template", "metadata", "labels").items()
    (port,) = service.prop("spec", "ports")
    (container,) = deployment.prop("spec", "template", "spec", "containers")
    container_ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert container_ports[port["targetPort"]] == 8080
    backend = ingress.prop("spec", "rules", 0, "http", "paths", 0, "backend", "service")
    assert backend == {"name": service.prop("metadata", "name"), "port": {"number": port["port"]}}


def test_the_edge_and_cert_manager_expose_their_releases_status(dev: ProgramRun) -> None:
    # Each component's outputs in the state carry its Helm release's status (name,
    # namespace, deployed or not): the releases Helm records on the sandbox cluster
    # are cert-manager/cert-manager and traefik/traefik (tests/engine/test_local_stack.py).
    for component, release in (("edge", "traefik"), ("cert-manager", "cert-manager")):
        (urn,) = [r.urn for r in dev.resources if r.name == component and not r.custom]
        status = dev.component_outputs[urn]["release"]
        assert (status["name"], status["namespace"], status["status"]) == (release, release, "deployed")


def test_every_kubernetes_resource_uses_the_stack_provider(dev: ProgramRun) -> None:
    (provider,) = dev.of_type(PROVIDER)
    # The provider's name is part of its URN, which every object's state refers to. Renamed, it
    # is a new provider: every object moves to it, and the old one is deleted, which a
    # production stack's protect refuses, so every `pulumi up` of prod would fail.
    assert provider.name == "kubernetes"
    kubernetes = [r for r in dev.resources if r.custom and r.type.startswith("kubernetes:")]
    assert kubernetes
    for resource in kubernetes:
        assert resource.provider.startswith(provider.urn + "::"), resource.name  # `<urn>::<id>`


def test_gke_cluster_is_looked_up_for_the_kubeconfig(dev: ProgramRun) -> None:
    assert dev.calls == ["gcp:container/getCluster:getCluster"]
    (provider,) = dev.of_type("pulumi:providers:kubernetes")
    kubeconfig = json.loads(provider.inputs["kubeconfig"])
    assert kubeconfig["users"][0]["user"]["exec"]["command"] == "gke-gcloud-auth-plugin"
    assert kubeconfig["clusters"][0]["cluster"]["server"] == "https://198.51.100.1"
    assert kubeconfig["clusters"][0]["cluster"]["certificate-authority-data"] == "Q0EtREFUQQ=="


def test_dev_exports(dev: ProgramRun) -> None:
    assert dev.outputs == {
        "ingressIp": STATIC_IP,
        "ingressService": "traefik/traefik",
        "issuer": "letsencrypt-staging",
        "urls": {
            "www.dev.example.com": "https://www.dev.example.com/",
            "dev.example.com": "https://dev.example.com/",
            "blog.dev.example.com": "https://blog.dev.example.com/",
        },
    }
    assert not dev.of_type(RECORD)  # no multisite:dns in dev


def test_prod_uses_production_certificates_and_waits_for_them(prod: ProgramRun) -> None:
    assert prod.outputs["issuer"] == "letsencrypt-prod"
    for certificate in prod.of_type(CERTIFICATE):
        assert certificate.prop("spec", "issuerRef", "name") == "letsencrypt-prod"
        assert certificate.prop("metadata", "annotations") == {
            "pulumi.com/waitFor": "condition=Ready",
            "pulumi.com/timeoutSeconds": "300",
        }


def test_prod_protects_every_resource(prod: ProgramRun) -> None:
    # An accidental `pulumi destroy` of a production stack must delete nothing.
    unprotected = [f"{r.type} {r.name}" for r in prod.resources if not r.protect]
    assert unprotected == []
    kinds = {r.type for r in prod.resources}
    assert {"pulumi:providers:kubernetes", INGRESS, CERTIFICATE, ISSUER, RELEASE, ADDRESS, RECORD} <= kinds


def test_dev_protects_only_the_address(dev: ProgramRun) -> None:
    # `pulumi destroy` on dev removes everything it created but the reserved address.
    assert [r.type for r in dev.resources if r.protect] == [ADDRESS]


def test_one_production_site_protects_the_whole_stack() -> None:
    config = stack_config("dev")
    sites = [{**config["multisite:sites"][0], "issuer": "prod"}, *config["multisite:sites"][1:]]
    run = run_program({**config, "multisite:sites": sites})
    assert all(r.protect for r in run.resources)


def test_prod_runs_two_controllers(prod: ProgramRun) -> None:
    values = prod.named("edge-release").inputs["values"]
    assert values["deployment"]["replicas"] == 2
    assert values["podDisruptionBudget"] == {"enabled": True, "minAvailable": 1}


def test_prod_points_an_a_record_at_the_ip_for_every_name(prod: ProgramRun) -> None:
    records = {r.inputs["name"]: r for r in prod.of_type(RECORD)}
    assert set(records) == {"www.example.com.", "example.com.", "blog.example.com."}
    for record_set in records.values():
        assert record_set.inputs["type"] == "A"
        assert record_set.inputs["rrdatas"] == [STATIC_IP]
        assert record_set.inputs["managedZone"] == "example-com"
        assert record_set.inputs["ttl"] == 300


def test_writeup_example_builds_what_the_writeup_built_by_hand() -> None:
    with open(ROOT / "examples" / "Pulumi.writeup.yaml") as f:
        config = yaml.safe_load(f)["config"]
    run = run_program(config, stack="writeup")
    (certificate,) = run.of_type(CERTIFICATE)
    assert certificate.inputs["metadata"]["name"] == "some-dummy-url-com"
    assert certificate.inputs["metadata"]["namespace"] == "default"
    assert certificate.prop("spec", "dnsNames") == ["some.dummy-url.com"]
    assert certificate.prop("spec", "issuerRef", "name") == "letsencrypt-staging"
    (ingress,) = run.of_type(INGRESS)
    assert ingress.prop("metadata", "annotations") == {"nginx.ingress.kubernetes.io/ssl-redirect": "true"}
    assert ingress.prop("spec", "tls") == [
        {"hosts": ["some.dummy-url.com"], "secretName": "some-dummy-url-com-tls"}
    ]
    assert ingress.prop("spec", "rules", 0, "host") == "some.dummy-url.com"
    assert ingress.prop("spec", "rules", 0, "http", "paths", 0, "backend") == {
        "service": {"name": "some-my-service", "port": {"number": 80}}
    }
    assert not run.of_type(DEPLOYMENT) and not run.of_type(SERVICE)
    assert sorted(i.inputs["spec"]["acme"]["email"] for i in run.of_type(ISSUER)) == ["your@address.com"] * 2
    (provider,) = run.of_type("pulumi:providers:kubernetes")
    assert "kubeconfig" not in provider.inputs  # the ambient kubeconfig, as kubectl used


def test_local_stack_creates_nothing_in_gcp_and_skips_awaits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lay_out_local_stack(tmp_path)
    monkeypatch.chdir(tmp_path)
    run = run_program(stack_config("local"), stack="local")
    assert not [r for r in run.resources if r.type.startswith("gcp:")]
    assert run.calls == []
    assert run.outputs["ingressIp"] is None  # staticIp.enabled false: no address of ours
    # The sandbox runs Traefik (ingress-nginx's controller cannot run there).
    assert run.named("edge-release").inputs["chart"] == str(tmp_path / ".sandbox" / "charts" / "traefik")
    assert run.named("cert-manager-release").inputs["chart"] == str(
        tmp_path / ".sandbox" / "charts" / "cert-manager"
    )
    assert "repositoryOpts" not in run.named("cert-manager-release").inputs
    assert run.named("cert-manager-release").inputs["skipAwait"] is True
    # The chart of the cert-manager the sandbox builds and runs (engine/versions.env).
    versions = dict(
        line.split("=", 1)
        for line in (ROOT / "engine" / "versions.env").read_text().splitlines()
        if "=" in line
    )
    assert run.named("cert-manager-release").inputs["version"] == "v" + versions["CERT_MANAGER_VERSION"]
    for ingress in run.of_type(INGRESS):
        assert ingress.prop("metadata", "annotations", "pulumi.com/skipAwait") == "true"


def test_ephemeral_ip_reserves_nothing_and_exports_none() -> None:
    run = run_program({"multisite:acme": {"issuer": "staging"}, "multisite:staticIp": {"enabled": False}})
    assert not run.of_type(ADDRESS)
    assert "loadBalancerIP" not in run.named("edge-release").inputs["values"]["controller"]["service"]
    assert run.outputs["ingressIp"] is None


def test_adding_a_site_changes_nothing_else() -> None:
    base: dict[str, Any] = stack_config("dev")
    more = {
        **base,
        "multisite:sites": [*base["multisite:sites"], {"host": "new.example.com", "service": "new"}],
    }
    before = {r.urn: r.inputs for r in run_program(base).resources}
    after = {r.urn: r.inputs for r in run_program(more).resources}
    added = set(after) - set(before)
    assert set(before) <= set(after)
    assert all("new.example.com" in urn for urn in added) and len(added) == 3  # Site, Certificate, Ingress
    assert {urn: after[urn] for urn in before} == before


def test_resource_names_are_stable_across_runs(dev: ProgramRun) -> None:
    again = run_program(stack_config("dev"))
    # Registration order varies with the event loop; the set of URNs and inputs must not.
    assert {r.urn: r.inputs for r in again.resources} == {r.urn: r.inputs for r in dev.resources}
    assert len(again.resources) == len(dev.resources)


def test_preview_with_unknown_ip_registers_the_same_graph() -> None:
    run = run_program(stack_config("dev"), preview=True)
    assert {(r.type, r.name) for r in run.resources} == {
        (r.type, r.name) for r in run_program(stack_config("dev")).resources
    }


def test_bad_config_registers_nothing() -> None:
    run = run_program(
        {**stack_config("dev"), "multisite:sites": [{"host": "Bad.example.com", "service": "x"}]},
        expect_error=True,
    )
    assert isinstance(run.error, ConfigError)
    assert "multisite:sites[0].host = 'Bad.example.com'" in str(run.error)
    assert run.resources == []


def test_unknown_top_level_key_is_reported_from_the_stack() -> None:
    run = run_program({**stack_config("dev"), "multisite:site": []}, expect_error=True)
    assert isinstance(run.error, ConfigError)
    assert "multisite:site: unknown key (did you mean multisite:sites?)" in str(run.error)


def test_a_urn_registered_twice_is_an_error_under_mocks_too() -> None:
    # The real engine stops an update half-way on a duplicate URN; the recording monitor does the same.
    def twice() -> None:
        k8s.core.v1.Namespace("same", metadata={"name": "a"})
        k8s.core.v1.Namespace("same", metadata={"name": "b"})

    run = record(twice)
    assert isinstance(run.error, DuplicateUrnError)


def test_hosts_whose_record_names_could_repeat_register_unique_urns() -> None:
    # a.com + alias c.com-dns-d.com, and a.com-dns-c.com + alias d.com: `<site>-dns-<host>`
    # would name both records `a.com-dns-c.com-dns-d.com`.
    config = {
        **stack_config("prod"),
        "multisite:sites": [
            {"host": "a.com", "aliases": ["c.com-dns-d.com"], "service": "web"},
            {"host": "a.com-dns-c.com", "aliases": ["d.com"], "service": "web"},
        ],
    }
    run = run_program(config, stack="prod", zones={"example-com": "com."})
    records = sorted(r.inputs["name"] for r in run.of_type(RECORD))
    assert records == ["a.com-dns-c.com.", "a.com.", "c.com-dns-d.com.", "d.com."]
    assert len({r.urn for r in run.resources}) == len(run.resources)


@pytest.mark.parametrize(
    "raw",
    [
        {"multisite:acme": {"issuer": "prod "}},
        {"multisite:acme": {"issuer": "prod", "waitForCertificates": 1}},
        {"multisite:acme": {"issuer": "prod"}, "multisite:staticIp": {"address": "10.0.0.1"}},
        {"multisite:acme": {"issuer": "prod"}, "multisite:acme.email": "ops@example.com"},
        {
            "multisite:acme": {"issuer": "prod"},
            "multisite:sites": [{"host": "1.example.com", "service": "1web"}],
        },
        {"multisite:acme": {"issuer": "prod"}, "gcp:region": "europe-west1-b"},
        # Issue 23: a chart value that would undo an invariant.
        {
            "multisite:acme": {"issuer": "prod"},
            "multisite:edge": "traefik",
            "multisite:traefik": {"values": {"providers": {"kubernetesIngressNGINX": {"ingressClass": "x"}}}},
        },
    ],
)
def test_every_rejection_is_a_run_error_that_registers_nothing(raw: dict[str, Any]) -> None:
    run = run_program({"gcp:region": "europe-west1", **raw}, expect_error=True)
    assert isinstance(run.error, pulumi.RunError) and isinstance(run.error, ConfigError)
    assert run.resources == []
    assert str(run.error).startswith("invalid stack configuration")


def test_a_plain_string_where_an_object_belongs_is_a_config_error() -> None:
    # `pulumi config set multisite:acme prod` stores a string that is not JSON.
    run = run_program({"multisite:acme": "prod"}, expect_error=True)
    assert isinstance(run.error, ConfigError)
    assert "multisite:acme = 'prod': expected an object" in str(run.error)
    assert "pulumi config set --path 'multisite:acme.<key>' VALUE" in str(run.error)


def test_an_image_site_whose_host_starts_with_a_digit_gets_a_routable_service() -> None:
    config = {**stack_config("dev"), "multisite:sites": [{"host": "1.example.com", "image": "nginx:1.29"}]}
    run = run_program(config)
    (service,) = run.of_type(SERVICE)
    (ingress,) = run.of_type(INGRESS)
    assert service.prop("metadata", "name") == "web-1-example-com"
    assert (
        ingress.prop("spec", "rules", 0, "http", "paths", 0, "backend", "service", "name")
        == "web-1-example-com"
    )


def test_hosts_outside_the_dns_zone_are_refused_at_preview_in_one_message() -> None:
    """Issue 23: with multisite:dns, every host and alias lies under the zone's DNS name, which
    the program looks up in Cloud DNS before registering anything (Cloud DNS would refuse the
    records at `up`). `notexample.com` ends in the zone's letters but is not under it."""
    config = {
        **stack_config("prod"),
        "multisite:sites": [
            {"host": "www.example.com", "aliases": ["example.com", "notexample.com"], "service": "web"},
            {"host": "blog.example.org", "service": "blog"},
        ],
    }
    run = run_program(config, stack="prod", expect_error=True)
    assert isinstance(run.error, ConfigError)
    assert run.error.problems == [
        "multisite:dns.zone: expected every name of every site (host, aliases, redirects) under the"
        " zone's DNS name 'example.com.'"
        " (Cloud DNS keeps only records inside it); outside it: multisite:sites[0].aliases[1] ="
        " 'notexample.com', multisite:sites[1].host = 'blog.example.org'"
    ]
    assert run.resources == []


def test_the_zone_is_looked_up_in_its_own_project_and_the_apex_lies_in_it() -> None:
    config = {**stack_config("prod"), "multisite:dns": {"zone": "shop-zone", "project": "dns-project"}}
    config["multisite:sites"] = [
        {"host": "shop.example.net", "aliases": ["www.shop.example.net"], "service": "web"}
    ]
    run = run_program(config, stack="prod", zones={"shop-zone": "shop.example.net."})
    assert run.error is None
    (lookup,) = [a for t, a in zip(run.calls, run.call_args, strict=True) if t.startswith("gcp:dns/")]
    assert (lookup["name"], lookup["project"]) == ("shop-zone", "dns-project")
    assert sorted(r.inputs["name"] for r in run.of_type(RECORD)) == [
        "shop.example.net.",
        "www.shop.example.net.",
    ]


def test_the_zone_is_looked_up_in_the_stacks_gcp_project_by_default() -> None:
    run = run_program(stack_config("prod"), stack="prod")
    (lookup,) = [a for t, a in zip(run.calls, run.call_args, strict=True) if t.startswith("gcp:dns/")]
    assert (lookup["name"], lookup["project"]) == ("example-com", "example-project")


def test_a_zone_that_does_not_exist_stops_the_program_before_any_resource() -> None:
    run = run_program(stack_config("prod"), stack="prod", zones={}, expect_error=True)
    assert run.error is not None and "example-com" in str(run.error)
    assert run.resources == []
