"""Checks on the GitHub Actions workflows, all offline.

* actionlint (built from the Go module proxy by scripts/actionlint) must
  accept every workflow, and must reject a broken one;
* check-jsonschema's bundled ``vendor.github-workflows`` schema must accept
  every workflow, run with the proxy pointed at a dead port so that any
  download attempt would fail the test;
* structural rules (least-privilege permissions, per-stack concurrency, the
  prod gate, pinned actions, one Pulumi version file, which cloud identity a
  job may use, the head-of-main check before `pulumi up`, hash-pinned installs
  in jobs that can mint tokens, CODEOWNERS) are plain functions returning a
  list of problems, tested on the real files and on broken copies.
"""

from __future__ import annotations

import copy
import fnmatch
import json
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
CODEOWNERS = ROOT / ".github" / "CODEOWNERS"

# Stacks CI previews and deploys: every Pulumi.<stack>.yaml except the
# offline sandbox stack.
CI_STACKS = frozenset(
    s for p in ROOT.glob("Pulumi.*.yaml") if not (s := p.name.split(".")[1]).startswith("local")
)
# The GitHub environment of each stack's deploy job; a stack added later gets
# an environment named after it (docs/team.md, "Creating a new environment stack").
DEPLOY_ENVIRONMENTS = {"dev": "dev", "prod": "production"}
PREVIEW_VARS = ("GCP_PREVIEW_WORKLOAD_IDENTITY_PROVIDER", "GCP_PREVIEW_SERVICE_ACCOUNT")
DEPLOY_VARS = ("GCP_DEPLOY_WORKLOAD_IDENTITY_PROVIDER", "GCP_DEPLOY_SERVICE_ACCOUNT")
# Hashed install sets for token-minting jobs, and the pins they must repeat.
HASHED_REQUIREMENTS = {
    "requirements-ci.txt": "requirements.txt",
    "policy/requirements-ci.txt": "policy/requirements.txt",
}

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


def environment_name(job: dict[str, Any]) -> str | None:
    env = job.get("environment")
    name = env.get("name") if isinstance(env, dict) else env
    return str(name) if name else None


def deploy_jobs(wf: dict[str, Any]) -> dict[str, str]:
    """stack -> id of the job that runs Pulumi on it."""
    return {
        str(s.get("with", {}).get("stack-name")): job_id
        for job_id, job in jobs(wf).items()
        for s in pulumi_steps(job)
    }


def deploy_gate_problems(wf: dict[str, Any], stacks: frozenset[str] = CI_STACKS) -> list[str]:
    problems: list[str] = []
    all_jobs = jobs(wf)
    by_stack = deploy_jobs(wf)
    if set(by_stack) != set(stacks) or not {"dev", "prod"} <= set(by_stack):
        return [f"deploy: expected `pulumi up` jobs for {sorted(stacks)}, got {sorted(by_stack)}"]
    dev, prod = by_stack["dev"], by_stack["prod"]
    needs = all_jobs[prod].get("needs", [])
    needs = [needs] if isinstance(needs, str) else list(needs)
    if dev not in needs:
        problems.append(f"deploy: {prod} must need {dev}")
    if environment_name(all_jobs[prod]) != "production":
        problems.append(f"deploy: {prod} must run in environment production")
    for stack, job_id in sorted(by_stack.items()):
        for s in pulumi_steps(all_jobs[job_id]):
            if s.get("with", {}).get("command") != "up":
                problems.append(f"deploy: {job_id} must run `pulumi up`")
        # Every deploy job runs in its own protected environment: that is what
        # its cloud identity's attribute condition requires (docs/team.md).
        wanted = DEPLOY_ENVIRONMENTS.get(stack, stack)
        if stack != "prod" and environment_name(all_jobs[job_id]) != wanted:
            problems.append(f"deploy: {job_id} must run in environment {wanted}")
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


