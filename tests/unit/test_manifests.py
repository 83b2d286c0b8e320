"""Every core Kubernetes object the program emits validates against the official schema."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from tests.support import ProgramRun, lay_out_local_stack, run_program, stack_config

# The Kubernetes minor version whose OpenAPI schema we validate against: the
# GKE regular channel's version at the time of the pins (see README).
KUBERNETES_VERSION = "1.34.0"
CORE_TYPES = {
    "kubernetes:networking.k8s.io/v1:Ingress",
    "kubernetes:apps/v1:Deployment",
    "kubernetes:core/v1:Service",
    "kubernetes:core/v1:Namespace",
}


def core_objects(run: ProgramRun) -> list[dict[str, Any]]:
    return [r.inputs for r in run.resources if r.type in CORE_TYPES]


def all_stacks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    lay_out_local_stack(tmp_path)
    objects = []
    for stack in ("dev", "prod"):
        objects += core_objects(run_program(stack_config(stack), stack=stack))
    monkeypatch.chdir(tmp_path)
    objects += core_objects(run_program(stack_config("local"), stack="local"))
    return objects


def test_core_objects_validate_strictly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    objects = all_stacks(tmp_path, monkeypatch)
    kinds = {o["kind"] for o in objects}
    assert kinds == {"Ingress", "Deployment", "Service", "Namespace"}
    for obj in objects:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_validation_rejects_a_broken_ingress() -> None:
    run = run_program(stack_config("dev"))
    ingress = next(o for o in core_objects(run) if o["kind"] == "Ingress")
    broken = {**ingress, "spec": {**ingress["spec"], "tls": [{"hosts": "not-a-list"}]}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)
    typo = {**ingress, "spec": {**ingress["spec"], "ingressClass": "nginx"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(typo, KUBERNETES_VERSION, strict=True)


# Kubernetes object-name rules (Kubernetes docs, "Object Names and IDs"; apimachinery validation).
DNS_1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS_1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
LONGEST_HOST = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 57, "com"])  # 253 characters


def name_problems(kind: str, name: str) -> list[str]:
    if kind == "Service":
        ok = len(name) <= 63 and DNS_1035_LABEL.match(name)
    elif kind == "Namespace":
        ok = len(name) <= 63 and DNS_1123_LABEL.match(name)
    else:
        ok = len(name) <= 253 and DNS_1123_SUBDOMAIN.match(name)
    return [] if ok else [f"{kind} {name!r}"]


def test_every_object_name_and_label_suits_its_kind() -> None:
    assert len(LONGEST_HOST) == 253
    config = {
        **stack_config("dev"),
        "multisite:sites": [
            {"host": "1.example.com", "image": "nginx:1.29"},
            {"host": LONGEST_HOST, "image": "nginx:1.29", "aliases": ["x.example.com"]},
            {"host": "9" * 63 + ".example.com", "image": "nginx:1.29"},
            {"host": "a.b-example.com", "service": "web", "namespace": "n" * 63},
        ],
    }
    run = run_program(config)
    problems: list[str] = []
    for r in run.resources:
        if not r.type.startswith("kubernetes:") or "metadata" not in r.inputs:
            continue
        kind = r.type.rsplit(":", 1)[-1]
        problems += name_problems(kind, r.prop("metadata", "name"))
        for value in r.inputs["metadata"].get("labels", {}).values():
            if len(value) > 63 or not LABEL_VALUE.match(value):
                problems.append(f"{kind} label value {value!r}")
        if kind == "Certificate":
            problems += name_problems("Secret", r.prop("spec", "secretName"))
    assert problems == []
    assert len(run.of_type("kubernetes:core/v1:Service")) == 3


def test_the_name_rules_reject_what_kubernetes_rejects() -> None:
    # The checks above are only as good as these rules.
    assert name_problems("Service", "1-example-com") and not name_problems("Deployment", "1-example-com")
    assert name_problems("Namespace", "a.b") and not name_problems("Ingress", "a.b")
    assert name_problems("Ingress", "a" * 254) and name_problems("Service", "a" * 64)
