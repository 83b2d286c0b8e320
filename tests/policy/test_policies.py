"""Unit tests for the multisite policy pack.

Each policy's validator is called with hand-built pulumi_policy args, once
with a compliant resource/stack and once with a violating one; the tests
assert on the violation message that tells the author how to fix it.
"""

from __future__ import annotations

import copy
import runpy
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import multisite_policies as mp
import pulumi_policy
import pytest
from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
    StackValidationPolicy,
)

Violation = tuple[str, "str | None"]

# Let's Encrypt's documented ACME v2 directories, written out (not read from the pack).
LE_PROD = "https://acme-v02.api.letsencrypt.org/directory"
LE_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"


def urn(stack: str, type_: str, name: str) -> str:
    return f"urn:pulumi:{stack}::multisite::{type_}::{name}"


def options(protect: bool = False) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=protect,
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=pulumi_policy.PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
        parent=None,
    )


def resource_args(
    type_: str,
    name: str,
    props: Mapping[str, Any],
    *,
    protect: bool = False,
    stack: str = "dev",
) -> ResourceValidationArgs:
    return ResourceValidationArgs(type_, props, urn(stack, type_, name), name, options(protect), None)


def run_resource(validate: Callable[..., Any], args: ResourceValidationArgs) -> list[str]:
    found: list[str] = []
    validate(args, lambda msg, _urn=None: found.append(msg))
    return found


def stack_resource(
    type_: str, name: str, props: Mapping[str, Any], stack: str, *, protect: bool = False
) -> PolicyResource:
    return PolicyResource(type_, props, urn(stack, type_, name), name, options(protect), None, None, [], {})


def run_stack(
    validate: Callable[..., Any],
    resources: list[PolicyResource],
    config: Mapping[str, Any] | None = None,
) -> list[Violation]:
    found: list[Violation] = []
    validate(
        StackValidationArgs(resources, config),
        lambda msg, u=None: found.append((msg, u)),
    )
    return found


# --- fixtures: resources as the program registers them ---------------------------


def ingress_props() -> dict[str, Any]:
    return {
        "metadata": {
            "name": "blog",
            "annotations": {"nginx.ingress.kubernetes.io/ssl-redirect": "true"},
        },
        "spec": {
            "ingressClassName": "nginx",
            "tls": [
                {
                    "hosts": ["blog.example.com", "www.blog.example.com"],
                    "secretName": "blog-tls",
                }
            ],
            "rules": [
                {"host": "blog.example.com", "http": {"paths": []}},
                {"host": "www.blog.example.com", "http": {"paths": []}},
            ],
        },
    }


def ingress_nginx_props() -> dict[str, Any]:
    return {
        "chart": "ingress-nginx",
        "version": "4.15.1",
        "namespace": "ingress-nginx",
        "repositoryOpts": {"repo": "https://kubernetes.github.io/ingress-nginx"},
        "values": {
            "controller": {
                "allowSnippetAnnotations": False,
                "config": {
                    "allow-snippet-annotations": "false",
                    "annotations-risk-level": "Critical",
                },
                "ingressClassResource": {"name": "nginx"},
            }
        },
    }


def cert_manager_props() -> dict[str, Any]:
    return {
        "chart": "cert-manager",
        "version": "v1.21.2",
        "namespace": "cert-manager",
        "repositoryOpts": {"repo": "https://charts.jetstack.io"},
        "values": {"crds": {"enabled": True, "keep": True}},
    }


def address_props() -> dict[str, Any]:
    return {
        "name": "multisite-ip",
        "region": "europe-west1",
        "addressType": "EXTERNAL",
        "networkTier": "PREMIUM",
    }


def issuer_props(name: str, server: str | None) -> dict[str, Any]:
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "ClusterIssuer",
        "metadata": {"name": name},
        "spec": {
            "acme": {
                "server": server,
                "privateKeySecretRef": {"name": f"{name}-key"},
                "solvers": [{"http01": {"ingress": {"ingressClassName": "nginx"}}}],
            }
        },
    }


def certificate_props(issuer: str, kind: str = "ClusterIssuer") -> dict[str, Any]:
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": "blog", "namespace": "sites"},
        "spec": {
            "secretName": "blog-tls",
            "dnsNames": ["blog.example.com"],
            "issuerRef": {"name": issuer, "kind": kind, "group": "cert-manager.io"},
        },
    }


def stack_with_certificate(stack: str, issuer: str, kind: str = "ClusterIssuer") -> list[PolicyResource]:
    return [
        stack_resource("pulumi:pulumi:Stack", f"multisite-{stack}", {}, stack),
        stack_resource(
            mp.CLUSTER_ISSUER,
            "letsencrypt-staging",
            issuer_props("letsencrypt-staging", LE_STAGING),
            stack,
        ),
        stack_resource(
            mp.CLUSTER_ISSUER,
            "letsencrypt-prod",
            issuer_props("letsencrypt-prod", LE_PROD),
            stack,
        ),
        stack_resource(mp.CERTIFICATE, "blog-cert", certificate_props(issuer, kind), stack),
    ]


# --- ingress-tls-and-redirect -----------------------------------------------------


def test_ingress_compliant() -> None:
    assert run_resource(mp.validate_ingress, resource_args(mp.INGRESS, "blog", ingress_props())) == []


def test_ingress_without_class_name() -> None:
    props = ingress_props()
    del props["spec"]["ingressClassName"]
    assert run_resource(mp.validate_ingress, resource_args(mp.INGRESS, "blog", props)) == [
        "Ingress 'blog' has no spec.ingressClassName. Set spec.ingressClassName: nginx (the annotation"
        " kubernetes.io/ingress.class is deprecated) so the edge serves it (ingress-nginx and Traefik's"
        " ingress-nginx provider both serve class nginx)."
    ]


def test_ingress_host_not_covered_by_tls() -> None:
    props = ingress_props()
    props["spec"]["rules"].append({"host": "shop.example.com"})
    [msg] = run_resource(mp.validate_ingress, resource_args(mp.INGRESS, "blog", props))
    assert "'shop.example.com' is not covered by spec.tls" in msg
    assert "Add 'shop.example.com' to spec.tls[].hosts" in msg


def test_ingress_without_tls_flags_every_host() -> None:
    props = ingress_props()
    del props["spec"]["tls"]
    msgs = run_resource(mp.validate_ingress, resource_args(mp.INGRESS, "blog", props))
    assert len(msgs) == 2 and all("not covered by spec.tls" in m for m in msgs)


