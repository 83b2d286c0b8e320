"""Claims in README.md and docs/ that a test can keep honest, all offline.

* the CI identities: the gcloud commands in docs/team.md are parsed (shell
  words, `export` variables expanded) and each deploy identity must be bound,
  through a pool of its own, to tokens of this repository, `main`, a push and
  its GitHub environment, the same environment its job in deploy.yml runs
  in; the preview identity gets read-only roles only;
* the CI table of docs/team.md names exactly the workflows and jobs that
  exist, and the `make` targets it names are what those workflows run;
* the README's example stack file is the committed `Pulumi.dev.yaml`, and the
  command it says `.ci/run` runs is the one `.ci/run` runs;
* the Go version the README asks for is the newest `go` line of the engine's
  wrapper modules, and the Pulumi CLI version that the engine's table in
  docs/development.md and the pins in docs/design.md state is `.pulumi-version`.

Each rule is a function returning problems, shown to fail on a broken copy.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.test_workflows import DEPLOY, PREVIEW, ROOT, deploy_jobs, environment_name, jobs, load, steps

TEAM = ROOT / "docs" / "team.md"
README = ROOT / "README.md"
DESIGN = ROOT / "docs" / "design.md"
DEVELOPMENT = ROOT / "docs" / "development.md"
# Tables that state the Pulumi CLI's version: the engine's binaries and the pins.
CLI_VERSION_DOCS = (DEVELOPMENT, DESIGN)

PREVIEW_SA = "multisite-preview"
# Roles that can read but not change anything the preview looks at.
READ_ONLY_ROLES = {
    "roles/container.clusterViewer",
    "roles/storage.objectViewer",
    "roles/cloudkms.cryptoKeyDecrypter",
    "roles/dns.reader",  # "read-only access to all Cloud DNS resources" (GCP's role reference)
}


# --- shell commands in the docs ----------------------------------------------------------


def shell_blocks(markdown: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", markdown, flags=re.S)


def commands(markdown: str) -> list[list[str]]:
    """Every simple command of the ```sh blocks, as words, with `export`
    variables expanded (a value computed by `$(...)` stays `<NAME>`) and
    `for x in a b c; do ... done` loops unrolled."""
    variables: dict[str, str] = {}
    out: list[list[str]] = []

    def expand(word: str, extra: dict[str, str]) -> str:
        scope = {**variables, **extra}
        return re.sub(r"\$\{?(\w+)\}?", lambda m: scope.get(m.group(1), m.group(0)), word)

    for block in shell_blocks(markdown):
        text = re.sub(r"\\\n\s*", " ", block)
        lines = [line.split(" #", 1)[0].strip() for line in text.splitlines()]
        lines = [line for line in lines if line and not line.startswith("#")]
        i = 0
        while i < len(lines):
            line = lines[i]
            loop = re.match(r"for (\w+) in (.*); do$", line)
            if loop:
                end = lines.index("done", i)
                body = lines[i + 1 : end]
                for value in loop.group(2).split():
                    local = {loop.group(1): value}
                    for inner in body:
                        assign = re.match(r"(\w+)=\"(.*)\"$", inner)
                        if assign:
                            local[assign.group(1)] = expand(assign.group(2), local)
                            continue
                        out.append([expand(w, local) for w in shlex.split(inner)])
                i = end + 1
                continue
            export = re.match(r"export (\w+)=(.*)$", line)
            if export:
                raw = export.group(2).strip()
                variables[export.group(1)] = (
                    f"<{export.group(1)}>" if "$(" in raw else expand(shlex.split(raw)[0], {})
                )
            else:
                out.append([expand(w, {}) for w in shlex.split(line)])
            i += 1
    return out


def flag(words: list[str], name: str) -> str | None:
    for w in words:
        if w.startswith(f"--{name}="):
            return w.split("=", 1)[1]
    return None


@dataclass
class Federation:
    """What docs/team.md sets up for CI, read from its gcloud/kubectl commands."""

    conditions: dict[str, list[str]] = field(default_factory=dict)  # pool -> provider conditions
    mappings: dict[str, list[str]] = field(default_factory=dict)  # pool -> provider mappings
    bindings: dict[str, list[str]] = field(default_factory=dict)  # service account -> principalSet members
    roles: dict[str, set[str]] = field(default_factory=dict)  # service account -> roles granted
    cluster_admins: set[str] = field(default_factory=set)  # service accounts bound in clusters


def sa_name(member_or_email: str) -> str:
    return member_or_email.removeprefix("serviceAccount:").split("@", 1)[0]


def federation(markdown: str) -> Federation:
    fed = Federation()
    for words in commands(markdown):
        line = " ".join(words)
        if words[:5] == ["gcloud", "iam", "workload-identity-pools", "providers", "create-oidc"]:
            pool = flag(words, "workload-identity-pool") or "?"
            fed.conditions.setdefault(pool, []).append(flag(words, "attribute-condition") or "")
            fed.mappings.setdefault(pool, []).append(flag(words, "attribute-mapping") or "")
        elif words[:4] == ["gcloud", "iam", "service-accounts", "add-iam-policy-binding"]:
            if flag(words, "role") == "roles/iam.workloadIdentityUser":
                fed.bindings.setdefault(sa_name(words[4]), []).append(flag(words, "member") or "")
        elif "add-iam-policy-binding" in words and (member := flag(words, "member")):
            fed.roles.setdefault(sa_name(member), set()).add(flag(words, "role") or "")
        elif line.startswith("kubectl create clusterrolebinding") or line.startswith(
            "kubectl create rolebinding"
        ):
            user = flag(words, "user")
            if user:
                fed.cluster_admins.add(sa_name(user))
    return fed


PRINCIPAL_SET = re.compile(
    r"^principalSet://iam\.googleapis\.com/projects/[^/]+/locations/global/"
    r"workloadIdentityPools/(?P<pool>[^/]+)/attribute\.(?P<attr>\w+)/(?P<value>.+)$"
)


def clauses(condition: str) -> set[str]:
    """The `&&`-joined clauses of a CEL condition, spaces and quote style normalised."""
    return {re.sub(r"\s+", "", c).replace('"', "'") for c in condition.split("&&")}


def pool_of(fed: Federation, sa: str) -> tuple[str, str, str] | None:
    members = fed.bindings.get(sa, [])
    if len(members) != 1:
        return None
    m = PRINCIPAL_SET.match(members[0])
    return (m.group("pool"), m.group("attr"), m.group("value")) if m else None


def identity_doc_problems(markdown: str, deploy_environments: dict[str, str]) -> list[str]:
    """deploy_environments: service account name -> GitHub environment its job runs in."""
    fed = federation(markdown)
    problems: list[str] = []
    repos = {c.split("==", 1)[1] for cs in fed.conditions.values() for cond in cs for c in clauses(cond)
             if c.startswith("assertion.repository==")}  # fmt: skip
    if len(repos) != 1:
        problems.append(f"every provider must pin the same repository, got {sorted(repos)}")
    repo = next(iter(repos), "'?'")
    used_pools: dict[str, str] = {}
    for sa in [PREVIEW_SA, *deploy_environments]:
        found = pool_of(fed, sa)
        if found is None:
            problems.append(
                f"{sa}: needs exactly one principalSet binding for roles/iam.workloadIdentityUser"
            )
            continue
        pool, attr, value = found
        if pool in used_pools:
            problems.append(f"{sa}: shares pool {pool} with {used_pools[pool]}")
        used_pools[pool] = sa
        conditions = fed.conditions.get(pool, [])
        if not conditions:
            problems.append(f"{sa}: pool {pool} has no provider with an attribute condition")
        if sa == PREVIEW_SA:
            wanted = {f"assertion.repository=={repo}", "assertion.event_name=='pull_request'"}
        else:
            env = deploy_environments[sa]
            wanted = {
                f"assertion.repository=={repo}",
                "assertion.ref=='refs/heads/main'",
                "assertion.event_name=='push'",
                f"assertion.environment=='{env}'",
            }
            if (attr, value) != ("environment", env):
                problems.append(
                    f"{sa}: bind principalSet .../attribute.environment/{env}, got {attr}/{value}"
                )
            if not all("attribute.environment=assertion.environment" in m for m in fed.mappings[pool]):
                problems.append(f"{sa}: pool {pool} must map attribute.environment")
        for condition in conditions:
            if "||" in condition or "!" in condition.replace("!=", ""):
                problems.append(f"{sa}: condition must be a plain conjunction: {condition}")
            missing = wanted - clauses(condition)
            if missing:
                problems.append(f"{sa}: condition of pool {pool} lacks {sorted(missing)}")
    extra = set(fed.roles.get(PREVIEW_SA, set())) - READ_ONLY_ROLES
    if extra:
        problems.append(f"{PREVIEW_SA}: may only read, but gets {sorted(extra)}")
    if PREVIEW_SA in fed.cluster_admins:
        problems.append(f"{PREVIEW_SA}: must have no Kubernetes role binding")
    for sa in deploy_environments:
        if sa not in fed.cluster_admins:
            problems.append(f"{sa}: needs its ClusterRoleBinding (the charts create RBAC objects)")
    return problems


def workflow_deploy_environments() -> dict[str, str]:
    """deploy service account name -> environment of its job in deploy.yml (dev -> multisite-deploy-dev)."""
    wf = load(DEPLOY)
    return {
        f"multisite-deploy-{stack}": environment_name(jobs(wf)[job_id]) or "?"
        for stack, job_id in deploy_jobs(wf).items()
    }


# --- the CI table of docs/team.md --------------------------------------------------------


def ci_table_problems(markdown: str) -> list[str]:
    problems: list[str] = []
    rows = re.findall(r"^\| `(\.github/workflows/[\w.-]+)` \|([^\n]*)$", markdown, flags=re.M)
    documented = {path for path, _ in rows}
    actual = {f".github/workflows/{p.name}" for p in (ROOT / ".github" / "workflows").glob("*.yml")}
    if documented != actual:
        problems.append(f"workflows: documented {sorted(documented)}, existing {sorted(actual)}")
    for path, rest in rows:
        if not (ROOT / path).is_file():
            continue
        cells = [c.strip() for c in rest.split("|")]
        if len(cells) < 3:
            problems.append(f"{path}: expected When | Jobs | What columns")
            continue
        wf = load(ROOT / path)
        named = set(re.findall(r"`([\w-]+)`", cells[1]))
        if named != set(jobs(wf)):
            problems.append(f"{path}: documented jobs {sorted(named)}, workflow has {sorted(jobs(wf))}")
        runs = " ".join(str(s.get("run", "")) for job in jobs(wf).values() for s in steps(job))
        for target in re.findall(r"`(make [\w-]+)`", cells[2]):
            if not re.search(rf"{re.escape(target)}(\s|$)", runs):
                problems.append(f"{path}: the table says it runs `{target}`, the workflow does not")
    return problems


# --- versions stated in the README -------------------------------------------------------


def go_directives() -> dict[str, str]:
    out: dict[str, str] = {}
    for mod in sorted((ROOT / "engine").glob("*/go.mod")):
        m = re.search(r"^go (\d+\.\d+(?:\.\d+)?)$", mod.read_text(), flags=re.M)
        assert m, mod
        out[mod.parent.name] = m.group(1)
    return out


def version_key(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in v.split("."))


def go_version_problems(readme: str, engine_script: str) -> list[str]:
    newest = max(go_directives().values(), key=version_key)
    problems: list[str] = []
    stated = re.findall(r"Go (\d+\.\d+(?:\.\d+)?) or newer", readme)
    if stated != [newest]:
        problems.append(f"README must ask once for `Go {newest} or newer` (newest go line), got {stated}")
    script = re.findall(r"need Go >= (\d+\.\d+(?:\.\d+)?)", engine_script)
    if script != [newest]:
        problems.append(f"scripts/engine must ask for Go >= {newest}, got {script}")
    return problems


def cli_version_problems(readme: str, versions_env: str) -> list[str]:
    version = (ROOT / ".pulumi-version").read_text().strip()
    problems: list[str] = []
    rows = re.findall(r"^\|[^|\n]*(?:Pulumi CLI|`pulumi`)[^|\n]*\|([^\n]*)$", readme, flags=re.M)
    if not rows:
        problems.append("no table row for the Pulumi CLI")
    for row in rows:
        found = set(re.findall(r"\b3\.\d+\.\d+\b", row))
        if found != {version} or ".pulumi-version" not in row:
            problems.append(f"a row says {sorted(found)}, `.pulumi-version` says {version}: {row.strip()}")
    if f"PULUMI_VERSION={version}" not in versions_env.splitlines():
        problems.append(f"engine/versions.env must build the CLI of .pulumi-version ({version})")
    return problems


# --- the README's example stack file ----------------------------------------------------


def example_problems(readme: str) -> list[str]:
    """The README shows a stack file "whole": it must be that file, byte for byte."""
    found = re.findall(r"This is `(Pulumi\.[\w-]+\.yaml)`, whole:\n\n```yaml\n(.*?)```", readme, flags=re.S)
    if len(found) != 1:
        return [f"README: {len(found)} stack files shown as 'This is `<file>`, whole:', expected 1"]
    name, shown = found[0]
    if not (ROOT / name).is_file() or shown != (ROOT / name).read_text():
        return [f"README's example is not {name} as committed"]
    return []


# --- the README's test command is what CI runs ------------------------------------------


def ci_command_problems(readme: str, ci_run: str) -> list[str]:
    """The README's command marked "(what .ci/run runs)" is the command `.ci/run` ends with."""
    section = readme.split("\n## The two commands\n", 1)[1].split("\n## ", 1)[0]
    marked = [line for block in shell_blocks(section) for line in block.splitlines() if ".ci/run" in line]
    if len(marked) != 1:
        return [f'README, "The two commands": {len(marked)} commands marked as what .ci/run runs, expected 1']
    stated = shlex.split(marked[0].split(" #", 1)[0])
    run = [line.strip() for line in ci_run.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if shlex.split(run[-1]) != stated:
        return [f".ci/run ends with `{run[-1]}`, the README says it runs `{' '.join(stated)}`"]
    return []


# --- tests on the real files ---------------------------------------------------------


def test_ci_identities_documented_as_deployed() -> None:
    envs = workflow_deploy_environments()
    assert envs == {"multisite-deploy-dev": "dev", "multisite-deploy-prod": "production"}
    assert identity_doc_problems(TEAM.read_text(), envs) == []


def test_preview_workflow_has_no_deploy_environment() -> None:
    assert all(environment_name(job) is None for job in jobs(load(PREVIEW)).values())


def test_ci_table_matches_workflows() -> None:
    assert ci_table_problems(TEAM.read_text()) == []


def test_go_version_matches_engine_modules() -> None:
    assert go_version_problems(README.read_text(), (ROOT / "scripts" / "engine").read_text()) == []


@pytest.mark.parametrize("doc", CLI_VERSION_DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_cli_version_matches_version_file(doc: Path) -> None:
    assert cli_version_problems(doc.read_text(), (ROOT / "engine" / "versions.env").read_text()) == []


def test_ci_runs_the_readme_test_command() -> None:
    assert ci_command_problems(README.read_text(), (ROOT / ".ci" / "run").read_text()) == []


def test_readme_example_is_a_real_stack_file() -> None:
    assert example_problems(README.read_text()) == []


# --- the rules catch broken docs -----------------------------------------------------


def test_identity_rules_catch_loose_conditions() -> None:
    text = TEAM.read_text()
    envs = workflow_deploy_environments()
    prod_condition = "assertion.ref=='refs/heads/main' && assertion.event_name=='push'"
    prod_condition += " && assertion.environment=='production'"
    no_main = text.replace(prod_condition, prod_condition.split(" && ", 1)[1])
    assert no_main != text
    lacks_main = "lacks [\"assertion.ref=='refs/heads/main'\"]"
    assert identity_doc_problems(no_main, envs) == [
        f"multisite-deploy-prod: condition of pool multisite-deploy-prod {lacks_main}"
    ]
    any_env = text.replace("&& assertion.environment=='dev' ", "&& true ")
    assert len(identity_doc_problems(any_env, envs)) == 1
    widened = text.replace(
        "assertion.event_name=='pull_request'\"", "assertion.event_name=='pull_request' || true\""
    )
    assert any("plain conjunction" in p for p in identity_doc_problems(widened, envs))
    # The workflow's environment and the documented condition must agree.
    renamed = {**envs, "multisite-deploy-prod": "prod"}
    assert any("attribute.environment/prod" in p for p in identity_doc_problems(text, renamed))


def test_identity_rules_catch_crossed_pools_and_write_roles() -> None:
    text = TEAM.read_text()
    envs = workflow_deploy_environments()
    crossed = text.replace(
        "workloadIdentityPools/multisite-deploy-prod/attribute.environment/production",
        "workloadIdentityPools/multisite-preview/attribute.environment/production",
    )
    problems = identity_doc_problems(crossed, envs)
    assert "multisite-deploy-prod: shares pool multisite-preview with multisite-preview" in problems
    writer = text.replace("--role=roles/storage.objectViewer", "--role=roles/storage.objectAdmin").replace(
        "--role=roles/container.clusterViewer\ngcloud storage",
        "--role=roles/container.developer\ngcloud storage",
    )
    writes = "['roles/container.developer', 'roles/storage.objectAdmin']"
    assert identity_doc_problems(writer, envs) == [f"multisite-preview: may only read, but gets {writes}"]
    in_cluster = text + (
        "\n```sh\nkubectl create clusterrolebinding p --clusterrole=view"
        ' --user="multisite-preview@${PROJECT_ID}.iam.gserviceaccount.com"\n```\n'
    )
    assert identity_doc_problems(in_cluster, envs) == [
        "multisite-preview: must have no Kubernetes role binding"
    ]


