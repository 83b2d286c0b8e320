"""Issue 24: the local stack in Gateway API mode (`multisite:traefik.routes: gateway`) on the
sandbox cluster.

The same Traefik release, Service and address serve Gateway API objects: the standard CRDs
(the version Traefik is built on, copied from its Go module by the engine), the shared `edge`
Gateway's HTTP listener, per site a Gateway with an HTTPS listener per name and its HTTPRoutes;
cert-manager solves real HTTP-01 challenges from Pebble through `gatewayHTTPRoute`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_issuance import HSTS, REDIRECTS, SHOP, SITES, probe, ready, renew, serial
from tests.support import print_wall_times
from tools.demo import edge_not_serving
from tools.engine_env import engine_env
from tools.kube import Cluster
from tools.local_stack import LocalStack
from tools.sandbox import Sandbox

pytestmark = [pytest.mark.engine, pytest.mark.e2e]
TIMINGS: dict[str, float] = {}


@pytest.fixture(scope="module", autouse=True)
def print_timings(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    print_wall_times(request.config, "Gateway API mode wall times (sandbox cluster)", TIMINGS)


@pytest.fixture(scope="module")
def stack(cluster_sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    yield LocalStack.create(
        tmp_path_factory.mktemp("gateway-stack"),
        kubeconfig=cluster_sandbox.kubeconfig,
        acme=cluster_sandbox.acme_server,
        routes="gateway",
    )


@pytest.fixture(scope="module")
def acme_root(cluster_sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("acme-root") / "root.pem"
    path.write_text(cluster_sandbox.acme_root())
    return path


def test_up_issues_every_certificate_through_gateway_http_routes(
    stack: LocalStack, kube: Cluster, cluster_sandbox: Sandbox, acme_root: Path
) -> None:
    start = time.monotonic()
    stack.up(on_output=print)
    TIMINGS["up to every certificate Ready (3 sites)"] = time.monotonic() - start
    certificates = {c["metadata"]["name"]: c for c in kube.certificates()}
    assert set(certificates) == set(SITES)
    assert all(ready(c) for c in certificates.values()), [c.get("status") for c in certificates.values()]
    issuers = {i["metadata"]["name"]: i for i in kube.cluster_issuers()}
    (solver,) = issuers["letsencrypt-staging"]["spec"]["acme"]["solvers"]
    assert solver["http01"]["gatewayHTTPRoute"]["parentRefs"][0]["name"] == "edge"
    # No Ingress at all: every route is a Gateway API one.
    assert kube.ingresses() == []
    hosts = set().union(*SITES.values())
    assert edge_not_serving(cluster_sandbox, kube, stack.outputs()["ingressService"], hosts, acme_root) == []


def test_https_per_name_http_redirects_and_redirect_names_through_gateways(
    stack: LocalStack, cluster_sandbox: Sandbox, acme_root: Path
) -> None:
    for name, hosts in SITES.items():
        for host in hosts:
            answer = probe(cluster_sandbox, f"https://{host}/hello?lang=en", acme_root)
            assert "error" not in answer, answer
            assert set(answer["certificate"]["names"]) == hosts
            assert answer["headers"].get("Strict-Transport-Security") == HSTS, answer["headers"]
            if host in REDIRECTS:
                assert (answer["status"], answer["location"]) == (
                    308,
                    f"https://{REDIRECTS[host]}/hello?lang=en",
                )
            elif name == "www-example-com":
                assert answer["status"] == 200, answer
                assert answer["body"].strip().endswith(f": {host}/hello?lang=en")
            plain = probe(cluster_sandbox, f"http://{host}/some/page?x=1", acme_root)
            target = REDIRECTS.get(host, host)
            assert (plain["status"], plain["location"]) == (308, f"https://{target}/some/page?x=1")
            assert "Strict-Transport-Security" not in plain["headers"]


def test_a_renewal_succeeds_while_the_redirect_route_exists(kube: Cluster) -> None:
    """www.example.com's certificate has the redirect name old-brand.example.net, whose HTTPRoute
    redirects every request on the shared HTTP listener; Pebble reuses no authorization, so the
    renewal solves HTTP-01 for that name again, through the solver's Exact-path route."""
    renew(kube, "www-example-com")


def test_a_new_site_goes_live_through_up_and_answers_404_once_removed(
    stack: LocalStack, cluster_sandbox: Sandbox, acme_root: Path
) -> None:
    config = stack.read_config()
    sites = config["multisite:sites"]
    stack.update_config("multisite:sites", [*sites, SHOP])
    start = time.monotonic()
    stack.up()
    answer: dict[str, object] = {}
    while time.monotonic() - start < 120:  # its pod becomes ready on its own (skipAwait)
        answer = probe(cluster_sandbox, "https://shop.example.net/", acme_root)
        if answer.get("status") == 200:
            break
        time.sleep(1)
    TIMINGS["new site from up to serving HTTPS"] = time.monotonic() - start
    assert answer.get("status") == 200, answer
    stack.update_config("multisite:sites", sites)
    stack.up()
    deadline = time.monotonic() + 60
    while (gone := probe(cluster_sandbox, "http://shop.example.net/", acme_root))["status"] != 404:
        assert time.monotonic() < deadline, gone
        time.sleep(1)