def test_ingress_wildcard_tls_covers_one_label() -> None:
    props = ingress_props()
    props["spec"]["tls"] = [{"hosts": ["*.blog.example.com", "blog.example.com"], "secretName": "w"}]
    assert run_resource(mp.validate_ingress, resource_args(mp.INGRESS, "blog", props)) == []
    props["spec"]["rules"].append({"host": "a.b.blog.example.com"})
    [msg] = run_resource(mp.validate_ingress, resource_args(mp.INGRESS, "blog", props))
    assert "a.b.blog.example.com" in msg


def test_ingress_rule_without_host() -> None:
    props = ingress_props()
    props["spec"]["rules"].append({"http": {"paths": []}})
    assert run_resource(mp.validate_ingress, resource_args(mp.INGRESS, "blog", props)) == [
        "Ingress 'blog' spec.rules[2] has no host. Give every rule a host (name-based virtual hosting"
        " on the shared IP) and list it in spec.tls."
    ]


# ingress-nginx's two redirect annotations, from its annotation docs (not from the pack).
@pytest.mark.parametrize(
    "annotation",
    ["nginx.ingress.kubernetes.io/ssl-redirect", "nginx.ingress.kubernetes.io/force-ssl-redirect"],
)
def test_ingress_disabling_https_redirect(annotation: str) -> None:
    props = ingress_props()
    props["metadata"]["annotations"][annotation] = "false"
    assert run_resource(mp.validate_ingress, resource_args(mp.INGRESS, "blog", props)) == [
        f"Ingress 'blog' disables the HTTP->HTTPS redirect with {annotation}: \"false\". Remove it or set"
        ' nginx.ingress.kubernetes.io/ssl-redirect: "true" (ACME HTTP-01 challenges are exempt from the'
        " redirect already)."
    ]


# Issue 24: a site's redirect names. ingress-nginx's annotation docs: `permanent-redirect` answers
# every request with a redirect to its URL, `permanent-redirect-code` sets the code (default 301),
# and `temporal-redirect` (a 302) takes precedence over it.
REDIRECT = "nginx.ingress.kubernetes.io/permanent-redirect"
REDIRECT_CODE = "nginx.ingress.kubernetes.io/permanent-redirect-code"


@pytest.mark.parametrize(
    ("annotations", "compliant"),
    [
        ({REDIRECT: "https://www.example.com/$1", REDIRECT_CODE: "308"}, True),
        ({REDIRECT: "https://www.example.com/$1"}, True),  # 301: permanent too
        ({REDIRECT: "http://www.example.com/$1", REDIRECT_CODE: "308"}, False),  # to plain HTTP
        ({REDIRECT: "https://www.example.com/$1", REDIRECT_CODE: "302"}, False),  # not permanent
        (
            {
                REDIRECT: "https://www.example.com/$1",
                "nginx.ingress.kubernetes.io/temporal-redirect": "http://x.example.com/",
            },
            False,
        ),
    ],
)
def test_an_ingress_that_redirects_every_request_to_https_may_skip_the_https_redirect(
    annotations: dict[str, str], compliant: bool
) -> None:
    props = ingress_props()
    props["metadata"]["annotations"] = {"nginx.ingress.kubernetes.io/ssl-redirect": "false", **annotations}
    msgs = run_resource(mp.validate_ingress, resource_args(mp.INGRESS, "blog", props))
    assert (msgs == []) == compliant, msgs


def test_ingress_policy_ignores_other_types() -> None:
    assert run_resource(mp.validate_ingress, resource_args(mp.SERVICE, "svc", {"spec": {}})) == []


# --- helm-release-hardening -----------------------------------------------------------


def test_helm_releases_compliant() -> None:
    for name, props in (
        ("ingress-nginx", ingress_nginx_props()),
        ("cert-manager", cert_manager_props()),
    ):
        assert run_resource(mp.validate_helm_release, resource_args(mp.HELM_RELEASE, name, props)) == []


@pytest.mark.parametrize("version", [None, ""])
def test_helm_release_without_version(version: str | None) -> None:
    props = ingress_nginx_props()
    props["version"] = version
    [msg] = run_resource(mp.validate_helm_release, resource_args(mp.HELM_RELEASE, "ingress-nginx", props))
    assert "does not pin a chart version" in msg and "Set `version`" in msg


@pytest.mark.parametrize("version", ["^4.15.0", "~1.21", "4.x", "*", ">=4.0.0"])
def test_helm_release_with_version_range(version: str) -> None:
    props = ingress_nginx_props()
    props["version"] = version
    [msg] = run_resource(mp.validate_helm_release, resource_args(mp.HELM_RELEASE, "ingress-nginx", props))
    assert f"uses the version range '{version}'" in msg and "Pin an exact chart version" in msg


def test_helm_release_local_chart_directory_needs_no_version() -> None:
    props = ingress_nginx_props()
    props["chart"] = "./charts/ingress-nginx"
    props["version"] = None
    del props["repositoryOpts"]
    assert (
        run_resource(
            mp.validate_helm_release,
            resource_args(mp.HELM_RELEASE, "ingress-nginx", props),
        )
        == []
    )
    # ...but its hardening is still checked (the chart is recognised by basename).
    props["values"]["controller"]["allowSnippetAnnotations"] = True
    [msg] = run_resource(mp.validate_helm_release, resource_args(mp.HELM_RELEASE, "ingress-nginx", props))
    assert "allowSnippetAnnotations: false" in msg


@pytest.mark.parametrize("value", [True, "true", None])
def test_ingress_nginx_snippets_must_be_disabled_explicitly(value: Any) -> None:
    props = ingress_nginx_props()
    props["values"]["controller"]["allowSnippetAnnotations"] = value
    [msg] = run_resource(mp.validate_helm_release, resource_args(mp.HELM_RELEASE, "ingress-nginx", props))
    assert "must disable snippet annotations" in msg


def test_ingress_nginx_snippet_config_key() -> None:
    props = ingress_nginx_props()
    props["values"]["controller"]["config"]["allow-snippet-annotations"] = "true"
    [msg] = run_resource(mp.validate_helm_release, resource_args(mp.HELM_RELEASE, "ingress-nginx", props))
    assert "allow-snippet-annotations\"] to 'true'" in msg and 'Set it to "false"' in msg


def test_ingress_nginx_from_oci_chart_is_recognised() -> None:
    props = ingress_nginx_props()
    props["chart"] = "oci://registry.example/charts/ingress-nginx"
    props["values"] = {}
    [msg] = run_resource(mp.validate_helm_release, resource_args(mp.HELM_RELEASE, "ingress-nginx", props))
    assert "(ingress-nginx) must disable snippet annotations" in msg


@pytest.mark.parametrize("crds", [{"enabled": True}, {"enabled": True, "keep": False}, None])
def test_cert_manager_must_keep_crds(crds: Any) -> None:
    props = cert_manager_props()
    props["values"] = {"crds": crds} if crds is not None else {}
    [msg] = run_resource(mp.validate_helm_release, resource_args(mp.HELM_RELEASE, "cert-manager", props))
    assert msg == (
        "Helm release 'cert-manager' (cert-manager) does not keep its CRDs on uninstall; deleting them"
        " deletes every Certificate. Set values.crds.keep: true (with values.crds.enabled: true)."
    )


# --- static-ip-regional-protected -------------------------------------------------------


def test_static_ip_compliant() -> None:
    args = resource_args(mp.ADDRESS, "multisite-ip", address_props(), protect=True)
    assert run_resource(mp.validate_static_ip, args) == []


def test_static_ip_not_protected() -> None:
    args = resource_args(mp.ADDRESS, "multisite-ip", address_props(), protect=False)
    [msg] = run_resource(mp.validate_static_ip, args)
    assert "is not protected" in msg and "ResourceOptions(protect=True)" in msg


def test_static_ip_without_region() -> None:
    props = address_props()
    del props["region"]
    [msg] = run_resource(mp.validate_static_ip, resource_args(mp.ADDRESS, "ip", props, protect=True))
    assert "has no `region`" in msg


def test_static_ip_internal() -> None:
    props = address_props()
    props["addressType"] = "INTERNAL"
    [msg] = run_resource(mp.validate_static_ip, resource_args(mp.ADDRESS, "ip", props, protect=True))
    assert "addressType 'INTERNAL'" in msg and 'address_type="EXTERNAL"' in msg


def test_global_address_rejected() -> None:
    args = resource_args(mp.GLOBAL_ADDRESS, "ip", {"name": "ip"}, protect=True)
    [msg] = run_resource(mp.validate_static_ip, args)
    assert "GlobalAddress 'ip'" in msg and "gcp.compute.Address" in msg


# --- no-loadbalancer-services -----------------------------------------------------


def test_cluster_ip_service_allowed() -> None:
    props = {"spec": {"type": "ClusterIP", "ports": [{"port": 80}]}}
    assert run_resource(mp.validate_service, resource_args(mp.SERVICE, "blog", props)) == []


def test_loadbalancer_service_rejected() -> None:
    props = {"spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}}
    [msg] = run_resource(mp.validate_service, resource_args(mp.SERVICE, "blog", props))
    assert "is of type LoadBalancer" in msg and "Use type ClusterIP" in msg


# --- acme-issuer-servers ---------------------------------------------------------------


def test_issuer_servers_match_names() -> None:
    for name, server in (
        ("letsencrypt-staging", LE_STAGING),
        ("letsencrypt-prod", LE_PROD),
    ):
        args = resource_args(mp.CLUSTER_ISSUER, name, issuer_props(name, server))
        assert run_resource(mp.validate_cluster_issuer, args) == []


@pytest.mark.parametrize(
    ("name", "server"),
    [
        ("letsencrypt-prod", "https://ca.internal:9000/acme/acme/directory"),  # step-ca
        ("letsencrypt-staging", "https://10.244.0.1:14000/dir"),  # Pebble
    ],
)
def test_a_private_acme_directory_passes(name: str, server: str) -> None:
    # multisite:acme.servers: the user's explicit choice of CA (docs/configuration.md).
    args = resource_args(mp.CLUSTER_ISSUER, name, issuer_props(name, server))
    assert run_resource(mp.validate_cluster_issuer, args) == []


@pytest.mark.parametrize(
    "server",
    [
        "https://acme-v01.api.letsencrypt.org/directory",  # retired ACME v1 endpoint
        "https://acme-staging-v02.api.letsencrypt.org/directory/",
        None,
    ],
)
def test_any_other_lets_encrypt_url_or_none_fails(server: str | None) -> None:
    args = resource_args(mp.CLUSTER_ISSUER, "iss", issuer_props("letsencrypt-prod", server))
    assert run_resource(mp.validate_cluster_issuer, args) == [
        f"ClusterIssuer 'letsencrypt-prod' (resource 'iss') uses ACME server {server!r}. Set"
        f" spec.acme.server to {LE_PROD} so the name says what it issues."
    ]


def test_issuer_name_server_mismatch() -> None:
    args = resource_args(
        mp.CLUSTER_ISSUER,
        "letsencrypt-prod",
        issuer_props("letsencrypt-prod", LE_STAGING),
    )
    [msg] = run_resource(mp.validate_cluster_issuer, args)
    assert f"Set spec.acme.server to {LE_PROD}" in msg


# --- certificate-issuer-exists (stack policy) ----------------------------------------


def test_certificate_issuer_exists() -> None:
    assert (
        run_stack(
            mp.validate_certificate_issuers,
            stack_with_certificate("dev", "letsencrypt-staging"),
        )
        == []
    )


def test_certificate_references_unknown_issuer() -> None:
    resources = stack_with_certificate("dev", "letsencrypt")
    [(msg, bad_urn)] = run_stack(mp.validate_certificate_issuers, resources)
    assert "references ClusterIssuer 'letsencrypt', which this stack does not create" in msg
    assert "letsencrypt-prod, letsencrypt-staging" in msg
    assert bad_urn == resources[-1].urn


def test_certificate_references_namespaced_issuer() -> None:
    resources = stack_with_certificate("dev", "letsencrypt-staging", kind="Issuer")
    [(msg, _)] = run_stack(mp.validate_certificate_issuers, resources)
    assert "issuer of kind 'Issuer'" in msg and "kind: ClusterIssuer" in msg


def test_ingress_shim_annotation_must_name_stack_issuer() -> None:
    props = ingress_props()
    props["metadata"]["annotations"][mp.CLUSTER_ISSUER_ANNOTATION] = "other-issuer"
    resources = stack_with_certificate("dev", "letsencrypt-staging")
    resources.append(stack_resource(mp.INGRESS, "blog", props, "dev"))
    [(msg, _)] = run_stack(mp.validate_certificate_issuers, resources)
    assert "Ingress 'blog' references ClusterIssuer 'other-issuer'" in msg


# --- production-issuer-per-stack (stack policy) ------------------------------------------


def test_stack_name_comes_from_urn() -> None:
    assert mp.stack_from_urn(urn("prod", "pulumi:pulumi:Stack", "x")) == "prod"
    assert mp.resolve_stack_name("", {"PULUMI_STACK": "dev"}) == "dev"
    assert mp.resolve_stack_name("not-a-urn", {}) is None


def test_stack_name_falls_back_to_the_environment_the_engine_gives_the_pack(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The engine starts a policy pack with PULUMI_STACK set (pulumi_policy's own docs).
    monkeypatch.setenv("PULUMI_STACK", "prod")
    assert mp.resolve_stack_name("not-a-urn") == "prod"


@pytest.mark.parametrize(
    "stack,issuer",
    [
        ("prod", "letsencrypt-prod"),
        ("dev", "letsencrypt-staging"),
        ("local", "letsencrypt-staging"),
    ],
)
def test_issuer_matches_stack(stack: str, issuer: str) -> None:
    assert run_stack(mp.validate_production_issuer_usage, stack_with_certificate(stack, issuer)) == []


def test_prod_stack_with_staging_issuer() -> None:
    [(msg, _)] = run_stack(
        mp.validate_production_issuer_usage,
        stack_with_certificate("prod", "letsencrypt-staging"),
    )
    assert "in production stack 'prod' uses issuer 'letsencrypt-staging'" in msg
    assert "Set `issuer: prod` under `multisite:acme` in Pulumi.prod.yaml" in msg


def test_a_stack_of_one_certificate_is_checked_too() -> None:
    # No ClusterIssuer in the stack: the issuer is judged by its name.
    (certificate,) = stack_with_certificate("dev", "letsencrypt-prod")[-1:]
    [(msg, urn)] = run_stack(mp.validate_production_issuer_usage, [certificate])
    assert "non-production stack 'dev' uses the production issuer 'letsencrypt-prod'" in msg
    assert urn == certificate.urn


def test_prod_stack_staging_issuer_allowed_by_config() -> None:
    resources = stack_with_certificate("prod", "letsencrypt-staging")
    assert run_stack(mp.validate_production_issuer_usage, resources, {"allowStagingIssuer": True}) == []


def test_dev_stack_with_production_issuer() -> None:
    [(msg, _)] = run_stack(
        mp.validate_production_issuer_usage,
        stack_with_certificate("dev", "letsencrypt-prod"),
    )
    assert "non-production stack 'dev' uses the production issuer 'letsencrypt-prod'" in msg
    assert "allowProductionIssuer: true" in msg


def test_dev_stack_production_issuer_allowed_by_config() -> None:
    resources = stack_with_certificate("dev", "letsencrypt-prod")
    assert (
        run_stack(
            mp.validate_production_issuer_usage,
            resources,
            {"allowProductionIssuer": True},
        )
        == []
    )


def test_production_stacks_configurable() -> None:
    resources = stack_with_certificate("live", "letsencrypt-staging")
    assert run_stack(mp.validate_production_issuer_usage, resources) == []
    [(msg, _)] = run_stack(mp.validate_production_issuer_usage, resources, {"productionStacks": ["live"]})
    assert "production stack 'live'" in msg


def test_production_issuer_is_judged_by_server_not_name() -> None:
    resources = stack_with_certificate("dev", "le-real")
    resources.append(
        stack_resource(
            mp.CLUSTER_ISSUER,
            "le-real",
            issuer_props("le-real", LE_PROD),
            "dev",
        )
    )
    [(msg, _)] = run_stack(mp.validate_production_issuer_usage, resources)
    assert "uses the production issuer 'le-real'" in msg


# --- the pack -------------------------------------------------------------------------


def test_policies_unique_and_mandatory() -> None:
    names = [p.name for p in mp.POLICIES]
    assert len(names) == len(set(names)) == 10
    assert all(p.enforcement_level == EnforcementLevel.MANDATORY for p in mp.POLICIES)
    stack_policies = {p.name for p in mp.POLICIES if isinstance(p, StackValidationPolicy)}
    assert stack_policies == {
        "certificate-issuer-exists",
        "production-issuer-per-stack",
        "production-stack-protected",
        "http-route-parents",
    }


def test_pack_entry_point_registers_all_policies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    captured: dict[str, Any] = {}

    def fake_pack(**kwargs: Any) -> None:
        captured.update(kwargs)

    # PolicyPack() starts the analyzer gRPC server; capture its arguments instead.
    monkeypatch.setattr(pulumi_policy, "PolicyPack", fake_pack)
    runpy.run_path(str(Path(mp.__file__).with_name("__main__.py")), run_name="__main__")
    assert [p.name for p in captured["policies"]] == [p.name for p in mp.POLICIES]
    assert captured["enforcement_level"] == EnforcementLevel.MANDATORY


def test_policies_accept_read_only_proxies() -> None:
    """Real runs pass Mapping/Sequence proxies, not dicts/lists."""
    from pulumi_policy.proxy import unknown_checking_proxy

    props = unknown_checking_proxy(copy.deepcopy(ingress_props()))
    props_bad = copy.deepcopy(ingress_props())
    props_bad["spec"]["rules"].append({"host": "shop.example.com"})
    assert run_resource(mp.validate_ingress, resource_args(mp.INGRESS, "blog", props)) == []
    [msg] = run_resource(
        mp.validate_ingress,
        resource_args(mp.INGRESS, "blog", unknown_checking_proxy(props_bad)),
    )
    assert "shop.example.com" in msg


# --- production-stack-protected ----------------------------------------------------


def certificate(issuer: str, *, protect: bool) -> PolicyResource:
    props = {"spec": {"issuerRef": {"name": issuer, "kind": "ClusterIssuer"}}}
    return stack_resource(mp.CERTIFICATE, f"cert-{issuer}", props, "prod", protect=protect)


def test_production_stack_with_everything_protected_passes() -> None:
    resources = [
        certificate("letsencrypt-prod", protect=True),
        stack_resource(mp.INGRESS, "www", ingress_props(), "prod", protect=True),
    ]
    assert run_stack(mp.validate_production_protected, resources) == []


def test_production_stack_with_an_unprotected_resource_fails() -> None:
    ingress = stack_resource(mp.INGRESS, "www", ingress_props(), "prod", protect=False)
    [(msg, bad_urn)] = run_stack(
        mp.validate_production_protected, [certificate("letsencrypt-prod", protect=True), ingress]
    )
    assert bad_urn == ingress.urn
    assert "is not protected" in msg and "pulumi destroy" in msg and "protect=True" in msg


def test_one_production_certificate_makes_the_stack_production() -> None:
    found = run_stack(
        mp.validate_production_protected,
        [certificate("letsencrypt-staging", protect=False), certificate("letsencrypt-prod", protect=True)],
    )
    assert [u for _, u in found] == [certificate("letsencrypt-staging", protect=False).urn]


def test_staging_stack_need_not_protect_anything() -> None:
    resources = [
        certificate("letsencrypt-staging", protect=False),
        stack_resource(mp.INGRESS, "www", ingress_props(), "dev", protect=False),
    ]
    assert run_stack(mp.validate_production_protected, resources) == []


# --- branches with a failing case of their own (issue 12) ---------------------------------


def test_static_ip_messages_name_the_fix() -> None:
    props = address_props()
    del props["region"]
    assert run_resource(mp.validate_static_ip, resource_args(mp.ADDRESS, "ip", props, protect=True)) == [
        "Address 'ip' has no `region`. Set region to the GKE cluster's region: the load balancer only"
        " binds a regional address in its own region."
    ]
    args = resource_args(mp.GLOBAL_ADDRESS, "ip", {"name": "ip"}, protect=True)
    assert run_resource(mp.validate_static_ip, args) == [
        "GlobalAddress 'ip' cannot back the edge's L4 load balancer. Use gcp.compute.Address"
        " with `region` set to the cluster's region."
    ]


def test_static_ip_without_address_type_is_external_by_default() -> None:
    props = address_props()
    del props["addressType"]  # GCP's default address type is EXTERNAL
    assert run_resource(mp.validate_static_ip, resource_args(mp.ADDRESS, "ip", props, protect=True)) == []


def test_static_ip_policy_ignores_other_types_and_missing_options() -> None:
    assert run_resource(mp.validate_static_ip, resource_args(mp.SERVICE, "svc", {})) == []
    assert mp.check_static_ip(mp.SERVICE, "svc", {}, protect=False) == []
    # The pack guards against an analyzer that sends no options; that counts as unprotected.
    no_opts: Any = None
    args = ResourceValidationArgs(
        mp.ADDRESS, address_props(), urn("dev", mp.ADDRESS, "ip"), "ip", no_opts, None
    )
    [msg] = run_resource(mp.validate_static_ip, args)
    assert "is not protected" in msg


def test_ingress_tls_entry_without_secret_name() -> None:
    props = ingress_props()
    del props["spec"]["tls"][0]["secretName"]
    assert run_resource(mp.validate_ingress, resource_args(mp.INGRESS, "blog", props)) == [
        "Ingress 'blog' spec.tls[0] has no secretName. Set it to the Certificate's spec.secretName so"
        " the edge serves that certificate."
    ]


def test_wildcard_tls_does_not_cover_the_bare_domain_or_another_domain() -> None:
    props = ingress_props()
    props["spec"]["tls"] = [{"hosts": ["*.example.com"], "secretName": "w"}]
    props["spec"]["rules"] = [
        {"host": "example.com"},
        {"host": "blog.example.org"},
        {"host": "a.example.com"},
    ]
    msgs = run_resource(mp.validate_ingress, resource_args(mp.INGRESS, "blog", props))
    assert [m.split("'")[3] for m in msgs] == ["example.com", "blog.example.org"]


@pytest.mark.parametrize("value", ["FALSE", " false ", False])
def test_ssl_redirect_off_in_any_spelling_is_refused(value: Any) -> None:
    props = ingress_props()
    props["metadata"]["annotations"]["nginx.ingress.kubernetes.io/force-ssl-redirect"] = value
    [msg] = run_resource(mp.validate_ingress, resource_args(mp.INGRESS, "blog", props))
    assert "force-ssl-redirect" in msg


@pytest.mark.parametrize("value", ["true", True, "yes", None])
def test_ssl_redirect_on_or_absent_passes(value: Any) -> None:
    props = ingress_props()
    props["metadata"]["annotations"]["nginx.ingress.kubernetes.io/ssl-redirect"] = value
    assert run_resource(mp.validate_ingress, resource_args(mp.INGRESS, "blog", props)) == []


def test_helm_release_chart_and_version_of_the_wrong_type() -> None:
    props = cert_manager_props()
    props["chart"] = 5
    props["version"] = 4
    [msg] = run_resource(mp.validate_helm_release, resource_args(mp.HELM_RELEASE, "cm", props))
    assert msg == (
        "Helm release 'cm' (chart '') does not pin a chart version. Set `version` to an exact chart"
        ' version (e.g. "4.15.1").'
    )


@pytest.mark.parametrize("version", ["4.15.1", "v1.21.2", "1.0.0-rc.1"])
def test_exact_versions_pass(version: str) -> None:
    props = ingress_nginx_props()
    props["version"] = version
    assert run_resource(mp.validate_helm_release, resource_args(mp.HELM_RELEASE, "n", props)) == []


@pytest.mark.parametrize("version", ["v", "latest", "1.x", "1.2.3 || 2.0.0", "=1.2.3", "<2.0.0"])
def test_versions_that_float_are_refused(version: str) -> None:
    props = ingress_nginx_props()
    props["version"] = version
    [msg] = run_resource(mp.validate_helm_release, resource_args(mp.HELM_RELEASE, "n", props))
    assert msg == (
        f"Helm release 'n' (chart 'ingress-nginx') uses the version range '{version}'."
        ' Pin an exact chart version (e.g. "4.15.1").'
    )


@pytest.mark.parametrize("chart", ["/abs/charts/ingress-nginx", "~/charts/ingress-nginx", "../ingress-nginx"])
def test_local_charts_need_no_version(chart: str) -> None:
    props = ingress_nginx_props()
    props["chart"] = chart
    props["version"] = None
    assert run_resource(mp.validate_helm_release, resource_args(mp.HELM_RELEASE, "n", props)) == []


def test_snippet_messages_are_whole() -> None:
    props = ingress_nginx_props()
    props["values"]["controller"]["allowSnippetAnnotations"] = "true"
    props["values"]["controller"]["config"]["allow-snippet-annotations"] = True
    assert run_resource(mp.validate_helm_release, resource_args(mp.HELM_RELEASE, "n", props)) == [
        "Helm release 'n' (ingress-nginx) must disable snippet annotations explicitly: set"
        " values.controller.allowSnippetAnnotations: false.",
        "Helm release 'n' (ingress-nginx) sets controller.config[\"allow-snippet-annotations\"] to"
        ' True. Set it to "false" (snippets let any Ingress author inject NGINX config).',
    ]


@pytest.mark.parametrize("keep", [True, "true", "True"])
def test_cert_manager_keeping_crds_in_any_spelling_passes(keep: Any) -> None:
    props = cert_manager_props()
    props["values"] = {"crds": {"enabled": True, "keep": keep}}
    assert run_resource(mp.validate_helm_release, resource_args(mp.HELM_RELEASE, "cm", props)) == []


def test_other_charts_are_not_held_to_either_rule() -> None:
    props = {"chart": "podinfo", "version": "6.0.0", "values": {}}
    assert run_resource(mp.validate_helm_release, resource_args(mp.HELM_RELEASE, "p", props)) == []
    assert run_resource(mp.validate_helm_release, resource_args(mp.SERVICE, "p", {"chart": 1})) == []


def test_helm_policy_ignores_other_types() -> None:
    assert (
        run_resource(mp.validate_service, resource_args(mp.INGRESS, "i", {"spec": {"type": "LoadBalancer"}}))
        == []
    )
    assert (
        run_resource(
            mp.validate_cluster_issuer, resource_args(mp.SERVICE, "s", issuer_props("letsencrypt-prod", "x"))
        )
        == []
    )


def test_issuer_mismatch_message_is_whole() -> None:
    args = resource_args(mp.CLUSTER_ISSUER, "iss", issuer_props("letsencrypt-staging", LE_PROD))
    assert run_resource(mp.validate_cluster_issuer, args) == [
        f"ClusterIssuer 'letsencrypt-staging' (resource 'iss') uses ACME server '{LE_PROD}'. Set"
        f" spec.acme.server to {LE_STAGING} so the name says what it issues."
    ]
    other = resource_args(mp.CLUSTER_ISSUER, "iss", issuer_props("zerossl", LE_STAGING))
    assert run_resource(mp.validate_cluster_issuer, other) == []


def test_issuer_group_other_than_cert_manager_is_named_in_the_kind() -> None:
    resources = stack_with_certificate("dev", "letsencrypt-staging")
    resources[-1].props["spec"]["issuerRef"]["group"] = "awspca.cert-manager.io"
    [(msg, bad_urn)] = run_stack(mp.validate_certificate_issuers, resources)
    assert msg == (
        "Certificate 'blog-cert' references an issuer of kind 'awspca.cert-manager.io/ClusterIssuer'."
        " Use spec.issuerRef {kind: ClusterIssuer, group: cert-manager.io, name: <one of:"
        " letsencrypt-prod, letsencrypt-staging>}."
    )
    assert bad_urn == resources[-1].urn


def test_issuer_ref_without_kind_is_a_namespaced_issuer() -> None:
    resources = stack_with_certificate("dev", "letsencrypt-staging")
    del resources[-1].props["spec"]["issuerRef"]["kind"]
    [(msg, _)] = run_stack(mp.validate_certificate_issuers, resources)
    assert "issuer of kind 'Issuer'" in msg


def test_issuer_ref_without_a_name_and_a_stack_without_issuers() -> None:
    cert = certificate_props("x")
    del cert["spec"]["issuerRef"]["name"]
    [(msg, _)] = run_stack(
        mp.validate_certificate_issuers, [stack_resource(mp.CERTIFICATE, "c", cert, "dev")]
    )
    assert msg == (
        "Certificate 'c' references ClusterIssuer 'None', which this stack does not create (it creates:"
        " none). Point spec.issuerRef.name at one of them, or add that ClusterIssuer to the stack."
    )


def test_an_issuer_name_that_is_not_a_string_is_reported_as_no_name() -> None:
    # cert-manager's ObjectReference.name is a string; a list (a YAML slip) names no
    # issuer. Each stack policy reports it as it reports a missing name; none crashes.
    resources = stack_with_certificate("prod", "letsencrypt-prod")
    resources[-1].props["spec"]["issuerRef"]["name"] = ["letsencrypt-prod"]
    [(msg, _)] = run_stack(mp.validate_certificate_issuers, resources)
    assert "references ClusterIssuer 'None', which this stack does not create" in msg
    [(msg, _)] = run_stack(mp.validate_production_issuer_usage, resources)
    assert "in production stack 'prod' uses issuer 'None'" in msg


def test_an_empty_issuer_group_is_cert_managers_own() -> None:
    # cert-manager's API reference: an empty group means cert-manager.io.
    resources = stack_with_certificate("dev", "letsencrypt-staging")
    resources[-1].props["spec"]["issuerRef"]["group"] = ""
    assert run_stack(mp.validate_certificate_issuers, resources) == []


def test_an_ingress_shim_issuer_annotation_is_judged_by_its_name_too() -> None:
    props = ingress_props()
    props["metadata"]["annotations"][mp.ISSUER_ANNOTATION] = "letsencrypt-prod"
    ingress = stack_resource(mp.INGRESS, "b", props, "dev")
    [(msg, urn)] = run_stack(
        mp.validate_production_issuer_usage, [*stack_with_certificate("dev", "letsencrypt-staging"), ingress]
    )
    assert msg.startswith(
        "Ingress 'b' in non-production stack 'dev' uses the production issuer 'letsencrypt-prod'"
    )
    assert urn == ingress.urn


def test_ingress_shim_namespaced_issuer_annotation_is_refused() -> None:
    props = ingress_props()
    props["metadata"]["annotations"][mp.ISSUER_ANNOTATION] = "letsencrypt-staging"
    resources = [
        *stack_with_certificate("dev", "letsencrypt-staging"),
        stack_resource(mp.INGRESS, "b", props, "dev"),
    ]
    [(msg, _)] = run_stack(mp.validate_certificate_issuers, resources)
    assert msg.startswith("Ingress 'b' references an issuer of kind 'Issuer'.")


def test_issuer_without_a_name_is_not_a_stack_issuer() -> None:
    nameless = issuer_props("", LE_PROD)
    resources = [stack_resource(mp.CLUSTER_ISSUER, "n", nameless, "dev"), *stack_with_certificate("dev", "x")]
    [(msg, _)] = run_stack(mp.validate_certificate_issuers, resources)
    assert "(it creates: letsencrypt-prod, letsencrypt-staging)" in msg


def test_production_is_judged_by_server_for_issuers_in_the_stack_and_by_name_otherwise() -> None:
    servers = {"letsencrypt-prod": LE_STAGING, "le-real": LE_PROD}
    assert not mp.is_production_issuer("letsencrypt-prod", servers)
    assert mp.is_production_issuer("le-real", servers)
    assert mp.is_production_issuer("letsencrypt-prod", {})
    assert not mp.is_production_issuer("letsencrypt-staging", {})
    assert not mp.is_production_issuer(None, {})


def test_stack_name_sources() -> None:
    assert mp.stack_from_urn("urn:pulumi:::multisite::t::n") is None
    assert mp.stack_from_urn("urn:pulumi:live::multisite::t::n") == "live"
    assert mp.resolve_stack_name("urn:pulumi:live::p::t::n", {"PULUMI_STACK": "dev"}) == "live"
    assert mp.resolve_stack_name("x", {"PULUMI_STACK": ""}) is None


def test_issuer_usage_reports_the_urn_of_the_offending_resource() -> None:
    resources = stack_with_certificate("dev", "letsencrypt-prod")
    [(msg, bad_urn)] = run_stack(mp.validate_production_issuer_usage, resources)
    assert bad_urn == resources[-1].urn
    assert msg == (
        "Certificate 'blog-cert' in non-production stack 'dev' uses the production issuer"
        " 'letsencrypt-prod' (Let's Encrypt production rate limits are tight). Set `issuer: staging`"
        " under `multisite:acme` (and per site) to use letsencrypt-staging, or allow it explicitly"
        " with the policy config allowProductionIssuer: true."
    )


def test_issuer_usage_on_an_empty_stack_and_string_booleans_in_config() -> None:
    assert run_stack(mp.validate_production_issuer_usage, []) == []
    resources = stack_with_certificate("dev", "letsencrypt-prod")
    assert run_stack(mp.validate_production_issuer_usage, resources, {"allowProductionIssuer": "true"}) == []
    assert (
        len(run_stack(mp.validate_production_issuer_usage, resources, {"allowProductionIssuer": "no"})) == 1
    )


def test_production_stacks_list_replaces_the_default() -> None:
    resources = stack_with_certificate("prod", "letsencrypt-prod")
    [(msg, _)] = run_stack(mp.validate_production_issuer_usage, resources, {"productionStacks": ["live", 3]})
    assert "non-production stack 'prod'" in msg
    staging = stack_with_certificate("prod", "letsencrypt-staging")
    [(msg, _)] = run_stack(mp.validate_production_issuer_usage, staging)
    assert msg == (
        "Certificate 'blog-cert' in production stack 'prod' uses issuer 'letsencrypt-staging', whose"
        " certificates browsers do not trust. Set `issuer: prod` under `multisite:acme` in"
        " Pulumi.prod.yaml (and drop any per-site `issuer: staging`) so it uses letsencrypt-prod."
    )


def test_unprotected_message_is_whole_and_names_each_resource() -> None:
    ingress = stack_resource(mp.INGRESS, "www", ingress_props(), "prod", protect=False)
    none: Any = None  # a resource without options counts as unprotected
    no_opts = PolicyResource(mp.SERVICE, {}, urn("prod", mp.SERVICE, "s"), "s", none, None, None, [], {})
    found = run_stack(
        mp.validate_production_protected, [certificate("letsencrypt-prod", protect=True), ingress, no_opts]
    )
    assert found == [
        (
            "Ingress 'www' is not protected, but this stack serves production certificates: an accidental"
            " `pulumi destroy` would delete it. Register it with ResourceOptions(protect=True) (the"
            " program protects every resource of such a stack).",
            ingress.urn,
        ),
        (
            "Service 's' is not protected, but this stack serves production certificates: an accidental"
            " `pulumi destroy` would delete it. Register it with ResourceOptions(protect=True) (the"
            " program protects every resource of such a stack).",
            no_opts.urn,
        ),
    ]


def test_an_ingress_shim_on_the_production_issuer_makes_the_stack_production() -> None:
    props = ingress_props()
    props["metadata"]["annotations"][mp.CLUSTER_ISSUER_ANNOTATION] = "letsencrypt-prod"
    ingress = stack_resource(mp.INGRESS, "www", props, "prod", protect=False)
    [(_, bad_urn)] = run_stack(mp.validate_production_protected, [ingress])
    assert bad_urn == ingress.urn


def test_loadbalancer_service_message_is_whole() -> None:
    props = {"spec": {"type": "LoadBalancer"}}
    assert run_resource(mp.validate_service, resource_args(mp.SERVICE, "blog", props)) == [
        "Service 'blog' is of type LoadBalancer, which reserves another IP and load balancer. Use type"
        " ClusterIP and route to it with an Ingress (ingressClassName: nginx) on the shared static IP."
    ]


def test_internal_and_unprotected_address_messages_are_whole() -> None:
    props = address_props()
    props["addressType"] = "INTERNAL"
    assert run_resource(mp.validate_static_ip, resource_args(mp.ADDRESS, "ip", props, protect=False)) == [
        "Address 'ip' has addressType 'INTERNAL'. Use address_type=\"EXTERNAL\" for the public ingress IP.",
        "Address 'ip' is not protected; deleting it breaks every domain whose DNS points at it. Register"
        " it with ResourceOptions(protect=True).",
    ]


# --- helm-release-hardening: the Traefik edge ----------------------------------------


def traefik_props() -> dict[str, Any]:
    return {
        "chart": "traefik",
        "version": "41.3.0",
        "namespace": "traefik",
        "values": {"api": {"dashboard": False}, "image": {"tag": "v3.7.11"}},
    }


def test_traefik_release_hardened_passes() -> None:
    assert (
        run_resource(mp.validate_helm_release, resource_args(mp.HELM_RELEASE, "edge", traefik_props())) == []
    )


TRAEFIK_DASHBOARD = (
    "Helm release 'edge' (traefik) must turn the dashboard off explicitly (the chart enables it):"
    " set values.api.dashboard: false."
)
TRAEFIK_INSECURE_API = (
    "Helm release 'edge' (traefik) serves its API over plain HTTP (values.api.insecure); remove it."
)
TRAEFIK_SNIPPETS = (
    "Helm release 'edge' (traefik) allows NGINX snippet annotations; remove"
    " values.providers.kubernetesIngressNGINX.allowSnippetAnnotations."
)
TRAEFIK_IMAGE = (
    "Helm release 'edge' (traefik) does not pin its image: set values.image.tag"
    ' (e.g. "v3.7.11") or values.image.digest.'
)
PINNED = {"tag": "v3.7.11"}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"image": PINNED}, TRAEFIK_DASHBOARD),  # the chart's default is on
        ({"api": {"dashboard": True}, "image": PINNED}, TRAEFIK_DASHBOARD),
        ({"api": {"dashboard": False, "insecure": True}, "image": PINNED}, TRAEFIK_INSECURE_API),
        (
            {
                "api": {"dashboard": False},
                "image": PINNED,
                "providers": {"kubernetesIngressNGINX": {"allowSnippetAnnotations": True}},
            },
            TRAEFIK_SNIPPETS,
        ),
        ({"api": {"dashboard": False}}, TRAEFIK_IMAGE),
        # An image section that names no version floats with the chart's default.
        ({"api": {"dashboard": False}, "image": {"repository": "docker.io/traefik"}}, TRAEFIK_IMAGE),
    ],
)
def test_traefik_release_unhardened_fails(values: dict[str, Any], message: str) -> None:
    props = {**traefik_props(), "values": values}
    assert run_resource(mp.validate_helm_release, resource_args(mp.HELM_RELEASE, "edge", props)) == [message]


def test_a_release_without_chart_or_version_is_named_as_such() -> None:
    assert run_resource(mp.validate_helm_release, resource_args(mp.HELM_RELEASE, "r", {"values": {}})) == [
        "Helm release 'r' (chart '') does not pin a chart version. Set `version` to an exact chart"
        ' version (e.g. "4.15.1").'
    ]


def test_traefik_image_pinned_by_digest_alone_passes() -> None:
    digest = {"digest": "sha256:" + "0" * 64}
    props = {**traefik_props(), "values": {"api": {"dashboard": False}, "image": digest}}
    assert run_resource(mp.validate_helm_release, resource_args(mp.HELM_RELEASE, "edge", props)) == []


@pytest.mark.parametrize(
    ("chart", "base"),
    [
        ("/tmp/charts/traefik-41.3.0.tgz", "traefik"),
        ("/tmp/charts/cert-manager-v1.21.1.tgz", "cert-manager"),
        ("./charts/ingress-nginx", "ingress-nginx"),
        ("oci://host/charts/traefik", "traefik"),
        ("./charts/ingress-nginx/", "ingress-nginx"),  # a directory written with its slash
        ("traefik", "traefik"),  # a repository chart name
        ("./charts/cert-manager-1.2.3", "cert-manager-1.2.3"),  # a directory: its name as it is
    ],
)
def test_chart_name_is_read_from_an_archive_path_too(chart: str, base: str) -> None:
    assert mp.chart_basename(chart) == base


