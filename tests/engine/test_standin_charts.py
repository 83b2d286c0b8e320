"""Sanity checks of the stand-in charts in tests/fixtures/charts (no engine needed).

There is no helm binary here, so the templates are kept simple enough to check
as text: lines that are only a template action are dropped and inline
``{{ ... }}`` expressions replaced by a placeholder, and what remains must be
the YAML the chart renders. tests/engine/test_local_stack.py installs them
for real through helm.v3.Release.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

CHARTS = Path(__file__).resolve().parents[1] / "fixtures" / "charts"

ACTION_LINE = re.compile(r"^\s*\{\{-?.*-?\}\}\s*$")
INLINE = re.compile(r"\{\{-?.*?-?\}\}")


def render_plain(path: Path) -> dict[str, Any]:
    """The template's YAML with every template action removed."""
    lines = []
    for line in path.read_text().splitlines():
        if ACTION_LINE.match(line):
            continue
        lines.append(INLINE.sub("PLACEHOLDER", line))
    doc = yaml.safe_load("\n".join(lines))
    assert isinstance(doc, dict)
    return doc


def chart(name: str) -> dict[str, Any]:
    data = yaml.safe_load((CHARTS / name / "Chart.yaml").read_text())
    assert isinstance(data, dict)
    return data


def values(name: str) -> dict[str, Any]:
    data = yaml.safe_load((CHARTS / name / "values.yaml").read_text())
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize(
    ("name", "version", "app_version"),
    [("ingress-nginx", "4.15.1", "1.15.1"), ("cert-manager", "v1.21.2", "v1.21.2")],
)
def test_chart_identity_and_labelling(name: str, version: str, app_version: str) -> None:
    meta = chart(name)
    assert meta["apiVersion"] == "v2"
    assert meta["name"] == name
    assert str(meta["version"]) == version
    assert str(meta["appVersion"]) == app_version
    assert "STAND-IN" in meta["description"]
    assert "NOT the real" in meta["description"]
    # Accept any values: no schema.
    assert not (CHARTS / name / "values.schema.json").exists()


def test_readme_says_stand_in() -> None:
    text = (CHARTS / "README.md").read_text()
    assert "NOT the real" in text


def crd(name: str) -> dict[str, Any]:
    return render_plain(CHARTS / "cert-manager" / "templates" / f"crd-{name}.yaml")


def schema_at(root: dict[str, Any], *path: str) -> dict[str, Any]:
    node = root
    for part in path:
        node = node["items"] if part == "[]" else node["properties"][part]
    return node


def test_cert_manager_crds_are_conditional_and_keepable() -> None:
    for name in ("certificates", "clusterissuers"):
        text = (CHARTS / "cert-manager" / "templates" / f"crd-{name}.yaml").read_text()
        lines = [line for line in text.splitlines() if line.strip()]
        assert lines[0] == "{{- if or .Values.crds.enabled .Values.installCRDs }}"
        assert lines[-1] == "{{- end }}"
        assert "{{- if .Values.crds.keep }}\n    helm.sh/resource-policy: keep\n    {{- end }}" in text
    defaults = values("cert-manager")
    assert defaults["crds"] == {"enabled": False, "keep": True}
    assert defaults["installCRDs"] is False


def _common_crd_checks(doc: dict[str, Any], plural: str, kind: str, scope: str) -> dict[str, Any]:
    assert doc["apiVersion"] == "apiextensions.k8s.io/v1"
    assert doc["kind"] == "CustomResourceDefinition"
    assert doc["metadata"]["name"] == f"{plural}.cert-manager.io"
    spec = doc["spec"]
    assert spec["group"] == "cert-manager.io"
    assert spec["scope"] == scope
    assert spec["names"]["kind"] == kind
    assert spec["names"]["plural"] == plural
    (version,) = spec["versions"]
    assert version["name"] == "v1" and version["served"] and version["storage"]
    assert version["subresources"] == {"status": {}}
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    assert schema["type"] == "object"
    # Upstream uses preserve-unknown-fields only for DNS-01 webhook config,
    # which the stand-in leaves out.
    assert "x-kubernetes-preserve-unknown-fields" not in yaml.safe_dump(doc)
    return schema


