"""A throwaway copy of the project for plain `pulumi` CLI runs of the `local` stack.

`pulumi up` on a project directory needs the Python language host that
`scripts/engine` installs next to the pinned `pulumi`. This module lays out a
copy of the project that the CLI can run without touching the repository:

* `Pulumi.yaml`, `__main__.py` and `components/` copied from the repository,
  with the runtime's `virtualenv` pointed at the repository's `.venv`
  (absolute path), so nothing is installed;
* `Pulumi.local.yaml` generated from the repository's for one sandbox
  cluster: its kubeconfig, absolute chart paths and ACME CA
  (`tools.local_stack.local_config`);
* a file backend under `state/` (or the backend given) and passphrase secrets.

    from tools.cli_project import CliProject
    project = CliProject.create(tmp_path / "project", kubeconfig=sandbox.kubeconfig, acme=sandbox.acme_server)
    project.pulumi("stack", "init", "local", stack=False)
    project.pulumi("up", "--yes")
    project.pulumi("preview", "--policy-pack", str(POLICY_DIR))
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tools.engine_env import REPO_ROOT, engine_env
from tools.local_stack import PASSPHRASE, STACK, StackConfigFile, file_backend_url, local_config

#: What a Pulumi run of the program needs from the repository.
PROJECT_FILES = ("Pulumi.yaml", "__main__.py")
PROJECT_DIRS = ("components",)
#: The program's virtualenv (`make setup`).
VENV = REPO_ROOT / ".venv"
#: The policy pack, and the virtualenv its PulumiPolicy.yaml names (`make setup`).
POLICY_DIR = REPO_ROOT / "policy"
POLICY_VENV = POLICY_DIR / "venv"


@dataclass
class Run:
    """One finished `pulumi` command: `args` as given, `argv` as run."""

    args: list[str]
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def describe(self) -> str:
        return f"$ pulumi {' '.join(self.argv)}  (exit {self.returncode}, {self.seconds:.1f}s)\n{self.output}"


def ok(run: Run) -> Run:
    """`run` when it succeeded; else an AssertionError with its command line and output."""
    if run.returncode != 0:
        raise AssertionError(run.describe())
    return run


@dataclass
class CliProject(StackConfigFile):
    """The project copy in `directory` and the environment to run the pinned CLI in it."""

    directory: Path
    env: dict[str, str]
    runs: list[Run] = field(default_factory=list)

    @classmethod
    def create(
        cls,
        directory: Path,
        *,
        kubeconfig: Path,
        acme: tuple[str, str],
        env: dict[str, str] | None = None,
        backend_env: Mapping[str, str] | None = None,
        venv: Path = VENV,
        root: Path = REPO_ROOT,
    ) -> CliProject:
        """Copy the project into `directory` (which must not exist) for the sandbox
        cluster at `kubeconfig` whose ACME CA is `acme` (`Sandbox.acme_server`).

        `backend_env`: what points the CLI at the state backend (at least
        `PULUMI_BACKEND_URL`); by default a file backend under `state/`."""
        engine = env if env is not None else engine_env()
        directory.mkdir(parents=True)
        for name in PROJECT_FILES:
            shutil.copy2(root / name, directory / name)
        for name in PROJECT_DIRS:
            shutil.copytree(root / name, directory / name, ignore=shutil.ignore_patterns("__pycache__"))
        project_file = directory / "Pulumi.yaml"
        project = yaml.safe_load(project_file.read_text())
        project["runtime"].setdefault("options", {})["virtualenv"] = str(venv.resolve())
        project_file.write_text(yaml.safe_dump(project, sort_keys=False))
        if backend_env is None:
            state = directory / "state"
            state.mkdir()
            backend_env = {"PULUMI_BACKEND_URL": file_backend_url(state)}
        run_env = {**os.environ, **engine, **backend_env, "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE}
        # The CLI must not pick up another project's or user's stack selection.
        run_env.pop("PULUMI_STACK", None)
        cli = cls(directory, run_env)
        cli.write_config(local_config(kubeconfig, acme_directory=acme[0], acme_ca=acme[1], root=root))
        return cli

    # Stack configuration (the generated Pulumi.local.yaml) ------------------
    @property
    def config_file(self) -> Path:
        return self.directory / f"Pulumi.{STACK}.yaml"

    # Running the CLI ------------------------------------------------------------
    def argv(self, *args: str, stack: bool = True) -> list[str]:
        """The pinned `pulumi` command line for `args` (with `--stack local` unless stack=False)."""
        argv = [*args, "--non-interactive", "--color", "never"]
        if stack:
            argv += ["--stack", STACK]
        return [self.env["MULTISITE_PULUMI"], *argv]

    def pulumi(
        self, *args: str, stack: bool = True, timeout: float = 600, env: Mapping[str, str] = {}
    ) -> Run:
        """Run the pinned `pulumi` in the project copy, `env` added to its environment."""
        argv = self.argv(*args, stack=stack)
        start = time.monotonic()
        proc = subprocess.run(
            argv,
            cwd=self.directory,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        run = Run(list(args), argv[1:], proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start)
        self.runs.append(run)
        return run

    def start(self, *args: str, env: Mapping[str, str] = {}) -> subprocess.Popen[str]:
        """Start the pinned `pulumi` without waiting, in a process group of its own.
        Its plugins get groups of their own (Pulumi's RegisterProcessGroup), so a
        signal to this group reaches the CLI but not its provider."""
        return subprocess.Popen(
            self.argv(*args),
            cwd=self.directory,
            env={**self.env, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )


def policy_venv_hint() -> str | None:
    """None when the policy pack's virtualenv exists, else what to run."""
    if (POLICY_VENV / "bin" / "python").exists():
        return None
    return f"the policy pack's virtualenv {POLICY_VENV} is missing: run `make setup`"
