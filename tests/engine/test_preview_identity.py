"""docs/team.md's preview identity, on the real engine: an identity with no rights inside the
cluster previews a change as the deploy identity does, and cannot apply it.

The sandbox runs RBAC. The preview identity is a ServiceAccount with no role
binding at all: like `roles/container.clusterViewer` on GKE, it authenticates
and reads API discovery, and every object read or write is refused.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pulumi import automation as auto

from tools.kube import Cluster
from tools.local_stack import LocalStack
from tools.sandbox import Sandbox

pytestmark = pytest.mark.engine

NEW_SITE = {"host": "preview.example.net", "service": "preview", "port": 80}


def no_rights_kubeconfig(cluster: Cluster, sandbox: Sandbox) -> str:
    """The sandbox's kubeconfig with the token of a ServiceAccount bound to nothing."""
    cluster.core.create_namespaced_service_account("default", {"metadata": {"name": "previewer"}})
    request = {"spec": {"expirationSeconds": 3600}}
    token = cluster.core.create_namespaced_service_account_token("previewer", "default", request).status.token
    return sandbox.kubeconfig_text().replace(f"token: {sandbox.token}", f"token: {token}")


@pytest.fixture(scope="module")
def setup(
    cluster_sandbox: Sandbox, engine: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LocalStack, Path, str, str]]:
    """The local stack, `up` as the admin; the stack names a kubeconfig path whose
    contents say who runs the next command."""
    work = tmp_path_factory.mktemp("preview-identity")
    kubeconfig = work / "kubeconfig"
    admin = cluster_sandbox.kubeconfig_text()
    kubeconfig.write_text(admin)
    stack = LocalStack.create(
        work / "stack", kubeconfig=kubeconfig, acme=cluster_sandbox.acme_server, env=engine
    )
    assert stack.up().summary.result == "succeeded"
    previewer = no_rights_kubeconfig(Cluster(cluster_sandbox.kubeconfig), cluster_sandbox)
    try:
        yield stack, kubeconfig, admin, previewer
    finally:
        kubeconfig.write_text(admin)
        stack.destroy()


def preview_as(stack: LocalStack, kubeconfig: Path, identity: str) -> tuple[auto.PreviewResult, float]:
    kubeconfig.write_text(identity)
    start = time.monotonic()
    result = stack.preview(diff=True)
    return result, time.monotonic() - start


def test_an_identity_without_rights_previews_what_the_deploy_identity_previews(
    setup: tuple[LocalStack, Path, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    stack, kubeconfig, admin, previewer = setup
    config: dict[str, Any] = stack.read_config()
    stack.update_config("multisite:sites", [*config["multisite:sites"], NEW_SITE])
    try:
        as_admin, admin_s = preview_as(stack, kubeconfig, admin)
        as_previewer, previewer_s = preview_as(stack, kubeconfig, previewer)
    finally:
        stack.write_config(config)
        kubeconfig.write_text(admin)
    assert as_admin.change_summary.get(auto.OpType.CREATE) == 3  # the site component, Certificate, Ingress
    assert as_previewer.change_summary == as_admin.change_summary
    for name in ("preview-example-net", "preview.example.net"):
        assert name in as_previewer.stdout
    with capsys.disabled():  # the difference docs/team.md describes, measured
        print(f"\npreview of one new site: deploy identity {admin_s:.1f} s, no-rights {previewer_s:.1f} s")


def test_the_identity_without_rights_cannot_change_anything(
    setup: tuple[LocalStack, Path, str, str], cluster_sandbox: Sandbox
) -> None:
    stack, kubeconfig, admin, previewer = setup
    config: dict[str, Any] = stack.read_config()
    cluster = Cluster(cluster_sandbox.kubeconfig)
    before = cluster.inventory()
    stack.update_config("multisite:sites", [*config["multisite:sites"], NEW_SITE])
    kubeconfig.write_text(previewer)
    try:
        with pytest.raises(auto.CommandError) as refused:
            stack.up()
    finally:
        kubeconfig.write_text(admin)
        stack.write_config(config)
    assert "forbidden" in str(refused.value).lower()
    assert cluster.inventory() == before
