"""Issue 23, principle 3: host names are checked against the CA that issues them.

Expected values come from Let's Encrypt's CA, Boulder (letsencrypt/boulder,
`policy/pa.go` at 2d00c8e, 2026-08-07): `validNonWildcardDomain` refuses more
than 10 labels (`maxLabels`, "Domain name has more than 10 labels"), labels in
the reserved `??--` form other than `xn--` ("invalid label in a reserved
format (R-LDH)"), `xn--` labels that are not valid, NFC-normalised punycode
("malformed punycode"), names without an ICANN public suffix ("does not end
with a valid public suffix") and names that are an ICANN suffix themselves
("is an ICANN TLD"); `ra/ra.go` caps an order at 100 names (`maxNames`).
"""

from __future__ import annotations

from typing import Any

import pytest

from components.fields import validate_host
from components.lets_encrypt import name_refusal
from components.settings import ConfigError, StackSettings, load_settings

PRIVATE_CA = "https://ca.internal/dir"
DECOMPOSED = "e\u0301x"  # "e", U+0301 COMBINING ACUTE ACCENT, "x": not in Unicode's NFC form


def settings(raw: dict[str, Any]) -> StackSettings:
    return load_settings(raw, stack="dev", gcp_region="europe-west1")


def problems(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        settings(raw)
    return caught.value.problems


def stack(*sites: dict[str, Any], **acme: Any) -> dict[str, Any]:
    return {"acme": {"issuer": "staging", **acme}, "sites": [{"service": "web", **s} for s in sites]}


# (host, why Let's Encrypt refuses it) — each accepted by Kubernetes and DNS.
REFUSED_BY_LETS_ENCRYPT = [
    ("a.b.c.d.e.f.g.h.i.example.com", "expected at most 10 labels, got 11"),
    (
        "ab--cd.example.com",
        "expected no label in the reserved form '??--' (RFC 5890) other than punycode 'xn--'; got 'ab--cd'",
    ),
    (
        "xn--99999999999.example.com",
        "expected valid punycode after 'xn--'; 'xn--99999999999' does not decode",
    ),
    (
        "xn--ex-8tb.example.com",  # DECOMPOSED in punycode
        f"expected punycode of an NFC-normalised name; 'xn--ex-8tb' decodes to {DECOMPOSED!r}, which is not",
    ),
    (
        "www.example.internal",
        "expected a name under a public top-level domain; 'internal' is not one (the ICANN section of"
        " the Public Suffix List)",
    ),
    (
        "router.local",
        "expected a name under a public top-level domain; 'local' is not one (the ICANN section of"
        " the Public Suffix List)",
    ),
    ("co.uk", "expected a name below a public suffix; 'co.uk' is one itself (Public Suffix List)"),
]
ISSUED_BY_LETS_ENCRYPT = [
    "a.b.c.d.e.f.g.h.example.com",  # 10 labels
    "xn--bcher-kva.example.com",  # bücher: valid punycode
    "example.co.uk",
    "pages.github.io",  # a private-section suffix: Boulder looks at the ICANN section only
    "some.dummy-url.com",
]


@pytest.mark.parametrize(("host", "reason"), REFUSED_BY_LETS_ENCRYPT)
def test_a_name_lets_encrypt_refuses_at_new_order_is_refused_at_preview(host: str, reason: str) -> None:
    assert problems(stack({"host": host})) == [
        f"multisite:sites[0].host = {host!r}: {reason}; Let's Encrypt refuses it at new-order, and"
        " issues this site's certificate (multisite:acme.issuer = 'staging', multisite:acme.servers.staging"
        " (not set))"
    ]


@pytest.mark.parametrize("host", ISSUED_BY_LETS_ENCRYPT)
def test_names_lets_encrypt_issues_for_pass(host: str) -> None:
    assert name_refusal(host) is None
    assert settings(stack({"host": host})).sites[0].host == host


@pytest.mark.parametrize(("host", "reason"), REFUSED_BY_LETS_ENCRYPT)
def test_a_private_acme_directory_relaxes_lets_encrypts_rules(host: str, reason: str) -> None:
    raw = stack({"host": host}, servers={"staging": PRIVATE_CA})
    assert settings(raw).sites[0].host == host


def test_an_alias_is_named_by_its_index_and_the_sites_own_issuer_by_its_key() -> None:
    # Only `staging` is private: a site on `prod` is still issued by Let's Encrypt.
    # The private site comes first, an invalid one next: neither stops the check of the rest.
    raw = stack(
        {"host": "intranet.example.internal"},
        {"host": "bad.example.com", "port": 0},
        {"host": "www.example.com", "aliases": ["example.com", "shop.example.internal"], "issuer": "prod"},
        servers={"staging": PRIVATE_CA},
    )
    assert problems(raw) == [
        "multisite:sites[1].port = 0: expected greater than or equal to 1",
        "multisite:sites[2].aliases[1] = 'shop.example.internal': expected a name under a public"
        " top-level domain; 'internal' is not one (the ICANN section of the Public Suffix List); Let's"
        " Encrypt refuses it at new-order, and issues this site's certificate (multisite:sites[2].issuer"
        " = 'prod', multisite:acme.servers.prod (not set))",
    ]


def test_one_certificate_holds_at_most_100_names_at_lets_encrypt_and_more_at_a_private_ca() -> None:
    # The host, 98 aliases and 2 redirects: 101 names on the site's one certificate.
    site = {
        "host": "www.example.com",
        "aliases": [f"a{i}.example.com" for i in range(98)],
        "redirects": ["old.example.com", "older.example.com"],
    }
    assert problems({**stack(site), "edge": "traefik"}) == [
        "multisite:sites[0].host, multisite:sites[0].aliases (98 names), multisite:sites[0].redirects"
        " (2 names): expected at most 100 names on one certificate, got 101; Let's Encrypt refuses it at"
        " new-order, and issues this site's certificate (multisite:acme.issuer = 'staging',"
        " multisite:acme.servers.staging (not set))"
    ]
    private = settings({**stack(site, servers={"staging": PRIVATE_CA}), "edge": "traefik"})
    assert len(private.sites[0].names) == 101
    site["redirects"] = ["old.example.com"]
    assert len(settings({**stack(site), "edge": "traefik"}).sites[0].names) == 100


@pytest.mark.parametrize(
    ("host", "ascii_form"),
    [
        ("bücher.example.com", "xn--bcher-kva.example.com"),
        ("Bücher.Example.com", "xn--bcher-kva.example.com"),  # mapped to lower case, as browsers do
        ("straße.de", "xn--strae-oqa.de"),  # IDNA 2008: ß is kept, not turned into "ss"
    ],
)
def test_a_unicode_name_is_refused_with_its_punycode_form(host: str, ascii_form: str) -> None:
    assert problems(stack({"host": host})) == [
        f"multisite:sites[0].host = {host!r}: expected the ASCII (punycode) form of an internationalised"
        f" name: {ascii_form!r}; DNS, Kubernetes and certificates carry names in that form"
    ]
    assert settings(stack({"host": ascii_form})).sites[0].host == ascii_form


def test_a_host_that_is_not_a_string_gets_the_plain_rule() -> None:
    # Pydantic checks the type first for config; a caller in code meets the same message.
    with pytest.raises(ValueError) as caught:
        validate_host(None)  # type: ignore[arg-type]
    assert str(caught.value).startswith("expected a lower-case DNS name such as 'www.example.com'")


def test_a_unicode_name_with_no_punycode_form_gets_the_plain_rule() -> None:
    (problem,) = problems(stack({"host": "☃.com"}))  # a symbol IDNA 2008 does not allow
    assert problem.startswith("multisite:sites[0].host = '☃.com': expected a lower-case DNS name such as")