def preview_problems(wf: dict[str, Any], stacks: frozenset[str] = CI_STACKS) -> list[str]:
    problems: list[str] = []
    on = wf.get("on") or {}
    if not isinstance(on, dict) or "pull_request" not in on:
        problems.append("preview: must run on pull_request")
    for job_id, job in jobs(wf).items():
        if pulumi_steps(job):
            matrix = job.get("strategy", {}).get("matrix", {}).get("stack")
            if not isinstance(matrix, list) or set(matrix) != set(stacks) or len(matrix) != len(stacks):
                problems.append(
                    f"preview/{job_id}: matrix.stack must list each of {sorted(stacks)} once, got {matrix!r}"
                )
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


# --- which cloud identity a job may use ----------------------------------------------


def local_action(uses: str) -> dict[str, Any] | None:
    """The action.yml of a local composite action (`uses: ./...`), else None."""
    if not uses.startswith("./"):
        return None
    data = yaml.safe_load((ROOT / uses / "action.yml").read_text())
    assert isinstance(data, dict)
    return data


def mints_tokens(job: dict[str, Any]) -> bool:
    perms = job.get("permissions") or {}
    return isinstance(perms, dict) and perms.get("id-token") == "write"


def deploys_from_main_only(wf: dict[str, Any]) -> bool:
    """True for a workflow that only runs on pushes to main (reviewed code)."""
    on = wf.get("on") or {}
    return isinstance(on, dict) and set(on) == {"push"} and (on["push"] or {}).get("branches") == ["main"]


def identity_problems(wf: dict[str, Any], name: str) -> list[str]:
    """Deploy identities only in deploy jobs on main; the preview identity everywhere else.

    A workflow that can run code that was not reviewed (anything but a push
    to main, e.g. a pull request) may use only the preview identity, no
    GitHub environment and no secret. In a push-to-main workflow every job
    that authenticates runs in an environment and uses that environment's
    deploy identity, never the preview one."""
    problems: list[str] = []
    deploy = deploys_from_main_only(wf)
    on = wf.get("on") or {}
    if not deploy and isinstance(on, dict) and {"pull_request_target", "workflow_run"} & set(on):
        problems.append(f"{name}: pull_request_target/workflow_run run with the base repository's rights")
    if not deploy:
        top = json.dumps({k: v for k, v in wf.items() if k != "jobs"})
        if "GCP_DEPLOY_" in top or "secrets." in top:
            problems.append(f"{name}: a deploy identity or secret outside a push-to-main workflow")
    for job_id, job in jobs(wf).items():
        text = json.dumps(job)
        env = environment_name(job)
        if not deploy:
            if env is not None:
                problems.append(f"{name}/{job_id}: environment {env} is for deploy jobs on main")
            if "GCP_DEPLOY_" in text:
                problems.append(f"{name}/{job_id}: must not name a deploy identity")
            if "secrets." in text:
                problems.append(f"{name}/{job_id}: must not read secrets")
        elif "GCP_PREVIEW_" in text:
            problems.append(f"{name}/{job_id}: deploy jobs use their environment's deploy identity")
        for s in steps(job):
            uses = str(s.get("uses", ""))
            w = s.get("with", {}) or {}
            if uses == LOCAL_SETUP:
                given = (w.get("workload-identity-provider"), w.get("service-account"))
            elif uses.startswith("google-github-actions/auth@"):
                given = (w.get("workload_identity_provider"), w.get("service_account"))
            else:
                continue
            wanted = tuple(f"${{{{ vars.{v} }}}}" for v in (DEPLOY_VARS if deploy else PREVIEW_VARS))
            if given != wanted:
                problems.append(f"{name}/{job_id}: authenticate with {wanted}, got {given}")
            if deploy and env is None:
                problems.append(f"{name}/{job_id}: a deploy identity only inside a GitHub environment")
    return problems


# --- the head-of-main check before `pulumi up` ----------------------------------------

