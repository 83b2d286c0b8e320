"""Drive the `local` stack with the real Pulumi engine through the Automation API.

The program runs inline (in this Python process), so the engine needs no
Python language host. Each `LocalStack` lives in its own work directory: a
copy of `Pulumi.yaml` and of `Pulumi.local.yaml` whose kubeconfig points at a
running sandbox and whose chart paths are absolute, a file backend under
`state/`, and passphrase secrets. The repository's own files are never
written.

    from tools.local_stack import LocalStack
    stack = LocalStack.create(work_dir, kubeconfig=sandbox.kubeconfig, acme=sandbox.acme_server)
    stack.up()
"""

from __future__ import annotations

import copy
import os
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from pulumi import automation as auto

from components.edge.ingress_nginx import INGRESS_NGINX
from components.edge.traefik import TRAEFIK
from tools.engine_env import REPO_ROOT, engine_env, pulumi_command_root
from tools.helm import upstream_chart

STACK = "local"
PROJECT = "multisite"
PASSPHRASE = "multisite-local-sandbox"  # guards nothing of value: the sandbox is throwaway


def file_backend_url(directory: Path) -> str:
    """A `file://` state backend in `directory` that a killed process cannot leave unreadable.

    Pulumi's file backend (gocloud.dev's fileblob) writes each state file
    through a temporary file and a rename, but also a `.attrs` sidecar that it
    truncates and rewrites in place: a process killed between the two leaves
    an empty sidecar, and every later command fails with `failed to load
    checkpoint: EOF` (tests/engine/test_crash_recovery.py found it).
    `metadata=skip` writes no sidecars; every engine test runs without them.
    """
    return directory.resolve().as_uri() + "?metadata=skip"


def service_sites(count: int) -> list[dict[str, Any]]:
    """`multisite:sites` of `count` sites routed to Services (`site<i>.example.com` -> `svc-<i>`)."""
    return [{"host": f"site{i}.example.com", "service": f"svc-{i}", "port": 80} for i in range(count)]


def lay_out_charts(directory: Path, *, cert_manager_version: str) -> Path:
    """The local stack's chart directory (`multisite:charts`): links to the real
    chart archives (`tools.helm.upstream_chart`).

    Traefik (the edge of Pulumi.local.yaml), cert-manager at
    `cert_manager_version` (the one the sandbox builds, engine/versions.env),
    and ingress-nginx, so that switching `multisite:edge` can be previewed.
    """
    directory.mkdir(parents=True, exist_ok=True)
    charts = (
        ("traefik", TRAEFIK.version),
        ("ingress-nginx", INGRESS_NGINX.version),
        ("cert-manager", cert_manager_version),
    )
    for name, version in charts:
        target = upstream_chart(name, version)
        link = directory / target.name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target)
    return directory


def local_config(
    kubeconfig: Path,
    *,
    acme_directory: str,
    acme_ca: str,
    root: Path = REPO_ROOT,
    routes: str = "ingress",
) -> dict[str, Any]:
    """`Pulumi.local.yaml`'s config for one running sandbox cluster.

    Its kubeconfig; the charts laid out in `charts/` next to it; both issuers
    on the sandbox's ACME CA (`acme_directory`, served with a certificate
    from the PEM `acme_ca`). `routes: gateway` serves the sites through Gateway
    API objects, with the CRDs the engine copies from the Go module.
    """
    with open(root / f"Pulumi.{STACK}.yaml") as f:
        config: dict[str, Any] = yaml.safe_load(f)["config"]
    config = copy.deepcopy(config)
    config["multisite:cluster"]["kubeconfig"] = str(kubeconfig.resolve())
    charts = lay_out_charts(
        kubeconfig.parent / "charts", cert_manager_version=config["multisite:certManager"]["version"]
    )
    config["multisite:charts"] = str(charts.resolve())
    config["multisite:acme"] = {
        **config["multisite:acme"],
        "servers": {"staging": acme_directory, "prod": acme_directory},
        "caBundle": acme_ca,
    }
    if routes == "gateway":
        config["multisite:traefik"] = {
            **config.get("multisite:traefik", {}),
            "routes": "gateway",
            "gatewayCrds": engine_env()["MULTISITE_GATEWAY_API_CRDS"],
        }
    return config


