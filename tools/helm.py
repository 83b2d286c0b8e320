"""Render a real upstream chart with Helm (built by scripts/engine), as a cluster would install it."""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from tools.engine_env import UPSTREAM, cache_dir

#: The Kubernetes version charts are rendered for (their kubeVersion checks,
#: `Capabilities`): the sandbox's kube-apiserver minor.
KUBE_VERSION = "1.35.0"
#: What a Kubernetes 1.35 API server's discovery tells Helm and `helm template`
#: does not know: the group/version/kind the charts test for (the Traefik
#: chart falls back to policy/v1beta1 PodDisruptionBudgets without it).
API_VERSIONS = ("policy/v1/PodDisruptionBudget",)


class RenderError(RuntimeError):
    """`helm template` refused the chart or the values (its stderr is the message)."""


def upstream_chart(name: str, version: str) -> Path:
    """The real chart archive `<name>-<version>.tgz`.

    From ../shared/upstream/charts (Traefik, ingress-nginx), or from the engine
    cache's `charts/`, where scripts/engine packages the charts that a Go
    module serves (cert-manager's, from the module its binaries are built from).
    """
    archive = f"{name}-{version}.tgz"
    places = (UPSTREAM / "charts" / archive, cache_dir() / "charts" / archive)
    for path in places:
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"{archive} is in neither {places[0].parent} (../shared/upstream, its README) "
        f"nor {places[1].parent} (run scripts/engine, which packages the cert-manager chart)"
    )


def manifests(text: str) -> list[dict[str, Any]]:
    """The objects in `helm template` output, in chart order."""
    return [doc for doc in yaml.safe_load_all(text) if doc]


def render_text(
    helm: str,
    chart: Path,
    values: Mapping[str, Any],
    *,
    release: str,
    namespace: str,
    include_crds: bool = True,
) -> str:
    """Every object `helm install` would create (hooks included), as `helm template` prints them."""
    with tempfile.NamedTemporaryFile("w", suffix=".json") as values_file:
        json.dump(values, values_file)
        values_file.flush()
        args = [
            helm,
            "template",
            release,
            str(chart),
            "--namespace",
            namespace,
            "--kube-version",
            KUBE_VERSION,
            *(arg for api in API_VERSIONS for arg in ("--api-versions", api)),
            "--values",
            values_file.name,
        ]
        if include_crds:
            args.append("--include-crds")
        done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RenderError(done.stderr.strip())
    return done.stdout
