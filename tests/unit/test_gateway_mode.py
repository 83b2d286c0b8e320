"""Issue 24: `multisite:traefik.routes: gateway`, the program's side (under Pulumi's mocks).

Expected shapes from the Gateway API v1 spec (gateway-api v1.6.1 `apis/v1`): a Gateway has
1-64 listeners, an HTTPRoute at most 16 hostnames; a RequestRedirect filter with scheme
`https` keeps the path; cert-manager's `gatewayHTTPRoute` solver takes `parentRefs` and a
`serviceType`; Traefik serves a listener on the entry point whose port it names (8000 `web`,
8443 `websecure`).
"""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from components.edge.traefik import traefik_values
from components.gateway_api import adopt_existing, bundle_problem, crd_files, traefik_gateway_values
from components.settings import ConfigError, load_settings
from tests.support import INGRESS, RECORD, RELEASE, run_program, stack_config

CUSTOM = "kubernetes:gateway.networking.k8s.io/v1:"
CRDS = "kubernetes:yaml/v2:ConfigGroup"
SITE = {
    "host": "www.example.com",
    "aliases": ["example.com"],
    "redirects": ["old.example.com"],
    "service": "web",
}


def gateway_stack(**traefik: Any) -> dict[str, Any]:
    config = {**stack_config("prod"), "multisite:edge": "traefik"}
    config["multisite:traefik"] = {"replicas": 2, "routes": "gateway", **traefik}
    config["multisite:sites"] = [SITE]
    return config


def test_a_site_is_a_gateway_with_a_listener_per_name_and_three_routes_and_no_ingress() -> None:
    run = run_program(gateway_stack(), stack="prod")
    assert run.of_type(INGRESS) == []
    (gateway,) = run.of_type(CUSTOM + "Gateway")
    assert gateway.prop("metadata", "name") == "www-example-com"
    assert gateway.prop("spec", "gatewayClassName") == "traefik"
    listeners = gateway.prop("spec", "listeners")
    assert listeners[0] == {
        "name": "https-0",
        "hostname": "www.example.com",
        "port": 8443,
        "protocol": "HTTPS",
        "tls": {"mode": "Terminate", "certificateRefs": [{"kind": "Secret", "name": "www-example-com-tls"}]},
        "allowedRoutes": {"namespaces": {"from": "Same"}},
    }
    assert [(li["hostname"], li["port"], li["protocol"]) for li in listeners] == [
        ("www.example.com", 8443, "HTTPS"),
        ("example.com", 8443, "HTTPS"),
        ("old.example.com", 8443, "HTTPS"),
    ]
    assert {li["tls"]["certificateRefs"][0]["name"] for li in listeners} == {"www-example-com-tls"}
    assert len({li["name"] for li in listeners}) == 3
    routes = {r.prop("metadata", "name"): r for r in run.of_type(CUSTOM + "HTTPRoute")}
    assert set(routes) == {"www-example-com", "www-example-com-http", "www-example-com-redirect"}
    app = routes["www-example-com"]
    assert app.prop("spec", "hostnames") == ["www.example.com", "example.com"]
    assert app.prop("spec", "parentRefs") == [
        {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "www-example-com"}
    ]
    assert app.prop("spec", "rules") == [{"backendRefs": [{"name": "web", "port": 80}]}]
    edge = {
        "group": "gateway.networking.k8s.io",
        "kind": "Gateway",
        "name": "edge",
        "namespace": "traefik",
        "sectionName": "web",
    }
    http = routes["www-example-com-http"]
    assert http.prop("spec", "parentRefs") == [edge]
    assert http.prop("spec", "rules") == [
        {"filters": [{"type": "RequestRedirect", "requestRedirect": {"scheme": "https", "statusCode": 308}}]}
    ]
    redirect = routes["www-example-com-redirect"]
    assert redirect.prop("spec", "hostnames") == ["old.example.com"]
    assert redirect.prop("spec", "parentRefs")[1] == edge  # over HTTP too, in one hop
    assert redirect.prop("spec", "rules")[0]["filters"][0]["requestRedirect"] == {
        "scheme": "https",
        "statusCode": 308,
        "hostname": "www.example.com",
    }