# --- gateway-listener-tls (issue 24); Gateway API v1: a listener's tls.mode defaults to Terminate ---


def gateway_props(**listener: Any) -> dict[str, Any]:
    https = {
        "name": "https-0",
        "hostname": "www.example.com",
        "port": 8443,
        "protocol": "HTTPS",
        "tls": {"mode": "Terminate", "certificateRefs": [{"kind": "Secret", "name": "www-example-com-tls"}]},
    }
    return {"spec": {"listeners": [{**https, **listener}, {"name": "web", "port": 8000, "protocol": "HTTP"}]}}


def test_a_gateway_whose_https_listeners_have_a_certificate_and_a_name_is_compliant() -> None:
    assert run_resource(mp.validate_gateway, resource_args(mp.GATEWAY, "www", gateway_props())) == []


@pytest.mark.parametrize(
    ("listener", "fragment"),
    [
        ({"tls": {"mode": "Terminate", "certificateRefs": []}}, "is HTTPS without a certificate"),
        (
            {"tls": {"mode": "Passthrough", "certificateRefs": [{"name": "x"}]}},
            "is HTTPS without a certificate",
        ),
        ({"hostname": None}, "has no hostname"),
    ],
)
def test_a_gateway_https_listener_without_a_certificate_or_a_name_is_refused(
    listener: dict[str, Any], fragment: str
) -> None:
    (msg,) = run_resource(mp.validate_gateway, resource_args(mp.GATEWAY, "www", gateway_props(**listener)))
    assert msg.startswith("Gateway 'www' spec.listeners[0]") and fragment in msg


