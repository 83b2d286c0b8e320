"""`pulumi up` killed half-way, and the recovery docs/scale.md gives.

While `up` adds sites, the CLI and everything it started (language host,
provider plugin) get SIGKILL, as a lost CI runner or an OOM kill would leave
them. Then the documented recovery runs: `pulumi cancel` (the stack's lock
is still there), `pulumi refresh --clear-pending-creates`, `pulumi up`.
Once with Pulumi's checkpoints (the default: the state records each step as
it ends) and once with `PULUMI_SKIP_CHECKPOINTS=true` (the state is written
only when the operation ends, so the crash loses the record of everything
this `up` made). Each on two state backends: a directory (`file://`) and
Google Cloud Storage (`gs://`, fake-gcs-server on loopback), which write
the state differently (a file renamed into place; an object uploaded whole).
In every case the repaired stack has every site exactly once, keeps the
objects made before the crash (the Kubernetes provider's server-side apply
adopts an object that already exists), and previews clean.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import INGRESS
from tools.cli_project import CliProject, ok
from tools.fake_gcs import FakeGcs
from tools.kube import Cluster
from tools.local_stack import file_backend_url, service_sites
from tools.sandbox import Sandbox

pytestmark = pytest.mark.engine

SITES = 24
#: The crash comes once this many sites' Ingresses exist: well inside the `up`.
KILL_AFTER = 4
#: Where the stack's state is, relative to the backend's root (Pulumi's DIY layout).
STATE_OBJECT = ".pulumi/stacks/multisite/local.json"


def site_ingresses(kube: Cluster) -> dict[str, str]:
    """name -> uid of each Ingress in `default`, where the sites are."""
    return {i.metadata.name: i.metadata.uid for i in kube.ingresses() if i.metadata.namespace == "default"}


def site_certificates(kube: Cluster) -> set[str]:
    return {c["metadata"]["name"] for c in kube.certificates() if c["metadata"]["namespace"] == "default"}


@dataclass(frozen=True)
class Backend:
    """A state backend: the environment that points `pulumi` at it, and a
    reader of its objects (the CLI would wait for the lock of a running `up`)."""

    env: dict[str, str]
    read: Callable[[str], bytes]

    def ingresses_in_state(self) -> int:
        """Ingresses in the stack's state as last written."""
        latest = json.loads(self.read(STATE_OBJECT))["checkpoint"]["latest"]
        return sum(1 for r in latest.get("resources", []) if r["type"] == INGRESS)


@pytest.fixture(scope="module", params=["file", "gs"])
def backend(
    request: pytest.FixtureRequest, engine: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Backend]:
    directory = tmp_path_factory.mktemp(f"state-{request.param}")
    if request.param == "file":
        env = {"PULUMI_BACKEND_URL": file_backend_url(directory)}
        yield Backend(env, lambda name: (directory / name).read_bytes())
    else:
        with FakeGcs.start(engine["MULTISITE_FAKE_GCS_SERVER"], directory) as gcs:
            yield Backend(gcs.env, gcs.read)


