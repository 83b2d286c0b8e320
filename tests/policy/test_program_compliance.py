"""The real program, run under Pulumi's mocks, passes every policy.

The policies are fed what the program registers for each checked-in stack
(tests/support.py records it), built into the same pulumi_policy argument
objects the analyzer builds, so a change in the program that a `pulumi
preview --policy-pack policy` would reject fails here first, offline.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import multisite_policies as mp
import pytest
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

# tests/support.py (shared with tests/unit) runs the program under mocks.
support: Any = importlib.import_module("support")

STACKS = sorted(p.name.split(".")[1] for p in ROOT.glob("Pulumi.*.yaml"))


def _options(protect: bool) -> PolicyResourceOptions:
    return PolicyResourceOptions(protect, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)


def violations(run: Any, policy_config: Mapping[str, Any] | None = None) -> list[str]:
    """Every violation the pack reports for one program run."""
    found: list[str] = []

    def reporter(policy: str) -> Callable[[str, str | None], None]:
        def report(msg: str, urn: str | None = None) -> None:
            found.append(f"{policy}: {msg}")

        return report

    stack_resources: list[PolicyResource] = []
    for r in run.resources:
        opts = _options(r.protect)
        for policy in mp.POLICIES:
            if isinstance(policy, ResourceValidationPolicy):
                args = ResourceValidationArgs(r.type, r.inputs, r.urn, r.name, opts, None)
                policy.validate(args, reporter(policy.name))
        stack_resources.append(PolicyResource(r.type, r.inputs, r.urn, r.name, opts, None, None, [], {}))
    for policy in mp.POLICIES:
        if isinstance(policy, StackValidationPolicy):
            args_s = StackValidationArgs(stack_resources, policy_config)
            policy.validate(args_s, reporter(policy.name))
    return found


def program_config(stack: str) -> dict[str, Any]:
    """The stack's config; the local stack's sandbox files (kubeconfig, chart
    directory) are not needed under mocks, so their defaults replace them."""
    config: dict[str, Any] = dict(support.stack_config(stack))
    cluster = config.get("multisite:cluster")
    if isinstance(cluster, dict) and "kubeconfig" in cluster:
        del config["multisite:cluster"]
    config.pop("multisite:charts", None)
    return config


def test_stacks_found() -> None:
    assert {"dev", "prod"} <= set(STACKS)


@pytest.mark.parametrize("stack", STACKS)
def test_checked_in_stack_passes_the_pack(stack: str) -> None:
    run = support.run_program(program_config(stack), stack=stack)
    assert run.of_type(mp.INGRESS), "the program registered no Ingress; nothing was checked"
    assert violations(run) == []


def test_dev_stack_on_production_issuer_is_refused() -> None:
    config = program_config("dev")
    config["multisite:acme"] = {**config["multisite:acme"], "issuer": "prod"}
    run = support.run_program(config, stack="dev")
    found = violations(run)
    assert found and all(v.startswith("production-issuer-per-stack:") for v in found)
    assert "non-production stack 'dev' uses the production issuer 'letsencrypt-prod'" in found[0]
    assert violations(run, {"allowProductionIssuer": True}) == []


def test_prod_stack_on_staging_issuer_is_refused() -> None:
    config = program_config("prod")
    config["multisite:acme"] = {**config["multisite:acme"], "issuer": "staging"}
    found = violations(support.run_program(config, stack="prod"))
    assert found and all("production stack 'prod' uses issuer 'letsencrypt-staging'" in v for v in found)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_a_stack_in_gateway_mode_passes_the_pack(stack: str) -> None:
    config = program_config(stack)
    config["multisite:traefik"] = {**config["multisite:traefik"], "routes": "gateway"}
    run = support.run_program(config, stack=stack)
    assert run.of_type(mp.GATEWAY) and run.of_type(mp.HTTP_ROUTE), "nothing of Gateway API was checked"
    assert violations(run) == []


def test_a_route_to_a_gateway_the_stack_does_not_create_is_refused() -> None:
    config = program_config("dev")
    config["multisite:traefik"] = {**config["multisite:traefik"], "routes": "gateway"}
    run = support.run_program(config, stack="dev")
    route = next(r for r in run.resources if r.type == mp.HTTP_ROUTE)
    route.inputs["spec"]["parentRefs"] = [{"kind": "Gateway", "name": "someone-elses", "namespace": "infra"}]
    found = violations(run)
    assert found == [
        f"http-route-parents: HTTPRoute '{route.inputs['metadata']['name']}' attaches to Gateway"
        " 'infra/someone-elses', which this stack does not create. Attach it to its site's Gateway or to"
        " the edge's shared Gateway only."
    ]