STUB_GH = """#!/bin/bash
# Stand-in for the GitHub CLI: answers the ref of main, or fails.
if [[ -n "$STUB_FAIL" ]]; then echo "HTTP 502" >&2; exit 1; fi
case "$*" in
  *git/ref/heads/main*|*git/refs/heads/main*) ;;
  *) echo "unexpected gh call: $*" >&2; exit 2 ;;
esac
if [[ "$*" == *--jq* ]]; then echo "$STUB_HEAD"; else echo "{\\"object\\": {\\"sha\\": \\"$STUB_HEAD\\"}}"; fi
"""
STUB_GIT = """#!/bin/bash
# Stand-in for git: only `git ls-remote <repo> refs/heads/main` answers.
if [[ -n "$STUB_FAIL" ]]; then echo "fatal: unable to access" >&2; exit 128; fi
if [[ "$1" == ls-remote && "$*" == *refs/heads/main* ]]; then
  printf '%s\\trefs/heads/main\\n' "$STUB_HEAD"; exit 0
fi
echo "unexpected git call: $*" >&2; exit 2
"""
RUN_SHA = "1111111111111111111111111111111111111111"
NEWER_SHA = "2222222222222222222222222222222222222222"


def run_step(step: dict[str, Any], stub_dir: Path, *, head: str, fail: bool = False) -> int:
    """Run a `run:` step as a Linux runner would (bash -eo pipefail), with gh/git stubbed."""
    env = {
        "PATH": f"{stub_dir}:/usr/bin:/bin",
        "GITHUB_SHA": RUN_SHA,
        "GITHUB_REPOSITORY": "acme/multisite",
        "GITHUB_SERVER_URL": "https://github.invalid",
        "STUB_HEAD": head,
        "STUB_FAIL": "1" if fail else "",
    }
    for key, value in (step.get("env") or {}).items():
        env[str(key)] = re.sub(r"\$\{\{.*?\}\}", "stub-value", str(value))
    result = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", str(step["run"])],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    return result.returncode


def refuses_stale_commits(step: dict[str, Any], stub_dir: Path) -> bool:
    """The step passes when main is still at this run's commit, and fails when
    main has moved on or its head cannot be read (fail closed)."""
    if "run" not in step or "${{" in str(step["run"]):
        return False
    return (
        run_step(step, stub_dir, head=RUN_SHA) == 0
        and run_step(step, stub_dir, head=NEWER_SHA) != 0
        and run_step(step, stub_dir, head=RUN_SHA, fail=True) != 0
    )


def head_check_problems(wf: dict[str, Any], stub_dir: Path) -> list[str]:
    problems: list[str] = []
    for job_id, job in jobs(wf).items():
        job_steps = steps(job)
        ups = [
            i
            for i, s in enumerate(job_steps)
            if s in pulumi_steps(job) and s.get("with", {}).get("command") == "up"
        ]
        if not ups:
            continue
        before = job_steps[: ups[0]]
        if not any(refuses_stale_commits(s, stub_dir) for s in before):
            problems.append(
                f"deploy/{job_id}: before `pulumi up`, refuse a commit that is no longer the head of main"
            )
    return problems


@pytest.fixture
def stub_dir(tmp_path: Path) -> Path:
    for name, body in (("gh", STUB_GH), ("git", STUB_GIT)):
        path = tmp_path / name
        path.write_text(body)
        path.chmod(0o755)
    return tmp_path


# --- hash-pinned installs where a token can be minted ---------------------------------

PIP_INSTALL = re.compile(r"\bpip3?\s+install\b|\bpip\s+-\S+.*\binstall\b|-m\s+pip\s+install\b")


