"""Checks on the GitHub Actions workflows, all offline.

* actionlint (built from the Go module proxy by scripts/actionlint) must
  accept every workflow, and must reject a broken one;
* check-jsonschema's bundled ``vendor.github-workflows`` schema must accept
  every workflow, run with the proxy pointed at a dead port so that any
  download attempt would fail the test;
* structural rules (least-privilege permissions, per-stack concurrency, the
  prod gate, pinned actions, one Pulumi version file) are plain functions
  returning a list of problems, tested on the real files and on broken copies.
"""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
ACTIONS = ROOT / ".github" / "actions"
PREVIEW = WORKFLOWS / "preview.yml"
DEPLOY = WORKFLOWS / "deploy.yml"
VERSION_FILE = ".pulumi-version"
LOCAL_SETUP = "./.github/actions/pulumi-setup"

WORKFLOW_FILES = sorted(WORKFLOWS.glob("*.yml"))
ACTION_FILES = sorted(ACTIONS.glob("*/action.yml"))

# Any HTTP(S) request made by a checker goes to a closed local port and fails.
OFFLINE_ENV = {
    **os.environ,
    "HTTP_PROXY": "http://127.0.0.1:9",
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "http_proxy": "http://127.0.0.1:9",
    "https_proxy": "http://127.0.0.1:9",
    "NO_PROXY": "",
    "no_proxy": "",
}


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    # PyYAML (YAML 1.1) reads the bare key `on` as the boolean True.
    if True in data:
        data["on"] = data.pop(True)
    return data


def jobs(wf: dict[str, Any]) -> dict[str, dict[str, Any]]:
    result = wf.get("jobs") or {}
    assert isinstance(result, dict)
    return result


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps") or [])


def pulumi_steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in steps(job) if str(s.get("uses", "")).startswith("pulumi/actions@")]


def all_uses_lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if re.match(r"\s*(-\s+)?uses:", line)]


# --- structural rules (each returns a list of problems) ----------------------------

WRITE_SCOPES_ALLOWED = {"id-token", "pull-requests"}


def permission_problems(wf: dict[str, Any], name: str) -> list[str]:
    problems: list[str] = []
    top = wf.get("permissions")
    if top not in ({}, {"contents": "read"}):
        problems.append(f"{name}: top-level permissions must be {{contents: read}} or {{}}, got {top!r}")
    for job_id, job in jobs(wf).items():
        perms = job.get("permissions", top) or {}
        if not isinstance(perms, dict):
            problems.append(f"{name}/{job_id}: permissions must be a mapping, got {perms!r}")
            continue
        for scope, level in perms.items():
            if level == "write" and scope not in WRITE_SCOPES_ALLOWED:
                problems.append(f"{name}/{job_id}: {scope}: write is not needed")
        uses = [str(s.get("uses", "")) for s in steps(job)]
        needs_oidc = any(u == LOCAL_SETUP or u.startswith("google-github-actions/auth@") for u in uses)
        if needs_oidc != (perms.get("id-token") == "write"):
            problems.append(f"{name}/{job_id}: id-token: write exactly when it authenticates to GCP")
        comments = any(str(s.get("with", {}).get("comment-on-pr", "")).lower() == "true" for s in steps(job))
        if comments != (perms.get("pull-requests") == "write"):
            problems.append(f"{name}/{job_id}: pull-requests: write exactly when it comments on the PR")
    return problems


def concurrency_problems(wf: dict[str, Any], name: str, *, deploy: bool) -> list[str]:
    problems: list[str] = []
    for job_id, job in jobs(wf).items():
        if not pulumi_steps(job):
            continue
        conc = job.get("concurrency")
        if not isinstance(conc, dict) or not conc.get("group"):
            problems.append(f"{name}/{job_id}: a job running Pulumi needs a concurrency group")
            continue
        stacks = {str(s.get("with", {}).get("stack-name")) for s in pulumi_steps(job)}
        for stack in stacks:
            literal = stack.startswith("${{")
            if (stack if not literal else "matrix.stack") not in str(conc["group"]):
                problems.append(f"{name}/{job_id}: concurrency group must name the stack ({stack})")
        if deploy and conc.get("cancel-in-progress") is not False:
            problems.append(f"{name}/{job_id}: deploys must not cancel a running update")
    return problems


