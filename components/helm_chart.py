"""Shared helpers for the two Helm releases: where a chart comes from, how values merge."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import pulumi_kubernetes as k8s

from components.secrets import secret_if


def chart_source(chart: str, repo: str, override: str | None, *, secret: bool = False) -> dict[str, Any]:
    """Keyword arguments of `helm.v3.Release` that say where the chart is.

    `override` (from `chart:` in the stack config) may be a repository URL
    (a mirror), an `oci://` reference, or a local chart directory
    (air-gapped use, the local sandbox stack). Absent: the upstream repository.
    `secret`: the override was set with `--secret` (a URL with credentials).
    """
    if override is None:
        return {"chart": chart, "repository_opts": k8s.helm.v3.RepositoryOptsArgs(repo=repo)}
    if override.startswith(("http://", "https://")):
        return {
            "chart": chart,
            "repository_opts": k8s.helm.v3.RepositoryOptsArgs(repo=secret_if(secret, override)),
        }
    return {"chart": secret_if(secret, override)}


def merge_values(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge `override` into a copy of `base`: mappings merge, anything else replaces."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge_values(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged
