"""Pure builders: Helm values, issuer and site manifests, kubeconfig, chart sources."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi_kubernetes as k8s
import pytest

from components.cert_manager import RELEASE as CERT_MANAGER_RELEASE
from components.cert_manager import CertManagerConfig, cert_manager_values
from components.cluster import gke_kubeconfig
from components.cluster_issuers import ACME_SERVERS, AcmeConfig, cluster_issuer_manifest, wait_annotations
from components.edge.ingress_nginx import ingress_nginx_values
from components.helm_chart import chart_source, merge_values
from components.site import (
    SiteConfig,
    certificate_manifest,
    deployment_manifest,
    ingress_manifest,
    service_manifest,
)

SITE = SiteConfig(host="some.dummy-url.com", service="some-my-service")
IMAGE_SITE = SiteConfig(
    host="www.example.com",
    aliases=["example.com"],
    image="nginxinc/nginx-unprivileged:1.29",
    port=8080,
    replicas=3,
)

SSL_REDIRECT = {"nginx.ingress.kubernetes.io/ssl-redirect": "true"}


def test_ingress_nginx_values_bind_the_static_ip_and_harden() -> None:
    values = ingress_nginx_values(replicas=2, load_balancer_ip="203.0.113.7")
    controller = values["controller"]
    assert controller["service"] == {
        "type": "LoadBalancer",
        "externalTrafficPolicy": "Local",
        "loadBalancerIP": "203.0.113.7",
    }
    assert controller["replicaCount"] == 2 and controller["minAvailable"] == 1
    assert controller["ingressClassResource"]["name"] == "nginx"
    assert controller["ingressClassResource"]["default"] is False
    assert controller["allowSnippetAnnotations"] is False
    config = controller["config"]
    assert config["allow-snippet-annotations"] == "false"
    assert config["annotations-risk-level"] == "Medium"
    assert config["strict-validate-path-type"] == "true"
    assert config["ssl-redirect"] == "true" and config["hsts"] == "true"
    # HTTP-01 challenges must stay reachable over plain HTTP: the default exemption is kept.
    assert "no-tls-redirect-locations" not in config
    assert controller["admissionWebhooks"]["enabled"] is True


def test_ingress_nginx_values_without_static_ip_leave_the_ip_to_the_load_balancer() -> None:
    service = ingress_nginx_values(replicas=1, load_balancer_ip=None)["controller"]["service"]
    assert "loadBalancerIP" not in service


def test_ingress_nginx_overrides_merge_last_without_losing_siblings() -> None:
    values = ingress_nginx_values(
        replicas=2,
        load_balancer_ip=None,
        overrides={"controller": {"config": {"hsts": "false"}, "metrics": {"enabled": True}}},
    )
    assert values["controller"]["config"]["hsts"] == "false"
    assert values["controller"]["config"]["allow-snippet-annotations"] == "false"
    assert values["controller"]["metrics"] == {"enabled": True}


def test_cert_manager_values_install_and_keep_crds_and_fix_http01_path_type() -> None:
    values = cert_manager_values()
    assert values["crds"] == {"enabled": True, "keep": True}
    assert values["featureGates"] == "ACMEHTTP01IngressPathTypeExact=false"
    assert values["startupapicheck"] == {"enabled": True}
    # Removing a site removes its Certificate and its TLS Secret (issue 8): the
    # Secret must be owned by the Certificate for the garbage collector to delete it.
    assert values["enableCertificateOwnerRef"] is True
    # installCRDs is deprecated and the 1.21 values schema rejects unknown keys.
    assert set(values) == {"crds", "featureGates", "startupapicheck", "enableCertificateOwnerRef"}


def test_merge_values_does_not_mutate_its_inputs() -> None:
    base = {"a": {"b": 1, "c": [1]}}
    merged = merge_values(base, {"a": {"b": 2}, "d": 3})
    assert merged == {"a": {"b": 2, "c": [1]}, "d": 3}
    merged["a"]["c"].append(2)
    assert base == {"a": {"b": 1, "c": [1]}}
    override = {"e": [[1]]}
    merge_values({}, override)["e"][0].append(2)
    assert override == {"e": [[1]]}


def source(override: str | None) -> dict[str, Any]:
    """Where cert-manager's chart comes from when `certManager.chart` is `override`."""
    config = CertManagerConfig() if override is None else CertManagerConfig(chart=override)
    return chart_source(CERT_MANAGER_RELEASE, config)


