"""Every core Kubernetes object the program emits validates against the official schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from tests.support import ProgramRun, run_program, stack_config

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
    (tmp_path / ".sandbox").mkdir()
    (tmp_path / ".sandbox" / "kubeconfig").write_text("apiVersion: v1\n")
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
