"""The edge: `multisite:edge` picks the controller; switching it touches only the edge."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pytest

from components.edge.traefik import traefik_values
from components.settings import ConfigError, load_settings
from tests.support import INGRESS, ISSUER, ProgramRun, Registered, run_program, stack_config

MINIMAL: dict[str, Any] = {"acme": {"issuer": "staging"}}


def problems(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(raw, stack="dev", gcp_region="europe-west1")
    return caught.value.problems


def dev_on(edge: str | None) -> dict[str, Any]:
    """Pulumi.dev.yaml on the given edge (None: the key left out), with no edge section."""
    config = {
        k: v for k, v in stack_config("dev").items() if k not in ("multisite:edge", "multisite:traefik")
    }
    if edge is not None:
        config["multisite:edge"] = edge
    return config


# --- configuration ----------------------------------------------------------------


def test_an_absent_edge_is_ingress_nginx_as_before() -> None:
    settings = load_settings(MINIMAL, stack="dev", gcp_region="europe-west1")
    assert settings.edge.key == "ingress-nginx"
    assert type(settings.edge_config) is settings.edge.config
    assert settings.edge_config.version == "4.15.1"


def test_traefik_edge_takes_its_own_section() -> None:
    raw = {**MINIMAL, "edge": "traefik", "traefik": {"replicas": 3}}
    settings = load_settings(raw, stack="dev", gcp_region="europe-west1")
    assert settings.edge.key == "traefik" and settings.edge.section == "traefik"
    assert settings.edge_config.replicas == 3
    assert settings.edge_config.version == "41.3.0"  # the chart pin of issue "a maintained edge"


# A list or an object (`multisite:edge` set as JSON) is refused like any other value, not a crash.
@pytest.mark.parametrize(
    "value", ["nginx", "Traefik", "traefik ", "gateway-api", 1, ["traefik"], {"name": "traefik"}]
)
def test_an_unknown_edge_is_refused(value: Any) -> None:
    (problem,) = problems({**MINIMAL, "edge": value})
    assert problem == f"multisite:edge = {value!r}: expected 'ingress-nginx' or 'traefik'"


@pytest.mark.parametrize(
    ("edge", "stale"), [("traefik", "ingressNginx"), ("ingress-nginx", "traefik"), (None, "traefik")]
)
def test_settings_for_the_edge_not_in_use_are_refused(edge: str | None, stale: str) -> None:
    raw: dict[str, Any] = {**MINIMAL, stale: {"replicas": 3}}
    if edge is not None:
        raw["edge"] = edge
    (problem,) = problems(raw)
    assert problem.startswith(f"multisite:{stale}: set, but multisite:edge is '{edge or 'ingress-nginx'}'")
    assert f"pulumi config rm multisite:{stale}" in problem


def test_a_local_chart_directory_serves_the_charts_in_use(tmp_path: Path) -> None:
    (tmp_path / "traefik-41.3.0.tgz").write_bytes(b"archive")
    (tmp_path / "cert-manager").mkdir()
    (tmp_path / "cert-manager" / "Chart.yaml").write_text("name: cert-manager\n")
    raw = {**MINIMAL, "edge": "traefik", "charts": str(tmp_path)}
    settings = load_settings(raw, stack="dev", gcp_region="europe-west1")
    assert settings.edge_config.chart == str(tmp_path / "traefik-41.3.0.tgz")
    assert settings.cert_manager.chart == str(tmp_path / "cert-manager")
    # A section's own `chart` wins over the directory; the other charts still come from it.
    raw["traefik"] = {"chart": "oci://mirror.example.com/traefik"}
    own = load_settings(raw, stack="dev", gcp_region="europe-west1")
    assert own.edge_config.chart == raw["traefik"]["chart"]
    assert own.cert_manager.chart == str(tmp_path / "cert-manager")


def test_a_local_chart_directory_must_hold_the_charts_in_use(tmp_path: Path) -> None:
    (tmp_path / "cm.tgz").write_bytes(b"archive")
    own = {"certManager": {"chart": str(tmp_path / "cm.tgz")}}
    (problem,) = problems({**MINIMAL, "charts": str(tmp_path)} | own)
    assert problem == (
        f"multisite:charts = {str(tmp_path)!r}: expected ingress-nginx-4.15.1.tgz or ingress-nginx/ in it"
        " (the chart of multisite:ingressNginx), or multisite:ingressNginx.chart"
    )
    (missing,) = problems({**MINIMAL, "charts": str(tmp_path / "nope")})
    assert missing.endswith("expected an existing directory of charts")


# --- Traefik's values -------------------------------------------------------------


def test_traefik_serves_the_nginx_class_with_its_compatible_provider_only() -> None:
    values = traefik_values(replicas=2, load_balancer_ip="34.120.10.20")
    providers = values["providers"]
    assert providers["kubernetesIngressNGINX"]["enabled"] is True
    assert providers["kubernetesIngressNGINX"]["ingressClass"] == "nginx"
    assert providers["kubernetesIngressNGINX"]["controllerClass"] == "k8s.io/ingress-nginx"
    assert providers["kubernetesIngress"] == {"enabled": False}
    assert providers["kubernetesCRD"] == {"enabled": False}
    # Ingresses report the load balancer's address, as ingress-nginx makes them do.
    assert providers["kubernetesIngressNGINX"]["publishService"] == {"enabled": True}
    # Traefik's own IngressClass is off; the release renders ingress-nginx's `nginx` class.
    assert values["ingressClass"] == {"enabled": False}
    assert values["extraObjects"] == [
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "IngressClass",
            "metadata": {"name": "nginx"},
            "spec": {"controller": "k8s.io/ingress-nginx"},
        }
    ]


def test_traefik_is_bound_to_the_static_ip_like_ingress_nginx() -> None:
    spec = traefik_values(replicas=2, load_balancer_ip="34.120.10.20")["service"]["spec"]
    assert spec == {
        "type": "LoadBalancer",
        "externalTrafficPolicy": "Local",
        "loadBalancerIP": "34.120.10.20",
    }
    assert "loadBalancerIP" not in traefik_values(replicas=2, load_balancer_ip=None)["service"]["spec"]


def test_traefik_is_hardened() -> None:
    values = traefik_values(replicas=2, load_balancer_ip=None)
    assert values["image"] == {"tag": "v3.7.11"}  # the chart's appVersion, pinned
    assert values["api"] == {"dashboard": False}
    assert "insecure" not in values["api"]
    assert values["accessLog"] == {"enabled": True, "format": "json"}  # docs/design.md: JSON access logs
    assert values["global"] == {"checkNewVersion": False, "sendAnonymousUsage": False}
    assert values["resources"]["requests"] == {"cpu": "100m", "memory": "90Mi"}


@pytest.mark.parametrize(("replicas", "budget"), [(1, False), (2, True), (5, True)])
def test_traefik_has_a_disruption_budget_when_a_second_replica_serves(replicas: int, budget: bool) -> None:
    values = traefik_values(replicas=replicas, load_balancer_ip=None)
    assert values["deployment"] == {"replicas": replicas}
    assert values["podDisruptionBudget"] == {"enabled": budget, "minAvailable": 1}


def test_traefik_overrides_merge_last() -> None:
    values = traefik_values(
        replicas=2,
        load_balancer_ip=None,
        overrides={"accessLog": {"format": "common"}, "deployment": {"replicas": 4}},
    )
    assert values["accessLog"] == {"enabled": True, "format": "common"}
    assert values["deployment"] == {"replicas": 4}


# --- the program on either edge ----------------------------------------------------


def edge_resources(run: ProgramRun) -> set[str]:
    """URNs of the Edge component and everything under it."""
    edge_urns = {r.urn for r in run.resources if r.type == "multisite:edge:Edge"}
    found = set(edge_urns)
    changed = True
    while changed:
        more = {r.urn for r in run.resources if r.parent in found} - found
        found |= more
        changed = bool(more)
    return found


def test_switching_edge_changes_only_the_edges_own_resources() -> None:
    nginx, traefik = run_program(dev_on(None)), run_program(dev_on("traefik"))
    by_urn: dict[str, dict[str, Registered]] = {
        "nginx": {r.urn: r for r in nginx.resources},
        "traefik": {r.urn: r for r in traefik.resources},
    }
    assert set(by_urn["nginx"]) == set(by_urn["traefik"])  # same names: a switch is a replacement
    edge = edge_resources(nginx)
    assert {by_urn["nginx"][u].name for u in edge} == {"edge", "edge-namespace", "edge-release"}
    for urn, resource in by_urn["nginx"].items():
        if urn not in edge:
            assert by_urn["traefik"][urn].inputs == resource.inputs, resource.name
    assert nginx.named("edge-release").inputs != traefik.named("edge-release").inputs
    assert traefik.outputs["ingressService"] == "traefik/traefik"
    assert nginx.outputs["ingressService"] == "ingress-nginx/ingress-nginx-controller"


def test_the_edge_release_is_deleted_before_its_replacement_is_installed() -> None:
    # Both releases render the `nginx` IngressClass, and a GKE address backs one
    # LoadBalancer Service at a time: the old release must be gone first.
    for edge in ("traefik", None):
        assert run_program(dev_on(edge)).named("edge-release").delete_before_replace is True
    # A control: the flag is read per resource, and cert-manager's release is replaced as usual.
    assert run_program(dev_on(None)).named("cert-manager-release").delete_before_replace is False


def test_only_traefik_skips_its_chart_crds() -> None:
    release = run_program(dev_on("traefik")).named("edge-release")
    assert release.inputs["skipCrds"] is True  # Traefik's CRDs serve providers we turn off
    assert "skipCrds" not in run_program(dev_on(None)).named("edge-release").inputs


@pytest.mark.parametrize("edge", [None, "traefik"])
def test_routes_and_the_http01_solver_use_the_edges_class(edge: str | None) -> None:
    run = run_program(dev_on(edge))
    for issuer in run.of_type(ISSUER):
        assert issuer.prop("spec", "acme", "solvers") == [
            {"http01": {"ingress": {"ingressClassName": "nginx"}}}
        ]
    for ingress in run.of_type(INGRESS):
        assert ingress.prop("spec", "ingressClassName") == "nginx"
        assert ingress.prop("metadata", "annotations", "nginx.ingress.kubernetes.io/ssl-redirect") == "true"


def test_existing_stacks_keep_their_ingress_nginx_resources() -> None:
    # Before the edge wing the component was `multisite:ingress_nginx:IngressNginx` "ingress-nginx";
    # the alias maps it (and its `ingress-nginx-*` children) onto the edge's names.
    (component,) = run_program(dev_on(None)).of_type("multisite:edge:Edge")
    assert ("ingress-nginx", "multisite:ingress_nginx:IngressNginx") in zip(
        component.alias_names, component.alias_types, strict=True
    )


def test_ingress_nginx_says_it_is_retired_on_every_preview(monkeypatch: pytest.MonkeyPatch) -> None:
    warnings: list[str] = []
    sources: list[object] = []

    def warn(msg: str, resource: object = None, **_: object) -> None:
        warnings.append(msg)
        sources.append(resource)

    monkeypatch.setattr(pulumi.log, "warn", warn)
    run_program(dev_on(None), preview=True)
    assert len(warnings) == 1
    # Attached to the edge, so `pulumi preview` shows it beside the resource it is about.
    assert [type(s).__name__ for s in sources] == ["Edge"]
    assert (
        "ingress-nginx is retired" in warnings[0]
        and "pulumi config set multisite:edge traefik" in warnings[0]
    )
    warnings.clear()
    run_program(dev_on("traefik"), preview=True)
    assert warnings == []
