"""The local stack's lifecycle: the real Pulumi engine on the sandbox cluster.

The real Traefik and cert-manager charts install and run (tests/e2e proves the
certificates and requests; this module the engine's view: what each
operation changes). The tests run in file order and share one stack: each
step starts from the state the previous one left, as a person at a terminal
would. What exists is always read back from the API server with the
Kubernetes client, never from Pulumi's state. Each step's wall time is
printed at the end of the session.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import pytest
from pulumi import automation as auto

from tests.support import print_wall_times
from tools.kube import Cluster
from tools.local_stack import LocalStack
from tools.sandbox import Sandbox

pytestmark = pytest.mark.engine

T = TypeVar("T")
SITES = {"some-dummy-url-com", "www-example-com", "blog-example-org"}
# Every site's Ingress, and www.example.com's redirect Ingress (its `redirects`).
INGRESSES = {*SITES, "www-example-com-redirect"}
NEW_SITE = {"host": "new.example.net", "service": "new-site", "port": 80}
TIMINGS: dict[str, float] = {}


def timed(step: str, fn: Callable[[], T]) -> T:
    start = time.monotonic()
    try:
        return fn()
    finally:
        TIMINGS[step] = time.monotonic() - start


def changes(summary: Any) -> dict[str, int]:
    """Resource changes of an operation, without the unchanged ones."""
    return changes_of(summary.resource_changes or {})


def changes_of(counts: Mapping[Any, int]) -> dict[str, int]:
    """Counts by operation, without the unchanged ones."""
    return {op: n for op, n in counts.items() if op != "same"}


@pytest.fixture(scope="module", autouse=True)
def print_timings(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    print_wall_times(request.config, "engine step wall times (local stack)", TIMINGS)


@pytest.fixture(scope="module")
def cluster(kube: Cluster) -> Cluster:
    return kube


@pytest.fixture(scope="module")
def stack(
    cluster_sandbox: Sandbox, engine: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> LocalStack:
    work_dir: Path = tmp_path_factory.mktemp("local-stack")
    return timed(
        "create stack",
        lambda: LocalStack.create(
            work_dir, kubeconfig=cluster_sandbox.kubeconfig, acme=cluster_sandbox.acme_server, env=engine
        ),
    )


def recorded_resources(stack: LocalStack) -> Any:
    deployment = stack.stack.export_stack().deployment
    assert deployment is not None
    return deployment["resources"]


def ingress_uids(cluster: Cluster) -> dict[str, str]:
    return {i.metadata.name: i.metadata.uid for i in cluster.ingresses()}


def ready(certificate: dict[str, Any]) -> bool:
    conditions = certificate.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def test_up_creates_everything_the_write_up_made_by_hand(
    stack: LocalStack, cluster: Cluster, cluster_sandbox: Sandbox
) -> None:
    result = timed("up (first)", stack.up)
    assert result.summary.result == "succeeded"

    outputs = stack.outputs()
    assert "ingressIp" not in outputs  # staticIp.enabled false: a null export is left out
    assert outputs["issuer"] == "letsencrypt-staging"
    assert outputs["urls"]["some.dummy-url.com"] == "https://some.dummy-url.com/"

    # Both issuers on the sandbox's ACME CA (multisite:acme.servers, caBundle).
    directory, ca = cluster_sandbox.acme_server
    issuers = {i["metadata"]["name"]: i["spec"]["acme"] for i in cluster.cluster_issuers()}
    assert set(issuers) == {"letsencrypt-staging", "letsencrypt-prod"}
    for name, acme in issuers.items():
        assert acme["server"] == directory
        assert base64.b64decode(acme["caBundle"]).decode().strip() == ca
        assert acme["privateKeySecretRef"] == {"name": f"{name}-account-key"}
        assert acme["solvers"] == [{"http01": {"ingress": {"ingressClassName": "nginx"}}}]

    # waitForCertificates: `up` returned once every certificate was issued.
    assert all(ready(c) for c in cluster.certificates())
    certificates = {c["metadata"]["name"]: c["spec"] for c in cluster.certificates()}
    assert set(certificates) == SITES
    www = certificates["www-example-com"]
    assert www["dnsNames"] == ["www.example.com", "example.com", "old-brand.example.net"]
    assert www["secretName"] == "www-example-com-tls"
    assert www["issuerRef"] == {
        "name": "letsencrypt-staging",
        "kind": "ClusterIssuer",
        "group": "cert-manager.io",
    }

    ingresses = {i.metadata.name: i for i in cluster.ingresses()}
    assert set(ingresses) == INGRESSES
    redirect = ingresses["www-example-com-redirect"]
    assert redirect.metadata.annotations["nginx.ingress.kubernetes.io/permanent-redirect"] == (
        "https://www.example.com/$1"
    )
    assert [(t.secret_name, t.hosts) for t in redirect.spec.tls] == [
        ("www-example-com-tls", ["old-brand.example.net"])
    ]
    writeup = ingresses["some-dummy-url-com"]
    assert writeup.spec.ingress_class_name == "nginx"
    assert writeup.metadata.annotations["nginx.ingress.kubernetes.io/ssl-redirect"] == "true"
    assert [(t.secret_name, t.hosts) for t in writeup.spec.tls] == [
        ("some-dummy-url-com-tls", ["some.dummy-url.com"])
    ]
    backend = writeup.spec.rules[0].http.paths[0].backend.service
    assert (backend.name, backend.port.number) == ("some-my-service", 80)

    assert cluster.apps.read_namespaced_deployment("www-example-com", "default").spec.replicas == 1
    assert cluster.core.read_namespaced_service("www-example-com", "default").spec.type == "ClusterIP"
    assert cluster.helm_releases() == ["cert-manager/cert-manager", "traefik/traefik"]
    # Traefik serves ingress-nginx's class, which its release renders.
    (ingress_class,) = cluster.networking.list_ingress_class().items
    assert (ingress_class.metadata.name, ingress_class.spec.controller) == ("nginx", "k8s.io/ingress-nginx")
    service = cluster.core.read_namespaced_service("traefik", "traefik")
    assert service.spec.type == "LoadBalancer" and service.spec.external_traffic_policy == "Local"
    assert stack.outputs()["ingressService"] == "traefik/traefik"


def test_second_preview_reports_no_changes(stack: LocalStack) -> None:
    preview = timed("preview (no changes)", stack.preview)
    assert set(preview.change_summary) == {"same"}


def test_adding_then_removing_a_site_touches_only_that_site(stack: LocalStack, cluster: Cluster) -> None:
    config = stack.read_config()
    sites = config["multisite:sites"]
    stack.update_config("multisite:sites", [*sites, NEW_SITE])
    added = timed("up (add one site)", stack.up)
    assert changes(added.summary) == {"create": 3}  # Site component, Certificate, Ingress
    assert "new-example-net" in {c["metadata"]["name"] for c in cluster.certificates()}
    assert "new-example-net" in ingress_uids(cluster)

    stack.update_config("multisite:sites", sites)
    removed = timed("up (remove that site)", stack.up)
    assert changes(removed.summary) == {"delete": 3}
    assert {c["metadata"]["name"] for c in cluster.certificates()} == SITES
    assert set(ingress_uids(cluster)) == INGRESSES


def test_drift_is_seen_by_refresh_and_repaired_by_up(stack: LocalStack, cluster: Cluster) -> None:
    cluster.networking.delete_namespaced_ingress("some-dummy-url-com", "default")
    assert "some-dummy-url-com" not in ingress_uids(cluster)

    refreshed = timed("refresh (after drift)", stack.refresh)
    assert changes(refreshed.summary) == {"delete": 1}
    repaired = timed("up (repair drift)", stack.up)
    assert changes(repaired.summary) == {"create": 1}
    assert "some-dummy-url-com" in ingress_uids(cluster)


def test_switching_the_edge_previews_as_a_replacement_of_the_edge_and_nothing_else(stack: LocalStack) -> None:
    # Previewed, not applied: the real ingress-nginx chart cannot install in the
    # sandbox (its admission hook Jobs run an image the sandbox has no binary
    # for, and its controller's data plane cannot be built from the registries).
    good = stack.read_config()
    # ingress-nginx takes no `redirects`: the preview says so before anything else.
    stack.write_config({**good, "multisite:edge": "ingress-nginx"})
    try:
        with pytest.raises(auto.CommandError) as refused:
            stack.preview()
        sites = [{k: v for k, v in site.items() if k != "redirects"} for site in good["multisite:sites"]]
        stack.write_config({**good, "multisite:edge": "ingress-nginx", "multisite:sites": sites})
        preview = timed("preview (edge: traefik -> ingress-nginx)", stack.preview)
    finally:
        stack.write_config(good)
    assert (
        "multisite:sites[1].redirects = ['old-brand.example.net'], multisite:edge = 'ingress-nginx'"
        in str(refused.value)
    )
    # The edge's namespace and release replaced; without its redirects, www.example.com's
    # redirect Ingress goes and its Certificate loses that name.
    assert changes_of(preview.change_summary) == {"replace": 2, "delete": 1, "update": 1}
    assert set(timed("preview (traefik again, no changes)", stack.preview).change_summary) == {"same"}


def test_switching_to_the_production_issuer_updates_certificates_in_place(
    stack: LocalStack, cluster: Cluster
) -> None:
    before = ingress_uids(cluster)
    certificate_uids = {c["metadata"]["name"]: c["metadata"]["uid"] for c in cluster.certificates()}
    stack.update_config("multisite:acme", {**stack.read_config()["multisite:acme"], "issuer": "prod"})

    result = timed("up (staging -> prod issuer)", stack.up)
    assert changes(result.summary) == {"update": len(SITES)}  # the Certificates, nothing else
    assert stack.outputs()["issuer"] == "letsencrypt-prod"
    for certificate in cluster.certificates():
        assert certificate["spec"]["issuerRef"]["name"] == "letsencrypt-prod"
        assert certificate["metadata"]["uid"] == certificate_uids[certificate["metadata"]["name"]]
    assert ingress_uids(cluster) == before


def test_bad_config_fails_before_touching_cluster_or_state(stack: LocalStack, cluster: Cluster) -> None:
    good = stack.read_config()
    # The engine rewrites the checkpoint's manifest (a timestamp) on a failed
    # update too; what must not change is the resources it records.
    state_before = recorded_resources(stack)
    cluster_before = {i.metadata.name: i.metadata.resource_version for i in cluster.ingresses()}
    bad_sites = [{**good["multisite:sites"][0], "host": "Some.Dummy-URL.com"}, *good["multisite:sites"][1:]]
    stack.update_config("multisite:sites", bad_sites)
    try:
        with pytest.raises(auto.CommandError) as failed:
            timed("up (bad config, refused)", stack.up)
    finally:
        stack.write_config(good)
    assert "multisite:sites[0].host = 'Some.Dummy-URL.com'" in str(failed.value)
    assert "nothing was created or changed" in str(failed.value)
    assert recorded_resources(stack) == state_before
    assert {i.metadata.name: i.metadata.resource_version for i in cluster.ingresses()} == cluster_before


def namespace_diagnostics(cluster: Cluster) -> str:
    return "\n".join(
        f"{ns.metadata.name}: deletionTimestamp={ns.metadata.deletion_timestamp}"
        f" spec.finalizers={ns.spec.finalizers} status={ns.status.conditions}"
        for ns in cluster.core.list_namespace().items
    )


def test_production_destroy_deletes_nothing_and_says_why(stack: LocalStack, cluster: Cluster) -> None:
    # The stack now uses the production issuer, so every resource is protected.
    before = cluster.inventory()
    recorded = len(recorded_resources(stack))
    assert {"Ingress default/www-example-com", "ClusterIssuer /letsencrypt-prod"} <= set(before)
    with pytest.raises(auto.CommandError) as refused:
        timed("destroy (production: refused)", stack.destroy)
    assert "protected" in str(refused.value)
    assert cluster.inventory() == before  # same objects, same UIDs: nothing deleted, nothing recreated
    assert len(recorded_resources(stack)) == recorded


def test_back_on_staging_destroy_removes_everything_but_the_kept_crds(
    stack: LocalStack, cluster: Cluster
) -> None:
    # Leaving production is a reviewed config change; `up` lifts the protection.
    stack.update_config("multisite:acme", {**stack.read_config()["multisite:acme"], "issuer": "staging"})
    timed("up (prod -> staging issuer)", stack.up)
    assert not [r["urn"] for r in recorded_resources(stack) if r.get("protect")]

    result = timed("destroy", stack.destroy)
    assert result.summary.result == "succeeded"

    assert cluster.cluster_issuers() == []
    assert cluster.certificates() == []
    assert cluster.ingresses() == []
    assert cluster.helm_releases() == []
    # With skipAwait Pulumi does not wait for a namespace to finish terminating;
    # kube-controller-manager's namespace controller completes it.
    gone = cluster.namespaces_gone({"traefik", "cert-manager"})
    assert gone, namespace_diagnostics(cluster)
    assert cluster.inventory() == {}
    # By design the cert-manager CRDs outlive the release (crds.keep): deleting
    # them would delete every Certificate. They are the only thing left: the
    # six of cert-manager's API (cert-manager.io and acme.cert-manager.io).
    crds = {c.metadata.name: c for c in cluster.extensions.list_custom_resource_definition().items}
    assert set(crds) == {
        "certificates.cert-manager.io",
        "certificaterequests.cert-manager.io",
        "issuers.cert-manager.io",
        "clusterissuers.cert-manager.io",
        "orders.acme.cert-manager.io",
        "challenges.acme.cert-manager.io",
    }
    for crd in crds.values():
        assert crd.metadata.annotations["helm.sh/resource-policy"] == "keep"