def deploy_gate_problems(wf: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    all_jobs = jobs(wf)
    by_stack = {
        str(s.get("with", {}).get("stack-name")): job_id
        for job_id, job in all_jobs.items()
        for s in pulumi_steps(job)
    }
    if set(by_stack) != {"dev", "prod"}:
        return [f"deploy: expected `pulumi up` jobs for dev and prod, got {sorted(by_stack)}"]
    dev, prod = by_stack["dev"], by_stack["prod"]
    needs = all_jobs[prod].get("needs", [])
    needs = [needs] if isinstance(needs, str) else list(needs)
    if dev not in needs:
        problems.append(f"deploy: {prod} must need {dev}")
    env = all_jobs[prod].get("environment")
    env_name = env.get("name") if isinstance(env, dict) else env
    if env_name != "production":
        problems.append(f"deploy: {prod} must run in environment production")
    for job_id in (dev, prod):
        for s in pulumi_steps(all_jobs[job_id]):
            if s.get("with", {}).get("command") != "up":
                problems.append(f"deploy: {job_id} must run `pulumi up`")
    on = wf.get("on") or {}
    if not isinstance(on, dict) or on.get("push", {}).get("branches") != ["main"]:
        problems.append("deploy: must run on push to main")
    return problems


def pulumi_step_problems(wf: dict[str, Any], name: str, *, preview: bool) -> list[str]:
    problems: list[str] = []
    found = 0
    for job_id, job in jobs(wf).items():
        for s in pulumi_steps(job):
            found += 1
            w = s.get("with", {})
            if w.get("pulumi-version-file") != VERSION_FILE or "pulumi-version" in w:
                problems.append(
                    f"{name}/{job_id}: take the CLI version from pulumi-version-file: {VERSION_FILE}"
                )
            if w.get("policyPacks") != "policy":
                problems.append(f"{name}/{job_id}: enforce the policy pack (policyPacks: policy)")
            if w.get("cloud-url") != "${{ vars.PULUMI_BACKEND_URL }}":
                problems.append(f"{name}/{job_id}: log in to the state backend from vars.PULUMI_BACKEND_URL")
            if preview:
                if w.get("command") != "preview":
                    problems.append(f"{name}/{job_id}: PR runs only preview")
                if w.get("comment-on-pr") is not True or w.get("edit-pr-comment") is not True:
                    problems.append(f"{name}/{job_id}: comment-on-pr and edit-pr-comment must be true")
    if not found:
        problems.append(f"{name}: no pulumi/actions step")
    return problems


def preview_problems(wf: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    on = wf.get("on") or {}
    if not isinstance(on, dict) or "pull_request" not in on:
        problems.append("preview: must run on pull_request")
    for job_id, job in jobs(wf).items():
        if pulumi_steps(job):
            stacks = job.get("strategy", {}).get("matrix", {}).get("stack")
            if stacks != ["dev", "prod"]:
                problems.append(f"preview/{job_id}: matrix.stack must be [dev, prod], got {stacks!r}")
            needs = job.get("needs", [])
            needs = [needs] if isinstance(needs, str) else list(needs)
            if not any("make test-unit" in str(s.get("run", "")) for n in needs for s in steps(jobs(wf)[n])):
                problems.append(f"preview/{job_id}: must need the job that runs `make test-unit`")
    return problems


PIN = re.compile(r"uses:\s+(?P<repo>[\w.-]+/[\w./-]+)@(?P<ref>\S+)\s+#\s+v\d+\.\d+\.\d+\s*$")


def pin_problems(path: Path) -> list[str]:
    problems: list[str] = []
    for line in all_uses_lines(path):
        target = line.split("uses:", 1)[1].strip()
        if target.startswith("./"):
            continue
        m = PIN.search(line)
        if not m or not re.fullmatch(r"[0-9a-f]{40}", m.group("ref")):
            problems.append(f"{path.name}: pin to a full commit SHA with a `# vX.Y.Z` comment: {line}")
    return problems


# --- tests on the real files ---------------------------------------------------------


def test_workflow_files_exist() -> None:
    assert PREVIEW in WORKFLOW_FILES and DEPLOY in WORKFLOW_FILES


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_permissions_least_privilege(path: Path) -> None:
    assert permission_problems(load(path), path.name) == []


def test_preview_concurrency_per_stack() -> None:
    assert concurrency_problems(load(PREVIEW), "preview", deploy=False) == []


def test_deploy_concurrency_per_stack_never_cancelled() -> None:
    assert concurrency_problems(load(DEPLOY), "deploy", deploy=True) == []


def test_prod_deploy_needs_dev_and_production_environment() -> None:
    assert deploy_gate_problems(load(DEPLOY)) == []


def test_preview_shape() -> None:
    assert preview_problems(load(PREVIEW)) == []
    assert pulumi_step_problems(load(PREVIEW), "preview", preview=True) == []


def test_deploy_pulumi_steps() -> None:
    assert pulumi_step_problems(load(DEPLOY), "deploy", preview=False) == []


@pytest.mark.parametrize("path", WORKFLOW_FILES + ACTION_FILES, ids=lambda p: p.name)
def test_actions_pinned_to_commit_sha(path: Path) -> None:
    assert pin_problems(path) == []


def test_pulumi_version_file_is_single_source() -> None:
    version = (ROOT / VERSION_FILE).read_text().strip()
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), version
    # No workflow or doc pins the CLI version a second time.
    for path in [*WORKFLOW_FILES, *ACTION_FILES, ROOT / "docs" / "team.md"]:
        text = path.read_text()
        assert version not in text, f"{path} repeats the Pulumi CLI version; read {VERSION_FILE}"
    assert VERSION_FILE in (ROOT / "docs" / "team.md").read_text()


def test_policy_pack_pins_match_dev_requirements() -> None:
    def pins(path: Path) -> dict[str, str]:
        out: dict[str, str] = {}
        for line in path.read_text().splitlines():
            m = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line.strip())
            if m:
                out[m.group(1).lower()] = m.group(2)
        return out

    pack = pins(ROOT / "policy" / "requirements.txt")
    project = {**pins(ROOT / "requirements.txt"), **pins(ROOT / "requirements-dev.txt")}
    assert pack["pulumi-policy"] == "1.21.0"
    for name, version in pack.items():
        assert project.get(name, version) == version, f"{name}: pack {version} != project {project.get(name)}"


