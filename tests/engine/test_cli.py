"""Plain `pulumi` CLI on a copy of the project: the Python language host at work.

`tools/cli_project.py` copies the project into a temporary directory (its
virtualenv pointed at the repository's `.venv`, `Pulumi.local.yaml` aimed at
the sandbox) and runs the pinned CLI there, as a person at a terminal or the
CI workflows would: `pulumi stack init`, `up`, `preview` (with the policy pack,
with `--diff`) and `destroy`. The tests run in file order on one stack; the
module's teardown destroys it. Each CLI step's wall time is printed at the end.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import CERTIFICATE, INGRESS
from tools.cli_project import POLICY_DIR, CliProject, ok, policy_venv_hint
from tools.sandbox import Sandbox

pytestmark = pytest.mark.engine

SITE = "blog.example.org"
ALIAS = "www.blog.example.org"
POLICY = "helm-release-hardening"
POLICY_FIX = "remove values.providers.kubernetesIngressNGINX.allowSnippetAnnotations"


def show(request: pytest.FixtureRequest, text: str) -> None:
    """Print to the test log even when pytest captures output (pass or fail)."""
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if capture is None:
        print(text)
        return
    with capture.global_and_fixture_disabled():
        print(text)


@pytest.fixture(scope="module")
def project(
    cluster_sandbox: Sandbox,
    engine: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[CliProject]:
    cli = CliProject.create(
        tmp_path_factory.mktemp("cli") / "project",
        kubeconfig=cluster_sandbox.kubeconfig,
        acme=cluster_sandbox.acme_server,
        env=engine,
    )
    ok(cli.pulumi("stack", "init", "local", stack=False))
    try:
        yield cli
    finally:
        destroy = cli.pulumi("destroy", "--yes")
        lines = [f"  pulumi {' '.join(r.args):<44} {r.seconds:6.1f} s  exit {r.returncode}" for r in cli.runs]
        show(request, "\nplain pulumi CLI step wall times (project copy, local stack):\n" + "\n".join(lines))
        assert destroy.returncode == 0, destroy.describe()


@pytest.fixture
def policy_pack() -> str:
    hint = policy_venv_hint()
    if hint is not None:
        pytest.fail(hint, pytrace=False)
    return str(POLICY_DIR)


@pytest.fixture
def restore_config(project: CliProject) -> Iterator[dict[str, Any]]:
    """The stack config to change in a test; written back afterwards."""
    original = project.read_config()
    yield copy.deepcopy(original)
    project.write_config(original)


def changed_steps(preview_json: str) -> set[tuple[str, str]]:
    """(type, name) of every resource a `pulumi preview --json` would change."""
    steps = json.loads(preview_json)["steps"]
    changed = set()
    for step in steps:
        if step["op"] in ("same", "read"):
            continue
        urn = step["urn"]
        type_, name = urn.split("::")[-2:]
        changed.add((type_.split("$")[-1], name))
    return changed


def test_plain_up_then_preview_expects_no_changes(project: CliProject) -> None:
    up = ok(project.pulumi("up", "--yes"))
    assert "created" in up.output
    ok(project.pulumi("preview", "--expect-no-changes"))


def test_policy_pack_passes_on_the_compliant_stack(project: CliProject, policy_pack: str) -> None:
    run = ok(project.pulumi("preview", "--policy-pack", policy_pack))
    assert "multisite-policies@v0.1.0" in run.output, run.describe()
    assert POLICY not in run.output, run.describe()


def test_policy_violation_blocks_the_preview(
    project: CliProject, policy_pack: str, restore_config: dict[str, Any]
) -> None:
    config = restore_config
    snippets = {"providers": {"kubernetesIngressNGINX": {"allowSnippetAnnotations": True}}}
    config["multisite:traefik"] = {"values": snippets}
    project.write_config(config)
    run = project.pulumi("preview", "--policy-pack", policy_pack)
    assert run.returncode != 0, run.describe()
    assert f"[mandatory]  {POLICY}" in run.output, run.describe()
    assert POLICY_FIX in run.output, run.describe()


def test_diff_of_a_new_alias_shows_only_that_sites_certificate_and_ingress(
    project: CliProject, restore_config: dict[str, Any], request: pytest.FixtureRequest
) -> None:
    config = restore_config
    (site,) = [s for s in config["multisite:sites"] if s["host"] == SITE]
    site["aliases"] = [*site.get("aliases", []), ALIAS]
    project.write_config(config)

    diff = ok(project.pulumi("preview", "--diff"))
    show(request, f"\n--- pulumi preview --diff after adding alias {ALIAS} to {SITE} ---\n{diff.stdout}")
    assert diff.stdout.count(ALIAS) >= 2, (
        diff.describe()
    )  # the Certificate's dnsNames, the Ingress's rules/tls

    preview = ok(project.pulumi("preview", "--json"))
    changed = changed_steps(preview.stdout)
    assert {type_ for type_, _ in changed} == {CERTIFICATE, INGRESS}, changed
    assert all(name.startswith(SITE) for _, name in changed), changed
    assert len(changed) == 2, changed
