"""The local stack on the sandbox cluster: real certificates from Pebble, real requests through Traefik.

The tests run in file order and share one stack. cert-manager v1.21.2 (its
real chart, and binaries built from its Go module) runs as pods on the
sandbox node, Pebble is the ACME CA, and HTTP-01 is validated for real:
Pebble and cert-manager's self-check resolve every name to the edge's
load-balancer address and fetch the token through Traefik (v3.7.11, the
chart's appVersion, built from its Go module).
What exists is read back from the API server, never from Pulumi's state.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import shlex
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException
from pulumi import automation as auto

from tests.support import print_wall_times
from tools.demo import edge_not_serving, node_commands
from tools.engine_env import REPO_ROOT
from tools.kube import Cluster
from tools.local_stack import LocalStack
from tools.sandbox import Sandbox, network, pebble

pytestmark = [pytest.mark.engine, pytest.mark.e2e]

# The local stack's sites (Pulumi.local.yaml): Certificate name -> the names it must cover.
SITES = {
    "some-dummy-url-com": {"some.dummy-url.com"},
    "www-example-com": {"www.example.com", "example.com", "old-brand.example.net"},
    "blog-example-org": {"blog.example.org"},
}
# Pulumi.local.yaml's `redirects`: each name answers 308 to its site's host, path and query kept.
REDIRECTS = {"old-brand.example.net": "www.example.com"}
HSTS = "max-age=31536000"  # multisite:traefik.hsts left at its defaults
NEW_SITE = {"host": "new.example.net", "service": "new-site", "port": 80}
SHOP = {"host": "shop.example.net", "image": "nginxinc/nginx-unprivileged:1.29-alpine", "port": 8080}
TIMINGS: dict[str, float] = {}


@pytest.fixture(scope="module", autouse=True)
def print_timings(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    print_wall_times(request.config, "end-to-end step wall times (sandbox cluster)", TIMINGS)


@pytest.fixture(scope="module")
def stack(cluster_sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    yield LocalStack.create(
        tmp_path_factory.mktemp("stack"),
        kubeconfig=cluster_sandbox.kubeconfig,
        acme=cluster_sandbox.acme_server,
    )


def certificate_chain(kube: Cluster, name: str) -> str:
    secret = kube.core.read_namespaced_secret(name + "-tls", "default")
    return base64.b64decode(secret.data["tls.crt"]).decode()


def subject_alt_names(pem: str) -> set[str]:
    out = subprocess.run(
        ["openssl", "x509", "-noout", "-ext", "subjectAltName"],
        input=pem,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(re.findall(r"DNS:([^,\s]+)", out))


def verify_chain(chain: str, root: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    """`openssl verify` of the leaf against Pebble's root, with the rest of the chain as intermediates."""
    blocks = re.findall(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----\n?", chain, re.S)
    (tmp / "leaf.pem").write_text(blocks[0])
    (tmp / "intermediates.pem").write_text("".join(blocks[1:]))
    (tmp / "root.pem").write_text(root)
    return subprocess.run(
        ["openssl", "verify", "-CAfile", "root.pem", "-untrusted", "intermediates.pem", "leaf.pem"],
        cwd=tmp,
        capture_output=True,
        text=True,
    )


def ready(certificate: dict[str, Any]) -> bool:
    conditions = certificate.get("status", {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def test_up_issues_every_certificate_from_the_sandbox_ca(
    stack: LocalStack, kube: Cluster, cluster_sandbox: Sandbox, tmp_path: Path, acme_root: Path
) -> None:
    start = time.monotonic()
    stack.up(on_output=print)
    TIMINGS["up to every certificate Ready (3 sites)"] = time.monotonic() - start

    certificates = {c["metadata"]["name"]: c for c in kube.certificates()}
    assert set(certificates) == set(SITES)
    root = cluster_sandbox.acme_root()
    for name, hosts in SITES.items():
        assert ready(certificates[name]), certificates[name].get("status")
        chain = certificate_chain(kube, name)
        assert subject_alt_names(chain) == hosts
        verified = verify_chain(chain, root, tmp_path)
        assert verified.returncode == 0, verified.stderr
        # And not against some other root: the sandbox's own CA did not sign it.
        other = verify_chain(chain, (cluster_sandbox.pki / "ca.crt").read_text(), tmp_path)
        assert other.returncode != 0
    # Each edge pod loads the Secrets a moment after they are written: the tests below,
    # like the demo, start once every pod serves every name its certificate.
    start = time.monotonic()
    hosts = set().union(*SITES.values())
    assert edge_not_serving(cluster_sandbox, kube, stack.outputs()["ingressService"], hosts, acme_root) == []
    TIMINGS["every certificate Ready to served by every edge pod"] = time.monotonic() - start


def test_status_shows_every_host_issued_with_its_expiry_and_pointing_at_the_edge(
    stack: LocalStack, cluster_sandbox: Sandbox
) -> None:
    proc = status_report(cluster_sandbox)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = {line.split()[0]: line.split() for line in proc.stdout.splitlines()[1:]}
    assert set(lines) == set().union(*SITES.values())
    for cells in lines.values():
        assert cells[2:4] == ["yes", "letsencrypt-staging"], cells
        assert re.fullmatch(r"20\d\d-\d\d-\d\dT\d\d:\d\d:\d\dZ", cells[4]), cells
        assert cells[5:7] == ["->", pebble.EDGE_IP], cells


def test_the_demos_printed_commands_run_again_when_pasted_into_a_shell(
    stack: LocalStack, cluster_sandbox: Sandbox, acme_root: Path
) -> None:
    """Issue 22: `make demo` prints only commands that ran, and a user (root) can run them again:
    each printed line, run by a shell from the repository, gives the answer the demo showed."""
    status, http, https, redirect = [
        subprocess.run(shlex.join(command), shell=True, cwd=REPO_ROOT, capture_output=True, text=True)
        for command in node_commands(cluster_sandbox, acme_root)
    ]
    rows = table(status.stdout)  # the report with --requests, as tools.status prints it
    assert set(rows) == set().union(*SITES.values()), status.stdout + status.stderr
    assert rows["www.example.com"]["HTTPS"].startswith("200, ")
    assert status.returncode == 1  # the sites with no pods answer 503, and it says so
    assert http.returncode == 0, http.stderr  # the real curl, in the node namespace
    assert re.search(r"^< HTTP/[\d.]+ 308", http.stderr, re.M), http.stderr
    assert re.search(r"^< location: https://www.example.com/\s*$", http.stderr, re.M | re.I), http.stderr
    assert https.returncode == 0, https.stderr
    assert "SSL certificate verify ok" in https.stderr  # against the ACME CA's root
    assert re.search(r"^< HTTP/[\d.]+ 200", https.stderr, re.M), https.stderr
    assert https.stdout.startswith("multisite sandbox backend www-example-com-"), https.stdout
    assert re.search(r"^< strict-transport-security: max-age=31536000\s*$", https.stderr, re.M | re.I)
    # A redirect name: its own valid certificate, then 308 to the site's host, path and query kept.
    assert redirect.returncode == 0, redirect.stderr
    assert "SSL certificate verify ok" in redirect.stderr
    assert re.search(r"^< HTTP/[\d.]+ 308", redirect.stderr, re.M), redirect.stderr
    location = r"^< location: https://www.example.com/a/page\?x=1\s*$"
    assert re.search(location, redirect.stderr, re.M | re.I), redirect.stderr


def probe(cluster_sandbox: Sandbox, url: str, root: Path) -> dict[str, Any]:
    """A request to `url` through the edge's address, as `tools.probe` makes it."""
    proc = cluster_sandbox.run_python_in_node(
        "-m", "tools.probe", url, "--connect", pebble.EDGE_IP, "--cafile", str(root), capture_output=True
    )
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


@pytest.fixture(scope="module")
def acme_root(cluster_sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("acme-root") / "root.pem"
    path.write_text(cluster_sandbox.acme_root())
    return path


def test_https_through_the_edge_serves_each_names_certificate_and_its_backend(
    stack: LocalStack, cluster_sandbox: Sandbox, acme_root: Path
) -> None:
    for name, hosts in SITES.items():
        for host in hosts:
            answer = probe(cluster_sandbox, f"https://{host}/hello?lang=en", acme_root)
            assert "error" not in answer, (
                answer
            )  # the TLS handshake verified against Pebble's root, for `host`
            assert set(answer["certificate"]["names"]) == hosts
            assert "Pebble Intermediate CA" in answer["certificate"]["issuer"]
            # Issue 24: HSTS on every HTTPS answer, a redirect's and a missing backend's too.
            assert answer["headers"].get("Strict-Transport-Security") == HSTS, answer["headers"]
            if host in REDIRECTS:  # over HTTPS with its valid certificate, then to the site's host
                assert (answer["status"], answer["location"]) == (
                    308,
                    f"https://{REDIRECTS[host]}/hello?lang=en",
                )
            elif name == "www-example-com":  # the one site with a backend here (its image's stand-in)
                assert answer["status"] == 200
                assert answer["body"].startswith("multisite sandbox backend www-example-com-")
                assert answer["body"].strip().endswith(f": {host}/hello?lang=en")  # the path and query
            else:  # its Service names no running pods: the edge has no backend for it
                assert answer["status"] == 503


def test_http_is_permanently_redirected_to_https_and_acme_tokens_are_not(
    stack: LocalStack, cluster_sandbox: Sandbox, acme_root: Path
) -> None:
    for host in set().union(*SITES.values()):
        answer = probe(cluster_sandbox, f"http://{host}/some/page?x=1", acme_root)
        # A redirect name goes to its site's host in one hop, path and query kept.
        target = REDIRECTS.get(host, host)
        assert (answer["status"], answer["location"]) == (308, f"https://{target}/some/page?x=1")
        assert "Strict-Transport-Security" not in answer["headers"]  # HTTPS only (RFC 6797 8.1)
    # Each token request that reached cert-manager's solver, from both Traefik pods' logs, in time order.
    logged = [
        json.loads(line)
        for log in (cluster_sandbox.logs / "pods").glob("traefik_*.log")
        for line in log.read_text().splitlines()
        if line.startswith("{")
    ]
    # Only plain-HTTP requests count: before the solver's route is loaded, the site's own
    # route redirects a token request, and the client's follow-up over HTTPS may then
    # land on the solver's route (both entry points carry it) - a race of the first seconds.
    solved: dict[str, list[int]] = {}
    for entry in sorted(logged, key=lambda e: str(e.get("StartUTC"))):
        path, router = entry.get("RequestPath", ""), entry.get("RouterName") or ""
        token = path.startswith("/.well-known/acme-challenge/") and "cm-acme-http-solver" in router
        if token and entry["entryPointName"] == "web":
            solved.setdefault(entry["RequestHost"], []).append(entry["DownstreamStatus"])
    assert set(solved) == set().union(*SITES.values())
    for answers in solved.values():
        # Never a redirect; a 503 while the solver's pod was not yet ready is the edge
        # saying "no backend yet"; the last answer served the token.
        assert not any(300 <= status < 400 for status in answers), answers
        assert answers[-1] == 200, answers


def table(text: str) -> dict[str, dict[str, str]]:
    """tools.status's table: host -> column -> cell (columns are left-aligned under their header)."""
    header, *lines = text.splitlines()
    names = header.split()
    starts = [header.index(f"{name} ") if name != names[-1] else header.rindex(name) for name in names]
    bounds = list(zip(starts, [*starts[1:], None], strict=True))
    return {
        line.split()[0]: {name: line[a:b].strip() for name, (a, b) in zip(names, bounds, strict=True)}
        for line in lines
    }


def test_status_with_requests_shows_the_redirect_and_the_certificate_served(
    stack: LocalStack, cluster_sandbox: Sandbox, acme_root: Path
) -> None:
    proc = status_report(cluster_sandbox, "--requests", "--cafile", str(acme_root))
    rows = table(proc.stdout)
    assert set(rows) == set().union(*SITES.values())
    for host, row in rows.items():
        assert row["HTTP"] == f"308 -> https://{REDIRECTS.get(host, host)}/"
        assert re.fullmatch(
            r"(200|308|503), Pebble Intermediate CA \w+, until \w{3} +\d+ [\d:]+ 20\d\d GMT", row["HTTPS"]
        )
    assert rows["old-brand.example.net"]["HTTPS"].startswith("308, ")
    assert rows["www.example.com"]["HTTPS"].startswith("200, ")
    # Sites whose Service has no pods answer 503: the report says so and exits 1.
    assert rows["blog.example.org"]["HTTPS"].startswith("503, ")
    assert proc.returncode == 1


def test_the_running_webhook_rejects_a_certificate_that_breaks_cert_managers_rules(kube: Cluster) -> None:
    # Valid for the CRD's schema; only cert-manager's webhook knows that a
    # certificate needs at least one name.
    certificate = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": "no-names", "namespace": "default"},
        "spec": {
            "secretName": "no-names-tls",
            "issuerRef": {"name": "letsencrypt-staging", "kind": "ClusterIssuer"},
        },
    }
    with pytest.raises(ApiException) as denied:
        kube.custom.create_namespaced_custom_object(
            "cert-manager.io", "v1", "default", "certificates", certificate
        )
    message = json.loads(str(denied.value.body))["message"]
    assert 'admission webhook "webhook.cert-manager.io" denied the request' in message
    assert "at least one of" in message and "dnsNames" in message


def serial(kube: Cluster, name: str) -> str:
    pem = certificate_chain(kube, name)
    return subprocess.run(
        ["openssl", "x509", "-noout", "-serial"], input=pem, capture_output=True, text=True, check=True
    ).stdout.strip()


def issued_by(kube: Cluster, name: str) -> str:
    """The issuer cert-manager records on the Secret it wrote."""
    secret = kube.core.read_namespaced_secret(name + "-tls", "default")
    return str(secret.metadata.annotations["cert-manager.io/issuer-name"])


def renew(kube: Cluster, name: str) -> None:
    """Put the Certificate `name` inside its renewal window and wait until cert-manager renewed
    it, without an `up`: Pebble's certificates last 90 days (2160h), so renewing 2159h59m before
    expiry puts one issued minutes ago where a certificate close to expiry is."""
    first = serial(kube, name)
    patch = ("cert-manager.io", "v1", "default", "certificates", name)
    kube.custom.patch_namespaced_custom_object(*patch, {"spec": {"renewBefore": "2159h59m"}})
    try:
        deadline = time.monotonic() + 120
        while serial(kube, name) == first and time.monotonic() < deadline:
            time.sleep(2)
        assert serial(kube, name) != first, "cert-manager did not renew the certificate"
    finally:
        kube.custom.patch_namespaced_custom_object(*patch, {"spec": {"renewBefore": None}})
    deadline = time.monotonic() + 60
    while not ready(kube.custom.get_namespaced_custom_object(*patch)) and time.monotonic() < deadline:
        time.sleep(1)
    assert ready(kube.custom.get_namespaced_custom_object(*patch))


def test_a_certificate_inside_its_renewal_window_is_renewed_without_up(kube: Cluster) -> None:
    # The site with a redirect name: Pebble reuses no authorization (PEBBLE_AUTHZREUSE=0), so the
    # renewal solves HTTP-01 for old-brand.example.net again, beside its redirect Ingress.
    renew(kube, "www-example-com")


def test_switching_one_site_to_the_other_issuer_reissues_only_that_certificate(
    stack: LocalStack, kube: Cluster
) -> None:
    before = {name: serial(kube, name) for name in SITES}
    config = stack.read_config()
    config["multisite:sites"][1]["issuer"] = "prod"  # www.example.com
    stack.write_config(config)
    start = time.monotonic()
    stack.up()
    TIMINGS["one site re-issued from the other issuer"] = time.monotonic() - start
    assert issued_by(kube, "www-example-com") == "letsencrypt-prod"
    assert serial(kube, "www-example-com") != before["www-example-com"]
    for name in ("some-dummy-url-com", "blog-example-org"):
        assert (issued_by(kube, name), serial(kube, name)) == ("letsencrypt-staging", before[name])
    # Back to staging, so the stack is not a production one (which is protected).
    del config["multisite:sites"][1]["issuer"]
    stack.write_config(config)
    stack.up()
    assert issued_by(kube, "www-example-com") == "letsencrypt-staging"


def test_the_whole_stack_on_prod_reissues_every_certificate_and_refuses_destroy(
    stack: LocalStack, kube: Cluster
) -> None:
    before = {name: serial(kube, name) for name in SITES}
    uids = {c["metadata"]["name"]: c["metadata"]["uid"] for c in kube.certificates()}
    config = stack.read_config()
    config["multisite:acme"]["issuer"] = "prod"
    stack.write_config(config)
    stack.up()
    for name in SITES:
        assert issued_by(kube, name) == "letsencrypt-prod"
        assert serial(kube, name) != before[name]
    # A production stack protects everything (docs/operations.md, "Destroy and protection").
    with pytest.raises(auto.CommandError) as refused:
        stack.destroy()
    assert "protected" in str(refused.value)
    assert {c["metadata"]["name"]: c["metadata"]["uid"] for c in kube.certificates()} == uids
    config["multisite:acme"]["issuer"] = "staging"
    stack.write_config(config)
    stack.up()
    assert {issued_by(kube, name) for name in SITES} == {"letsencrypt-staging"}


def status_report(cluster_sandbox: Sandbox, *flags: str) -> subprocess.CompletedProcess[str]:
    """`tools.status` as a user runs it, from inside the node (the sandbox's DNS and API server)."""
    return cluster_sandbox.run_python_in_node(
        "-m", "tools.status", "--kubeconfig", str(cluster_sandbox.node_kubeconfig),
        "--ip", pebble.EDGE_IP, "--resolver", pebble.DNS, *flags,
        capture_output=True,
    )  # fmt: skip


def test_a_broken_issuer_fails_up_in_bounded_time_and_status_gives_the_reason(
    stack: LocalStack, kube: Cluster, cluster_sandbox: Sandbox
) -> None:
    before = {name: serial(kube, name) for name in SITES}
    good = stack.read_config()
    broken = copy.deepcopy(good)
    # Nothing listens there: cert-manager cannot register the ACME account.
    broken["multisite:acme"]["servers"]["staging"] = f"https://{network.NODE_IP}:14999/dir"
    broken["multisite:acme"]["certificateTimeout"] = 30
    broken["multisite:sites"].append(NEW_SITE)
    stack.write_config(broken)
    start = time.monotonic()
    with pytest.raises(auto.CommandError) as failed:
        stack.up()
    TIMINGS["up failing on a broken issuer (30 s timeout)"] = time.monotonic() - start
    assert time.monotonic() - start < 30 + 90  # the timeout, plus the rest of the update
    assert "new.example.net-certificate" in str(failed.value)
    assert "timed out waiting for the condition" in str(failed.value)
    # What the provider's message cannot carry, the status report does.
    report = status_report(cluster_sandbox)
    assert report.returncode == 1
    (line,) = [line for line in report.stdout.splitlines() if line.startswith("new.example.net ")]
    assert "issuer letsencrypt-staging not Ready" in line and "connection refused" in line, line
    # Nothing else was touched: the issued certificates are the same ones.
    assert {name: serial(kube, name) for name in SITES} == before

    good["multisite:sites"].append(NEW_SITE)
    stack.write_config(good)
    stack.up()
    assert ready(next(c for c in kube.certificates() if c["metadata"]["name"] == "new-example-net"))
    good["multisite:sites"].remove(NEW_SITE)
    stack.write_config(good)
    stack.up()


def test_a_new_site_goes_live_alone_and_answers_404_once_removed(
    stack: LocalStack, kube: Cluster, cluster_sandbox: Sandbox, acme_root: Path
) -> None:
    before = {name: serial(kube, name) for name in SITES}
    config = stack.read_config()
    config["multisite:sites"].append(SHOP)
    stack.write_config(config)
    start = time.monotonic()
    stack.up()
    answer: dict[str, Any] = {}
    while time.monotonic() - start < 120:  # the backend's pod becomes ready on its own (skipAwait)
        answer = probe(cluster_sandbox, "https://shop.example.net/", acme_root)
        if answer.get("status") == 200:
            break
        time.sleep(1)
    TIMINGS["new site from up to serving HTTPS"] = time.monotonic() - start
    assert answer["status"] == 200, answer
    assert answer["body"].startswith("multisite sandbox backend shop-example-net-")
    assert answer["certificate"]["names"] == ["shop.example.net"]
    assert {name: serial(kube, name) for name in SITES} == before

    config["multisite:sites"].remove(SHOP)
    stack.write_config(config)
    stack.up()
    # Each edge pod drops the route when it sees the Ingress go (its own moment).
    deadline = time.monotonic() + 60
    while (gone := probe(cluster_sandbox, "http://shop.example.net/", acme_root))["status"] != 404:
        assert time.monotonic() < deadline, gone
        time.sleep(1)


def test_removing_a_site_removes_its_certificate_and_secret_and_nothing_else(
    stack: LocalStack, kube: Cluster
) -> None:
    kept = {c["metadata"]["name"]: c["metadata"]["uid"] for c in kube.certificates()}
    del kept["blog-example-org"]
    config = stack.read_config()
    config["multisite:sites"] = [s for s in config["multisite:sites"] if s["host"] != "blog.example.org"]
    stack.write_config(config)
    stack.up()
    assert {c["metadata"]["name"]: c["metadata"]["uid"] for c in kube.certificates()} == kept
    # The Secret goes with its Certificate (owner reference), deleted by the garbage collector.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        secrets = {s.metadata.name for s in kube.core.list_namespaced_secret("default").items}
        if "blog-example-org-tls" not in secrets:
            break
        time.sleep(1)
    assert "blog-example-org-tls" not in secrets
    assert {"some-dummy-url-com-tls", "www-example-com-tls"} <= secrets


def test_destroy_deletes_namespaces_through_the_real_controller_and_keeps_the_crds(
    stack: LocalStack, kube: Cluster
) -> None:
    stack.destroy()
    deadline = time.monotonic() + 120
    while {"cert-manager", "traefik"} & kube.namespaces() and time.monotonic() < deadline:
        time.sleep(1)
    assert not {"cert-manager", "traefik"} & kube.namespaces()
    crds = {crd.metadata.name for crd in kube.extensions.list_custom_resource_definition().items}
    assert {"certificates.cert-manager.io", "clusterissuers.cert-manager.io"} <= crds
    assert kube.certificates() == []