def test_chart_source_upstream_mirror_and_local_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A local chart is a path from the project directory (where Pulumi runs the program).
    monkeypatch.chdir(tmp_path)
    (tmp_path / "charts" / "cert-manager").mkdir(parents=True)
    (tmp_path / "charts" / "cert-manager" / "Chart.yaml").write_text("name: cert-manager\n")
    upstream = source(None)
    assert upstream["chart"] == "cert-manager"
    assert isinstance(upstream["repository_opts"], k8s.helm.v3.RepositoryOptsArgs)
    assert upstream["repository_opts"].repo == "https://charts.jetstack.io"
    mirror = source("https://mirror.example.com/charts")
    assert mirror["chart"] == "cert-manager" and "repository_opts" in mirror
    assert source("charts/cert-manager") == {"chart": "charts/cert-manager"}
    oci = "oci://quay.io/jetstack/charts/cert-manager"
    assert source(oci) == {"chart": oci}
    # A plain-HTTP mirror inside a private network is a repository URL too
    # (docs/configuration.md: "a repository URL").
    plain = source("http://mirror.internal/charts")
    assert (
        plain["chart"] == "cert-manager" and plain["repository_opts"].repo == "http://mirror.internal/charts"
    )


def test_cluster_issuers_use_acme_v2_http01_through_nginx() -> None:
    solver = {"http01": {"ingress": {"ingressClassName": "nginx"}}}
    staging = cluster_issuer_manifest("staging", solver=solver, email=None)
    prod = cluster_issuer_manifest("prod", solver=solver, email="ops@example.com")
    assert staging["apiVersion"] == "cert-manager.io/v1" and staging["kind"] == "ClusterIssuer"
    assert staging["metadata"] == {"name": "letsencrypt-staging"}
    assert prod["metadata"] == {"name": "letsencrypt-prod"}
    assert staging["spec"]["acme"]["server"] == "https://acme-staging-v02.api.letsencrypt.org/directory"
    assert prod["spec"]["acme"]["server"] == "https://acme-v02.api.letsencrypt.org/directory"
    assert staging["spec"]["acme"]["privateKeySecretRef"] == {"name": "letsencrypt-staging-account-key"}
    assert prod["spec"]["acme"]["privateKeySecretRef"] == {"name": "letsencrypt-prod-account-key"}
    assert staging["spec"]["acme"]["solvers"] == [{"http01": {"ingress": {"ingressClassName": "nginx"}}}]
    assert "email" not in staging["spec"]["acme"]
    assert prod["spec"]["acme"]["email"] == "ops@example.com"
    assert ACME_SERVERS == {
        "staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
        "prod": "https://acme-v02.api.letsencrypt.org/directory",
    }


def test_a_private_acme_server_replaces_lets_encrypt_and_brings_its_ca() -> None:
    solver = {"http01": {"ingress": {"ingressClassName": "traefik"}}}
    private = cluster_issuer_manifest(
        "staging", solver=solver, email=None, server="https://ca.internal/dir", ca_bundle="Q0E="
    )
    assert private["spec"]["acme"]["server"] == "https://ca.internal/dir"
    assert private["spec"]["acme"]["caBundle"] == "Q0E="
    # Let's Encrypt's directories are publicly trusted: no bundle even if one is given.
    public = cluster_issuer_manifest("prod", solver=solver, email=None, ca_bundle="Q0E=")
    assert "caBundle" not in public["spec"]["acme"]


def test_certificate_covers_host_and_aliases() -> None:
    cert = certificate_manifest(IMAGE_SITE, issuer="letsencrypt-prod")
    assert cert["metadata"]["name"] == "www-example-com"
    assert cert["metadata"]["namespace"] == "default"
    assert "annotations" not in cert["metadata"]  # `{}` would show as a change on every preview
    assert cert["spec"]["dnsNames"] == ["www.example.com", "example.com"]
    assert cert["spec"]["secretName"] == "www-example-com-tls"
    assert cert["spec"]["issuerRef"] == {
        "name": "letsencrypt-prod",
        "kind": "ClusterIssuer",
        "group": "cert-manager.io",
    }
    assert "commonName" not in cert["spec"]


def test_certificate_waits_for_ready_when_asked_and_for_a_bounded_time() -> None:
    def certificate(**acme: Any) -> dict[str, Any]:
        annotations = wait_annotations(AcmeConfig(issuer="staging", **acme))
        return certificate_manifest(SITE, issuer="letsencrypt-staging", annotations=annotations)

    assert "annotations" not in certificate()["metadata"]  # no wait unless asked
    # Five minutes by default (docs/configuration.md, multisite:acme.certificateTimeout).
    assert certificate(wait_for_certificates=True)["metadata"]["annotations"] == {
        "pulumi.com/waitFor": "condition=Ready",
        "pulumi.com/timeoutSeconds": "300",
    }
    cert = certificate(wait_for_certificates=True, certificate_timeout=45)
    assert cert["metadata"]["annotations"]["pulumi.com/timeoutSeconds"] == "45"


