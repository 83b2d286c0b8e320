"""Labels and annotations every Kubernetes object of the stack carries."""

from __future__ import annotations

PART_OF = "multisite"
SKIP_AWAIT = "pulumi.com/skipAwait"
WAIT_FOR = "pulumi.com/waitFor"


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
    annotations: dict[str, str],
) -> dict[str, object]:
    """`metadata` of an object; empty annotations are left out, not sent as `{}`.

    The API server drops an empty map, so sending `{}` would show as a change
    on every preview.
    """
    meta: dict[str, object] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    if labels:
        meta["labels"] = labels
    if annotations:
        meta["annotations"] = annotations
    return meta