@pytest.fixture(scope="module")
def project(
    cluster_sandbox: Sandbox,
    kube: Cluster,
    engine: dict[str, str],
    backend: Backend,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[CliProject]:
    """The platform (cert-manager, Traefik, issuers) up with no sites, cert-manager's
    controller stopped so that the sites' Certificates start no ACME orders."""
    cli = CliProject.create(
        tmp_path_factory.mktemp("crash") / "project",
        kubeconfig=cluster_sandbox.kubeconfig,
        acme=cluster_sandbox.acme_server,
        env=engine,
        backend_env=backend.env,
    )
    config = cli.read_config()
    config["multisite:sites"] = []
    config["multisite:acme"] = {**config["multisite:acme"], "waitForCertificates": False}
    cli.write_config(config)
    ok(cli.pulumi("stack", "init", "local", stack=False))
    ok(cli.pulumi("up", "--yes", "--skip-preview"))
    kube.apps.patch_namespaced_deployment_scale("cert-manager", "cert-manager", {"spec": {"replicas": 0}})
    yield cli
    cli.pulumi("cancel", "--yes")
    ok(cli.pulumi("destroy", "--yes", "--skip-preview"))
    # The next backend's platform goes into namespaces of the same names.
    assert kube.namespaces_gone({"traefik", "cert-manager"}), kube.namespaces()


def kill_half_way(
    project: CliProject, backend: Backend, kube: Cluster, env: dict[str, str], *, recorded: int
) -> None:
    """Start `up` and SIGKILL it with every process under it once KILL_AFTER sites
    exist and at least `recorded` of them are in the state."""
    # One step at a time: with Pulumi's default parallelism every site's objects
    # are requested at once, and without checkpoints all 24 could exist before
    # the kill lands (seen in CI: 24 of 24). Sequential steps leave room for it.
    up = project.start("up", "--yes", "--skip-preview", "--parallel", "1", env=env)
    try:
        deadline = time.monotonic() + 300
        while len(site_ingresses(kube)) < KILL_AFTER or backend.ingresses_in_state() < recorded:
            assert up.poll() is None, f"`up` ended (exit {up.returncode}) before it could be killed"
            assert time.monotonic() < deadline, "no site appeared within 300 s"
            time.sleep(0.05)
    finally:
        # Pulumi starts each plugin in a process group of its own (RegisterProcessGroup,
        # sdk/go/common/util/cmdutil in 3.274.1), so killing the CLI's group would
        # leave the provider running. Freeze the CLI so it starts nothing more,
        # then kill the tree as it stands.
        with contextlib.suppress(ProcessLookupError):  # gone already: the assertion above says why
            os.killpg(up.pid, signal.SIGSTOP)
        for pid in process_tree(up.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        up.wait()


def process_tree(root: int) -> list[int]:
    """`root` and every live process descended from it (parents read from /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        children.setdefault(ppid, []).append(int(stat.parent.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += children.get(pid, [])
    return tree


@pytest.mark.parametrize("skip_checkpoints", [False, True], ids=["checkpoints", "skip-checkpoints"])
def test_cancel_refresh_and_up_repair_an_up_killed_half_way(
    project: CliProject, backend: Backend, kube: Cluster, skip_checkpoints: bool
) -> None:
    env = {"PULUMI_SKIP_CHECKPOINTS": "true"} if skip_checkpoints else {}
    project.update_config("multisite:sites", [])
    ok(project.pulumi("up", "--yes", "--skip-preview"))
    assert site_ingresses(kube) == {}

    project.update_config("multisite:sites", service_sites(SITES))
    # With checkpoints, wait until the state has recorded a site, so that the
    # crash falls after some steps were written; without, nothing is written.
    kill_half_way(project, backend, kube, env, recorded=0 if skip_checkpoints else 1)
    before = site_ingresses(kube)
    assert KILL_AFTER <= len(before) < SITES, "the kill did not fall inside the `up`"
    if skip_checkpoints:
        # Nothing of this `up` reached the state: the crash lost its record.
        assert backend.ingresses_in_state() == 0
    else:
        # Each finished step was checkpointed; the rest was lost with the process.
        assert 1 <= backend.ingresses_in_state() <= len(before)

    locked = project.pulumi("up", "--yes", "--skip-preview", env=env)
    assert locked.returncode != 0 and "pulumi cancel" in locked.output, locked.describe()
    ok(project.pulumi("cancel", "--yes"))
    ok(project.pulumi("refresh", "--yes", "--clear-pending-creates", env=env))
    ok(project.pulumi("up", "--yes", "--skip-preview", env=env))
    ok(project.pulumi("preview", "--expect-no-changes"))

    after = site_ingresses(kube)
    assert len(after) == SITES
    assert site_certificates(kube) == set(after)
    assert backend.ingresses_in_state() == SITES
    # Adopted in place, not deleted and made again: the same objects.
    assert {name: after[name] for name in before} == before