def run_scripts(job: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, script) of every `run:` of the job, local composite actions included."""
    scripts: list[tuple[str, str]] = []
    for s in steps(job):
        if "run" in s:
            scripts.append((str(s.get("name", "run")), str(s["run"])))
        action = local_action(str(s.get("uses", "")))
        if action:
            for inner in action.get("runs", {}).get("steps", []) or []:
                if "run" in inner:
                    scripts.append((f"{s['uses']}: {inner.get('name', 'run')}", str(inner["run"])))
    return scripts


def install_problems(wf: dict[str, Any], name: str) -> list[str]:
    """In a job that can mint a cloud token, every pip install takes a hashed file."""
    problems: list[str] = []
    for job_id, job in jobs(wf).items():
        if not mints_tokens(job):
            continue
        for where, script in run_scripts(job):
            for line in script.replace("\\\n", " ").splitlines():
                if re.search(r"(^|[;&|]\s*)make\b", line.strip()):
                    problems.append(
                        f"{name}/{job_id} ({where}): `make` installs without hashes: {line.strip()}"
                    )
                if not PIP_INSTALL.search(line):
                    continue
                args = line.split()
                files = [args[i + 1] for i, a in enumerate(args[:-1]) if a in ("-r", "--requirement")]
                if "--require-hashes" not in args or not files:
                    problems.append(
                        f"{name}/{job_id} ({where}): pip install without --require-hashes -r: {line.strip()}"
                    )
                for f in files:
                    if f not in HASHED_REQUIREMENTS:
                        problems.append(f"{name}/{job_id} ({where}): {f} is not a hashed requirements file")
    return problems


def requirement_entries(text: str) -> list[str]:
    """Requirement entries of a requirements file, continuation lines joined."""
    joined = re.sub(r"\\\n", " ", text)
    return [line.split("#", 1)[0].strip() for line in joined.splitlines() if line.split("#", 1)[0].strip()]


def pins(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for entry in requirement_entries(text):
        m = re.match(r"^([A-Za-z0-9_.-]+)==([^\s;]+)", entry)
        if m:
            out[re.sub(r"[-_.]+", "-", m.group(1)).lower()] = m.group(2)
    return out


def hashed_file_problems(hashed: str, source: str) -> list[str]:
    """Every entry pinned with == and at least one sha256; the source's pins repeated exactly."""
    problems: list[str] = []
    for entry in requirement_entries(hashed):
        if entry.startswith("-r") or entry.startswith("--requirement"):
            problems.append(f"includes another file (its entries would need hashes too): {entry}")
            continue
        if not re.match(r"^[A-Za-z0-9_.-]+==\S+", entry):
            problems.append(f"not pinned with ==: {entry}")
        if not re.search(r"--hash=sha256:[0-9a-f]{64}\b", entry):
            problems.append(f"no sha256 hash: {entry.split()[0]}")
    got = pins(hashed)
    for pkg, version in pins(source).items():
        if got.get(pkg) != version:
            problems.append(f"{pkg}: the source pins {version}, the hashed file {got.get(pkg)}")
    return problems


# --- CODEOWNERS --------------------------------------------------------------------------

OWNED_PATHS = [
    "policy/multisite_policies.py",
    "policy/requirements.txt",
    ".github/workflows/deploy.yml",
    ".github/actions/pulumi-setup/action.yml",
    ".github/CODEOWNERS",
    "Pulumi.prod.yaml",
]
OWNER = re.compile(r"^(@[A-Za-z0-9-]+(/[A-Za-z0-9._-]+)?|[^@\s]+@[^@\s]+\.[a-z]+)$")


def codeowners_match(pattern: str, path: str) -> bool:
    """The subset of CODEOWNERS (gitignore-style) patterns this file may use."""
    if pattern == "*":
        return True
    anchored = pattern.startswith("/")
    pat = pattern.lstrip("/")
    if pat.endswith("/"):
        return path.startswith(pat) if anchored or "/" in pat[:-1] else f"/{pat}" in f"/{path}"
    if anchored or "/" in pat:
        return fnmatch.fnmatchcase(path, pat) or path.startswith(pat + "/")
    return any(fnmatch.fnmatchcase(part, pat) for part in path.split("/"))


def codeowners_problems(text: str) -> list[str]:
    """Each guarded path's last matching rule names at least one valid owner."""
    problems: list[str] = []
    rules: list[tuple[str, list[str]]] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        pattern, *owners = line.split()
        if re.search(r"[\[\]!?]|\*\*", pattern):
            problems.append(f"unsupported pattern syntax here: {pattern}")
        for owner in owners:
            if not OWNER.match(owner):
                problems.append(f"{pattern}: not an owner: {owner}")
        rules.append((pattern, owners))
    for path in OWNED_PATHS:
        matching = [owners for pattern, owners in rules if codeowners_match(pattern, path)]
        if not matching or not matching[-1]:
            problems.append(f"{path}: no code owner (the last matching rule wins)")
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


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_cloud_identities_by_workflow(path: Path) -> None:
    assert identity_problems(load(path), path.name) == []