def test_every_https_listener_is_checked_after_an_http_one_with_the_whole_message() -> None:
    props = gateway_props(tls={"mode": "Terminate", "certificateRefs": []}, hostname=None)
    props["spec"]["listeners"].reverse()  # the HTTP listener first
    assert run_resource(mp.validate_gateway, resource_args(mp.GATEWAY, "www", props)) == [
        "Gateway 'www' spec.listeners[1] is HTTPS without a certificate to terminate TLS with. Set tls:"
        " {mode: Terminate, certificateRefs: [{kind: Secret, name: <the site's Certificate's"
        " secretName>}]}.",
        "Gateway 'www' spec.listeners[1] has no hostname: on the shared IP it would answer every name with"
        " this certificate. Give each HTTPS listener the one name it serves.",
    ]


# --- http-route-parents (issue 24) --------------------------------------------------------------


def route(name: str, namespace: str | None, *parents: dict[str, Any]) -> PolicyResource:
    metadata = {"name": name, **({"namespace": namespace} if namespace else {})}
    props = {"metadata": metadata, "spec": {"parentRefs": list(parents)}}
    return stack_resource(mp.HTTP_ROUTE, name, props, "prod")


def gateway(name: str, namespace: str | None) -> PolicyResource:
    metadata = {"name": name, **({"namespace": namespace} if namespace else {})}
    return stack_resource(mp.GATEWAY, name, {"metadata": metadata, "spec": {"listeners": []}}, "prod")


