"""The one Helm release builder, and where a chart comes from and how values merge."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pulumi
import pulumi_kubernetes as k8s

from components.metadata import await_annotations, object_meta
from components.secrets import secret_if

if TYPE_CHECKING:  # config reads the chart pins from the component modules
    from components.config import ChartConfig

# Helm's timeout for installs and upgrades, in seconds: hook Jobs included.
RELEASE_TIMEOUT = 600


@dataclass(frozen=True)
class ChartRelease:
    """Which chart a component installs, and as what."""

    chart: str
    repository: str
    release_name: str
    namespace: str


def namespaced_release(
    name: str,
    release: ChartRelease,
    config: ChartConfig,
    values: pulumi.Input[Mapping[str, Any]],
    *,
    parent: pulumi.Resource,
    secret: bool,
    skip_await: bool,
    wait_for_jobs: bool | None = None,
    skip_crds: bool | None = None,
    delete_before_replace: bool | None = None,
) -> k8s.helm.v3.Release:
    """A namespace `<name>-namespace` and a `helm.v3.Release` `<name>-release` in it.

    `helm.v3.Release` rather than `helm.v4.Chart`, which drops Helm hooks:
    cert-manager's startupapicheck and ingress-nginx's admission-webhook
    certificate are hook Jobs. `config` is the stack's section for the chart
    (version, source override); `secret`: that section was set with
    `--secret`, so every input taken from it is secret. Options left at None
    stay out of the release's inputs.
    """
    namespace = k8s.core.v1.Namespace(
        f"{name}-namespace",
        metadata=object_meta(release.namespace, annotations=await_annotations(skip_await)),
        opts=pulumi.ResourceOptions(parent=parent),
    )
    return k8s.helm.v3.Release(
        f"{name}-release",
        name=release.release_name,
        namespace=namespace.metadata["name"],
        version=secret_if(secret, config.version),
        values=secret_if(secret, pulumi.Output.from_input(values)),
        timeout=RELEASE_TIMEOUT,
        wait_for_jobs=wait_for_jobs,
        skip_await=skip_await,
        skip_crds=skip_crds,
        **chart_source(release.chart, release.repository, config.chart, secret=secret),
        opts=pulumi.ResourceOptions(parent=parent, delete_before_replace=delete_before_replace),
    )


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
