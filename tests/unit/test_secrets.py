"""Values set with `pulumi config set --secret` stay secret in every input and export that carries them."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import (
    ADDRESS,
    CERTIFICATE,
    ISSUER,
    PROVIDER,
    RECORD,
    TEST_CA,
    ProgramRun,
    Registered,
    run_program,
)

INLINE_KUBECONFIG = "apiVersion: v1\nkind: Config\nusers:\n- name: ci\n  user:\n    token: s3cr3t-token\n"
BASE: dict[str, Any] = {
    "gcp:project": "my-project",
    "gcp:region": "europe-west1",
    "multisite:acme": {"issuer": "prod", "email": "ops@example.com", "waitForCertificates": True},
    "multisite:cluster": {"kubeconfig": INLINE_KUBECONFIG, "context": "ci"},
    "multisite:ingressNginx": {"values": {"controller": {"podAnnotations": {"token": "t0ken"}}}},
    "multisite:certManager": {"chart": "https://user:pass@charts.example.com"},
    "multisite:dns": {"zone": "example-com", "project": "dns-project", "ttl": 60},
    "multisite:sites": [{"host": "www.example.com", "service": "web"}],
}


def secret_run(*keys: str, config: dict[str, Any] | None = None) -> ProgramRun:
    return run_program(config or BASE, stack="prod", secret_keys=[f"multisite:{k}" for k in keys])


def secret_at(resource: Registered, *path: str | int) -> bool:
    """True when the input at `path`, or a value around it, is secret."""
    return any(path[: len(p)] == p for p in resource.secret_paths)


def test_nothing_is_secret_when_nothing_was_set_as_secret() -> None:
    run = secret_run()
    assert [r.name for r in run.resources if r.secret_paths] == []
    assert run.secret_outputs == frozenset()


def test_secret_cluster_keeps_the_kubeconfig_secret() -> None:
    (provider,) = secret_run("cluster").of_type(PROVIDER)
    assert provider.inputs["kubeconfig"] == INLINE_KUBECONFIG
    assert secret_at(provider, "kubeconfig") and secret_at(provider, "context")


def test_secret_gke_cluster_keeps_the_kubeconfig_built_for_it_secret() -> None:
    # The kubeconfig names the cluster's endpoint: set with --secret, it stays secret.
    config = {**BASE, "multisite:cluster": {"name": "web-cluster", "location": "europe-west1"}}
    (provider,) = secret_run("cluster", config=config).of_type(PROVIDER)
    assert "https://" in provider.inputs["kubeconfig"]
    assert secret_at(provider, "kubeconfig")


def test_secret_cluster_without_a_context_sets_none() -> None:
    # No context: the kubeconfig's current-context applies, secret or not.
    config = {**BASE, "multisite:cluster": {"kubeconfig": INLINE_KUBECONFIG}}
    (provider,) = secret_run("cluster", config=config).of_type(PROVIDER)
    assert "context" not in provider.inputs
    assert secret_at(provider, "kubeconfig")


@pytest.mark.parametrize(
    ("key", "release"), [("ingressNginx", "edge-release"), ("certManager", "cert-manager-release")]
)
def test_secret_chart_section_keeps_every_release_input_from_it_secret(key: str, release: str) -> None:
    run = secret_run(key)
    r = run.named(release)
    assert secret_at(r, "values") and secret_at(r, "version")
    other = run.named({"edge-release": "cert-manager-release"}.get(release, "edge-release"))
    assert not other.secret_paths, "only the secret section's release"


def test_secret_chart_repository_url_stays_secret() -> None:
    r = secret_run("certManager").named("cert-manager-release")
    assert r.inputs["repositoryOpts"]["repo"] == "https://user:pass@charts.example.com"
    assert secret_at(r, "repositoryOpts", "repo")


def test_secret_chart_reference_stays_secret() -> None:
    # An OCI reference or a local path is the release's `chart` itself.
    oci = "oci://registry.example.com/mirror/cert-manager"
    r = secret_run("certManager", config={**BASE, "multisite:certManager": {"chart": oci}})
    release = r.named("cert-manager-release")
    assert release.inputs["chart"] == oci and secret_at(release, "chart")


def test_secret_acme_keeps_email_issuer_and_wait_secret() -> None:
    run = secret_run("acme")
    for issuer in run.of_type(ISSUER):
        assert issuer.prop("spec", "acme", "email") == "ops@example.com"
        assert secret_at(issuer, "spec", "acme", "email")
    (certificate,) = run.of_type(CERTIFICATE)
    assert secret_at(certificate, "spec", "issuerRef", "name")
    assert secret_at(certificate, "metadata", "annotations", "pulumi.com/waitFor")
    assert secret_at(certificate, "metadata", "annotations", "pulumi.com/timeoutSeconds")
    assert "issuer" in run.secret_outputs


def test_secret_acme_keeps_a_private_server_and_its_ca_bundle_secret() -> None:
    acme = {"issuer": "prod", "servers": {"prod": "https://ca.internal/dir"}, "caBundle": TEST_CA}
    run = secret_run("acme", config={**BASE, "multisite:acme": acme})
    issuer = run.named("cluster-issuers-prod")
    assert issuer.prop("spec", "acme", "server") == "https://ca.internal/dir"
    assert secret_at(issuer, "spec", "acme", "server") and secret_at(issuer, "spec", "acme", "caBundle")


def test_secret_acme_keeps_a_private_server_secret_on_its_own() -> None:
    # No e-mail or CA bundle beside it: the server is the issuer's only secret value.
    acme = {"issuer": "prod", "servers": {"prod": "https://ca.internal/dir"}}
    run = secret_run("acme", config={**BASE, "multisite:acme": acme})
    issuer = run.named("cluster-issuers-prod")
    assert issuer.prop("spec", "acme", "server") == "https://ca.internal/dir"
    assert secret_at(issuer, "spec", "acme", "server")
    assert "caBundle" not in issuer.prop("spec", "acme")  # none was given


def test_secret_static_ip_keeps_the_address_secret_wherever_it_goes() -> None:
    config = {**BASE, "multisite:staticIp": {"address": "34.120.10.20"}}
    run = secret_run("staticIp", config=config)
    assert secret_at(run.named("edge-release"), "values")
    for record in run.of_type(RECORD):
        assert secret_at(record, "rrdatas")
    assert "ingressIp" in run.secret_outputs


def test_secret_static_ip_keeps_the_reserved_address_settings_secret() -> None:
    config = {**BASE, "multisite:staticIp": {"name": "web-ingress", "region": "europe-west1"}}
    (address,) = secret_run("staticIp", config=config).of_type(ADDRESS)
    assert secret_at(address, "name") and secret_at(address, "region") and secret_at(address, "networkTier")


def test_secret_dns_keeps_zone_project_and_ttl_secret() -> None:
    run = secret_run("dns")
    records = run.of_type(RECORD)
    assert records
    for record in records:
        assert secret_at(record, "managedZone") and secret_at(record, "project") and secret_at(record, "ttl")
        assert not secret_at(record, "name")
