"""The real upstream charts, rendered with exactly the values the program passes.

The charts come from ../shared/upstream/charts and, for cert-manager, from
its Go module as scripts/engine packages it (never copied into the
repository); Helm from scripts/engine. Every rendered object must validate
against the Kubernetes schema, and every value the program sets must change
what the chart renders: a key the chart ignores would be a setting that
silently does nothing.
"""

from __future__ import annotations

import copy
import tarfile
from collections.abc import Iterator
from typing import Any

import kubernetes_validate
import pytest
import yaml

from components.cert_manager import CHART_VERSION as CERT_MANAGER_CHART_VERSION
from components.cert_manager import cert_manager_values
from components.edge.controller import HstsConfig
from components.edge.ingress_nginx import INGRESS_NGINX, ingress_nginx_values
from components.edge.traefik import TRAEFIK, traefik_values
from components.gateway_api import traefik_gateway_values
from components.helm_chart import merge_values
from tools.helm import RenderError, manifests, render_text, upstream_chart

pytestmark = pytest.mark.engine

KUBERNETES_VERSION = "1.35.0"
ADDRESS = "34.120.10.20"
CHARTS: dict[str, tuple[str, str, str, dict[str, Any]]] = {
    # name: (archive version, release, namespace, values the program passes)
    "ingress-nginx": (
        INGRESS_NGINX.version,
        "ingress-nginx",
        "ingress-nginx",
        ingress_nginx_values(replicas=2, load_balancer_ip=ADDRESS),
    ),
    "cert-manager": (CERT_MANAGER_CHART_VERSION, "cert-manager", "cert-manager", cert_manager_values()),
    "traefik": (
        TRAEFIK.version,
        "traefik",
        "traefik",
        traefik_values(replicas=2, load_balancer_ip=ADDRESS),
    ),
}
# The program installs Traefik without its chart's CRDs (Edge: skip_crds).
WITH_CRDS = {"ingress-nginx": True, "cert-manager": True, "traefik": TRAEFIK.install_crds}


def rendered_text(helm: str, chart: str, values: dict[str, Any]) -> str:
    version, release, namespace, _ = CHARTS[chart]
    return render_text(
        helm,
        upstream_chart(chart, version),
        values,
        release=release,
        namespace=namespace,
        include_crds=WITH_CRDS[chart],
    )