class Prober(threading.Thread):
    """HTTPS requests to one URL through the edge, every 0.2 s, until stopped: how long it failed."""

    def __init__(self, sandbox: Sandbox, url: str, root: Path) -> None:
        super().__init__(daemon=True)
        self.sandbox, self.url, self.root = sandbox, url, root
        self.stopped = threading.Event()
        self.failed: list[float] = []
        self.answered = 0

    def run(self) -> None:
        while not self.stopped.is_set():
            answer = probe(self.sandbox, self.url, self.root)
            if answer.get("status") == 200:
                self.answered += 1
            else:
                self.failed.append(time.monotonic())
            time.sleep(0.2)


def switch(stack: LocalStack, routes: str) -> None:
    """Set the local stack's `multisite:traefik.routes` (and, for `gateway`, the engine's CRDs)."""
    traefik = {k: v for k, v in stack.read_config()["multisite:traefik"].items() if k != "gatewayCrds"}
    traefik["routes"] = routes
    if routes == "gateway":
        traefik["gatewayCrds"] = engine_env()["MULTISITE_GATEWAY_API_CRDS"]
    stack.update_config("multisite:traefik", traefik)


def test_switching_to_ingress_and_back_keeps_every_certificate_and_measures_the_gap(
    stack: LocalStack, kube: Cluster, cluster_sandbox: Sandbox, acme_root: Path
) -> None:
    before = {name: serial(kube, name) for name in SITES}
    for routes, label in (("ingress", "gateway -> ingress"), ("gateway", "ingress -> gateway")):
        prober = Prober(cluster_sandbox, "https://www.example.com/", acme_root)
        prober.start()
        start = time.monotonic()
        switch(stack, routes)
        stack.up()
        TIMINGS[f"switch {label}: up"] = time.monotonic() - start
        # The other provider's routes are in place once the up is done; let each edge pod load them.
        time.sleep(5)
        prober.stopped.set()
        prober.join()
        gap = (prober.failed[-1] - prober.failed[0]) if prober.failed else 0.0
        TIMINGS[f"switch {label}: failed requests (of {prober.answered + len(prober.failed)})"] = float(
            len(prober.failed)
        )
        TIMINGS[f"switch {label}: first to last failure, s"] = gap
        certificates = {c["metadata"]["name"]: c for c in kube.certificates()}
        assert all(ready(c) for c in certificates.values())
        assert {name: serial(kube, name) for name in SITES} == before  # kept, not re-issued
        assert (kube.ingresses() == []) == (routes == "gateway")
        answer = probe(cluster_sandbox, "https://www.example.com/", acme_root)
        assert answer.get("status") == 200, answer


def test_destroy_keeps_the_gateway_api_crds(stack: LocalStack, kube: Cluster) -> None:
    stack.destroy()
    assert kube.namespaces_gone({"cert-manager", "traefik"})  # the next stack may create them again
    crds = {crd.metadata.name for crd in kube.extensions.list_custom_resource_definition().items}
    assert {"gateways.gateway.networking.k8s.io", "httproutes.gateway.networking.k8s.io"} <= crds


def test_a_stack_adopts_the_clusters_own_crds_without_installing_any(
    cluster_sandbox: Sandbox, kube: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """`gatewayCrds: cluster`, as with GKE's Gateway API: the CRDs the destroyed stack kept stand
    for the cluster's own; a new stack adopts them without installing any. (An older bundle is
    refused in the unit tests: here the bundle's own safe-upgrades admission policy refuses to
    mark the CRDs older than v1.5.0, which is what such a cluster would need.)"""
    stack = LocalStack.create(
        tmp_path_factory.mktemp("cluster-crds-stack"),
        kubeconfig=cluster_sandbox.kubeconfig,
        acme=cluster_sandbox.acme_server,
        routes="gateway",
    )
    stack.update_config(
        "multisite:traefik", {**stack.read_config()["multisite:traefik"], "gatewayCrds": "cluster"}
    )
    crd = "gateways.gateway.networking.k8s.io"
    annotation = "gateway.networking.k8s.io/bundle-version"
    bundle = kube.extensions.read_custom_resource_definition(crd).metadata.annotations[annotation]
    assert bundle == "v1.6.1"
    stack.up()
    certificates = kube.certificates()
    assert certificates and all(ready(c) for c in certificates)
    deployment = stack.stack.export_stack().deployment or {}
    types = {r["type"] for r in deployment["resources"]}
    assert "multisite:gateway_api:ClusterGatewayApiCrds" in types
    assert "kubernetes:yaml/v2:ConfigGroup" not in types  # nothing installed
    stack.destroy()
