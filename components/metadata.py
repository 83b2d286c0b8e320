"""Labels, annotations and metadata shared by the stack's Kubernetes objects."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

PART_OF = "multisite"
SKIP_AWAIT = "pulumi.com/skipAwait"
WAIT_FOR = "pulumi.com/waitFor"
TIMEOUT = "pulumi.com/timeoutSeconds"


def labels(name: str, component: str) -> dict[str, str]:
    """Recommended `app.kubernetes.io` labels for one object."""
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": "pulumi",
    }


def await_annotations(skip_await: bool) -> dict[str, str]:
    """`pulumi.com/skipAwait` for clusters where nothing would ever become ready."""
    return {SKIP_AWAIT: "true"} if skip_await else {}


def object_meta(
    name: str,
    *,
    namespace: str | None = None,
    labels: dict[str, str] | None = None,
    annotations: Mapping[str, pulumi.Input[str]],
) -> k8s.meta.v1.ObjectMetaArgsDict:
    """`metadata` of an object; empty annotations are left out, not sent as `{}`.

    The API server drops an empty map, so sending `{}` would show as a change
    on every preview.
    """
    meta: k8s.meta.v1.ObjectMetaArgsDict = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    if labels:
        meta["labels"] = labels
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta


def custom_resource(
    resource_name: str, manifest: dict[str, Any], opts: pulumi.ResourceOptions
) -> k8s.apiextensions.CustomResource:
    """Register a custom-resource manifest (apiVersion, kind, metadata, spec)."""
    return k8s.apiextensions.CustomResource(
        resource_name,
        api_version=manifest["apiVersion"],
        kind=manifest["kind"],
        metadata=manifest["metadata"],
        spec=manifest["spec"],
        opts=opts,
    )
