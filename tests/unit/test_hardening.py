"""Hardening values pinned one by one: a regression here is silent in every other test.

Expected values come from docs/design.md ("What the stack builds") and upstream
documentation, written out here, never read from the code under test:
ingress-nginx chart 4.15.1 values and ConfigMap docs, cert-manager's
Certificate API (`spec.privateKey`), the Kubernetes Pod Security Standards
("restricted") and recommended labels.
"""

from __future__ import annotations

from typing import Any

from components.cert_manager import cert_manager_values
from components.edge.ingress_nginx import ingress_nginx_values
from components.site import (
    SiteConfig,
    certificate_manifest,
    deployment_manifest,
    ingress_manifest,
    service_manifest,
)
from tests.support import ProgramRun, run_program, stack_config

SITE = SiteConfig(host="www.example.com", aliases=["example.com"], image="nginx:1.29", port=8080, replicas=2)


def labels(component: str) -> dict[str, str]:
    # Kubernetes "Recommended Labels": name, component, part-of, managed-by.
    return {
        "app.kubernetes.io/name": "www-example-com",
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": "multisite",
        "app.kubernetes.io/managed-by": "pulumi",
    }


def test_ingress_nginx_controller_values_are_exactly_the_hardened_set() -> None:
    assert ingress_nginx_values(replicas=2, load_balancer_ip="34.120.10.20") == {
        "controller": {
            "replicaCount": 2,
            "minAvailable": 1,  # PodDisruptionBudget minAvailable: 1 (docs/design.md)
            "ingressClass": "nginx",
            "ingressClassResource": {
                "name": "nginx",
                "enabled": True,
                "default": False,  # not the cluster's default IngressClass (docs/design.md)
                "controllerValue": "k8s.io/ingress-nginx",  # the chart's controller name
            },
            "watchIngressWithoutClass": False,
            "allowSnippetAnnotations": False,
            "config": {
                "allow-snippet-annotations": "false",
                "annotations-risk-level": "Medium",
                "ssl-redirect": "true",
                "hsts": "true",
                "hsts-max-age": "31536000",  # one year, in seconds
                # multisite:ingressNginx.hsts's defaults: the names only, no preload list
                # (ingress-nginx's own default would add includeSubDomains).
                "hsts-include-subdomains": "false",
                "hsts-preload": "false",
                "server-tokens": "false",
                "strict-validate-path-type": "true",
            },
            "service": {
                "type": "LoadBalancer",
                "externalTrafficPolicy": "Local",
                "loadBalancerIP": "34.120.10.20",
            },
            "admissionWebhooks": {"enabled": True},
            # The chart's own requests, kept explicit so an override cannot drop them unnoticed.
            "resources": {"requests": {"cpu": "100m", "memory": "90Mi"}},
        }
    }


def test_a_deep_override_replaces_one_leaf_and_keeps_the_rest() -> None:
    values = ingress_nginx_values(
        replicas=3,
        load_balancer_ip=None,
        overrides={"controller": {"service": {"annotations": {"a": "b"}}, "replicaCount": 5}},
    )
    assert values["controller"]["replicaCount"] == 5
    assert values["controller"]["service"] == {
        "type": "LoadBalancer",
        "externalTrafficPolicy": "Local",
        "annotations": {"a": "b"},
    }
    assert values["controller"]["config"]["server-tokens"] == "false"


def test_cert_manager_overrides_merge_last() -> None:
    values = cert_manager_values({"crds": {"keep": False}, "replicaCount": 2})
    assert values == {
        "crds": {"enabled": True, "keep": False},
        "featureGates": "ACMEHTTP01IngressPathTypeExact=false",
        "startupapicheck": {"enabled": True},
        "enableCertificateOwnerRef": True,
        "replicaCount": 2,
    }