def test_the_crds_come_first_and_stay_and_cert_manager_solves_through_the_edge_gateway() -> None:
    run = run_program(gateway_stack(), stack="prod")
    (crds,) = run.of_type(CRDS)
    (component,) = [r for r in run.resources if r.type == "multisite:gateway_api:GatewayApiCrds"]
    assert (component.name, crds.parent) == ("gateway-api", component.urn)
    assert crds.inputs["files"] == [
        "https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.6.1/standard-install.yaml"
    ]
    assert crds.retain_on_delete
    for release in run.of_type(RELEASE):
        assert crds.urn in release.dependencies, release.name
    cert_manager = run.named("cert-manager-release")
    assert cert_manager.prop("values", "extraArgs") == ["--enable-gateway-api"]
    (issuer, *_) = run.of_type("kubernetes:cert-manager.io/v1:ClusterIssuer")
    assert issuer.prop("spec", "acme", "solvers") == [
        {
            "http01": {
                "gatewayHTTPRoute": {
                    "parentRefs": [
                        {
                            "group": "gateway.networking.k8s.io",
                            "kind": "Gateway",
                            "name": "edge",
                            "namespace": "traefik",
                            "sectionName": "web",
                        }
                    ],
                    "serviceType": "ClusterIP",
                }
            }
        }
    ]
    values = run.named("edge-release").prop("values")
    assert values["providers"]["kubernetesGateway"] == {"enabled": True}
    assert values["gateway"]["listeners"] == {
        "web": {"port": 8000, "protocol": "HTTP", "namespacePolicy": {"from": "All"}}
    }


def test_ingress_mode_has_no_crds_and_no_gateway_provider() -> None:
    config = gateway_stack()
    del config["multisite:traefik"]["routes"]
    run = run_program(config, stack="prod")
    assert run.of_type(CRDS) == [] and run.of_type(CUSTOM + "Gateway") == []
    assert "kubernetesGateway" not in run.named("edge-release").prop("values")["providers"]
    assert "extraArgs" not in run.named("cert-manager-release").prop("values")


@pytest.mark.parametrize(
    ("source", "files"),
    [
        ("/srv/gateway-api/standard", ["/srv/gateway-api/standard/*.yaml"]),
        ("/srv/gateway-api/standard/", ["/srv/gateway-api/standard/*.yaml"]),
        ("crds/standard-install.yaml", ["crds/standard-install.yaml"]),
        (
            "https://mirror.example.com/standard-install.yaml",
            ["https://mirror.example.com/standard-install.yaml"],
        ),
        ("https://mirror.example.com/gateway-api/crds", ["https://mirror.example.com/gateway-api/crds"]),
        ("crds/standard-install.yml", ["crds/standard-install.yml"]),
        ("/srv/gateway-api/X/", ["/srv/gateway-api/X/*.yaml"]),
    ],
)
def test_the_crds_come_from_a_url_a_file_or_a_directory(source: str, files: list[str]) -> None:
    assert crd_files(source) == files


def test_a_users_extra_args_come_after_the_gateway_flag() -> None:
    from components.cert_manager import cert_manager_values

    merged = cert_manager_values({"extraArgs": ["--v=2"]}, gateway_api=True)
    assert merged["extraArgs"] == ["--enable-gateway-api", "--v=2"]


def test_cert_manager_extra_args_that_are_not_a_list_are_refused() -> None:
    # A null or a string would replace the list, and with it --enable-gateway-api.
    assert problems({"certManager": {"values": {"extraArgs": "--v=2"}}}) == [
        "multisite:certManager.values.extraArgs = '--v=2': expected a list of arguments, which the program"
        " adds after its own (`--enable-gateway-api` in Gateway mode)"
    ]


def test_the_gateway_chart_values_merge_beside_the_ingress_provider() -> None:
    values = traefik_values(replicas=1, load_balancer_ip=None)
    assert "kubernetesGateway" not in values["providers"]
    assert traefik_gateway_values("traefik") == {
        "providers": {"kubernetesGateway": {"enabled": True}},
        "gatewayClass": {"enabled": True, "name": "traefik"},
        "gateway": {
            "enabled": True,
            "name": "edge",
            "namespace": "traefik",
            "listeners": {"web": {"port": 8000, "protocol": "HTTP", "namespacePolicy": {"from": "All"}}},
        },
    }


