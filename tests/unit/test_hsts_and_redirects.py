"""Issue 24: HSTS on every edge, and names that redirect to their site's host.

HSTS (RFC 6797): `Strict-Transport-Security: max-age=<s>[; includeSubDomains][;
preload]` on HTTPS answers. hstspreload.org takes a name only with
includeSubDomains and a max-age of at least a year (31536000 s). A redirect
name answers 308 to `https://<host>/` with the path and query kept, and is on
the site's certificate so that its HTTPS answer is valid too.
"""

from __future__ import annotations

from typing import Any

import pytest

from components.edge.controller import HstsConfig
from components.edge.ingress_nginx import ingress_nginx_values
from components.edge.traefik import traefik_values
from components.settings import ConfigError, StackSettings, load_settings
from tests.support import INGRESS, RECORD, run_program, stack_config

CERTIFICATE = "kubernetes:cert-manager.io/v1:Certificate"
SITE = {"host": "www.example.com", "aliases": ["example.com"], "service": "web"}


def settings(raw: dict[str, Any]) -> StackSettings:
    return load_settings({"acme": {"issuer": "staging"}, **raw}, stack="dev", gcp_region="europe-west1")


def problems(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        settings(raw)
    return caught.value.problems


def traefik_header(hsts: dict[str, Any]) -> str | None:
    config = settings({"edge": "traefik", "traefik": {"hsts": hsts}}).edge_config
    values = traefik_values(replicas=1, load_balancer_ip=None, hsts=config.hsts)
    middleware = values.get("providers", {}).get("file", {}).get("content", {}).get("http", {})
    headers = middleware.get("middlewares", {}).get("hsts", {}).get("headers", {})
    header: str | None = headers.get("customResponseHeaders", {}).get("Strict-Transport-Security")
    return header


@pytest.mark.parametrize(
    ("hsts", "header"),
    [
        ({}, "max-age=31536000"),  # on by default: a year, as ingress-nginx sent
        ({"maxAge": 63072000}, "max-age=63072000"),
        ({"maxAge": 0}, "max-age=0"),  # RFC 6797 6.1.1: browsers forget the name
        ({"includeSubdomains": True}, "max-age=31536000; includeSubDomains"),
        ({"includeSubdomains": True, "preload": True}, "max-age=31536000; includeSubDomains; preload"),
        ({"enabled": False}, None),
    ],
)
def test_the_traefik_edge_sends_the_hsts_header_the_stack_asks_for(
    hsts: dict[str, Any], header: str | None
) -> None:
    assert traefik_header(hsts) == header


def test_hsts_is_a_middleware_of_the_https_entry_point_only() -> None:
    values = traefik_values(replicas=1, load_balancer_ip=None)
    assert values["ports"] == {"websecure": {"http": {"middlewares": ["hsts@file"]}}}
    assert values["providers"]["file"]["enabled"] is True
    assert "ports" not in traefik_values(replicas=1, load_balancer_ip=None, hsts=HstsConfig(enabled=False))


def test_the_ingress_nginx_edge_takes_the_same_settings() -> None:
    config = settings({"ingressNginx": {"hsts": {"maxAge": 600}}}).edge_config
    sent = ingress_nginx_values(replicas=1, load_balancer_ip=None, hsts=config.hsts)["controller"]["config"]
    assert (sent["hsts"], sent["hsts-max-age"], sent["hsts-include-subdomains"], sent["hsts-preload"]) == (
        "true",
        "600",
        "false",
        "false",
    )
    every = settings({"ingressNginx": {"hsts": {"includeSubdomains": True, "preload": True}}}).edge_config
    sent = ingress_nginx_values(replicas=1, load_balancer_ip=None, hsts=every.hsts)["controller"]["config"]
    assert (sent["hsts-include-subdomains"], sent["hsts-preload"]) == ("true", "true")
    off = settings({"ingressNginx": {"hsts": {"enabled": False}}}).edge_config
    assert (
        ingress_nginx_values(replicas=1, load_balancer_ip=None, hsts=off.hsts)["controller"]["config"]["hsts"]
        == "false"
    )


PRELOAD = (
    "expected 'preload' only with 'includeSubdomains: true' and a 'maxAge' of at least 31536000 (a year):"
    " the browsers' preload list (hstspreload.org) takes nothing less"
)


@pytest.mark.parametrize(
    ("hsts", "expected"),
    [
        (
            {"preload": True},
            "multisite:traefik.hsts.preload = True, multisite:traefik.hsts.includeSubdomains (not set),"
            f" multisite:traefik.hsts.maxAge (not set): {PRELOAD}",
        ),
        (
            {"preload": True, "includeSubdomains": True, "maxAge": 31535999},
            "multisite:traefik.hsts.preload = True, multisite:traefik.hsts.includeSubdomains = True,"
            f" multisite:traefik.hsts.maxAge = 31535999: {PRELOAD}",
        ),
        (
            {"enabled": False, "maxAge": 600},
            "multisite:traefik.hsts.enabled = False, multisite:traefik.hsts.maxAge = 600: expected no"
            " other HSTS keys when 'enabled' is false",
        ),
        (
            {"enabled": False, "includeSubdomains": True},
            "multisite:traefik.hsts.enabled = False, multisite:traefik.hsts.includeSubdomains = True:"
            " expected no other HSTS keys when 'enabled' is false",
        ),
        (
            {"enabled": False, "preload": False},
            "multisite:traefik.hsts.enabled = False, multisite:traefik.hsts.preload = False: expected no"
            " other HSTS keys when 'enabled' is false",
        ),
        ({"maxAge": -1}, "multisite:traefik.hsts.maxAge = -1: expected greater than or equal to 0"),
        (
            {"maxAge": 63072001},
            "multisite:traefik.hsts.maxAge = 63072001: expected less than or equal to 63072000",
        ),
        ({"maxAge": "1y"}, "multisite:traefik.hsts.maxAge = '1y': expected a valid integer"),
    ],
)
def test_hsts_settings_the_browsers_would_not_take_are_refused(hsts: dict[str, Any], expected: str) -> None:
    assert problems({"edge": "traefik", "traefik": {"hsts": hsts}}) == [expected]


def test_hsts_preload_with_exactly_a_year_is_accepted() -> None:
    hsts = {"preload": True, "includeSubdomains": True, "maxAge": 31536000}
    assert settings({"edge": "traefik", "traefik": {"hsts": hsts}}).edge_config.hsts.preload


def test_hsts_preload_with_a_year_and_subdomains_is_accepted() -> None:
    hsts = settings({"edge": "traefik", "traefik": {"hsts": {"preload": True, "includeSubdomains": True}}})
    assert hsts.edge_config.hsts.header() == "max-age=31536000; includeSubDomains; preload"


def test_the_stacks_hsts_setting_reaches_the_edge_release() -> None:
    config = {**stack_config("prod"), "multisite:traefik": {"hsts": {"maxAge": 600}}}
    values = run_program(config, stack="prod").named("edge-release").prop("values")
    middleware = values["providers"]["file"]["content"]["http"]["middlewares"]["hsts"]
    assert middleware == {"headers": {"customResponseHeaders": {"Strict-Transport-Security": "max-age=600"}}}


def test_a_rule_of_the_section_and_one_of_its_hsts_are_both_reported() -> None:
    raw = {"edge": "traefik", "traefik": {"gatewayCrds": "/srv/crds", "hsts": {"preload": True}}}
    found = problems(raw)
    assert [p.split(":", 2)[1].split(" ")[0] for p in found] == [
        "traefik.gatewayCrds",
        "traefik.hsts.preload",
    ]


def test_a_chart_value_that_would_replace_the_hsts_middleware_is_refused() -> None:
    (problem,) = problems(
        {"edge": "traefik", "traefik": {"values": {"providers": {"file": {"enabled": False}}}}}
    )
    assert problem == (
        "multisite:traefik.values.providers.file = {'enabled': False}: expected this left to the program,"
        " which relies on it: every HTTPS answer carries the Strict-Transport-Security header the stack's"
        " settings say; set multisite:traefik.hsts"
    )


def traefik_stack(*sites: dict[str, Any]) -> dict[str, Any]:
    config = {**stack_config("prod"), "multisite:edge": "traefik", "multisite:traefik": {"replicas": 2}}
    config["multisite:sites"] = list(sites)
    return config


def test_redirect_names_get_an_ingress_of_their_own_that_sends_308_to_the_host_with_the_path() -> None:
    site = {**SITE, "redirects": ["old-brand.example.com", "www.old-brand.example.com"]}
    run = run_program(traefik_stack(site), stack="prod")
    ingresses = {r.name: r for r in run.of_type(INGRESS)}
    assert set(ingresses) == {"www.example.com-ingress", "www.example.com-redirect"}
    redirect = ingresses["www.example.com-redirect"]
    assert redirect.prop("metadata", "name") == "www-example-com-redirect"
    annotations = redirect.prop("metadata", "annotations")
    assert annotations["nginx.ingress.kubernetes.io/permanent-redirect"] == "https://www.example.com/$1"
    assert annotations["nginx.ingress.kubernetes.io/permanent-redirect-code"] == "308"
    assert annotations["nginx.ingress.kubernetes.io/use-regex"] == "true"
    assert annotations["nginx.ingress.kubernetes.io/ssl-redirect"] == "false"  # one hop from http://
    assert redirect.prop("spec", "ingressClassName") == "nginx"
    assert redirect.prop("spec", "tls") == [
        {"hosts": ["old-brand.example.com", "www.old-brand.example.com"], "secretName": "www-example-com-tls"}
    ]
    rules = redirect.prop("spec", "rules")
    assert [r["host"] for r in rules] == ["old-brand.example.com", "www.old-brand.example.com"]
    assert {(p["path"], p["pathType"]) for r in rules for p in r["http"]["paths"]} == {
        ("/(.*)", "ImplementationSpecific")
    }
    # The served names stay on the site's own Ingress; every name is on the one certificate and in DNS.
    site_ingress = ingresses["www.example.com-ingress"]
    assert [r["host"] for r in site_ingress.prop("spec", "rules")] == ["www.example.com", "example.com"]
    (certificate,) = run.of_type(CERTIFICATE)
    assert certificate.prop("spec", "dnsNames") == [
        "www.example.com",
        "example.com",
        "old-brand.example.com",
        "www.old-brand.example.com",
    ]
    assert sorted(r.inputs["name"] for r in run.of_type(RECORD)) == [
        "example.com.",
        "old-brand.example.com.",
        "www.example.com.",
        "www.old-brand.example.com.",
    ]
    assert run.outputs["urls"] == {
        "www.example.com": "https://www.example.com/",
        "example.com": "https://example.com/",
    }


def test_a_site_without_redirects_has_no_redirect_ingress() -> None:
    run = run_program(traefik_stack(SITE), stack="prod")
    assert [r.name for r in run.of_type(INGRESS)] == ["www.example.com-ingress"]


def test_redirects_on_the_ingress_nginx_edge_are_refused_and_register_nothing() -> None:
    config = {**stack_config("prod"), "multisite:sites": [{**SITE, "redirects": ["old.example.com"]}]}
    del config["multisite:edge"], config["multisite:traefik"]
    run = run_program(config, stack="prod", expect_error=True)
    assert isinstance(run.error, ConfigError)
    assert run.error.problems == [
        "multisite:sites[0].redirects = ['old.example.com'], multisite:edge = 'ingress-nginx': expected no"
        " redirects on this edge: ingress-nginx keeps the path of a redirect only through `$request_uri`,"
        " which it refuses unless annotation validation or snippets are turned off, and this stack keeps"
        " both on; use the Traefik edge (multisite:edge traefik)"
    ]
    assert run.resources == []


def test_a_redirect_name_is_unique_across_every_sites_names() -> None:
    sites = [
        {**SITE, "redirects": ["old.example.com"]},
        {"host": "old.example.com", "service": "old"},
    ]
    assert problems({"edge": "traefik", "sites": sites}) == [
        "multisite:sites[1].host = 'old.example.com': expected each host once; already used by"
        " multisite:sites[0].redirects[0]"
    ]


def test_a_sites_redirect_ingress_name_clashes_with_another_sites_object_name() -> None:
    # A private CA allows the name `www.example-com.redirect`, whose objects would be named
    # `www-example-com-redirect`: the name of www.example.com's redirect Ingress.
    acme = {"issuer": "staging", "servers": {"staging": "https://ca.internal/dir"}}
    sites: list[dict[str, Any]] = [
        {**SITE, "redirects": ["old.example.com"]},
        {"host": "www.example-com.redirect", "service": "x"},
    ]
    assert problems({"acme": acme, "edge": "traefik", "sites": sites}) == [
        "multisite:sites[1].host = 'www.example-com.redirect': expected a host whose object name"
        " 'www-example-com-redirect' is unique in namespace 'default'; multisite:sites[0].host maps to the"
        " same name"
    ]
    del sites[0]["redirects"]
    settings({"acme": acme, "edge": "traefik", "sites": sites})


def test_redirect_names_meet_lets_encrypts_rules_and_the_dns_zone() -> None:
    (problem,) = problems({"edge": "traefik", "sites": [{**SITE, "redirects": ["intranet.local"]}]})
    assert problem.startswith(
        "multisite:sites[0].redirects[0] = 'intranet.local': expected a name under a public top-level domain"
    )
    run = run_program(traefik_stack({**SITE, "redirects": ["example.org"]}), stack="prod", expect_error=True)
    assert isinstance(run.error, ConfigError)
    assert run.error.problems[0].endswith("outside it: multisite:sites[0].redirects[0] = 'example.org'")