def test_ci_table_rules_catch_drift() -> None:
    text = TEAM.read_text()
    assert any("documented jobs" in p for p in ci_table_problems(text.replace("`deploy-prod` |", "|")))
    assert ci_table_problems(text.replace("`make test-unit`; `pulumi up`", "`make test`; `pulumi up`")) == [
        ".github/workflows/deploy.yml: the table says it runs `make test`, the workflow does not"
    ]


def test_version_rules_catch_drift() -> None:
    readme = README.read_text()
    newest = max(go_directives().values(), key=version_key)
    assert go_version_problems(
        readme.replace(f"Go {newest} or newer", "Go 1.26 or newer"), f"need Go >= {newest}"
    )
    assert go_version_problems(readme, "need Go >= 1.24")
    version = (ROOT / ".pulumi-version").read_text().strip()
    env = (ROOT / "engine" / "versions.env").read_text()
    rows = {DEVELOPMENT: f"| {version} (`.pulumi-version`)", DESIGN: f"| Pulumi CLI | {version} |"}
    assert set(rows) == set(CLI_VERSION_DOCS)
    for doc, row in rows.items():
        text = doc.read_text()
        assert row in text, doc
        assert cli_version_problems(text.replace(row, row.replace(version, "3.200.0")), env), doc
    assert cli_version_problems(
        DESIGN.read_text(), env.replace(f"PULUMI_VERSION={version}", "PULUMI_VERSION=3.200.0")
    ) == [f"engine/versions.env must build the CLI of .pulumi-version ({version})"]


def test_ci_command_rule_catches_drift() -> None:
    readme, ci_run = README.read_text(), (ROOT / ".ci" / "run").read_text()
    assert ci_command_problems(readme, ci_run.replace("make test\n", "make test-unit\n")) == [
        ".ci/run ends with `make test-unit`, the README says it runs `make test`"
    ]
    assert ci_command_problems(readme.replace("(what .ci/run runs)", "(all of it)"), ci_run) != []


def test_example_rule_catches_drift() -> None:
    readme = README.read_text()
    edited = readme.replace("    issuer: staging\n", "    issuer: prod\n", 1)
    assert edited != readme
    assert example_problems(edited) == ["README's example is not Pulumi.dev.yaml as committed"]
    assert example_problems(readme.replace(", whole:", ":")) != []


def test_command_parser_expands_exports_and_loops() -> None:
    md = (
        '```sh\nexport A=x\nexport N="$(date)"\n'
        'for s in p q; do\n  m="u:${s}@$A"\n  run --m="$m" $N\ndone\n```\n'
    )
    assert commands(md) == [["run", "--m=u:p@x", "<N>"], ["run", "--m=u:q@x", "<N>"]]
