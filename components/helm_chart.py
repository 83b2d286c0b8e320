"""The one Helm release builder, and where a chart comes from and how values merge."""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

import pulumi
import pulumi_kubernetes as k8s
from pydantic import AfterValidator, Field

from components.fields import ChartVersion, KeysRule, Model
from components.metadata import await_annotations, object_meta

# Helm's timeout for installs and upgrades, in seconds: hook Jobs included.
RELEASE_TIMEOUT = 600


CHART_SOURCE_EXPECTED = (
    "expected a chart repository URL (https://...), an OCI reference (oci://...) or the path of"
    " an existing local chart (a directory with a Chart.yaml, or a chart archive)"
)


def chart_location(value: str) -> str:
    """Check where a chart comes from: a repository URL, an OCI reference or an existing
    local chart; return it (a local path with `~` expanded, which Helm does not do)."""
    scheme, sep, rest = value.partition("://")
    if not sep:
        # Checked at preview, as the kubeconfig path and `multisite:charts` are: a
        # missing chart would otherwise fail in the middle of `pulumi up`.
        path = os.path.expanduser(value)
        if not (os.path.isfile(path) or os.path.isfile(os.path.join(path, "Chart.yaml"))):
            raise ValueError(CHART_SOURCE_EXPECTED)
        return path
    if scheme not in ("http", "https", "oci"):
        raise ValueError(CHART_SOURCE_EXPECTED)
    if not rest.strip("/"):
        raise ValueError(f"expected a {scheme}:// location with a host")
    return value


ChartLocation = Annotated[str, AfterValidator(chart_location)]


@dataclass(frozen=True)
class ProgramValues:
    """Chart values the program sets, or leaves at the chart's default, and relies on.

    A user's `values` may not set them, nor replace a mapping above them: Helm-style
    merging would silently undo what `keeps`.
    """

    paths: tuple[str, ...]
    """Dotted paths in the chart's values (`service.spec.loadBalancerIP`)."""
    keeps: str
    """The invariant they keep, as the error states it."""
    instead: str
    """What to do instead."""


def overridden(values: Mapping[str, Any], path: str) -> str | None:
    """The dotted path of the key in `values` that sets `path` or replaces a mapping above it
    (Helm merges mappings and replaces anything else), or None when `path` is untouched."""
    node: Any = values
    parts = path.split(".")
    for depth, part in enumerate(parts, start=1):
        if part not in node:
            return None
        node = node[part]
        if depth == len(parts) or not isinstance(node, Mapping):
            return ".".join(parts[:depth])
    return None  # not reached: the loop returns at the last part at the latest


def program_value_problems(values: Any, kept: tuple[ProgramValues, ...]) -> list[KeysRule]:
    """A problem for each key of a user's `values` that would undo one of `kept`, once per key
    (for the first group it undoes: a key that replaces a whole mapping may undo several)."""
    if not isinstance(values, Mapping):
        return []
    problems: dict[str, KeysRule] = {}
    for group in kept:
        for path in group.paths:
            key = overridden(values, path)
            if key is not None and key not in problems:
                problems[key] = KeysRule(
                    (f"values.{key}",),
                    f"expected this left to the program, which relies on it: {group.keeps}; {group.instead}",
                )
    return list(problems.values())


class ChartConfig(Model):
    """A Helm chart: version pin, optional source override, extra values."""

    FREE_TEXT: ClassVar[frozenset[str]] = frozenset({"values"})
    PROGRAM_VALUES: ClassVar[tuple[ProgramValues, ...]] = ()
    """The chart values this release relies on; refused in `values`."""
    EXTENDED_LISTS: ClassVar[dict[str, str]] = {}
    """Top-level lists the program fills and a user's `values` extend (`merge_values`' `extend`),
    with what a value that is not a list is expected to be."""

    version: ChartVersion
    """The exact chart version (a pin, not a range)."""
    chart: ChartLocation | None = None
    """Where the chart comes from instead of its upstream repository: a repository URL (a
    mirror), an `oci://` reference, or a local chart directory or archive (air-gapped use),
    relative to the project directory; a local chart must exist when the stack is previewed."""
    values: dict[str, Any] = Field(default_factory=dict)
    """Helm values, merged last over the program's own; the values the program relies on are
    refused (listed below), and a list the program fills (Traefik's `extraObjects`) keeps its
    items, with yours after them."""

    @classmethod
    def shape_problems(cls, given: Mapping[str, Any]) -> list[KeysRule]:
        values = given.get("values")
        problems = program_value_problems(values, cls.PROGRAM_VALUES)
        if isinstance(values, Mapping):
            problems += [
                KeysRule((f"values.{key}",), expected)
                for key, expected in cls.EXTENDED_LISTS.items()
                if key in values and not isinstance(values[key], list)
            ]
        return problems


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
    skip_await: bool,
    wait_for_jobs: bool | None = None,
    skip_crds: bool | None = None,
    delete_before_replace: bool | None = None,
    after: Sequence[pulumi.Resource] = (),
) -> k8s.helm.v3.Release:
    """A namespace `<name>-namespace` and a `helm.v3.Release` `<name>-release` in it.

    `helm.v3.Release` rather than `helm.v4.Chart`, which drops Helm hooks:
    cert-manager's startupapicheck and ingress-nginx's admission-webhook
    certificate are hook Jobs. `config` is the stack's section for the chart
    (version, source override); every input taken from it is secret when the
    section is. Options left at None stay out of the release's inputs.
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
        version=config.input(config.version),
        values=config.input(pulumi.Output.from_input(values)),
        timeout=RELEASE_TIMEOUT,
        wait_for_jobs=wait_for_jobs,
        skip_await=skip_await,
        skip_crds=skip_crds,
        **chart_source(release, config),
        opts=pulumi.ResourceOptions(
            parent=parent, delete_before_replace=delete_before_replace, depends_on=list(after) or None
        ),
    )


def chart_source(release: ChartRelease, config: ChartConfig) -> dict[str, Any]:
    """Keyword arguments of `helm.v3.Release` that say where the chart is.

    `config.chart` may be a repository URL (a mirror), an `oci://` reference,
    or a local chart directory (air-gapped use, the local sandbox stack).
    Absent: the upstream repository. Secret when its section is (a URL with
    credentials).
    """
    override = config.chart
    if override is None:
        return {
            "chart": release.chart,
            "repository_opts": k8s.helm.v3.RepositoryOptsArgs(repo=release.repository),
        }
    if override.startswith(("http://", "https://")):
        return {
            "chart": release.chart,
            "repository_opts": k8s.helm.v3.RepositoryOptsArgs(repo=config.input(override)),
        }
    return {"chart": config.input(override)}


def merge_values(
    base: Mapping[str, Any], override: Mapping[str, Any], *, extend: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """Deep-merge `override` into a copy of `base`: mappings merge, anything else replaces,
    but for the top-level lists named in `extend`, which keep `base`'s items and add
    `override`'s after them (`extraObjects`: the program's objects stay)."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge_values(merged[key], value)
        elif key in extend and isinstance(value, list) and isinstance(merged.get(key), list):
            merged[key] = [*merged[key], *copy.deepcopy(value)]
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def local_chart(directory: str, chart: str, version: str) -> str | None:
    """`<chart>-<version>.tgz` (as `helm pull` writes it) or `<chart>/` in `directory`, if there."""
    archive = os.path.join(directory, f"{chart}-{version}.tgz")
    if os.path.isfile(archive):
        return archive
    unpacked = os.path.join(directory, chart)
    return unpacked if os.path.isfile(os.path.join(unpacked, "Chart.yaml")) else None