def test_ingress_terminates_tls_for_every_name_and_redirects() -> None:
    ingress = ingress_manifest(IMAGE_SITE, ingress_class="nginx", annotations=SSL_REDIRECT, skip_await=False)
    assert ingress["apiVersion"] == "networking.k8s.io/v1" and ingress["kind"] == "Ingress"
    assert ingress["metadata"]["annotations"] == {"nginx.ingress.kubernetes.io/ssl-redirect": "true"}
    spec = ingress["spec"]
    assert spec["ingressClassName"] == "nginx"
    assert spec["tls"] == [{"hosts": ["www.example.com", "example.com"], "secretName": "www-example-com-tls"}]
    assert [rule["host"] for rule in spec["rules"]] == ["www.example.com", "example.com"]
    path = spec["rules"][0]["http"]["paths"][0]
    assert path["path"] == "/" and path["pathType"] == "Prefix"
    assert path["backend"] == {"service": {"name": "www-example-com", "port": {"number": 8080}}}


def test_ingress_routes_to_the_existing_service_of_the_writeup() -> None:
    ingress = ingress_manifest(SITE, ingress_class="nginx", annotations=SSL_REDIRECT, skip_await=True)
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]
    assert backend == {"service": {"name": "some-my-service", "port": {"number": 80}}}
    assert ingress["metadata"]["annotations"]["pulumi.com/skipAwait"] == "true"


def test_deployment_runs_non_root_with_probes_and_requests() -> None:
    deployment = deployment_manifest(IMAGE_SITE, skip_await=False)
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert deployment["spec"]["replicas"] == 3
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["image"] == "nginxinc/nginx-unprivileged:1.29"
    assert container["ports"] == [{"name": "http", "containerPort": 8080}]
    assert container["readinessProbe"]["tcpSocket"] == {"port": "http"}
    assert container["livenessProbe"]["tcpSocket"] == {"port": "http"}
    assert container["resources"]["requests"] == {"cpu": "50m", "memory": "64Mi"}
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()


def test_service_selects_the_deployment_pods() -> None:
    service = service_manifest(IMAGE_SITE, skip_await=False)
    deployment = deployment_manifest(IMAGE_SITE, skip_await=False)
    assert service["spec"]["type"] == "ClusterIP"
    # The labels the pods carry (Kubernetes recommended labels), written out, not read back
    # from the same helper that builds both selectors.
    pods = {"app.kubernetes.io/name": "www-example-com", "app.kubernetes.io/part-of": "multisite"}
    assert service["spec"]["selector"] == pods
    assert deployment["spec"]["selector"]["matchLabels"] == pods
    assert pods.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert service["spec"]["ports"] == [{"name": "http", "port": 8080, "targetPort": "http"}]


def test_gke_kubeconfig_uses_the_auth_plugin_and_holds_no_secret() -> None:
    config = json.loads(gke_kubeconfig(name="gke_c", endpoint="198.51.100.1", ca_certificate="Q0E="))
    assert config["clusters"][0]["cluster"] == {
        "server": "https://198.51.100.1",
        "certificate-authority-data": "Q0E=",
    }
    assert config["users"][0]["user"]["exec"]["command"] == "gke-gcloud-auth-plugin"
    assert config["current-context"] == "gke_c"
    assert "token" not in json.dumps(config)


def test_gke_kubeconfig_is_the_one_gcloud_writes() -> None:
    # As `gcloud container clusters get-credentials` writes it (GKE docs, "Install
    # kubectl and configure cluster access"): the exec credential plugin, API v1beta1.
    config = json.loads(gke_kubeconfig(name="gke_web", endpoint="198.51.100.1", ca_certificate="Q0E="))
    assert config == {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "gke_web",
                "cluster": {"server": "https://198.51.100.1", "certificate-authority-data": "Q0E="},
            }
        ],
        "users": [
            {
                "name": "gke_web",
                "user": {
                    "exec": {
                        "apiVersion": "client.authentication.k8s.io/v1beta1",
                        "command": "gke-gcloud-auth-plugin",
                        "installHint": "Install gke-gcloud-auth-plugin: gcloud components install"
                        " gke-gcloud-auth-plugin",
                        "provideClusterInfo": True,
                    }
                },
            }
        ],
        "contexts": [{"name": "gke_web", "context": {"cluster": "gke_web", "user": "gke_web"}}],
        "current-context": "gke_web",
    }
