"""Config validation at its edges: each limit probed on both sides, each message whole.

Limits come from the systems that receive the value (docs/configuration.md):
TCP ports 1-65535; DNS names at most 253 characters, labels at most 63
(RFC 1035); Kubernetes DNS-1123/1035 labels at most 63; GCP resource names at
most 63 and GKE cluster names at most 40; project IDs 6-30 characters; Cloud
DNS TTLs (we allow 30 s to a day); Let's Encrypt's 100 names per certificate;
the OCI reference grammar (tags at most 128 characters, digests of at least 32
hex digits, 255 characters in all); at most 20 controller replicas and 100 per site.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from components.cluster_issuers import AcmeConfig
from components.settings import ConfigError, StackSettings, load_settings
from components.site import SiteConfig, kubernetes_name
from tests.support import TEST_CA

MINIMAL: dict[str, Any] = {"acme": {"issuer": "staging"}}
SITE = {"host": "www.example.com", "service": "web"}
IMAGE_SITE = {"host": "www.example.com", "image": "nginx:1.29"}
TAIL = (
    ". Let's Encrypt validates HTTP-01 by fetching"
    " http://<host>/.well-known/acme-challenge/... through it from the internet"
)


def settings(raw: dict[str, Any], **kw: Any) -> StackSettings:
    return load_settings(
        raw, stack=kw.pop("stack", "dev"), gcp_region=kw.pop("gcp_region", "europe-west1"), **kw
    )


def problems(raw: dict[str, Any], **kw: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        settings(raw, **kw)
    return caught.value.problems


def site(**fields: Any) -> dict[str, Any]:
    return {**MINIMAL, "sites": [{**SITE, **fields}]}


def image_site(**fields: Any) -> dict[str, Any]:
    return {**MINIMAL, "sites": [{**IMAGE_SITE, **fields}]}


# (config that sits exactly on a limit, the same config one step past it, a fragment of the problem)
EDGES: list[tuple[str, dict[str, Any], dict[str, Any], str]] = [
    ("lowest port", site(port=1), site(port=0), "greater than or equal to 1"),
    ("highest port", site(port=65535), site(port=65536), "less than or equal to 65535"),
    (
        "fewest controller replicas",
        {**MINIMAL, "ingressNginx": {"replicas": 1}},
        {**MINIMAL, "ingressNginx": {"replicas": 0}},
        "greater than or equal to 1",
    ),
    (
        "most controller replicas",
        {**MINIMAL, "ingressNginx": {"replicas": 20}},
        {**MINIMAL, "ingressNginx": {"replicas": 21}},
        "less than or equal to 20",
    ),
    ("most site replicas", image_site(replicas=100), image_site(replicas=101), "less than or equal to 100"),
    (
        "shortest TTL",
        {**MINIMAL, "dns": {"zone": "example-com", "ttl": 30}},
        {**MINIMAL, "dns": {"zone": "example-com", "ttl": 29}},
        "greater than or equal to 30",
    ),
    (
        "longest TTL",
        {**MINIMAL, "dns": {"zone": "example-com", "ttl": 86400}},
        {**MINIMAL, "dns": {"zone": "example-com", "ttl": 86401}},
        "less than or equal to 86400",
    ),
    (
        "most aliases",
        site(aliases=[f"a{i}.example.com" for i in range(99)]),
        site(aliases=[f"a{i}.example.com" for i in range(100)]),
        "multisite:sites[0].host, multisite:sites[0].aliases (100 names), multisite:sites[0].redirects"
        " (0 names): expected at most 100 names on one certificate, got 101; Let's Encrypt refuses it",
    ),
    (
        "longest host",
        # Under a public suffix (.com), as Let's Encrypt wants.
        site(host=".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 57, "com"])),
        site(host=".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 58, "com"])),
        "expected at most 253 characters, got 254",
    ),
    ("longest label", site(host="a" * 63 + ".com"), site(host="a" * 64 + ".com"), "lower-case DNS name"),
    ("longest Service name", site(service="s" * 63), site(service="s" * 64), "Kubernetes Service name"),
    ("longest namespace", site(namespace="n" * 63), site(namespace="n" * 64), "Kubernetes namespace name"),
    (
        "longest GKE cluster name",
        {**MINIMAL, "cluster": {"name": "c" * 40, "location": "europe-west1"}},
        {**MINIMAL, "cluster": {"name": "c" * 41, "location": "europe-west1"}},
        "at most 40 characters",
    ),
    (
        "longest address name",
        {**MINIMAL, "staticIp": {"name": "a" * 63}},
        {**MINIMAL, "staticIp": {"name": "a" * 64}},
        "GCP resource name",
    ),
    (
        "longest zone name",
        {**MINIMAL, "dns": {"zone": "z" * 63}},
        {**MINIMAL, "dns": {"zone": "z" * 64}},
        "Cloud DNS managed zone",
    ),
    (
        "shortest project ID",
        {**MINIMAL, "dns": {"zone": "z", "project": "abcdef"}},
        {**MINIMAL, "dns": {"zone": "z", "project": "abcde"}},
        "GCP project ID",
    ),
    (
        "longest project ID",
        {**MINIMAL, "dns": {"zone": "z", "project": "p" * 30}},
        {**MINIMAL, "dns": {"zone": "z", "project": "p" * 31}},
        "GCP project ID",
    ),
    (
        "longest image tag",
        image_site(image="nginx:" + "t" * 128),
        image_site(image="nginx:" + "t" * 129),
        "container image reference",
    ),
    (
        "shortest digest",
        image_site(image="nginx@sha256:" + "a" * 32),
        image_site(image="nginx@sha256:" + "a" * 31),
        "container image reference",
    ),
    (
        "longest image reference",
        image_site(image="r/" + "a" * 253),
        image_site(image="r/" + "a" * 254),
        "container image reference",
    ),
]


@pytest.mark.parametrize(("case", "on_edge", "past_edge", "fragment"), EDGES, ids=[e[0] for e in EDGES])
def test_limits_hold_on_both_sides_of_the_edge(
    case: str, on_edge: dict[str, Any], past_edge: dict[str, Any], fragment: str
) -> None:
    settings(on_edge)
    (problem,) = problems(past_edge)
    assert fragment in problem


@pytest.mark.parametrize("version", ["1.2.3", "v1.21.2", "0.0.1", "4.15.1-rc.1", "1.0.0+build.5"])
def test_exact_chart_versions_are_accepted(version: str) -> None:
    assert settings({**MINIMAL, "certManager": {"version": version}}).cert_manager.version == version


@pytest.mark.parametrize("version", ["1.2", "01.2.3", "1.2.3.4", "v", ">=1.2.3"])
def test_chart_versions_that_are_not_one_release_are_refused(version: str) -> None:
    (problem,) = problems({**MINIMAL, "certManager": {"version": version}})
    assert problem == (
        f"multisite:certManager.version = {version!r}: expected an exact chart version such as"
        " '1.2.3' (a pin, not a range)"
    )


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project directory (where Pulumi runs the program) with a local chart directory and archive."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "charts" / "cert-manager").mkdir(parents=True)
    (tmp_path / "charts" / "cert-manager" / "Chart.yaml").write_text("name: cert-manager\n")
    (tmp_path / "charts" / "cert-manager-v1.21.2.tgz").write_bytes(b"archive")
    (tmp_path / "charts" / "empty").mkdir()
    return tmp_path


@pytest.mark.parametrize(
    "chart",
    [
        "charts/cert-manager",
        "charts/cert-manager-v1.21.2.tgz",
        "http://mirror.example.com",
        "oci://quay.io/jetstack",
        # A URL whose query holds another URL is still that repository's URL.
        "https://proxy.example.com/charts?upstream=https://charts.jetstack.io",
        "oci://X",  # a one-letter host is a host
    ],
)
def test_chart_sources_of_every_documented_kind_are_accepted(chart: str, project: Path) -> None:
    assert settings({**MINIMAL, "certManager": {"chart": chart}}).cert_manager.chart == chart


CHART_SOURCE = (
    "expected a chart repository URL (https://...), an OCI reference (oci://...) or the path of"
    " an existing local chart (a directory with a Chart.yaml, or a chart archive)"
)


# Helm installs from a directory holding Chart.yaml or from a chart archive; anything else
# would fail in the middle of `pulumi up` (issue 23: every local path is checked at preview).
@pytest.mark.parametrize("chart", ["charts/missing", "charts/empty", "ftp://charts.example.com"])
def test_a_chart_source_that_helm_cannot_install_from_is_refused(chart: str, project: Path) -> None:
    (problem,) = problems({**MINIMAL, "certManager": {"chart": chart}})
    assert problem == f"multisite:certManager.chart = {chart!r}: {CHART_SOURCE}"


def test_a_local_chart_under_the_home_directory_is_handed_on_expanded(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Helm does not expand `~`: the release gets the path the check found.
    monkeypatch.setenv("HOME", str(project))
    s = settings({**MINIMAL, "certManager": {"chart": "~/charts/cert-manager"}})
    assert s.cert_manager.chart == str(project / "charts" / "cert-manager")


@pytest.mark.parametrize("chart", ["https://", "oci:///"])
def test_a_chart_url_without_a_host_is_refused(chart: str) -> None:
    (problem,) = problems({**MINIMAL, "certManager": {"chart": chart}})
    scheme = chart.split(":")[0]
    assert problem == f"multisite:certManager.chart = {chart!r}: expected a {scheme}:// location with a host"


# Issue 23: a rule between keys names every key it joins by its dotted path, with the value
# given or "(not set)", as single-key problems do.
RULES_BETWEEN_KEYS = [
    (
        {"context": "ci"},
        "multisite:cluster.context = 'ci', multisite:cluster.kubeconfig (not set): expected 'context'"
        " only together with 'kubeconfig'",
    ),
    (
        {"project": "my-project"},
        "multisite:cluster.project = 'my-project', multisite:cluster.name (not set),"
        " multisite:cluster.location (not set): expected 'project' only together with a GKE"
        " {name, location}",
    ),
    (
        {"location": "europe-west1"},
        "multisite:cluster.name (not set), multisite:cluster.location = 'europe-west1': expected both"
        " 'name' and 'location' to look up a GKE cluster",
    ),
    (
        {"name": "c"},
        "multisite:cluster.name = 'c', multisite:cluster.location (not set): expected both"
        " 'name' and 'location' to look up a GKE cluster",
    ),
    (
        {"name": "c", "kubeconfig": "apiVersion: v1"},
        "multisite:cluster.name = 'c', multisite:cluster.kubeconfig = 'apiVersion: v1': expected either"
        " {name, location} of a GKE cluster or {kubeconfig}, not both",
    ),
]


@pytest.mark.parametrize(("cluster", "expected"), RULES_BETWEEN_KEYS)
def test_cluster_keys_that_only_work_together(cluster: dict[str, Any], expected: str) -> None:
    assert problems({**MINIMAL, "cluster": cluster}) == [expected]


@pytest.mark.parametrize("key", ["name", "region", "address"])
def test_a_disabled_static_ip_takes_no_name_region_or_address(key: str) -> None:
    # 34.120.10.20 is a Google Cloud address, public; nothing connects to it.
    value = {"name": "my-ip", "region": "europe-west1", "address": "34.120.10.20"}[key]
    raw = {**MINIMAL, "staticIp": {"enabled": False, key: value}}
    assert problems(raw) == [
        f"multisite:staticIp.enabled = False, multisite:staticIp.{key} = '{value}': expected no"
        " address, name or region when 'enabled' is false"
    ]


def test_a_disabled_static_ip_alone_is_fine() -> None:
    s = settings({**MINIMAL, "staticIp": {"enabled": False}})
    assert not s.reserves_ip and s.static_ip.address is None


def test_inline_json_kubeconfig_and_a_home_relative_path(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    inline = '{"apiVersion": "v1", "kind": "Config"}'
    assert settings({**MINIMAL, "cluster": {"kubeconfig": inline}}).cluster.kubeconfig == inline  # type: ignore[union-attr]
    (tmp_path / "kubeconfig").write_text("apiVersion: v1\n")
    monkeypatch.setenv("HOME", str(tmp_path))
    cluster = settings({**MINIMAL, "cluster": {"kubeconfig": "~/kubeconfig"}}).cluster
    assert cluster is not None and cluster.kubeconfig == str(tmp_path / "kubeconfig")


# --- messages, whole --------------------------------------------------------------


def test_an_unknown_key_without_a_close_match_lists_the_camel_case_keys() -> None:
    assert problems({**MINIMAL, "staticIp": {"zzzz": 1}}) == [
        "multisite:staticIp.zzzz = 1: unknown key; expected only: address, enabled, name, networkTier, region"
    ]


def test_an_unknown_key_with_a_close_match_names_it() -> None:
    assert problems({**MINIMAL, "staticIp": {"networktier": "PREMIUM"}}) == [
        "multisite:staticIp.networktier = 'PREMIUM': unknown key (did you mean 'networkTier'?);"
        " expected only: address, enabled, name, networkTier, region"
    ]


def test_an_unknown_top_level_key_without_a_close_match() -> None:
    assert problems({**MINIMAL, "qqqqq": 1}) == [
        "multisite:qqqqq: unknown key; expected only: multisite:edge, multisite:charts, multisite:cluster,"
        " multisite:staticIp, multisite:acme, multisite:ingressNginx, multisite:traefik,"
        " multisite:certManager, multisite:dns, multisite:sites"
    ]


def test_a_dotted_key_that_is_no_section_is_just_unknown() -> None:
    (problem,) = problems({**MINIMAL, "foo.bar": "x"})
    assert problem.startswith("multisite:foo.bar: unknown key; expected only: multisite:edge,")


def test_a_nested_key_without_path_and_a_non_string_value() -> None:
    assert problems({**MINIMAL, "dns.ttl": 60}) == [
        "multisite:dns.ttl = 60: a nested key set without --path (this made a top-level key named"
        " 'dns.ttl'); fix it with: pulumi config rm 'multisite:dns.ttl' &&"
        " pulumi config set --path 'multisite:dns.ttl' VALUE"
    ]


def test_a_nested_key_value_is_quoted_for_the_shell() -> None:
    (problem,) = problems({**MINIMAL, "acme.email": "a b@example.com"})
    assert problem.endswith("pulumi config set --path 'multisite:acme.email' 'a b@example.com'")


@pytest.mark.parametrize("value", ["x", ["x"], 5])
def test_a_site_that_is_not_a_mapping(value: Any) -> None:
    assert problems({**MINIMAL, "sites": [value]}) == [
        f"multisite:sites[0] = {value!r}: expected an object (a YAML mapping)"
    ]


def test_a_bad_e_mail_says_why_in_the_validator_s_words() -> None:
    assert problems({"acme": {"issuer": "prod", "email": "ops@"}}) == [
        "multisite:acme.email = 'ops@': expected an e-mail address such as 'ops@example.com'"
        " (There must be something after the @-sign.)"
    ]


def test_an_alias_of_the_wrong_type_is_reported_at_its_index() -> None:
    assert problems(site(aliases=["ok.example.com", 5])) == [
        "multisite:sites[0].aliases[1] = 5: expected a valid string"
    ]


def test_addresses_that_are_not_ipv4_or_not_routable_say_so_whole() -> None:
    assert problems({**MINIMAL, "staticIp": {"address": "34.120.10"}}) == [
        "multisite:staticIp.address = '34.120.10': expected an IPv4 address such as '34.120.10.20'"
    ]
    # 192.0.0.0/24, IETF protocol assignments: special-purpose, and in none of the named ranges.
    assert problems({**MINIMAL, "staticIp": {"address": "192.0.0.1"}}) == [
        "multisite:staticIp.address = '192.0.0.1': expected a public IPv4 address; this is not"
        " globally routable (IANA special-purpose range)" + TAIL
    ]
    assert problems({**MINIMAL, "staticIp": {"address": "10.1.2.3"}}) == [
        "multisite:staticIp.address = '10.1.2.3': expected a public IPv4 address; this is a private"
        " address (RFC 1918)" + TAIL
    ]


def test_long_values_are_cut_to_80_characters_in_messages() -> None:
    fits = "N" * 78  # its repr, quotes included, is 80 characters
    (problem,) = problems(site(namespace=fits))
    assert problem.startswith(f"multisite:sites[0].namespace = '{fits}': expected")
    too_long = "N" * 79
    (problem,) = problems(site(namespace=too_long))
    assert problem.startswith("multisite:sites[0].namespace = '" + "N" * 76 + "...: expected")


def test_the_header_counts_problems_in_the_plural() -> None:
    with pytest.raises(ConfigError) as caught:
        settings({"acme": {"issuer": "nope"}, "dns": None})
    assert str(caught.value).splitlines()[0] == (
        "invalid stack configuration (2 problems); nothing was created or changed:"
    )


def test_an_e_mail_reason_that_itself_holds_a_colon_is_kept_whole() -> None:
    # email-validator's own words; pydantic puts "value is not a valid email address: " before them.
    assert problems({"acme": {"issuer": "prod", "email": "ops@exa_mple.com"}}) == [
        "multisite:acme.email = 'ops@exa_mple.com': expected an e-mail address such as 'ops@example.com'"
        " (The part after the @-sign contains invalid characters: '_'.)"
    ]


# --- Private ACME directories (acme.servers, acme.caBundle) --------------------------

HTTPS_ONLY = (
    "expected the https:// URL of an ACME directory, such as"
    " 'https://ca.internal:14000/dir' (RFC 8555 serves ACME over HTTPS only)"
)
NO_CREDENTIALS = "expected an ACME directory URL without user, password or #fragment"
DIRECTORY = "https://ca.internal:14000/dir"


def acme_problem(**acme: Any) -> str:
    (problem,) = problems({"acme": {"issuer": "prod", **acme}})
    return problem


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://ca.internal/dir", HTTPS_ONLY),  # RFC 8555 section 6.1: HTTPS only
        ("https:///dir", HTTPS_ONLY),
        ("ca.internal/dir", HTTPS_ONLY),
        ("https://u:p@ca.internal/dir", NO_CREDENTIALS),
        ("https://u@ca.internal/dir", NO_CREDENTIALS),  # a user without a password
        ("https://ca.internal/dir#top", NO_CREDENTIALS),  # a fragment alone
    ],
)
def test_an_acme_directory_is_a_plain_https_url(url: str, expected: str) -> None:
    assert acme_problem(servers={"staging": url}) == f"multisite:acme.servers.staging = {url!r}: {expected}"


def test_an_acme_directory_with_a_port_and_path_is_taken_as_given() -> None:
    assert (
        settings({"acme": {"issuer": "prod", "servers": {"prod": DIRECTORY}}}).acme.server("prod")
        == DIRECTORY
    )


PEM_ONLY = "expected PEM certificates only (-----BEGIN CERTIFICATE----- blocks); found "


def test_a_ca_bundle_without_pem_blocks_is_refused_whole() -> None:
    problem = acme_problem(servers={"prod": DIRECTORY}, caBundle="MIIB")
    assert problem == f"multisite:acme.caBundle = 'MIIB': {PEM_ONLY}no PEM block"


def test_a_ca_bundle_names_every_kind_of_block_that_is_not_a_certificate() -> None:
    extra = (
        "-----BEGIN X509 CRL-----\nAA\n-----END X509 CRL-----\n"
        "-----BEGIN PRIVATE KEY-----\nAA\n-----END PRIVATE KEY-----\n"
    )
    problem = acme_problem(servers={"prod": DIRECTORY}, caBundle=TEST_CA + extra)
    assert problem.startswith("multisite:acme.caBundle = '-----BEGIN CERTIFICATE-----")
    assert problem.endswith(f": {PEM_ONLY}PRIVATE KEY, X509 CRL blocks")


def test_a_ca_bundle_that_does_not_parse_gives_openssls_reason() -> None:
    bad = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    problem = acme_problem(servers={"prod": DIRECTORY}, caBundle=bad)
    # OpenSSL's own words (PEM_R_NO_START_LINE), then where in CPython it was raised.
    assert problem.startswith(
        f"multisite:acme.caBundle = {bad!r}: expected PEM certificates that parse;"
        " OpenSSL says: no start line: cadata does not contain a certificate"
    )


# A site that fails its own checks is still read for the names it claims, so
# that a wrong field in it never hides a clash with another site.
def test_a_site_with_a_bad_field_still_clashes_by_object_name_in_the_default_namespace() -> None:
    raw = {
        **MINIMAL,
        "sites": [
            {"host": "a-b.example.com", "service": "x"},
            {"host": "a.b-example.com", "service": "x", "port": 0},
        ],
    }
    found = problems(raw)
    assert len(found) == 2, found
    assert found[0].startswith("multisite:sites[1].port = 0:")
    assert found[1] == (
        "multisite:sites[1].host = 'a.b-example.com': expected a host whose object name"
        " 'a-b-example-com' is unique in namespace 'default'; multisite:sites[0].host maps to the same name"
    )


def test_a_bad_image_site_still_claims_its_service_name() -> None:
    # service_name: a host with a leading digit gets the `web-` prefix (a DNS-1035 label).
    raw = {
        **MINIMAL,
        "sites": [
            {"host": "web-1-b.example.com", "service": "x"},
            {"host": "1-b.example.com", "image": "nginx:1.29", "port": 0},
        ],
    }
    found = problems(raw)
    assert len(found) == 2, found
    assert "object name 'web-1-b-example-com' is unique in namespace 'default'" in found[1]


def test_sites_in_an_invalid_namespace_are_not_also_reported_as_clashing() -> None:
    # The namespace problem is the one to fix; a clash inside a namespace that
    # cannot exist would be noise.
    bad = "Team_A"
    raw = {
        **MINIMAL,
        "sites": [
            {"host": "a-b.example.com", "service": "x", "namespace": bad},
            {"host": "a.b-example.com", "service": "x", "namespace": bad},
        ],
    }
    found = problems(raw)
    keys = [p.split(" = ")[0] for p in found]
    assert keys == ["multisite:sites[0].namespace", "multisite:sites[1].namespace"]


def test_a_name_of_64_characters_is_shortened_to_a_dns_label() -> None:
    # Kubernetes: a DNS-1123 label has at most 63 characters.
    host = "a" * 60 + ".com"  # a-…-com: 64 characters once the dot is a dash
    name = kubernetes_name(host)
    assert len(name) <= 63 and name != host.replace(".", "-")


# The sections of docs/configuration.md, each set to an explicit null (`key:` with nothing after it).
@pytest.mark.parametrize(
    ("key", "extra"),
    [
        ("cluster", {}),
        ("staticIp", {}),
        ("acme", {}),
        ("ingressNginx", {}),
        ("traefik", {"edge": "traefik"}),
        ("certManager", {}),
        ("dns", {}),
        ("sites", {}),
    ],
)
def test_a_section_set_to_null_is_refused_whole(key: str, extra: dict[str, Any]) -> None:
    assert problems({**MINIMAL, **extra, key: None}) == [
        f"multisite:{key} = None: expected a value, got an empty one (null); remove the key to take"
        " its default"
    ]


def test_an_address_and_a_name_together_are_refused_whole() -> None:
    static_ip = {"address": "34.120.10.20", "name": "my-ip"}
    assert problems({**MINIMAL, "staticIp": static_ip}) == [
        "multisite:staticIp.address = '34.120.10.20', multisite:staticIp.name = 'my-ip': expected"
        " either 'address' (an IP you reserved) or 'name' (an IP we reserve), not both"
    ]


def test_a_certificate_timeout_without_the_wait_is_refused_whole() -> None:
    acme = {"issuer": "prod", "certificateTimeout": 120}
    assert problems({"acme": acme}) == [
        "multisite:acme.certificateTimeout = 120, multisite:acme.waitForCertificates (not set):"
        " expected 'certificateTimeout' only together with 'waitForCertificates: true' (it bounds"
        " that wait)"
    ]
    acme["waitForCertificates"] = False
    assert problems({"acme": acme}) == [
        "multisite:acme.certificateTimeout = 120, multisite:acme.waitForCertificates = False:"
        " expected 'certificateTimeout' only together with 'waitForCertificates: true' (it bounds"
        " that wait)"
    ]


def test_dns_without_a_static_ip_is_refused_whole() -> None:
    raw = {**MINIMAL, "staticIp": {"enabled": False}, "dns": {"zone": "example-com"}}
    assert problems(raw) == [
        "multisite:dns.zone = 'example-com', multisite:staticIp.enabled = False: expected a static IP"
        " to point records at; without one the address is only known after the load balancer exists"
    ]


def test_a_secret_sites_key_is_refused_whole() -> None:
    assert problems({**MINIMAL, "sites": [SITE]}, secret_keys=frozenset({"sites"})) == [
        "multisite:sites: expected a plain (not --secret) value: host names become resource names"
        " (URNs), which Pulumi never encrypts, so a secret here would not stay secret; run"
        " `pulumi config set --path 'multisite:sites' ...` without --secret"
    ]


def test_a_stack_name_that_makes_no_gcp_address_name_is_refused_whole() -> None:
    # GCP resource names: RFC 1035 labels, a lower-case letter first, at most 63 characters.
    assert problems(MINIMAL, stack="My_Stack") == [
        "multisite:staticIp.name: missing; the default 'multisite-My_Stack-ingress', made from the"
        " stack name 'My_Stack', is not a GCP resource name (a lower-case letter first, then a-z,"
        " 0-9 or '-', at most 63 characters): set multisite:staticIp.name"
    ]


def test_a_missing_key_does_not_hide_the_problems_after_it() -> None:
    # `issuer` is missing and `email`, which comes after it, is wrong: both are reported.
    found = problems({"acme": {"email": 42}})
    assert found == [
        "multisite:acme.issuer: missing; this key is required",
        "multisite:acme.email = 42: expected a valid string",
    ]


def test_a_bad_host_does_not_hide_a_duplicate_alias_beside_it() -> None:
    raw = {
        **MINIMAL,
        "sites": [SITE, {"host": "WWW.example.org", "aliases": ["www.example.com"], "service": "x"}],
    }
    found = problems(raw)
    assert len(found) == 2, found
    assert found[0].startswith("multisite:sites[1].host = 'WWW.example.org': expected lower case")
    assert found[1] == (
        "multisite:sites[1].aliases[0] = 'www.example.com': expected each host once;"
        " already used by multisite:sites[0].host"
    )


def test_a_duplicate_host_does_not_stop_the_checks_of_the_sites_after_it() -> None:
    # a.example.com and a-example.com both become the object name a-example-com.
    raw = {
        **MINIMAL,
        "sites": [
            {"host": "a.example.com", "service": "x"},
            {"host": "a.example.com", "service": "y"},
            {"host": "a-example.com", "service": "z"},
        ],
    }
    assert problems(raw) == [
        "multisite:sites[1].host = 'a.example.com': expected each host once; already used by"
        " multisite:sites[0].host",
        "multisite:sites[2].host = 'a-example.com': expected a host whose object name"
        " 'a-example-com' is unique in namespace 'default'; multisite:sites[0].host maps to the same name",
    ]


# Strings must arrive exactly as meant (docs/configuration.md): a YAML block scalar's
# trailing newline, a stray space or a tab would otherwise reach a resource unseen.
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", "expected a non-empty string"),
        (
            "web\n",
            "expected no leading or trailing whitespace (a YAML block scalar such as `key: |` adds a"
            " newline at the end; use a plain or quoted string)",
        ),
        ("w\teb", "expected no control characters (tabs, newlines, ...)"),
    ],
)
def test_an_inexact_string_is_refused_whole(value: str, expected: str) -> None:
    assert problems(site(service=value)) == [f"multisite:sites[0].service = {value!r}: {expected}"]
    assert problems(MINIMAL, gcp_project=value) == [f"gcp:project = {value!r}: {expected}"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [(42, "expected the path of a directory of charts"), ("", "expected a non-empty string")],
)
def test_a_charts_directory_that_is_no_path_is_refused_whole(value: Any, expected: str) -> None:
    assert problems({**MINIMAL, "charts": value}) == [f"multisite:charts = {value!r}: {expected}"]


LE_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"
LE_PROD = "https://acme-v02.api.letsencrypt.org/directory"


# Production is what the issuer names say (issue 23): a `staging` issuer pointed at Let's
# Encrypt's production directory would issue trusted certificates on a stack treated as dev
# (unprotected). Let's Encrypt's directories (letsencrypt.org/docs/acme-protocol-updates,
# letsencrypt.org/docs/staging-environment) are refused in `servers`, whichever issuer.
@pytest.mark.parametrize(
    ("issuer", "url"),
    [
        ("staging", LE_PROD),
        ("prod", LE_STAGING),
        ("prod", LE_PROD),
        ("staging", "https://acme-v02.api.letsencrypt.org:443/directory"),
    ],
)
def test_lets_encrypt_directories_are_not_private_servers(issuer: str, url: str) -> None:
    (problem,) = problems({"acme": {"issuer": "staging", "servers": {issuer: url}}})
    assert problem == (
        f"multisite:acme.servers.{issuer} = {url!r}: expected a private ACME directory: this is"
        f" Let's Encrypt's, which the issuer names already choose (staging: {LE_STAGING}, prod:"
        f" {LE_PROD}); remove this key and set multisite:acme.issuer (or a site's issuer) instead"
    )


@pytest.mark.parametrize(
    "url", ["https://ca.internal:14000/dir", "https://api.letsencrypt.org.example.com/dir"]
)
def test_a_private_directory_that_only_resembles_lets_encrypt_is_accepted(url: str) -> None:
    s = settings({"acme": {"issuer": "staging", "servers": {"staging": url}}})
    assert s.acme.server("staging") == url and not s.production


KUBECONFIG_EXPECTED = "expected inline kubeconfig YAML or the path of an existing file"
HOST_EXPECTED = (
    "a lower-case DNS name such as 'www.example.com': at least two labels of"
    " a-z, 0-9 and '-', each 1-63 characters, 253 in all, no wildcard"
)


# Inline kubeconfig is any text with a newline, or one line that starts (after spaces) as a
# kubeconfig does: YAML's `apiVersion` or JSON's `{`. Anything else is a path.
@pytest.mark.parametrize(
    "inline",
    [
        "apiVersion: v1",
        "  apiVersion: v1",
        "kind: Config\napiVersion: v1\n",
        '{"kind": "Config"}',
    ],
)
def test_inline_kubeconfig_is_handed_on_as_written(inline: str) -> None:
    cluster = settings({**MINIMAL, "cluster": {"kubeconfig": inline}}).cluster
    assert cluster is not None and cluster.kubeconfig == inline


@pytest.mark.parametrize("value", ["   ", "/nonexistent/kubeconfig", "apiversion: v1"])
def test_a_kubeconfig_that_is_neither_inline_nor_an_existing_file_is_refused(value: str) -> None:
    (problem,) = problems({**MINIMAL, "cluster": {"kubeconfig": value}})
    assert problem == f"multisite:cluster.kubeconfig = {value!r}: {KUBECONFIG_EXPECTED}"


def test_every_bad_alias_is_named_in_one_message() -> None:
    (problem,) = problems(
        {**MINIMAL, "sites": [{**SITE, "aliases": ["ok.example.com", "A.example.com", "x"]}]}
    )
    assert problem == (
        "multisite:sites[0].aliases = ['ok.example.com', 'A.example.com', 'x']:"
        f" [1] 'A.example.com': expected lower case ('a.example.com'); {HOST_EXPECTED};"
        f" [2] 'x': expected {HOST_EXPECTED}"
    )


def test_a_bad_image_gets_the_whole_message() -> None:
    (problem,) = problems(image_site(image="Nginx:1.29"))
    assert problem == (
        "multisite:sites[0].image = 'Nginx:1.29': expected a container image reference such as"
        " 'nginxinc/nginx-unprivileged:1.29' or 'registry.example.com/web@sha256:<hex>'"
    )


def test_a_nested_null_gets_the_whole_message() -> None:
    (problem,) = problems({"acme": {"issuer": "staging", "email": None}})
    assert problem == (
        "multisite:acme.email = None: expected a value, got an empty one (null);"
        " remove the key to take its default"
    )


# The rules between keys hold for a model built in code too (a component's test, a future
# caller), not only for stack config, whose loader reports them from the raw mapping.
def test_a_model_built_in_code_meets_the_rules_between_its_keys() -> None:
    with pytest.raises(ValidationError) as caught:
        AcmeConfig(issuer="staging", certificate_timeout=45)  # camelCase rule, snake_case field
    assert caught.value.errors()[0]["msg"] == (
        "AcmeConfig.certificateTimeout = 45, AcmeConfig.waitForCertificates (not set):"
        " expected 'certificateTimeout' only together with 'waitForCertificates: true' (it bounds"
        " that wait)"
    )
    with pytest.raises(ValidationError) as caught:
        SiteConfig(host="www.example.com", replicas=2)
    assert caught.value.errors()[0]["msg"] == (
        "SiteConfig.service (not set), SiteConfig.image (not set): expected exactly one"
        " of 'service' (route to an existing Service) or 'image' (deploy this container);"
        " SiteConfig.replicas = 2, SiteConfig.image (not set): expected 'replicas' only with 'image'"
        " (we do not scale your Service)"
    )