def test_preview_uses_only_the_preview_identity() -> None:
    wf = load(PREVIEW)
    assert not deploys_from_main_only(wf)
    (job,) = [j for j in jobs(wf).values() if pulumi_steps(j)]
    setup = [s for s in steps(job) if s.get("uses") == LOCAL_SETUP]
    assert len(setup) == 1 and "GCP_PREVIEW_SERVICE_ACCOUNT" in json.dumps(setup[0])


def test_deploy_refuses_commits_behind_main(stub_dir: Path) -> None:
    assert head_check_problems(load(DEPLOY), stub_dir) == []


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_token_minting_jobs_install_with_hashes(path: Path) -> None:
    assert install_problems(load(path), path.name) == []


@pytest.mark.parametrize("hashed", sorted(HASHED_REQUIREMENTS))
def test_hashed_requirements_repeat_the_pins(hashed: str) -> None:
    source = HASHED_REQUIREMENTS[hashed]
    assert hashed_file_problems((ROOT / hashed).read_text(), (ROOT / source).read_text()) == []


def test_codeowners_guard_policy_ci_and_prod() -> None:
    assert codeowners_problems(CODEOWNERS.read_text()) == []


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


def test_rules_catch_deploy_identity_in_preview() -> None:
    wf = _preview()
    setup = next(s for s in wf["jobs"]["preview"]["steps"] if s.get("uses") == LOCAL_SETUP)
    setup["with"]["service-account"] = "${{ vars.GCP_DEPLOY_SERVICE_ACCOUNT }}"
    problems = identity_problems(wf, "p")
    assert "p/preview: must not name a deploy identity" in problems
    assert any("authenticate with" in p for p in problems)
    wf = _preview()
    wf["jobs"]["preview"]["environment"] = "production"
    assert identity_problems(wf, "p") == ["p/preview: environment production is for deploy jobs on main"]
    wf = _preview()
    wf["env"]["GOOGLE_CREDENTIALS"] = "${{ secrets.DEPLOY_KEY }}"
    assert identity_problems(wf, "p") == ["p: a deploy identity or secret outside a push-to-main workflow"]
    wf = _preview()
    wf["on"] = {"pull_request_target": {"branches": ["main"]}}
    assert any("pull_request_target" in p for p in identity_problems(wf, "p"))


def test_rules_catch_deploy_without_environment() -> None:
    wf = _deploy()
    del wf["jobs"]["deploy-dev"]["environment"]
    assert deploy_gate_problems(wf) == ["deploy: deploy-dev must run in environment dev"]
    assert identity_problems(wf, "d") == ["d/deploy-dev: a deploy identity only inside a GitHub environment"]
    wf = _deploy()
    setup = next(s for s in wf["jobs"]["deploy-prod"]["steps"] if s.get("uses") == LOCAL_SETUP)
    setup["with"]["workload-identity-provider"] = "${{ vars.GCP_PREVIEW_WORKLOAD_IDENTITY_PROVIDER }}"
    assert len(identity_problems(wf, "d")) == 2


def test_new_stack_recipe_passes_the_rules() -> None:
    """docs/team.md's recipe: add the stack to the preview matrix and a deploy
    job modelled on deploy-dev, in an environment named after the stack."""
    stacks = CI_STACKS | {"staging2"}
    preview = _preview()
    preview["jobs"]["preview"]["strategy"]["matrix"]["stack"].append("staging2")
    deploy = _deploy()
    job = copy.deepcopy(deploy["jobs"]["deploy-dev"])
    job["environment"] = "staging2"
    job["concurrency"]["group"] = "pulumi-stack-staging2"
    pulumi_steps(job)[0]["with"]["stack-name"] = "staging2"
    deploy["jobs"]["deploy-staging2"] = job
    assert preview_problems(preview, stacks) == []
    assert deploy_gate_problems(deploy, stacks) == []
    assert concurrency_problems(deploy, "d", deploy=True) == []
    assert identity_problems(deploy, "d") == []
    # ...and forgetting either half is caught.
    assert preview_problems(_preview(), stacks) != []
    assert deploy_gate_problems(_deploy(), stacks) != []