def problems(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings({"acme": {"issuer": "staging"}, **raw}, stack="dev", gcp_region="europe-west1")
    return caught.value.problems


def test_a_site_with_more_names_than_a_gateway_has_listeners_is_refused() -> None:
    site = {"host": "www.example.com", "aliases": [f"a{i}.example.com" for i in range(64)], "service": "web"}
    assert problems({"edge": "traefik", "traefik": {"routes": "gateway"}, "sites": [site]}) == [
        "multisite:sites[0].host, multisite:sites[0].aliases, multisite:sites[0].redirects (65 names),"
        " multisite:traefik.routes = 'gateway': expected at most 64 names per site: its Gateway has an HTTPS"
        " listener per name, and a Gateway takes 64"
    ]
    site["aliases"] = site["aliases"][:63]
    load_settings(
        {"acme": {"issuer": "staging"}, "edge": "traefik", "traefik": {"routes": "gateway"}, "sites": [site]},
        stack="dev",
        gcp_region="europe-west1",
    )


def test_gateway_routes_need_the_traefik_edge_and_crds_need_gateway_routes() -> None:
    assert problems({"ingressNginx": {"routes": "gateway"}}) == [
        "multisite:ingressNginx.routes = 'gateway': expected 'ingress'"
    ]
    assert problems({"edge": "traefik", "traefik": {"gatewayCrds": "/srv/crds"}}) == [
        "multisite:traefik.gatewayCrds = '/srv/crds', multisite:traefik.routes (not set): expected"
        " 'gatewayCrds' only with 'routes: gateway'"
    ]


def test_more_than_16_names_take_more_than_one_route() -> None:
    site = {"host": "www.example.com", "aliases": [f"a{i}.example.com" for i in range(20)], "service": "web"}
    config = gateway_stack()
    config["multisite:sites"] = [site]
    run = run_program(config, stack="prod")
    routes = {
        r.prop("metadata", "name"): r.prop("spec", "hostnames") for r in run.of_type(CUSTOM + "HTTPRoute")
    }
    assert set(routes) == {
        "www-example-com",
        "www-example-com-1",
        "www-example-com-http",
        "www-example-com-http-1",
    }
    assert {r.name for r in run.of_type(CUSTOM + "HTTPRoute")} == {
        "www.example.com-route",
        "www.example.com-route-1",
        "www.example.com-http-route",
        "www.example.com-http-route-1",
    }
    assert len(routes["www-example-com"]) == 16 and len(routes["www-example-com-1"]) == 5
    assert routes["www-example-com"] + routes["www-example-com-1"] == ["www.example.com", *site["aliases"]]


def test_every_object_of_the_crd_bundle_is_applied_with_force_and_nothing_else_changes() -> None:
    """The CRDs outlive the stack's Gateway mode (retainOnDelete); coming back, another field
    manager owns them, and a plain server-side apply fails with a field conflict (seen in the
    sandbox e2e: the safe-upgrades ValidatingAdmissionPolicy's `.spec.matchConstraints`)."""
    opts = pulumi.ResourceOptions()
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "metadata": {"name": "gateways.gateway.networking.k8s.io"},
    }
    args = pulumi.ResourceTransformArgs(
        True, "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition", "x", crd, opts
    )
    result = adopt_existing(args)
    assert result is not None and result.opts is opts
    assert result.props["metadata"] == {
        "name": "gateways.gateway.networking.k8s.io",
        "annotations": {"pulumi.com/patchForce": "true"},
    }
    assert crd["metadata"] == {"name": "gateways.gateway.networking.k8s.io"}  # the input is left as it was
    kept = {"metadata": {"name": "p", "annotations": {"a": "b"}}}
    result = adopt_existing(pulumi.ResourceTransformArgs(True, "kubernetes:x/v1:Y", "y", kept, opts))
    assert result is not None
    assert result.props["metadata"] == {
        "name": "p",
        "annotations": {"a": "b", "pulumi.com/patchForce": "true"},
    }
    assert adopt_existing(pulumi.ResourceTransformArgs(False, "multisite:x:Y", "z", kept, opts)) is None
    assert adopt_existing(pulumi.ResourceTransformArgs(True, "kubernetes:x/v1:Y", "z", {}, opts)) is None


def test_a_sites_gateway_objects_live_in_its_namespace_are_named_after_it_and_skip_await_when_asked() -> None:
    config = gateway_stack()
    config["multisite:sites"] = [{**SITE, "namespace": "shop"}]
    config["multisite:cluster"] = {"kubeconfig": "apiVersion: v1\n", "skipAwait": True}
    run = run_program(config, stack="prod")
    objects = {r.name: r for r in run.resources if r.type.startswith(CUSTOM)}
    assert set(objects) == {
        "www.example.com-gateway",
        "www.example.com-route",
        "www.example.com-http-route",
        "www.example.com-redirect-route",
    }
    for resource in objects.values():
        assert resource.prop("metadata", "namespace") == "shop", resource.name
        assert resource.prop("metadata", "annotations") == {"pulumi.com/skipAwait": "true"}, resource.name
    components = {n: r.prop("metadata", "labels")["app.kubernetes.io/component"] for n, r in objects.items()}
    assert components == {
        "www.example.com-gateway": "gateway",
        "www.example.com-route": "route",
        "www.example.com-http-route": "http-route",
        "www.example.com-redirect-route": "redirect",
    }


