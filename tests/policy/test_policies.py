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


def issuer_props(name: str, server: str) -> dict[str, Any]:
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
            issuer_props("letsencrypt-staging", mp.LE_STAGING_SERVER),
            stack,
        ),
        stack_resource(
            mp.CLUSTER_ISSUER,
            "letsencrypt-prod",
            issuer_props("letsencrypt-prod", mp.LE_PRODUCTION_SERVER),
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
    [msg] = run_resource(mp.validate_ingress, resource_args(mp.INGRESS, "blog", props))
    assert "no spec.ingressClassName" in msg and "ingressClassName: nginx" in msg


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
    [msg] = run_resource(mp.validate_ingress, resource_args(mp.INGRESS, "blog", props))
    assert "spec.rules[2] has no host" in msg


@pytest.mark.parametrize("annotation", mp.SSL_REDIRECT_ANNOTATIONS)
def test_ingress_disabling_https_redirect(annotation: str) -> None:
    props = ingress_props()
    props["metadata"]["annotations"][annotation] = "false"
    [msg] = run_resource(mp.validate_ingress, resource_args(mp.INGRESS, "blog", props))
    assert f'disables the HTTP->HTTPS redirect with {annotation}: "false"' in msg


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
    assert "does not keep its CRDs" in msg and "values.crds.keep: true" in msg


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
        ("letsencrypt-staging", mp.LE_STAGING_SERVER),
        ("letsencrypt-prod", mp.LE_PRODUCTION_SERVER),
    ):
        args = resource_args(mp.CLUSTER_ISSUER, name, issuer_props(name, server))
        assert run_resource(mp.validate_cluster_issuer, args) == []


def test_issuer_name_server_mismatch() -> None:
    args = resource_args(
        mp.CLUSTER_ISSUER,
        "letsencrypt-prod",
        issuer_props("letsencrypt-prod", mp.LE_STAGING_SERVER),
    )
    [msg] = run_resource(mp.validate_cluster_issuer, args)
    assert f"Set spec.acme.server to {mp.LE_PRODUCTION_SERVER}" in msg


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
            issuer_props("le-real", mp.LE_PRODUCTION_SERVER),
            "dev",
        )
    )
    [(msg, _)] = run_stack(mp.validate_production_issuer_usage, resources)
    assert "uses the production issuer 'le-real'" in msg


# --- the pack -------------------------------------------------------------------------


def test_policies_unique_and_mandatory() -> None:
    names = [p.name for p in mp.POLICIES]
    assert len(names) == len(set(names)) == 8
    assert all(p.enforcement_level == EnforcementLevel.MANDATORY for p in mp.POLICIES)
    stack_policies = {p.name for p in mp.POLICIES if isinstance(p, StackValidationPolicy)}
    assert stack_policies == {
        "certificate-issuer-exists",
        "production-issuer-per-stack",
        "production-stack-protected",
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
