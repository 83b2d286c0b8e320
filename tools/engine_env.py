"""Read the environment that ``scripts/engine`` writes for the offline engine.

``scripts/engine`` builds (or finds) the pinned Pulumi CLI, Kubernetes provider
plugin, kube-apiserver and etcd, registers the plugin into a PULUMI_HOME under
its cache and writes ``$MULTISITE_CACHE/engine.env`` (shell ``export`` lines).
This module parses that file so Python tests and the Automation API driver can
use the binaries without a shell.

    from tools.engine_env import engine_env
    env = engine_env()          # raises EngineNotProvided with a clear message
    env["PULUMI_HOME"], env["MULTISITE_KUBE_APISERVER"], env["PATH"]
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
#: Real upstream charts and sources for offline tests, beside the repository
#: as CI and the developers' machines lay it out (see its README).
UPSTREAM = REPO_ROOT.parent / "shared" / "upstream"

#: Keys that must name existing files for the engine to be usable.
BINARY_KEYS = (
    "MULTISITE_PULUMI",
    "MULTISITE_KUBERNETES_PROVIDER",
    "MULTISITE_KUBE_APISERVER",
    "MULTISITE_ETCD",
    "MULTISITE_HELM",
)


class EngineNotProvided(RuntimeError):
    """The engine binaries or their env file are missing: run scripts/engine."""


def cache_dir() -> Path:
    """The cache root used by scripts/engine (``$MULTISITE_CACHE`` or ~/.cache/multisite)."""
    configured = os.environ.get("MULTISITE_CACHE")
    if configured:
        return Path(configured)
    return Path.home() / ".cache" / "multisite"


def env_file_path() -> Path:
    """Where scripts/engine writes its env file."""
    return cache_dir() / "engine.env"


def _hint() -> str:
    return (
        f"run `{REPO_ROOT / 'scripts' / 'engine'}` first (a cold build takes tens of "
        "minutes; later runs take seconds), with the same MULTISITE_CACHE"
    )


def read_env_file(path: Path) -> dict[str, str]:
    """Parse ``export KEY=VALUE`` lines (values quoted as a POSIX shell would)."""
    values: dict[str, str] = {}
    for lineno, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :]
        key, sep, rest = line.partition("=")
        if not sep or not key.isidentifier():
            raise EngineNotProvided(f"{path}:{lineno}: cannot parse {raw!r}; {_hint()}")
        if key == "PATH":
            # Written as '<dir>':"$PATH"; rebuilt below from MULTISITE_PULUMI_DIR.
            continue
        parts = shlex.split(rest)
        values[key] = parts[0] if parts else ""
    return values


def engine_env(path: str | os.PathLike[str] | None = None, *, base_path: str | None = None) -> dict[str, str]:
    """Return the variables for using the offline engine.

    The result holds PULUMI_HOME, PULUMI_SKIP_UPDATE_CHECK,
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION, the MULTISITE_* paths
    (MULTISITE_PULUMI, MULTISITE_PULUMI_DIR, MULTISITE_PULUMI_ROOT,
    MULTISITE_KUBERNETES_PROVIDER, MULTISITE_KUBE_APISERVER, MULTISITE_ETCD and
    their versions) and PATH with the pulumi directory in front of
    ``base_path`` (default: this process's PATH). It is meant to be merged into
    a subprocess environment (``{**os.environ, **engine_env()}``) or handed to
    ``pulumi.automation.LocalWorkspace(env_vars=...)``.

    Raises EngineNotProvided (with the command to run) when the env file or a
    binary it names is missing.
    """
    env_path = Path(path) if path is not None else env_file_path()
    if not env_path.is_file():
        raise EngineNotProvided(f"engine env file {env_path} not found; {_hint()}")
    values = read_env_file(env_path)
    missing = [k for k in BINARY_KEYS if not values.get(k) or not Path(values[k]).is_file()]
    if missing:
        detail = ", ".join(f"{k}={values.get(k, '<unset>')}" for k in missing)
        raise EngineNotProvided(f"engine binaries missing ({detail}); {_hint()}")
    pulumi_dir = values.get("MULTISITE_PULUMI_DIR") or str(Path(values["MULTISITE_PULUMI"]).parent)
    inherited = os.environ.get("PATH", "") if base_path is None else base_path
    values["PATH"] = pulumi_dir + (os.pathsep + inherited if inherited else "")
    return values


def pulumi_command_root(env: dict[str, str] | None = None) -> str:
    """Directory to give ``pulumi.automation.PulumiCommand(root=...)`` (it runs root/bin/pulumi)."""
    env = env if env is not None else engine_env()
    root = env.get("MULTISITE_PULUMI_ROOT") or str(Path(env["MULTISITE_PULUMI"]).parent.parent)
    if not (Path(root) / "bin" / "pulumi").is_file():
        raise EngineNotProvided(f"no bin/pulumi under {root}; {_hint()}")
    return root
