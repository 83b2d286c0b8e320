"""The config model: good stack files load; bad ones fail naming key, value and expectation."""

from __future__ import annotations

from typing import Any

import pytest

from components.config import (
    ConfigError,
    StackSettings,
    kubernetes_name,
    load_settings,
    validate_host,
)
from tests.support import ROOT, stack_config

MINIMAL: dict[str, Any] = {"acme": {"issuer": "staging"}}
SITE = {"host": "www.example.com", "service": "web"}


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
    assert s.ingress_nginx.version == "4.15.1" and s.ingress_nginx.replicas == 2
    assert s.cert_manager.version.startswith("v1.21.")
    assert s.sites == () and s.dns is None and s.cluster is None


@pytest.mark.parametrize("stack", ["dev", "prod", "local"])
def test_shipped_stack_files_are_valid(stack: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # The local stack's kubeconfig is written by the sandbox, relative to the project.
    (tmp_path / ".sandbox").mkdir()
    (tmp_path / ".sandbox" / "kubeconfig").write_text("apiVersion: v1\n")
    monkeypatch.chdir(tmp_path)
    raw = stack_config(stack)
    s = settings(unqualified(raw), gcp_region=raw.get("gcp:region"))
    assert s.sites, "every shipped stack has example sites"


def test_dev_uses_staging_and_prod_uses_production() -> None:
    assert settings(unqualified(stack_config("dev"))).acme.issuer == "staging"
    assert settings(unqualified(stack_config("prod"))).acme.issuer == "prod"


def test_site_issuer_overrides_the_stack_issuer() -> None:
    s = settings({**MINIMAL, "sites": [SITE, {**SITE, "host": "b.example.com", "issuer": "prod"}]})
    assert [s.issuer_for(site) for site in s.sites] == ["letsencrypt-staging", "letsencrypt-prod"]


def test_reserved_address_means_nothing_to_reserve() -> None:
    s = settings({**MINIMAL, "staticIp": {"address": "203.0.113.10"}}, gcp_region=None)
    assert not s.reserves_ip and s.static_ip.address == "203.0.113.10"


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
    assert len(kubernetes_name(long_a)) <= 63
    assert kubernetes_name(long_a) != kubernetes_name(long_b)
    assert kubernetes_name(long_a) == kubernetes_name(long_a)


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
        "typo in a top-level key",
        {**MINIMAL, "site": []},
        ["multisite:site: unknown key (did you mean multisite:sites?)"],
    ),
    (
        "upper-case host",
        {**MINIMAL, "sites": [{**SITE, "host": "WWW.example.com"}]},
        ["multisite:sites[0].host = 'WWW.example.com'", "expected lower case"],
    ),
    (
        "wildcard host",
        {**MINIMAL, "sites": [{**SITE, "host": "*.example.com"}]},
        ["multisite:sites[0].host = '*.example.com'", "without wildcard"],
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
        ["multisite:sites[0]", "exactly one of 'service'", "or 'image'"],
    ),
    (
        "neither service nor image",
        {**MINIMAL, "sites": [{"host": "www.example.com"}]},
        ["multisite:sites[0]", "exactly one of 'service'"],
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
        ["multisite:sites[0]", "'replicas' only with 'image'"],
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
        "static IP with address and name",
        {**MINIMAL, "staticIp": {"address": "203.0.113.10", "name": "my-ip"}},
        ["multisite:staticIp", "either 'address'", "or 'name'", "not both"],
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
        "dns with an ephemeral IP",
        {**MINIMAL, "staticIp": {"enabled": False}, "dns": {"zone": "example-com"}},
        ["multisite:dns", "expected a static IP"],
    ),
    (
        "cluster by name and kubeconfig",
        {**MINIMAL, "cluster": {"name": "c", "location": "europe-west1", "kubeconfig": "apiVersion: v1\n"}},
        ["multisite:cluster", "not both"],
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


@pytest.mark.parametrize(("case", "raw", "fragments"), BAD_CONFIGS, ids=[c[0] for c in BAD_CONFIGS])
def test_bad_config_is_reported(case: str, raw: dict[str, Any], fragments: list[str]) -> None:
    found = problems(raw)
    assert len(found) == 1, found
    for fragment in fragments:
        assert fragment in found[0], f"{fragment!r} not in {found[0]!r}"


def test_region_is_required_to_reserve_an_address() -> None:
    (problem,) = problems(MINIMAL, gcp_region=None)
    assert problem.startswith("multisite:staticIp.region: missing; set gcp:region")


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