def test_rules_catch_missing_or_toothless_head_check(stub_dir: Path) -> None:
    wf = _deploy()
    job = wf["jobs"]["deploy-prod"]
    check = next(s for s in job["steps"] if "gh api" in str(s.get("run", "")))
    job["steps"].remove(check)
    assert head_check_problems(wf, stub_dir) == [
        "deploy/deploy-prod: before `pulumi up`, refuse a commit that is no longer the head of main"
    ]
    job["steps"].append(check)  # after `pulumi up` is too late
    assert len(head_check_problems(wf, stub_dir)) == 1
    wf = _deploy()
    check = next(s for s in wf["jobs"]["deploy-dev"]["steps"] if "gh api" in str(s.get("run", "")))
    check["run"] = check["run"].replace("exit 1", "true")  # only warns
    assert len(head_check_problems(wf, stub_dir)) == 1
    check["run"] = 'gh api "repos/${GITHUB_REPOSITORY}/git/ref/heads/main" --jq .object.sha || true'
    assert len(head_check_problems(wf, stub_dir)) == 1
    check["run"] = (
        'test "$(git ls-remote "https://x/${GITHUB_REPOSITORY}" refs/heads/main | cut -f1)" = "$GITHUB_SHA"'
    )
    assert head_check_problems(wf, stub_dir) == []  # the other way the check may be written


def test_rules_catch_unhashed_installs(tmp_path: Path) -> None:
    wf = _deploy()
    job = wf["jobs"]["deploy-dev"]
    job["steps"].insert(1, {"run": "python -m venv .venv\n.venv/bin/pip install -r requirements.txt"})
    job["steps"].insert(1, {"run": "make setup"})
    problems = install_problems(wf, "d")
    assert len(problems) == 3, problems  # no --require-hashes, an unhashed file, make
    wf = _deploy()
    wf["jobs"]["unit-tests"]["steps"].append({"run": "pip install ruff"})
    assert install_problems(wf, "d") == []  # no token in that job
    action = ROOT / ".github" / "actions" / "pulumi-setup" / "action.yml"
    text = action.read_text()
    assert "--require-hashes" in text
    wf = _deploy()
    job, *_ = [v for v in wf["jobs"].values() if mints_tokens(v)]
    broken = yaml.safe_load(text.replace("--require-hashes ", ""))
    copy_dir = tmp_path / "action"
    copy_dir.mkdir()
    (copy_dir / "action.yml").write_text(yaml.safe_dump(broken))
    setup = next(s for s in job["steps"] if s.get("uses") == LOCAL_SETUP)
    setup["uses"] = "./" + os.path.relpath(copy_dir, ROOT)
    assert len(install_problems(wf, "d")) == 2


def test_hashed_file_rules_catch_drift() -> None:
    source = (ROOT / "requirements.txt").read_text()
    hashed = (ROOT / "requirements-ci.txt").read_text()
    no_hash = re.sub(r"(pyyaml==6\.0\.3)( \\\n\s+--hash=sha256:[0-9a-f]{64})+", r"\1", hashed)
    assert no_hash != hashed
    assert hashed_file_problems(no_hash, source) == ["no sha256 hash: pyyaml==6.0.3"]
    bumped = source.replace("pydantic==2.14.3", "pydantic==2.14.4")
    assert hashed_file_problems(hashed, bumped) == [
        "pydantic: the source pins 2.14.4, the hashed file 2.14.3"
    ]
    assert hashed_file_problems(hashed + "\n-r requirements.txt\n", source) != []


def test_codeowners_rules_catch_gaps() -> None:
    text = CODEOWNERS.read_text()
    assert codeowners_problems(text.replace("/Pulumi.prod.yaml", "/Pulumi.dev.yaml")) == [
        "Pulumi.prod.yaml: no code owner (the last matching rule wins)"
    ]
    # A later rule without owners takes the path back out of review.
    assert len(codeowners_problems(text + "\n/.github/workflows/\n")) == 1
    not_an_owner = re.sub(r"(?m)^(/policy/\s+)@\S+", r"\1ACME-admins", text)
    assert codeowners_problems(not_an_owner) == ["/policy/: not an owner: ACME-admins"]
    assert codeowners_problems("* @someone\n") == []


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