def rendered(helm: str, chart: str, values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The chart's objects, with the program's values unless `values` are given."""
    return manifests(rendered_text(helm, chart, CHARTS[chart][3] if values is None else values))


@pytest.fixture(scope="module")
def helm(engine: dict[str, str]) -> str:
    return engine["MULTISITE_HELM"]


def leaves(values: dict[str, Any], path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for key, value in values.items():
        if isinstance(value, dict) and value:
            yield from leaves(value, (*path, key))
        else:
            yield (*path, key)


def changed(value: Any) -> Any:
    """Another value of the same type, so a chart that reads the key renders differently."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, str):
        return value + "1" if not value.endswith(("Mi", "m")) else "7" + value
    if isinstance(value, list):
        return [*value, copy.deepcopy(value[-1])] if value else ["x"]
    return {"changed": True}


def with_leaf(values: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(values)
    node = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out


def objects_by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o.get("kind") == kind]


@pytest.mark.parametrize("chart", sorted(CHARTS))
def test_every_rendered_object_validates(helm: str, chart: str) -> None:
    objects = rendered(helm, chart)
    crd_kinds = {c["spec"]["names"]["kind"] for c in objects_by_kind(objects, "CustomResourceDefinition")}
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            assert obj["kind"] in crd_kinds, f"{obj['kind']} is neither Kubernetes' nor the chart's own"


@pytest.mark.parametrize("chart", sorted(CHARTS))
def test_every_value_the_program_sets_is_read_by_the_chart(helm: str, chart: str) -> None:
    # Text, not parsed objects: a value the chart reads but another value
    # overrides (a duplicate ConfigMap key) still changes what it prints.
    values = CHARTS[chart][3]
    baseline = rendered_text(helm, chart, values)
    ignored = []
    for path in leaves(values):
        node: Any = values
        for key in path:
            node = node[key]
        try:
            again = rendered_text(helm, chart, with_leaf(values, path, changed(node)))
        except RenderError:
            continue  # the chart read the value (and refused the changed one)
        if again == baseline:
            ignored.append(".".join(path))
    assert ignored == [], f"{chart} ignores these values the program sets: {ignored}"


def test_the_check_above_finds_an_ignored_key(helm: str) -> None:
    values = CHARTS["ingress-nginx"][3]
    typo = {**values, "controller": {**values["controller"], "replicaCout": 3}}
    assert rendered_text(helm, "ingress-nginx", typo) == rendered_text(helm, "ingress-nginx", values)


def test_ingress_nginx_service_is_bound_to_the_address(helm: str) -> None:
    objects = rendered(helm, "ingress-nginx")
    (service,) = [s for s in objects_by_kind(objects, "Service") if s["spec"].get("type") == "LoadBalancer"]
    assert service["metadata"]["name"] == "ingress-nginx-controller"
    assert service["spec"]["loadBalancerIP"] == ADDRESS
    assert service["spec"]["externalTrafficPolicy"] == "Local"
    (ingress_class,) = objects_by_kind(objects, "IngressClass")
    assert ingress_class["metadata"]["name"] == "nginx"
    assert ingress_class["spec"]["controller"] == "k8s.io/ingress-nginx"
    assert "ingressclass.kubernetes.io/is-default-class" not in ingress_class["metadata"].get(
        "annotations", {}
    )
    (pdb,) = objects_by_kind(objects, "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1


def test_ingress_nginx_controller_is_hardened(helm: str) -> None:
    objects = rendered(helm, "ingress-nginx")
    config = next(
        c
        for c in objects_by_kind(objects, "ConfigMap")
        if c["metadata"]["name"] == "ingress-nginx-controller"
    )
    assert config["data"]["allow-snippet-annotations"] == "false"
    assert config["data"]["annotations-risk-level"] == "Medium"
    assert config["data"]["strict-validate-path-type"] == "true"
    assert config["data"]["server-tokens"] == "false"
    webhooks = objects_by_kind(objects, "ValidatingWebhookConfiguration")
    assert [w["metadata"]["name"] for w in webhooks] == ["ingress-nginx-admission"]


def test_cert_manager_keeps_its_crds_and_turns_the_exact_path_gate_off(helm: str) -> None:
    objects = rendered(helm, "cert-manager")
    crds = {c["metadata"]["name"]: c for c in objects_by_kind(objects, "CustomResourceDefinition")}
    for name in ("certificates.cert-manager.io", "clusterissuers.cert-manager.io"):
        assert crds[name]["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    controller = next(
        d for d in objects_by_kind(objects, "Deployment") if d["metadata"]["name"] == "cert-manager"
    )
    args = controller["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--feature-gates=ACMEHTTP01IngressPathTypeExact=false" in args
    jobs = objects_by_kind(objects, "Job")
    assert [j["metadata"]["name"] for j in jobs] == ["cert-manager-startupapicheck"]
    assert "post-install" in jobs[0]["metadata"]["annotations"]["helm.sh/hook"]


def test_the_rendered_cert_manager_chart_is_the_pinned_release(helm: str, engine: dict[str, str]) -> None:
    # The chart scripts/engine packs from the module of the binaries is stamped with the stack's pin.
    assert engine["MULTISITE_CERT_MANAGER_CHART"].endswith(f"/cert-manager-{CERT_MANAGER_CHART_VERSION}.tgz")
    with tarfile.open(engine["MULTISITE_CERT_MANAGER_CHART"]) as archive:
        chart = yaml.safe_load(archive.extractfile("cert-manager/Chart.yaml").read())  # type: ignore[union-attr]
    assert (chart["version"], chart["appVersion"]) == (CERT_MANAGER_CHART_VERSION, CERT_MANAGER_CHART_VERSION)
    images = {
        c["image"]
        for o in rendered(helm, "cert-manager")
        if o["kind"] in ("Deployment", "Job")
        for c in o["spec"]["template"]["spec"]["containers"]
    }
    assert images == {
        f"quay.io/jetstack/cert-manager-{name}:{CERT_MANAGER_CHART_VERSION}"
        for name in ("controller", "webhook", "cainjector", "startupapicheck")
    }


def test_traefik_service_is_bound_to_the_address(helm: str) -> None:
    objects = rendered(helm, "traefik")
    (service,) = objects_by_kind(objects, "Service")
    assert service["metadata"]["name"] == TRAEFIK.service
    assert service["spec"]["type"] == "LoadBalancer"
    assert service["spec"]["loadBalancerIP"] == ADDRESS
    assert service["spec"]["externalTrafficPolicy"] == "Local"
    # Only HTTP and HTTPS reach the outside; no dashboard, API or metrics port.
    assert sorted(p["port"] for p in service["spec"]["ports"]) == [80, 443]
    (pdb,) = objects_by_kind(objects, "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1


def test_traefik_serves_the_nginx_class_through_its_compatible_provider_only(helm: str) -> None:
    objects = rendered(helm, "traefik")
    classes = [
        (c["metadata"]["name"], c["spec"]["controller"]) for c in objects_by_kind(objects, "IngressClass")
    ]
    assert classes == [("nginx", "k8s.io/ingress-nginx")]  # and no default class of Traefik's own
    (deployment,) = objects_by_kind(objects, "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    args = container["args"]
    assert "--providers.kubernetesingressnginx" in args
    assert "--providers.kubernetesingressnginx.ingressClass=nginx" in args
    assert "--providers.kubernetesingressnginx.controllerClass=k8s.io/ingress-nginx" in args
    assert not [
        a for a in args if a.startswith(("--providers.kubernetesingress=", "--providers.kubernetescrd"))
    ]
    assert "--providers.kubernetesingress" not in args
    assert "--api.dashboard=false" in args
    assert not [a for a in args if a.startswith("--api.insecure")]
    assert "--accesslog=true" in args
    assert "--global.checkNewVersion=false" in args
    assert container["image"] == "docker.io/traefik:v3.7.11"
    assert objects_by_kind(objects, "CustomResourceDefinition") == []


def test_traefik_sends_hsts_on_its_https_entry_point_from_a_file_provider_middleware(helm: str) -> None:
    """Issue 24: HSTS back on the Traefik edge, on HTTPS only (RFC 6797 8.1: browsers ignore it
    over plain HTTP), as the stack's `hsts` section says (default: a year)."""
    objects = rendered(helm, "traefik")
    (deployment,) = objects_by_kind(objects, "Deployment")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--entryPoints.websecure.http.middlewares=hsts@file" in args
    assert not [a for a in args if a.startswith("--entryPoints.web.http.middlewares")]
    assert "--providers.file.directory=/etc/traefik/dynamic" in args
    (config_map,) = [
        c for c in objects_by_kind(objects, "ConfigMap") if c["metadata"]["name"].endswith("file-provider")
    ]
    dynamic = yaml.safe_load(config_map["data"]["config.yml"])
    assert dynamic == {
        "http": {
            "middlewares": {
                "hsts": {
                    "headers": {"customResponseHeaders": {"Strict-Transport-Security": "max-age=31536000"}}
                }
            }
        }
    }


def test_traefik_without_hsts_renders_no_file_provider(helm: str) -> None:
    values = traefik_values(replicas=2, load_balancer_ip=ADDRESS, hsts=HstsConfig(enabled=False))
    objects = rendered(helm, "traefik", values)
    (deployment,) = objects_by_kind(objects, "Deployment")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert not [a for a in args if "middlewares" in a or a.startswith("--providers.file")]


def test_traefik_in_gateway_mode_renders_the_edge_gateway_beside_the_ingress_provider(helm: str) -> None:
    """Issue 24: the chart's Gateway provider, the `traefik` GatewayClass and the shared `edge`
    Gateway whose HTTP listener is on the `web` entry point (port 8000) and takes routes from
    every namespace (the sites' and cert-manager's challenge routes)."""
    values = merge_values(
        traefik_values(replicas=2, load_balancer_ip=ADDRESS), traefik_gateway_values("traefik")
    )
    objects = rendered(helm, "traefik", values)
    (deployment,) = objects_by_kind(objects, "Deployment")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--providers.kubernetesgateway" in args
    assert "--providers.kubernetesingressnginx" in args  # both: sites can move one at a time
    (gateway_class,) = objects_by_kind(objects, "GatewayClass")
    assert gateway_class["metadata"]["name"] == "traefik"
    assert gateway_class["spec"]["controllerName"] == "traefik.io/gateway-controller"
    (gateway,) = objects_by_kind(objects, "Gateway")
    assert (gateway["metadata"]["name"], gateway["metadata"]["namespace"]) == ("edge", "traefik")
    assert gateway["spec"]["gatewayClassName"] == "traefik"
    assert gateway["spec"]["listeners"] == [
        {"name": "web", "port": 8000, "protocol": "HTTP", "allowedRoutes": {"namespaces": {"from": "All"}}}
    ]
    rules = [r for c in objects_by_kind(objects, "ClusterRole") for r in c["rules"]]
    assert any("gateway.networking.k8s.io" in r.get("apiGroups", []) for r in rules)


def test_traefik_in_ingress_mode_renders_no_gateway(helm: str) -> None:
    objects = rendered(helm, "traefik")
    assert objects_by_kind(objects, "Gateway") == objects_by_kind(objects, "GatewayClass") == []