# --- the structural rules catch broken workflows ----------------------------------------


def _deploy() -> dict[str, Any]:
    return copy.deepcopy(load(DEPLOY))


def _preview() -> dict[str, Any]:
    return copy.deepcopy(load(PREVIEW))


def test_rules_catch_broad_permissions() -> None:
    wf = _preview()
    wf["permissions"] = "write-all"
    wf["jobs"]["unit-tests"].pop("permissions", None)
    assert any("top-level permissions" in p for p in permission_problems(wf, "x"))
    wf = _preview()
    wf["jobs"]["preview"]["permissions"]["contents"] = "write"
    assert permission_problems(wf, "x") == ["x/preview: contents: write is not needed"]
    wf = _deploy()
    wf["jobs"]["deploy-dev"]["permissions"]["pull-requests"] = "write"
    assert any("pull-requests: write exactly" in p for p in permission_problems(wf, "x"))


def test_rules_catch_missing_or_cancelling_concurrency() -> None:
    wf = _deploy()
    del wf["jobs"]["deploy-prod"]["concurrency"]
    assert concurrency_problems(wf, "d", deploy=True) == [
        "d/deploy-prod: a job running Pulumi needs a concurrency group"
    ]
    wf = _deploy()
    wf["jobs"]["deploy-dev"]["concurrency"]["cancel-in-progress"] = True
    assert concurrency_problems(wf, "d", deploy=True) == [
        "d/deploy-dev: deploys must not cancel a running update"
    ]
    wf = _preview()
    wf["jobs"]["preview"]["concurrency"]["group"] = "preview"
    assert "matrix.stack" in " ".join(concurrency_problems(wf, "p", deploy=False))


