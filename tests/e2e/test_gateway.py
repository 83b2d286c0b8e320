"""Issue 24: the local stack in Gateway API mode (`multisite:traefik.routes: gateway`) on the
sandbox cluster.

The same Traefik release, Service and address serve Gateway API objects: the standard CRDs
(the version Traefik is built on, copied from its Go module by the engine), the shared `edge`
Gateway's HTTP listener, per site a Gateway with an HTTPS listener per name and its HTTPRoutes;
cert-manager solves real HTTP-01 challenges from Pebble through `gatewayHTTPRoute`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_issuance import HSTS, REDIRECTS, SITES, probe, ready
from tests.support import print_wall_times
from tools.demo import edge_not_serving
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