class StackConfigFile:
    """Read and write the `config:` of a generated `Pulumi.local.yaml` (at `config_file`)."""

    @property
    def config_file(self) -> Path:
        raise NotImplementedError

    def read_config(self) -> dict[str, Any]:
        with open(self.config_file) as f:
            return dict(yaml.safe_load(f)["config"])

    def write_config(self, config: dict[str, Any]) -> None:
        """Replace the stack's config (objects and arrays included, as in a stack file)."""
        with open(self.config_file, "w") as f:
            yaml.safe_dump({"config": config}, f, sort_keys=False)

    def update_config(self, key: str, value: Any) -> None:
        config = self.read_config()
        config[key] = value
        self.write_config(config)


def _program() -> None:
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    runpy.run_path(str(REPO_ROOT / "__main__.py"), run_name="__main__")


class LocalStack(StackConfigFile):
    """The `local` stack in `work_dir`, with helpers to change its config between operations."""

    def __init__(self, work_dir: Path, stack: auto.Stack, env: dict[str, str]) -> None:
        self.work_dir = work_dir
        self.stack = stack
        self.env = env

    @classmethod
    def create(
        cls,
        work_dir: Path,
        *,
        kubeconfig: Path,
        acme: tuple[str, str],
        env: dict[str, str] | None = None,
        backend_url: str | None = None,
        routes: str = "ingress",
    ) -> LocalStack:
        """Lay out `work_dir` and create (or select) the stack in its backend.

        `acme` = (directory URL, CA PEM) of the sandbox's ACME CA
        (`Sandbox.acme_server`). `backend_url`: the state backend (default a
        file backend in `work_dir/state`); `env` carries what it needs.
        """
        env = env if env is not None else engine_env()
        work_dir.mkdir(parents=True, exist_ok=True)
        (work_dir / "state").mkdir(exist_ok=True)
        (work_dir / "Pulumi.yaml").write_text(
            f"name: {PROJECT}\nruntime: python\ndescription: multisite local sandbox stack (generated)\n"
        )
        stack_env = {
            **env,
            "PULUMI_BACKEND_URL": backend_url or file_backend_url(work_dir / "state"),
            "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
        }
        options = auto.LocalWorkspaceOptions(
            work_dir=str(work_dir),
            pulumi_home=env["PULUMI_HOME"],
            env_vars=stack_env,
            pulumi_command=auto.PulumiCommand(root=pulumi_command_root(env), skip_version_check=True),
        )
        stack = auto.create_or_select_stack(
            stack_name=STACK, project_name=PROJECT, program=_program, opts=options
        )
        local = cls(work_dir, stack, stack_env)
        local.write_config(local_config(kubeconfig, acme_directory=acme[0], acme_ca=acme[1], routes=routes))
        return local

    # Configuration ----------------------------------------------------------
    @property
    def config_file(self) -> Path:
        return self.work_dir / f"Pulumi.{STACK}.yaml"

    # Operations ---------------------------------------------------------------
    def up(self, **kwargs: Any) -> auto.UpResult:
        return self.stack.up(color="never", **kwargs)

    def preview(self, **kwargs: Any) -> auto.PreviewResult:
        return self.stack.preview(color="never", **kwargs)

    def refresh(self, **kwargs: Any) -> auto.RefreshResult:
        return self.stack.refresh(color="never", **kwargs)

    def destroy(self, **kwargs: Any) -> auto.DestroyResult:
        return self.stack.destroy(color="never", **kwargs)

    def outputs(self) -> dict[str, Any]:
        return {k: v.value for k, v in self.stack.outputs().items()}

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run the pinned `pulumi` CLI on this stack (for commands the Automation API lacks)."""
        return subprocess.run(
            [os.path.join(pulumi_command_root(self.env), "bin", "pulumi"), *args, "--stack", STACK],
            cwd=self.work_dir,
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            check=False,
        )