def test_certificate_crd_covers_the_fields_we_set() -> None:
    schema = _common_crd_checks(crd("certificates"), "certificates", "Certificate", "Namespaced")
    spec = schema_at(schema, "spec")
    assert set(spec["required"]) == {"issuerRef", "secretName"}
    for field in ("secretName", "commonName", "duration", "renewBefore"):
        assert schema_at(spec, field)["type"] == "string"
    assert schema_at(spec, "dnsNames", "[]")["type"] == "string"
    issuer = schema_at(spec, "issuerRef")
    assert issuer["required"] == ["name"]
    assert set(issuer["properties"]) >= {"name", "kind", "group"}
    key = schema_at(spec, "privateKey")
    assert set(schema_at(key, "algorithm")["enum"]) == {"RSA", "ECDSA", "Ed25519"}
    assert schema_at(key, "size")["type"] == "integer"
    assert set(schema_at(key, "rotationPolicy")["enum"]) == {"Never", "Always"}
    template = schema_at(spec, "secretTemplate")
    assert set(template["properties"]) == {"annotations", "labels"}
    assert "conditions" in schema_at(schema, "status")["properties"]


def test_cluster_issuer_crd_covers_the_fields_we_set() -> None:
    schema = _common_crd_checks(crd("clusterissuers"), "clusterissuers", "ClusterIssuer", "Cluster")
    acme = schema_at(schema, "spec", "acme")
    assert set(acme["required"]) == {"privateKeySecretRef", "server"}
    for field in ("server", "email", "profile"):
        assert schema_at(acme, field)["type"] == "string"
    assert schema_at(acme, "privateKeySecretRef")["required"] == ["name"]
    ingress = schema_at(acme, "solvers", "[]", "http01", "ingress")
    assert set(ingress["properties"]) >= {"ingressClassName", "podTemplate", "ingressTemplate"}
    assert set(schema_at(ingress, "podTemplate")["properties"]) == {"metadata", "spec"}
    assert set(schema_at(ingress, "ingressTemplate", "metadata")["properties"]) == {
        "annotations",
        "labels",
    }
    assert "acme" in schema_at(schema, "status")["properties"]


@pytest.mark.parametrize("name", ["certificates", "clusterissuers"])
def test_crds_validate_against_kubernetes_schema(name: str) -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    doc = crd(name)
    # Placeholders stand where the release name/version go; make them valid.
    doc["metadata"]["labels"] = {k: "x" for k in doc["metadata"]["labels"]}
    kubernetes_validate.validate(doc, "1.33", strict=True)


def test_ingress_nginx_standin_creates_class_and_configmap_only() -> None:
    templates = CHARTS / "ingress-nginx" / "templates"
    kinds = {}
    for path in templates.glob("*.yaml"):
        doc = render_plain(path)
        kinds[doc["kind"]] = doc
    assert set(kinds) == {"IngressClass", "ConfigMap"}
    ingress_class = kinds["IngressClass"]
    assert ingress_class["apiVersion"] == "networking.k8s.io/v1"
    defaults = values("ingress-nginx")
    resource = defaults["controller"]["ingressClassResource"]
    assert resource["name"] == "nginx"
    assert resource["controllerValue"] == "k8s.io/ingress-nginx"
    assert defaults["controller"]["allowSnippetAnnotations"] is False
    configmap = (templates / "controller-configmap.yaml").read_text()
    assert "allow-snippet-annotations:" in configmap
    assert ".Values.controller.config" in configmap
    # Nothing that would wait for a controller.
    for path in templates.glob("*.yaml"):
        text = path.read_text()
        for kind in ("Deployment", "DaemonSet", "Service\n", "Job", "LoadBalancer"):
            assert f"kind: {kind}" not in text, f"{path.name} creates a {kind.strip()}"