def test_certificate_key_is_ecdsa_p256_rotated_on_every_renewal() -> None:
    cert = certificate_manifest(SITE, issuer="letsencrypt-staging")
    assert cert["spec"]["privateKey"] == {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"}
    assert cert["metadata"]["labels"] == labels("certificate")


def test_site_objects_carry_the_recommended_labels() -> None:
    ingress = ingress_manifest(SITE, ingress_class="nginx", annotations={}, skip_await=False)
    assert ingress["metadata"]["labels"] == labels("ingress")
    assert deployment_manifest(SITE, skip_await=False)["metadata"]["labels"] == labels("web")
    assert service_manifest(SITE, skip_await=False)["metadata"]["labels"] == labels("web")


def test_the_deployment_meets_the_restricted_pod_security_standard() -> None:
    deployment = deployment_manifest(SITE, skip_await=False)
    assert deployment["apiVersion"] == "apps/v1" and deployment["kind"] == "Deployment"
    assert deployment["metadata"] == {
        "name": "www-example-com",
        "namespace": "default",
        "labels": labels("web"),
    }
    spec: dict[str, Any] = deployment["spec"]
    selector = {"app.kubernetes.io/name": "www-example-com", "app.kubernetes.io/part-of": "multisite"}
    assert spec["replicas"] == 2
    assert spec["selector"] == {"matchLabels": selector}
    assert spec["template"]["metadata"] == {"labels": labels("web")}
    assert spec["template"]["spec"] == {
        "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [
            {
                "name": "web",
                "image": "nginx:1.29",
                "ports": [{"name": "http", "containerPort": 8080}],
                "readinessProbe": {
                    "tcpSocket": {"port": "http"},
                    "periodSeconds": 10,
                    "initialDelaySeconds": 2,
                },
                "livenessProbe": {
                    "tcpSocket": {"port": "http"},
                    "periodSeconds": 10,
                    "initialDelaySeconds": 10,
                },
                "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}},
                "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
            }
        ],
    }


def test_an_image_site_without_replicas_runs_one_pod() -> None:
    one = SiteConfig(host="www.example.com", image="nginx:1.29")
    # docs/configuration.md: replicas?: 1
    assert deployment_manifest(one, skip_await=False)["spec"]["replicas"] == 1


def test_the_service_selects_the_pods_by_name_and_part_of() -> None:
    service = service_manifest(SITE, skip_await=True)
    assert service == {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "www-example-com",
            "namespace": "default",
            "labels": labels("web"),
            "annotations": {"pulumi.com/skipAwait": "true"},
        },
        "spec": {
            "type": "ClusterIP",
            "selector": {
                "app.kubernetes.io/name": "www-example-com",
                "app.kubernetes.io/part-of": "multisite",
            },
            "ports": [{"name": "http", "port": 8080, "targetPort": "http"}],
        },
    }


def release(run: ProgramRun, name: str) -> dict[str, Any]:
    return run.named(name).inputs


def test_both_releases_time_out_after_ten_minutes_and_wait_unless_told_not_to() -> None:
    dev = run_program(stack_config("dev"))
    edge, cert_manager = release(dev, "edge-release"), release(dev, "cert-manager-release")
    # docs/design.md: the Release times out after 10 minutes (Helm's timeout is in seconds).
    assert edge["timeout"] == 600 and cert_manager["timeout"] == 600
    assert edge["skipAwait"] is False and cert_manager["skipAwait"] is False
    assert cert_manager["waitForJobs"] is True  # the startupapicheck hook Job
    assert edge["name"] == "traefik" and cert_manager["name"] == "cert-manager"  # dev: edge traefik
    assert cert_manager["namespace"] == "cert-manager"
    assert dev.named("cert-manager-namespace").inputs["metadata"] == {"name": "cert-manager"}
    assert dev.named("edge-namespace").inputs["metadata"] == {"name": "traefik"}


def test_skip_await_reaches_every_object_that_would_wait() -> None:
    config = {
        **stack_config("dev"),
        "multisite:cluster": {"kubeconfig": "apiVersion: v1\nkind: Config\n", "skipAwait": True},
    }
    run = run_program(config)
    for name in ("edge-release", "cert-manager-release"):
        assert release(run, name)["skipAwait"] is True
    assert release(run, "cert-manager-release")["waitForJobs"] is False
    for name in ("edge-namespace", "cert-manager-namespace"):
        assert run.named(name).inputs["metadata"]["annotations"] == {"pulumi.com/skipAwait": "true"}
    for name in (
        "www.dev.example.com-deployment",
        "www.dev.example.com-service",
        "www.dev.example.com-ingress",
        "blog.dev.example.com-ingress",
    ):
        assert run.named(name).inputs["metadata"]["annotations"]["pulumi.com/skipAwait"] == "true", name
