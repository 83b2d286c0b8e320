"""Drive the `local` stack with the real Pulumi engine through the Automation API.

The program runs inline (in this Python process), so the engine needs no
Python language host. Each `LocalStack` lives in its own work directory: a
copy of `Pulumi.yaml` and of `Pulumi.local.yaml` whose kubeconfig points at a
running sandbox and whose chart paths are absolute, a file backend under
`state/`, and passphrase secrets. The repository's own files are never
written.

    from tools.local_stack import LocalStack
    stack = LocalStack.create(work_dir, kubeconfig=sandbox.kubeconfig)
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

from components.edge.traefik import TRAEFIK
from tools.engine_env import REPO_ROOT, UPSTREAM, engine_env, pulumi_command_root

STACK = "local"
PROJECT = "multisite"
PASSPHRASE = "multisite-local-sandbox"  # guards nothing of value: the sandbox is throwaway
CHARTS = ("ingress-nginx", "cert-manager")


def chart_dir(name: str, *, root: Path = REPO_ROOT) -> Path:
    """The real chart in `charts/<name>` when the user put it there, else our stand-in."""
    real = root / "charts" / name
    if (real / "Chart.yaml").is_file():
        return real
    return root / "tests" / "fixtures" / "charts" / name


def lay_out_charts(directory: Path, *, root: Path = REPO_ROOT) -> Path:
    """The local stack's chart directory (`multisite:charts`), as links.

    ingress-nginx and cert-manager: `chart_dir` (the real ones in charts/, else
    our stand-ins); Traefik: the real chart archive in ../shared/upstream.
    """
    directory.mkdir(parents=True, exist_ok=True)
    links = {name: chart_dir(name, root=root) for name in CHARTS}
    traefik_archive = f"traefik-{TRAEFIK.version}.tgz"
    links[traefik_archive] = UPSTREAM / "charts" / traefik_archive
    for name, target in links.items():
        link = directory / name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target.resolve())
    return directory


def local_config(kubeconfig: Path, *, root: Path = REPO_ROOT) -> dict[str, Any]:
    """`Pulumi.local.yaml`'s config with absolute paths for this sandbox.

    The charts are laid out in `charts/` next to the kubeconfig.
    """
    with open(root / f"Pulumi.{STACK}.yaml") as f:
        config: dict[str, Any] = yaml.safe_load(f)["config"]
    config = copy.deepcopy(config)
    config["multisite:cluster"]["kubeconfig"] = str(kubeconfig.resolve())
    config["multisite:charts"] = str(lay_out_charts(kubeconfig.parent / "charts", root=root).resolve())
    return config


# The cert-manager source the sandbox cluster runs (scripts/engine,
# engine/versions.env); its chart from ../shared/upstream matches it. The
# stack's default pin is newer (components/cert_manager.py): a known skew.
SANDBOX_CERT_MANAGER = "v1.21.1"


def cluster_config(config: dict[str, Any], *, acme_directory: str, acme_ca: str) -> dict[str, Any]:
    """The local stack's config for a sandbox *cluster* (`Sandbox(cluster=True)`).

    What differs from a bare API server: the Traefik edge (it runs there),
    cert-manager's real chart at the version the sandbox runs, both issuers
    on the sandbox's ACME CA (`acme_directory`, served with a certificate from
    `acme_ca`), and `pulumi up` waiting for every certificate.
    """
    config = copy.deepcopy(config)
    charts = Path(config["multisite:charts"])
    archive = f"cert-manager-{SANDBOX_CERT_MANAGER}.tgz"
    link = charts / archive
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(UPSTREAM / "charts" / archive)
    config["multisite:edge"] = "traefik"
    config["multisite:certManager"] = {
        **config.get("multisite:certManager", {}),
        "version": SANDBOX_CERT_MANAGER,
    }
    config["multisite:acme"] = {
        **config["multisite:acme"],
        "servers": {"staging": acme_directory, "prod": acme_directory},
        "caBundle": acme_ca,
        "waitForCertificates": True,
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
        env: dict[str, str] | None = None,
        acme: tuple[str, str] | None = None,
    ) -> LocalStack:
        """Lay out `work_dir` and create (or select) the stack in its file backend.

        `acme` = (directory URL, CA PEM) of a sandbox cluster's ACME CA: the
        stack then gets `cluster_config`.
        """
        env = env if env is not None else engine_env()
        work_dir.mkdir(parents=True, exist_ok=True)
        (work_dir / "state").mkdir(exist_ok=True)
        (work_dir / "Pulumi.yaml").write_text(
            f"name: {PROJECT}\nruntime: python\ndescription: multisite local sandbox stack (generated)\n"
        )
        stack_env = {
            **env,
            "PULUMI_BACKEND_URL": (work_dir / "state").resolve().as_uri(),
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
        config = local_config(kubeconfig)
        if acme is not None:
            config = cluster_config(config, acme_directory=acme[0], acme_ca=acme[1])
        local.write_config(config)
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