def test_rules_catch_ungated_prod() -> None:
    wf = _deploy()
    wf["jobs"]["deploy-prod"]["needs"] = "unit-tests"
    del wf["jobs"]["deploy-prod"]["environment"]
    assert deploy_gate_problems(wf) == [
        "deploy: deploy-prod must need deploy-dev",
        "deploy: deploy-prod must run in environment production",
    ]


def test_rules_catch_pulumi_step_drift() -> None:
    wf = _preview()
    w = wf["jobs"]["preview"]["steps"][-1]["with"]
    w["pulumi-version"] = "3.200.0"
    del w["policyPacks"]
    w["edit-pr-comment"] = False
    problems = pulumi_step_problems(wf, "p", preview=True)
    assert len(problems) == 3 and "pulumi-version-file" in problems[0]


def test_pin_rule_catches_tag_refs(tmp_path: Path) -> None:
    wf = tmp_path / "wf.yml"
    wf.write_text("steps:\n  - uses: actions/checkout@v7\n  - uses: ./.github/actions/pulumi-setup\n")
    assert len(pin_problems(wf)) == 1


# --- actionlint --------------------------------------------------------------------


@pytest.fixture(scope="session")
def actionlint() -> Iterator[list[str]]:
    """scripts/actionlint, with the build (first use only) done up front.

    shellcheck is disabled (`-shellcheck=`) so results do not depend on
    whether the machine happens to have it installed."""
    cmd = [str(ROOT / "scripts" / "actionlint"), "-no-color", "-shellcheck=", "-pyflakes="]
    built = subprocess.run([*cmd[:1], "-version"], capture_output=True, text=True, timeout=900)
    assert built.returncode == 0, built.stderr
    yield cmd


def test_actionlint_accepts_workflows(actionlint: list[str]) -> None:
    files = [str(p) for p in WORKFLOW_FILES]
    result = subprocess.run([*actionlint, *files], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


BROKEN_WORKFLOW = """\
name: broken
on: pull_request
permissions:
  contents: read
jobs:
  deploy-prod:
    needs: deploy-dev
    runs-on: ubuntu-latest
    steps:
      - run: echo "${{ matrix.stack }}"
"""


def test_actionlint_rejects_broken_workflow(actionlint: list[str], tmp_path: Path) -> None:
    wf_dir = tmp_path / ".github" / "workflows"
    wf_dir.mkdir(parents=True)
    broken = wf_dir / "broken.yml"
    broken.write_text(BROKEN_WORKFLOW)
    result = subprocess.run(
        [*actionlint, str(broken)], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "deploy-dev" in result.stdout  # needs: an undefined job
    assert "matrix" in result.stdout  # matrix context outside a matrix job


# --- check-jsonschema (bundled schemas, no network) ----------------------------------------

CHECK_JSONSCHEMA = [sys.executable, "-m", "check_jsonschema"]


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_workflow_schema_offline(path: Path) -> None:
    result = subprocess.run(
        [*CHECK_JSONSCHEMA, "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True,
        text=True,
        env=OFFLINE_ENV,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", ACTION_FILES, ids=lambda p: p.parent.name)
def test_composite_action_schema_offline(path: Path) -> None:
    result = subprocess.run(
        [*CHECK_JSONSCHEMA, "--builtin-schema", "vendor.github-actions", str(path)],
        capture_output=True,
        text=True,
        env=OFFLINE_ENV,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflow_schema_rejects_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  build:\n    steps: {}\n")
    result = subprocess.run(
        [*CHECK_JSONSCHEMA, "--builtin-schema", "vendor.github-workflows", str(broken)],
        capture_output=True,
        text=True,
        env=OFFLINE_ENV,
        timeout=120,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Schema validation errors" in result.stdout + result.stderr