RELEASES = [
    stack_resource(mp.HELM_RELEASE, "edge-release", {"name": "traefik", "namespace": "traefik"}, "prod")
]


def test_routes_to_the_stacks_gateways_and_the_edge_gateway_are_compliant() -> None:
    resources = [
        *RELEASES,
        gateway("www", "shop"),
        gateway("blog", None),  # no namespace: the default one, as Kubernetes takes it
        route("www", "shop", {"kind": "Gateway", "name": "www"}),  # the route's own namespace
        route("www-http", "shop", {"name": "edge", "namespace": "traefik", "sectionName": "web"}),
        route("blog", "default", {"name": "blog"}),
        route("blog-http", None, {"name": "blog"}),  # both in the default namespace
        route("none", "shop"),  # no parents: attached to nothing
    ]
    assert run_stack(mp.validate_route_parents, resources) == []


@pytest.mark.parametrize(
    ("parent", "shown"),
    [
        ({"name": "www", "namespace": "other"}, "Gateway 'other/www'"),  # same name, another namespace
        ({"name": "edge"}, "Gateway 'shop/edge'"),  # edge lives in the release's namespace only
        ({"name": "edge", "namespace": "kube-system"}, "Gateway 'kube-system/edge'"),
        ({"kind": "ListenerSet", "name": "www"}, "ListenerSet 'shop/www'"),
        ({"name": "elsewhere"}, "Gateway 'shop/elsewhere'"),
    ],
)
def test_a_route_to_any_other_parent_is_refused_with_the_whole_message(
    parent: dict[str, Any], shown: str
) -> None:
    resources = [*RELEASES, gateway("www", "shop"), route("r", "shop", {"name": "www"}, parent)]
    found = run_stack(mp.validate_route_parents, resources)
    assert found == [
        (
            f"HTTPRoute 'r' attaches to {shown}, which this stack does not create. Attach it to its site's"
            " Gateway or to the edge's shared Gateway only.",
            resources[-1].urn,
        )
    ]
