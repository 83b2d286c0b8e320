"""The config model: good stack files load; bad ones fail naming key, value and expectation."""

from __future__ import annotations

import re
from typing import Any

import pytest

from components.fields import validate_host
from components.settings import ConfigError, StackSettings, load_settings
from components.site import kubernetes_name
from tests.support import CERTIFICATE, ROOT, TEST_CA, lay_out_local_stack, run_program, stack_config

MINIMAL: dict[str, Any] = {"acme": {"issuer": "staging"}}
SITE = {"host": "www.example.com", "service": "web"}
IMAGE_SITE = {"host": "www.example.com", "image": "nginx:1.29"}
# A globally routable address (a Google Cloud range); nothing ever connects to it here.
PUBLIC_IP = "34.120.10.20"


def settings(raw: dict[str, Any], **kw: Any) -> StackSettings:
    return load_settings(
        raw, stack=kw.pop("stack", "dev"), gcp_region=kw.pop("gcp_region", "europe-west1"), **kw
    )


def problems(raw: dict[str, Any], **kw: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        settings(raw, **kw)
    return caught.value.problems


def unqualified(stack_file: dict[str, Any]) -> dict[str, Any]:
    return {k.removeprefix("multisite:"): v for k, v in stack_file.items() if k.startswith("multisite:")}


def test_minimal_config_takes_documented_defaults() -> None:
    s = settings(MINIMAL)
    assert s.acme.issuer == "staging" and s.acme.email is None and not s.acme.wait_for_certificates
    assert s.static_ip.enabled and s.static_ip.network_tier == "PREMIUM"
    assert s.static_ip_name == "multisite-dev-ingress"
    assert s.static_ip_region == "europe-west1"
    assert s.reserves_ip
    assert s.edge.key == "ingress-nginx"
    assert s.edge_config.version == "4.15.1" and s.edge_config.replicas == 2
    assert s.cert_manager.version == "v1.21.2"  # docs/design.md "Pinned versions"
    assert s.sites == () and s.dns is None and s.cluster is None


@pytest.mark.parametrize("stack", ["dev", "prod", "local"])
def test_shipped_stack_files_are_valid(stack: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # The local stack's kubeconfig is written by the sandbox, relative to the project.
    lay_out_local_stack(tmp_path)
    monkeypatch.chdir(tmp_path)
    raw = stack_config(stack)
    s = settings(unqualified(raw), gcp_region=raw.get("gcp:region"))
    assert s.sites, "every shipped stack has example sites"


def test_dev_uses_staging_and_prod_uses_production() -> None:
    assert settings(unqualified(stack_config("dev"))).acme.issuer == "staging"
    assert settings(unqualified(stack_config("prod"))).acme.issuer == "prod"


def test_site_issuer_overrides_the_stack_issuer() -> None:
    sites = [SITE, {**SITE, "host": "b.example.com", "issuer": "prod"}]
    config = {"gcp:region": "europe-west1", **{f"multisite:{k}": v for k, v in MINIMAL.items()}}
    run = run_program({**config, "multisite:sites": sites})
    issuers = {
        c.prop("spec", "dnsNames")[0]: c.prop("spec", "issuerRef", "name") for c in run.of_type(CERTIFICATE)
    }
    assert issuers == {"www.example.com": "letsencrypt-staging", "b.example.com": "letsencrypt-prod"}


def test_reserved_address_means_nothing_to_reserve() -> None:
    s = settings({**MINIMAL, "staticIp": {"address": PUBLIC_IP}}, gcp_region=None)
    assert not s.reserves_ip and s.static_ip.address == PUBLIC_IP


def test_kubeconfig_path_must_exist_and_inline_yaml_is_accepted(tmp_path: Any) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text("apiVersion: v1\nkind: Config\n")
    assert settings({**MINIMAL, "cluster": {"kubeconfig": str(path)}}).cluster.kubeconfig == str(path)  # type: ignore[union-attr]
    inline = "apiVersion: v1\nkind: Config\n"
    assert settings({**MINIMAL, "cluster": {"kubeconfig": inline}}).cluster.kubeconfig == inline  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("host", "ok"),
    [
        ("www.example.com", True),
        ("some.dummy-url.com", True),
        ("xn--bcher-kva.example", True),
        ("Example.com", False),
        ("*.example.com", False),
        ("localhost", False),
        ("-bad.example.com", False),
        ("bad-.example.com", False),
        ("a..example.com", False),
        ("192.168.0.1", False),
        ("example.com.", False),
        ("a" * 64 + ".com", False),
        (".".join(["a" * 63] * 4), False),  # 255 characters
        ("under_score.example.com", False),
    ],
)
def test_host_validation(host: str, ok: bool) -> None:
    if ok:
        assert validate_host(host) == host
    else:
        with pytest.raises(ValueError, match="expected"):
            validate_host(host)


def test_kubernetes_name_is_a_stable_dns_label() -> None:
    assert kubernetes_name("some.dummy-url.com") == "some-dummy-url-com"
    long_a = "a" * 60 + ".example.com"
    long_b = "a" * 60 + ".example.org"
    assert kubernetes_name("a" * 59 + ".com") == "a" * 59 + "-com"  # 63 characters: kept whole
    # Longer: cut, and ended in a hash of the host so two long hosts never share a name. The
    # value is pinned (SHA-256 of the host, first 8 hex digits): a change renames every object.
    assert kubernetes_name(long_a) == "a" * 54 + "-43c9a14c"
    assert kubernetes_name(long_b) != kubernetes_name(long_a)
    assert re.fullmatch(r"a{54}-[0-9a-f]{8}", kubernetes_name(long_b))
    # A cut that ends on a dash drops it: a DNS label ends in a letter or digit.
    assert re.fullmatch(r"a{53}-[0-9a-f]{8}", kubernetes_name("a" * 53 + ".b" * 10))


# Each bad config and the fragments its one problem must contain: the key path,
# the value as given, and what was expected.
BAD_CONFIGS: list[tuple[str, dict[str, Any], list[str]]] = [
    ("missing acme", {}, ["multisite:acme: missing"]),
    ("missing issuer", {"acme": {}}, ["multisite:acme.issuer: missing"]),
    (
        "unknown issuer",
        {"acme": {"issuer": "production"}},
        ["multisite:acme.issuer = 'production'", "expected 'staging' or 'prod'"],
    ),
    (
        "malformed e-mail",
        {"acme": {"issuer": "prod", "email": "ops@"}},
        ["multisite:acme.email = 'ops@'", "expected an e-mail address"],
    ),
    (
        "typo in acme",
        {"acme": {"issuer": "prod", "emial": "ops@example.com"}},
        ["multisite:acme.emial = 'ops@example.com'", "unknown key (did you mean 'email'?)"],
    ),
    (
        "certificate timeout under the bound",
        {"acme": {"issuer": "prod", "waitForCertificates": True, "certificateTimeout": 29}},
        ["multisite:acme.certificateTimeout = 29", "greater than or equal to 30"],
    ),
    (
        "certificate timeout over the bound",
        {"acme": {"issuer": "prod", "waitForCertificates": True, "certificateTimeout": 3601}},
        ["multisite:acme.certificateTimeout = 3601", "less than or equal to 3600"],
    ),
    (
        "ACME directory over plain HTTP",
        {"acme": {"issuer": "prod", "servers": {"prod": "http://ca.internal/dir"}}},
        ["multisite:acme.servers.prod = 'http://ca.internal/dir'", "expected the https:// URL"],
    ),
    (
        "ACME directory without a host",
        {"acme": {"issuer": "prod", "servers": {"staging": "https:///dir"}}},
        ["multisite:acme.servers.staging = 'https:///dir'", "expected the https:// URL"],
    ),
    (
        "ACME directory with a password in it",
        {"acme": {"issuer": "prod", "servers": {"prod": "https://u:p@ca.internal/dir"}}},
        ["multisite:acme.servers.prod", "without user, password or #fragment"],
    ),
    (
        "typo in acme.servers",
        {"acme": {"issuer": "prod", "servers": {"production": "https://ca.internal/dir"}}},
        ["multisite:acme.servers.production", "unknown key", "expected only: prod, staging"],
    ),
    (
        "CA bundle for Let's Encrypt's own directories",
        {"acme": {"issuer": "prod", "caBundle": TEST_CA}},
        [
            # The value cut at 80 characters, as every value in a message is.
            "multisite:acme.caBundle = '-----BEGIN CERTIFICATE-----\\nMIIBmDCCAT+gAwIBAgIUGIu6n8sNFSKnE"
            "N5rhUZcvbatKx0...,",
            " multisite:acme.servers (not set): expected 'caBundle' only together with 'servers':"
            " Let's Encrypt's own directories are served with publicly trusted certificates",
        ],
    ),
    (
        "CA bundle that is not PEM",
        {"acme": {"issuer": "prod", "servers": {"prod": "https://ca.internal/dir"}, "caBundle": "MIIB"}},
        ["multisite:acme.caBundle = 'MIIB'", "expected PEM certificates only", "no PEM block"],
    ),
    (
        "CA bundle with a private key in it",
        {
            "acme": {
                "issuer": "prod",
                "servers": {"prod": "https://ca.internal/dir"},
                "caBundle": TEST_CA + "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n",
            }
        },
        ["multisite:acme.caBundle", "found PRIVATE KEY blocks"],
    ),
    (
        "CA bundle whose certificate does not parse",
        {
            "acme": {
                "issuer": "prod",
                "servers": {"prod": "https://ca.internal/dir"},
                "caBundle": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            }
        },
        ["multisite:acme.caBundle", "expected PEM certificates that parse"],
    ),
    (
        "typo in a top-level key",
        {**MINIMAL, "site": []},
        ["multisite:site: unknown key (did you mean multisite:sites?)"],
    ),
    (
        "upper-case host",
        {**MINIMAL, "sites": [{**SITE, "host": "WWW.example.com"}]},
        ["multisite:sites[0].host = 'WWW.example.com'", "expected lower case ('www.example.com')"],
    ),
    (
        # An all-digit last label is an IP address (RFC 1123 2.1), however many labels come before.
        "host with an all-digit top-level label",
        {**MINIMAL, "sites": [{**SITE, "host": "www.example.123"}]},
        ["multisite:sites[0].host = 'www.example.123': expected a DNS name, not an IP address"],
    ),
    (
        "wildcard host",
        {**MINIMAL, "sites": [{**SITE, "host": "*.example.com"}]},
        # Let's Encrypt, "Challenge Types": HTTP-01 cannot issue wildcard certificates.
        [
            "multisite:sites[0].host = '*.example.com': expected a host without wildcard:"
            " HTTP-01 validation cannot issue wildcard certificates"
        ],
    ),
    (
        "over-long host",
        {**MINIMAL, "sites": [{**SITE, "host": ("a" * 60 + ".") * 5 + "com"}]},
        ["multisite:sites[0].host", "at most 253 characters"],
    ),
    (
        "invalid host",
        {**MINIMAL, "sites": [{**SITE, "host": "not a host"}]},
        ["multisite:sites[0].host = 'not a host'", "expected a lower-case DNS name"],
    ),
    (
        "invalid alias",
        {**MINIMAL, "sites": [{**SITE, "aliases": ["ok.example.com", "Bad.example.com"]}]},
        ["multisite:sites[0].aliases", "[1] 'Bad.example.com'", "expected lower case"],
    ),
    (
        "same host twice",
        {**MINIMAL, "sites": [SITE, {**SITE, "service": "other"}]},
        ["multisite:sites[1].host = 'www.example.com'", "already used by multisite:sites[0].host"],
    ),
    (
        "same host as another site's alias",
        {**MINIMAL, "sites": [{**SITE, "aliases": ["example.com"]}, {"host": "example.com", "service": "x"}]},
        ["multisite:sites[1].host = 'example.com'", "already used by multisite:sites[0].aliases[0]"],
    ),
    (
        "hosts that share an object name",
        {
            **MINIMAL,
            "sites": [
                {"host": "a-b.example.com", "service": "x"},
                {"host": "a.b-example.com", "service": "x"},
            ],
        },
        ["multisite:sites[1].host = 'a.b-example.com'", "'a-b-example-com' is unique"],
    ),
    (
        "both service and image",
        {**MINIMAL, "sites": [{**SITE, "image": "nginx:1.29"}]},
        # docs/configuration.md: `service` routes to an existing Service, `image` also deploys the container.
        [
            "multisite:sites[0].service = 'web', multisite:sites[0].image = 'nginx:1.29': expected"
            " exactly one of 'service' (route to an existing Service) or 'image'",
        ],
    ),
    (
        "neither service nor image",
        {**MINIMAL, "sites": [{"host": "www.example.com"}]},
        ["multisite:sites[0].service (not set), multisite:sites[0].image (not set): expected exactly one"],
    ),
    (
        "port too high",
        {**MINIMAL, "sites": [{**SITE, "port": 70000}]},
        ["multisite:sites[0].port = 70000", "less than or equal to 65535"],
    ),
    (
        "port zero",
        {**MINIMAL, "sites": [{**SITE, "port": 0}]},
        ["multisite:sites[0].port = 0", "greater than or equal to 1"],
    ),
    (
        "zero replicas",
        {**MINIMAL, "sites": [{"host": "www.example.com", "image": "nginx:1.29", "replicas": 0}]},
        ["multisite:sites[0].replicas = 0", "greater than or equal to 1"],
    ),
    (
        "replicas for an existing service",
        {**MINIMAL, "sites": [{**SITE, "replicas": 2}]},
        [
            "multisite:sites[0].replicas = 2, multisite:sites[0].image (not set): expected 'replicas'"
            " only with 'image' (we do not scale your Service)"
        ],
    ),
    (
        "non-integer replicas",
        {**MINIMAL, "ingressNginx": {"replicas": "two"}},
        ["multisite:ingressNginx.replicas = 'two'", "expected a valid integer"],
    ),
    (
        "typo in a site",
        {**MINIMAL, "sites": [{**SITE, "alias": ["x.example.com"]}]},
        ["multisite:sites[0].alias", "unknown key (did you mean 'aliases'?)"],
    ),
    (
        "sites not a list",
        {**MINIMAL, "sites": {"host": "www.example.com"}},
        ["multisite:sites = {'host': 'www.example.com'}", "expected an array"],
    ),
    (
        "non-IPv4 address",
        {**MINIMAL, "staticIp": {"address": "2001:db8::1"}},
        ["multisite:staticIp.address = '2001:db8::1'", "expected an IPv4 address"],
    ),
    (
        "zone instead of region",
        {**MINIMAL, "staticIp": {"region": "europe-west1-b"}},
        ["multisite:staticIp.region = 'europe-west1-b'", "a region, not a zone"],
    ),
    (
        "unknown network tier",
        {**MINIMAL, "staticIp": {"networkTier": "GOLD"}},
        ["multisite:staticIp.networkTier = 'GOLD'", "expected 'PREMIUM' or 'STANDARD'"],
    ),
    (
        "dns without zone",
        {**MINIMAL, "dns": {"ttl": 300}},
        ["multisite:dns.zone: missing"],
    ),
    (
        "cluster by name and kubeconfig",
        {**MINIMAL, "cluster": {"name": "c", "location": "europe-west1", "kubeconfig": "apiVersion: v1\n"}},
        [
            "multisite:cluster.name = 'c', multisite:cluster.location = 'europe-west1',"
            " multisite:cluster.kubeconfig = 'apiVersion: v1\\n': expected either",
            "not both",
        ],
    ),
    (
        "cluster name without location",
        {**MINIMAL, "cluster": {"name": "c"}},
        ["multisite:cluster", "both 'name' and 'location'"],
    ),
    (
        "kubeconfig path that does not exist",
        {**MINIMAL, "cluster": {"kubeconfig": "/nonexistent/kubeconfig"}},
        ["multisite:cluster.kubeconfig = '/nonexistent/kubeconfig'", "existing file"],
    ),
    (
        "object expected",
        {"acme": "staging"},
        ["multisite:acme = 'staging'", "expected an object"],
    ),
]


def site(**fields: Any) -> dict[str, Any]:
    """A stack with one site: `SITE` with `fields` changed."""
    return {**MINIMAL, "sites": [{**SITE, **fields}]}


def image_site(**fields: Any) -> dict[str, Any]:
    return {**MINIMAL, "sites": [{**IMAGE_SITE, **fields}]}


# Round two (issue "every value checked for what will receive it"), by principle.
BAD_CONFIGS += [
    # 1. Names valid for the system that receives them.
    (
        "Service name with a digit first (Kubernetes: DNS-1035 label)",
        site(service="1web"),
        ["multisite:sites[0].service = '1web'", "Kubernetes Service name", "letter first"],
    ),
    (
        "Service name with a dot",
        site(service="web.default"),
        ["multisite:sites[0].service = 'web.default'", "Kubernetes Service name"],
    ),
    (
        "Service name of 64 characters",
        site(service="s" * 64),
        ["multisite:sites[0].service = 'sss", "at most 63 characters"],
    ),
    (
        "namespace in upper case",
        site(namespace="Default"),
        ["multisite:sites[0].namespace = 'Default'", "Kubernetes namespace name"],
    ),
    (
        "namespace of 64 characters",
        site(namespace="n" * 64),
        ["multisite:sites[0].namespace", "at most 63 characters"],
    ),
    (
        "image with a space",
        image_site(image="nginx latest"),
        ["multisite:sites[0].image = 'nginx latest'", "container image reference"],
    ),
    (
        "image in upper case",
        image_site(image="Nginx:1.29"),
        ["multisite:sites[0].image = 'Nginx:1.29'", "container image reference"],
    ),
    (
        "image with an empty tag",
        image_site(image="nginx:"),
        ["multisite:sites[0].image = 'nginx:'", "container image reference"],
    ),
    (
        "image with a short digest",
        image_site(image="nginx@sha256:abc"),
        ["multisite:sites[0].image = 'nginx@sha256:abc'", "container image reference"],
    ),
    (
        "GKE cluster name in upper case",
        {**MINIMAL, "cluster": {"name": "Multisite", "location": "europe-west1"}},
        ["multisite:cluster.name = 'Multisite'", "GKE cluster name"],
    ),
    (
        "GKE cluster name of 41 characters",
        {**MINIMAL, "cluster": {"name": "c" * 41, "location": "europe-west1"}},
        ["multisite:cluster.name", "at most 40 characters"],
    ),
    (
        "cluster location that is neither region nor zone",
        {**MINIMAL, "cluster": {"name": "c", "location": "europe"}},
        ["multisite:cluster.location = 'europe'", "region", "zone"],
    ),
    (
        "cluster project given as a display name",
        {**MINIMAL, "cluster": {"name": "c", "location": "europe-west1", "project": "My Project"}},
        ["multisite:cluster.project = 'My Project'", "GCP project ID"],
    ),
    (
        "cluster project given as a project number",
        {**MINIMAL, "cluster": {"name": "c", "location": "europe-west1", "project": "123456789012"}},
        ["multisite:cluster.project = '123456789012'", "GCP project ID"],
    ),
    (
        "DNS zone given as a DNS name",
        {**MINIMAL, "dns": {"zone": "example.com"}},
        ["multisite:dns.zone = 'example.com'", "managed zone"],
    ),
    (
        "DNS project too short",
        {**MINIMAL, "dns": {"zone": "example-com", "project": "abc"}},
        ["multisite:dns.project = 'abc'", "GCP project ID"],
    ),
    (
        "static IP name with a digit first",
        {**MINIMAL, "staticIp": {"name": "1-ingress"}},
        ["multisite:staticIp.name = '1-ingress'", "GCP resource name"],
    ),
    (
        "chart version as a range",
        {**MINIMAL, "ingressNginx": {"version": "^4.15"}},
        ["multisite:ingressNginx.version = '^4.15'", "exact chart version"],
    ),
    (
        "chart version 'latest'",
        {**MINIMAL, "certManager": {"version": "latest"}},
        ["multisite:certManager.version = 'latest'", "exact chart version"],
    ),
    (
        "chart source with an unknown scheme",
        {**MINIMAL, "certManager": {"chart": "ftp://charts.example.com"}},
        ["multisite:certManager.chart = 'ftp://charts.example.com'", "repository URL"],
    ),
    # 2. Strings exactly as meant.
    (
        "host from a YAML block scalar (trailing newline)",
        site(host="www.example.com\n"),
        ["multisite:sites[0].host = 'www.example.com\\n'", "no leading or trailing whitespace"],
    ),
    (
        "issuer with a trailing space",
        {"acme": {"issuer": "prod "}},
        ["multisite:acme.issuer = 'prod '", "no leading or trailing whitespace"],
    ),
    (
        "service with a leading space",
        site(service=" web"),
        ["multisite:sites[0].service = ' web'", "no leading or trailing whitespace"],
    ),
    (
        "e-mail with a trailing newline",
        {"acme": {"issuer": "prod", "email": "ops@example.com\n"}},
        ["multisite:acme.email = 'ops@example.com\\n'", "no leading or trailing whitespace"],
    ),
    (
        "alias with a tab inside",
        site(aliases=["a\tb.example.com"]),
        ["multisite:sites[0].aliases", "[0] 'a\\tb.example.com'", "no control characters"],
    ),
    (
        "image with a trailing newline",
        image_site(image="nginx:1.29\n"),
        ["multisite:sites[0].image", "no leading or trailing whitespace"],
    ),
    (
        "empty namespace",
        site(namespace=""),
        ["multisite:sites[0].namespace = ''", "non-empty string"],
    ),
    (
        "DNS zone with a trailing space",
        {**MINIMAL, "dns": {"zone": "example-com "}},
        ["multisite:dns.zone = 'example-com '", "no leading or trailing whitespace"],
    ),
    (
        "kubeconfig of blanks",
        {**MINIMAL, "cluster": {"kubeconfig": "   "}},
        ["multisite:cluster.kubeconfig = '   '", "inline kubeconfig YAML or the path"],
    ),
    # 3. Exact types, and explicit nulls.
    (
        "boolean given as a number",
        {"acme": {"issuer": "prod", "waitForCertificates": 1}},
        ["multisite:acme.waitForCertificates = 1", "expected a valid boolean"],
    ),
    (
        "boolean given as a string",
        {**MINIMAL, "staticIp": {"enabled": "false"}},
        ["multisite:staticIp.enabled = 'false'", "expected a valid boolean"],
    ),
    (
        "number given as a boolean",
        {**MINIMAL, "ingressNginx": {"replicas": True}},
        ["multisite:ingressNginx.replicas = True", "expected a valid integer"],
    ),
    (
        "port given as a string",
        site(port="8080"),
        ["multisite:sites[0].port = '8080'", "expected a valid integer"],
    ),
    (
        "TTL with a fraction",
        {**MINIMAL, "dns": {"zone": "example-com", "ttl": 300.5}},
        ["multisite:dns.ttl = 300.5", "expected a valid integer"],
    ),
    (
        "host given as a number",
        site(host=42),
        ["multisite:sites[0].host = 42", "expected a valid string"],
    ),
    (
        "issuer given as a boolean",
        {"acme": {"issuer": True}},
        ["multisite:acme.issuer = True", "expected 'staging' or 'prod'"],
    ),
    (
        "explicit null e-mail",
        {"acme": {"issuer": "prod", "email": None}},
        ["multisite:acme.email = None", "empty one (null)", "remove the key"],
    ),
    (
        "explicit null aliases",
        site(aliases=None),
        ["multisite:sites[0].aliases = None", "empty one (null)"],
    ),
    (
        "explicit null port",
        site(port=None),
        ["multisite:sites[0].port = None", "empty one (null)"],
    ),
    (
        "explicit null site",
        {**MINIMAL, "sites": [None]},
        ["multisite:sites[0] = None", "expected an object"],
    ),
    # 4. Addresses Let's Encrypt can reach.
    (
        "private address",
        {**MINIMAL, "staticIp": {"address": "10.0.0.5"}},
        ["multisite:staticIp.address = '10.0.0.5'", "public IPv4", "private address (RFC 1918)"],
    ),
    (
        "private address, 172.16/12",
        {**MINIMAL, "staticIp": {"address": "172.31.255.1"}},
        ["multisite:staticIp.address = '172.31.255.1'", "private address (RFC 1918)"],
    ),
    (
        "loopback address",
        {**MINIMAL, "staticIp": {"address": "127.0.0.1"}},
        ["multisite:staticIp.address = '127.0.0.1'", "loopback"],
    ),
    (
        "link-local address",
        {**MINIMAL, "staticIp": {"address": "169.254.10.1"}},
        ["multisite:staticIp.address = '169.254.10.1'", "link-local"],
    ),
    (
        "carrier-grade NAT address",
        {**MINIMAL, "staticIp": {"address": "100.64.1.1"}},
        ["multisite:staticIp.address = '100.64.1.1'", "carrier-grade NAT"],
    ),
    (
        "documentation address",
        {**MINIMAL, "staticIp": {"address": "203.0.113.10"}},
        ["multisite:staticIp.address = '203.0.113.10'", "documentation"],
    ),
    (
        "multicast address",
        {**MINIMAL, "staticIp": {"address": "224.0.0.251"}},
        ["multisite:staticIp.address = '224.0.0.251'", "multicast"],
    ),
    (
        "unspecified address",
        {**MINIMAL, "staticIp": {"address": "0.0.0.0"}},
        ["multisite:staticIp.address = '0.0.0.0'", "never a destination"],
    ),
    # 6. Command-line slips.
    (
        "nested key set without --path",
        {**MINIMAL, "acme.issuer": "prod"},
        [
            "multisite:acme.issuer = 'prod'",
            "without --path",
            "pulumi config rm 'multisite:acme.issuer'",
            "pulumi config set --path 'multisite:acme.issuer' prod",
        ],
    ),
    (
        "array element set without --path",
        {**MINIMAL, "sites[0].host": "www.example.com"},
        ["multisite:sites[0].host = 'www.example.com'", "without --path", "--path 'multisite:sites[0].host'"],
    ),
    (
        "section set to a plain string",
        {**MINIMAL, "staticIp": "34.120.10.20"},
        [
            "multisite:staticIp = '34.120.10.20'",
            "expected an object",
            "pulumi config set --path 'multisite:staticIp.<key>' VALUE",
        ],
    ),
]


@pytest.mark.parametrize(("case", "raw", "fragments"), BAD_CONFIGS, ids=[c[0] for c in BAD_CONFIGS])
def test_bad_config_is_reported(case: str, raw: dict[str, Any], fragments: list[str]) -> None:
    found = problems(raw)
    assert len(found) == 1, found
    for fragment in fragments:
        assert fragment in found[0], f"{fragment!r} not in {found[0]!r}"


def test_region_is_required_to_reserve_an_address() -> None:
    (problem,) = problems(MINIMAL, gcp_region=None)
    assert problem == (
        "multisite:staticIp.region (not set), gcp:region (not set): expected one of them to reserve a"
        " regional address (the cluster's region)"
    )


def test_every_problem_is_reported_at_once() -> None:
    raw = {
        "acme": {"issuer": "nope"},
        "staticIp": {"address": "not-an-ip"},
        "sites": [{**SITE, "port": -1}, {**SITE, "host": "UPPER.example.com"}],
    }
    found = problems(raw)
    assert [p.split(" ")[0] for p in found] == [
        "multisite:staticIp.address",
        "multisite:acme.issuer",
        "multisite:sites[0].port",
        "multisite:sites[1].host",
    ]


def test_config_error_message_is_readable() -> None:
    with pytest.raises(ConfigError) as caught:
        settings({"acme": {"issuer": "nope"}})
    text = str(caught.value)
    assert text.splitlines()[0] == "invalid stack configuration (1 problem); nothing was created or changed:"
    assert text.splitlines()[1].startswith("  - multisite:acme.issuer = 'nope'")


def test_writeup_example_is_one_short_stack_file() -> None:
    text = (ROOT / "examples" / "Pulumi.writeup.yaml").read_text()
    config_lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert len(config_lines) <= 12


def test_gcp_keys_the_program_reads_are_checked() -> None:
    found = problems(MINIMAL, gcp_region="europe-west1-b", gcp_project="My Project")
    assert found == [
        "gcp:project = 'My Project': expected a GCP project ID: 6-30 characters, a lower-case letter"
        " first, then a-z, 0-9 or '-', not ending in '-' (the ID, not the display name or number)",
        "gcp:region = 'europe-west1-b': expected a GCP region such as 'europe-west1' (a region, not a zone)",
    ]
    assert settings(MINIMAL, gcp_project="my-project-123").gcp_project == "my-project-123"
    assert settings(MINIMAL, gcp_project="example.com:my-project").gcp_project == "example.com:my-project"


@pytest.mark.parametrize("stack", ["My_Stack", "prod.eu", "s" * 50])
def test_address_name_made_from_the_stack_name_must_suit_gcp(stack: str) -> None:
    (problem,) = problems(MINIMAL, stack=stack)
    assert problem.startswith(f"multisite:staticIp.name: missing; the default 'multisite-{stack}-ingress'")
    assert "set multisite:staticIp.name" in problem
    # Naming the address, or bringing one, settles it.
    assert (
        settings({**MINIMAL, "staticIp": {"name": "web-ingress"}}, stack=stack).static_ip_name
        == "web-ingress"
    )
    assert not settings({**MINIMAL, "staticIp": {"address": PUBLIC_IP}}, stack=stack).reserves_ip


def test_the_longest_stack_name_gcp_takes_is_accepted() -> None:
    # multisite-<stack>-ingress: 18 characters around the stack name, 63 at most in all.
    assert settings(MINIMAL, stack="s" * 45).static_ip_name == "multisite-" + "s" * 45 + "-ingress"
    assert problems(MINIMAL, stack="s" * 46)


@pytest.mark.parametrize(
    "image",
    [
        "nginx",
        "nginx:1.29",
        "nginxinc/nginx-unprivileged:1.29-alpine",
        "registry.example.com:5000/team/web:1.0",
        "europe-docker.pkg.dev/my-project/web/site:v2",
        "ghcr.io/org/app@sha256:" + "a" * 64,
        "ghcr.io/org/app:1.0@sha256:" + "0" * 64,
    ],
)
def test_image_references_in_use_are_accepted(image: str) -> None:
    assert settings({**MINIMAL, "sites": [{**IMAGE_SITE, "image": image}]}).sites[0].image == image


@pytest.mark.parametrize(
    ("address", "why"),
    [("34.120.10.20", None), ("8.8.8.8", None), ("192.168.1.1", "private"), ("198.18.0.1", "benchmarking")],
)
def test_only_public_addresses_are_accepted(address: str, why: str | None) -> None:
    raw = {**MINIMAL, "staticIp": {"address": address}}
    if why is None:
        assert settings(raw).static_ip.address == address
    else:
        (problem,) = problems(raw)
        assert problem.startswith(f"multisite:staticIp.address = '{address}': expected a public IPv4 address")
        assert why in problem


def test_cluster_may_be_regional_or_zonal() -> None:
    for location in ("europe-west1", "europe-west1-b"):
        cluster = settings({**MINIMAL, "cluster": {"name": "c", "location": location}}).cluster
        assert cluster is not None and cluster.location == location


def test_free_text_is_handed_on_as_written() -> None:
    # Inline kubeconfig YAML and Helm values are text for other programs: newlines belong there.
    inline = "apiVersion: v1\nkind: Config\n"
    cluster = settings({**MINIMAL, "cluster": {"kubeconfig": inline}}).cluster
    assert cluster is not None and cluster.kubeconfig == inline
    values = {"controller": {"config": {"http-snippet": "a\nb\n"}}}
    assert settings({**MINIMAL, "ingressNginx": {"values": values}}).edge_config.values == values


def test_a_type_error_in_one_section_does_not_hide_a_bad_host_in_another() -> None:
    found = problems(
        {
            "acme": {"issuer": "prod", "waitForCertificates": "yes"},
            "sites": [{**SITE, "host": "Bad.example.com"}],
        }
    )
    assert [p.split(" = ")[0] for p in found] == [
        "multisite:acme.waitForCertificates",
        "multisite:sites[0].host",
    ]


def test_a_bad_field_does_not_hide_a_duplicate_host() -> None:
    found = problems({**MINIMAL, "sites": [SITE, {**SITE, "service": "other", "port": "80"}]})
    assert found == [
        "multisite:sites[1].port = '80': expected a valid integer",
        "multisite:sites[1].host = 'www.example.com': expected each host once;"
        " already used by multisite:sites[0].host",
    ]


def test_a_bad_field_does_not_hide_a_duplicate_alias_or_a_rule_between_keys() -> None:
    found = problems(
        {
            **MINIMAL,
            "sites": [
                {**SITE, "aliases": ["example.com"]},
                {
                    "host": "other.example.com",
                    "aliases": ["example.com"],
                    "image": "nginx",
                    "service": "x",
                    "port": 0,
                },
            ],
        }
    )
    assert len(found) == 3, found
    assert found[0].startswith("multisite:sites[1].service = 'x', multisite:sites[1].image = 'nginx': ")
    assert found[1].startswith("multisite:sites[1].port = 0")
    assert found[2] == (
        "multisite:sites[1].aliases[0] = 'example.com': expected each host once;"
        " already used by multisite:sites[0].aliases[0]"
    )


def test_rules_between_keys_are_reported_beside_a_bad_field() -> None:
    found = problems({**MINIMAL, "staticIp": {"address": "10.0.0.1", "name": "my-ip"}})
    assert len(found) == 2
    assert "not both" in found[0] and "private address" in found[1]


def test_a_cluster_named_two_ways_is_refused_whole() -> None:
    cluster = {"name": "c", "location": "europe-west1", "kubeconfig": "apiVersion: v1\n"}
    assert problems({**MINIMAL, "cluster": cluster}) == [
        "multisite:cluster.name = 'c', multisite:cluster.location = 'europe-west1',"
        " multisite:cluster.kubeconfig = 'apiVersion: v1\\n': expected either {name, location} of a GKE"
        " cluster or {kubeconfig}, not both"
    ]


def test_a_host_starting_with_a_digit_gets_a_valid_service_name() -> None:
    # Kubernetes Service names are DNS-1035 labels: a letter first.
    (one,) = settings({**MINIMAL, "sites": [{**IMAGE_SITE, "host": "1.example.com"}]}).sites
    assert one.resource_name == "1-example-com"
    assert one.service_name == "web-1-example-com"
    (routed,) = settings({**MINIMAL, "sites": [{**SITE, "host": "1.example.com"}]}).sites
    assert routed.service_name == "web"  # the user's own Service


@pytest.mark.parametrize(
    ("host", "service"),
    [
        ("1a.example.com", "web-1a-example-com"),  # only the first character decides
        ("a1.example.com", "a1-example-com"),
    ],
)
def test_only_a_leading_digit_gets_the_web_prefix(host: str, service: str) -> None:
    (site,) = settings({**MINIMAL, "sites": [{**IMAGE_SITE, "host": host}]}).sites
    assert site.service_name == service


def test_two_image_sites_cannot_share_a_service_name() -> None:
    found = problems(
        {
            **MINIMAL,
            "sites": [{**IMAGE_SITE, "host": "web-1.example.com"}, {**IMAGE_SITE, "host": "1.example.com"}],
        }
    )
    assert found == [
        "multisite:sites[1].host = '1.example.com': expected a host whose object name"
        " 'web-1-example-com' is unique in namespace 'default'; multisite:sites[0].host maps to the same name"
    ]


def test_sections_set_with_secret_arrive_marked_secret() -> None:
    raw = {**MINIMAL, "cluster": {"skipAwait": True}, "staticIp": {"address": PUBLIC_IP}}
    s = settings(raw, secret_keys=frozenset({"acme", "staticIp"}))
    assert s.acme.secret and s.static_ip.secret
    assert s.cluster is not None and not s.cluster.secret
    assert not s.cert_manager.secret and not s.edge_config.secret