@pytest.mark.parametrize("bundle", ["v1.5.0", "v1.6.1", "v1.7.0", "v2.0.0-rc.1"])
def test_the_clusters_own_crds_of_v1_5_or_newer_are_adopted_and_nothing_is_installed(bundle: str) -> None:
    """`gatewayCrds: cluster` (GKE's Gateway API manages them): the stack reads the Gateway CRD
    and installs none; the releases wait for that read."""
    run = run_program(gateway_stack(gatewayCrds="cluster"), stack="prod", gateway_bundle=bundle)
    assert run.error is None
    assert run.of_type(CRDS) == []
    (component,) = [r for r in run.resources if r.type == "multisite:gateway_api:ClusterGatewayApiCrds"]
    assert component.name == "gateway-api"
    assert run.component_outputs[component.urn] == {"bundleVersion": bundle}
    assert len(run.of_type(RELEASE)) == 2  # registered once the check passed
    assert run.of_type(CUSTOM + "Gateway")  # the sites are routed as usual


@pytest.mark.parametrize(("bundle", "shown"), [("v1.4.1", "v1.4.1"), ("v1.0.0", "v1.0.0"), (None, "(none)")])
def test_the_clusters_own_crds_older_than_v1_5_stop_the_up_with_the_reason(
    bundle: str | None, shown: str
) -> None:
    run = run_program(
        gateway_stack(gatewayCrds="cluster"), stack="prod", gateway_bundle=bundle, expect_error=True
    )
    assert run.error is not None
    assert (
        "multisite:traefik.gatewayCrds = 'cluster': expected the cluster's Gateway API CRDs at v1.5.0 or"
        " newer (Traefik's Gateway provider waits silently without TLSRoute v1, served from v1.5.0); the"
        " cluster's gateways.gateway.networking.k8s.io says gateway.networking.k8s.io/bundle-version:"
        f" {shown}. Upgrade"
        " the cluster's Gateway API, or turn it off and let the stack install v1.6.1 (remove gatewayCrds)"
    ) in str(run.error)
    assert not run.of_type(RELEASE)  # neither release is registered: their values wait for the check


@pytest.mark.parametrize(
    ("annotations", "fits"),
    [
        ({"gateway.networking.k8s.io/bundle-version": "v1.5.0"}, True),
        ({"gateway.networking.k8s.io/bundle-version": "v1.4.99"}, False),
        ({"gateway.networking.k8s.io/bundle-version": "1.6.1"}, True),
        ({"gateway.networking.k8s.io/bundle-version": "v1.6"}, False),  # not a version we can compare
        ({"gateway.networking.k8s.io/bundle-version": "latest"}, False),
        ({}, False),
        (None, False),
    ],
)
def test_which_bundles_fit(annotations: dict[str, str] | None, fits: bool) -> None:
    assert (bundle_problem(annotations) is None) == fits


def test_only_the_app_route_waits_for_the_backend_and_every_name_gets_its_dns_record() -> None:
    config = gateway_stack()
    config["multisite:sites"] = [{**SITE, "service": None, "image": "nginx:1.29"}]
    del config["multisite:sites"][0]["service"]
    run = run_program(config, stack="prod")

    def waits_for(name: str) -> set[str]:
        return {run.by_urn(u).name for u in run.named(name).dependencies}

    assert waits_for("www.example.com-route") == {
        "edge-release",
        "www.example.com-deployment",
        "www.example.com-service",
    }
    for name in ("www.example.com-gateway", "www.example.com-http-route", "www.example.com-redirect-route"):
        assert waits_for(name) == {"edge-release"}, name
    # multisite:dns (the prod stack's): an A record for every name, redirects included.
    assert sorted(r.inputs["name"] for r in run.of_type(RECORD)) == [
        "example.com.",
        "old.example.com.",
        "www.example.com.",
    ]
    for resource in run.resources:
        if resource.type.startswith(CUSTOM):
            assert resource.prop("metadata", "labels")["app.kubernetes.io/name"] == "www-example-com"
    assert run.named("edge-release").prop("values")["gateway"]["namespace"] == "traefik"


def test_gateway_crds_are_taken_with_gateway_routes() -> None:
    raw = {
        "acme": {"issuer": "staging"},
        "edge": "traefik",
        "traefik": {"routes": "gateway", "gatewayCrds": "/srv"},
    }
    assert load_settings(raw, stack="dev", gcp_region="europe-west1").edge_config.gateway_crds == "/srv"
