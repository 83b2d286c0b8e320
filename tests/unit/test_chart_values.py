"""Issue 23, principle 1: a user's chart `values` never undo what the program relies on.

Helm merges mappings and replaces everything else (lists, strings, null), so a key
in `values` can rename the Service the outputs name, unbind the static IP, move the
entry points ACME HTTP-01 needs, drop the `nginx` IngressClass or unpin an image.
Each such key is refused with the invariant it would break and what to do instead;
the lists and strings the program fills (Traefik's `extraObjects`, cert-manager's
`featureGates`) are merged so that the program's entries stay.
"""

from __future__ import annotations

from typing import Any

import pytest

from components.cert_manager import cert_manager_values
from components.edge.traefik import traefik_values
from components.helm_chart import merge_values
from components.settings import ConfigError, load_settings

ACME = {"acme": {"issuer": "staging"}}
TRAEFIK_NAMES = (
    "the stack's `ingressService` output names the Service traefik/traefik; keep the chart's names"
)
LOAD_BALANCER = (
    "one LoadBalancer Service on the stack's static IP; choose the address with multisite:staticIp"
)
ENTRY_POINTS = (
    "ACME HTTP-01 challenges reach the solver on port 80 unredirected, and sites answer HTTPS on"
    " 443 (each site's Ingress redirects HTTP to HTTPS itself); leave the entry points as the chart"
    " has them"
)
NGINX_CLASS = (
    "Traefik serves the Ingresses of class 'nginx' (the sites' and the ACME solver's) and no"
    " Ingress without a class; keep the provider as the program sets it"
)
RELIES = "expected this left to the program, which relies on it: "


def problems(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings({**ACME, **raw}, stack="dev", gcp_region="europe-west1")
    return caught.value.problems


def traefik(values: dict[str, Any]) -> dict[str, Any]:
    return {"edge": "traefik", "traefik": {"values": values}}


# (what a user might write in multisite:traefik.values, the key reported, its value shown, the invariant)
REFUSED_TRAEFIK_VALUES: list[tuple[dict[str, Any], str, str, str]] = [
    # The output `ingressService` would name an object that no longer exists under that name.
    ({"fullnameOverride": "edge"}, "fullnameOverride", "'edge'", TRAEFIK_NAMES),
    ({"service": {"nameOverride": "edge"}}, "service.nameOverride", "'edge'", TRAEFIK_NAMES),
    ({"namespaceOverride": "kube-system"}, "namespaceOverride", "'kube-system'", TRAEFIK_NAMES),
    # The IP binding.
    (
        {"service": {"spec": {"loadBalancerIP": "34.1.2.3"}}},
        "service.spec.loadBalancerIP",
        "'34.1.2.3'",
        LOAD_BALANCER,
    ),
    ({"service": {"spec": {"type": "NodePort"}}}, "service.spec.type", "'NodePort'", LOAD_BALANCER),
    ({"service": {"enabled": False}}, "service.enabled", "False", LOAD_BALANCER),
    # A null or a scalar where the program's mapping is replaces the whole mapping.
    ({"service": None}, "service", "None", LOAD_BALANCER),
    ({"service": {"spec": {}}}, "", "", ""),  # an empty mapping merges: nothing replaced
    # The solver's reachability: HTTP-01 is fetched from port 80, and not redirected away.
    ({"ports": {"web": {"exposedPort": 8080}}}, "ports.web.exposedPort", "8080", ENTRY_POINTS),
    ({"ports": {"web": {"expose": {"default": False}}}}, "ports.web.expose.default", "False", ENTRY_POINTS),
    (
        {"ports": {"web": {"http": {"redirections": {"entryPoint": {"to": "websecure"}}}}}},
        "ports.web.http.redirections",
        "{'entryPoint': {'to': 'websecure'}}",
        ENTRY_POINTS,
    ),
    ({"ports": {"websecure": None}}, "ports.websecure", "None", ENTRY_POINTS),
    # The ingress class: the edge would serve no site and no ACME challenge.
    (
        {"providers": {"kubernetesIngressNGINX": {"ingressClass": "traefik"}}},
        "providers.kubernetesIngressNGINX.ingressClass",
        "'traefik'",
        NGINX_CLASS,
    ),
    (
        {"providers": {"kubernetesIngressNGINX": {"enabled": False}}},
        "providers.kubernetesIngressNGINX.enabled",
        "False",
        NGINX_CLASS,
    ),
    ({"ingressClass": {"enabled": True}}, "ingressClass.enabled", "True", NGINX_CLASS),
    # The pins.
    (
        {"image": {"tag": "v3.6.0"}},
        "image.tag",
        "'v3.6.0'",
        "the proxy is pinned to v3.7.11, the chart's appVersion; a different Traefik is a change to"
        " TRAEFIK_VERSION in components/edge/traefik.py, reviewed like one (image.registry and"
        " image.repository may point at a mirror)",
    ),
    (
        {"deployment": {"replicas": 5}},
        "deployment.replicas",
        "5",
        "the replicas and the PodDisruptionBudget follow one setting; set multisite:traefik.replicas",
    ),
]


@pytest.mark.parametrize(("values", "key", "shown", "invariant"), [c for c in REFUSED_TRAEFIK_VALUES if c[1]])
def test_a_traefik_value_that_would_undo_an_invariant_is_refused_whole(
    values: dict[str, Any], key: str, shown: str, invariant: str
) -> None:
    assert problems(traefik(values)) == [f"multisite:traefik.values.{key} = {shown}: {RELIES}{invariant}"]


def test_values_beside_the_invariants_merge_and_keep_them() -> None:
    values = {
        "service": {"spec": {}, "annotations": {"cloud.google.com/l4-rbs": "enabled"}},
        "ports": {"web": {"transport": {"respondingTimeouts": {"readTimeout": "30s"}}}},
        "image": {"registry": "mirror.example.com"},
        "providers": {"kubernetesIngressNGINX": {"allowExternalNameServices": True}},
    }
    settings = load_settings({**ACME, **traefik(values)}, stack="dev", gcp_region="europe-west1")
    merged = traefik_values(replicas=2, load_balancer_ip="34.1.2.3", overrides=settings.edge_config.values)
    assert merged["service"]["spec"]["loadBalancerIP"] == "34.1.2.3"
    assert merged["service"]["annotations"] == {"cloud.google.com/l4-rbs": "enabled"}
    assert merged["image"] == {"tag": "v3.7.11", "registry": "mirror.example.com"}
    assert merged["providers"]["kubernetesIngressNGINX"]["ingressClass"] == "nginx"
    assert merged["providers"]["kubernetesIngressNGINX"]["allowExternalNameServices"] is True


def test_several_keys_are_each_reported_once() -> None:
    found = problems(traefik({"service": None, "fullnameOverride": "edge"}))
    # `service: null` replaces everything under `service`: one problem for the key given.
    assert found == [
        f"multisite:traefik.values.service = None: {RELIES}{LOAD_BALANCER}",
        f"multisite:traefik.values.fullnameOverride = 'edge': {RELIES}{TRAEFIK_NAMES}",
    ]


def test_only_the_lists_named_to_extend_are_extended_and_the_override_is_copied() -> None:
    assert merge_values({"args": [1]}, {"args": [2]}) == {"args": [2]}  # Helm's rule: lists replace
    assert merge_values(
        {"extraObjects": [1]}, {"extraObjects": None}, extend=frozenset({"extraObjects"})
    ) == {"extraObjects": None}
    override = {"extraObjects": [{"kind": "ConfigMap"}]}
    merged = merge_values({"extraObjects": []}, override, extend=frozenset({"extraObjects"}))
    merged["extraObjects"][0]["kind"] = "Secret"
    assert override == {"extraObjects": [{"kind": "ConfigMap"}]}


def test_extra_objects_that_are_not_a_list_are_refused() -> None:
    # A null or a mapping would replace the list, and with it the `nginx` IngressClass.
    assert problems(traefik({"extraObjects": None})) == [
        "multisite:traefik.values.extraObjects = None: expected a list of objects, which the program adds"
        " after its own (the `nginx` IngressClass the sites' Ingresses name)"
    ]


def test_cert_manager_values_of_the_wrong_type_are_one_problem() -> None:
    assert problems({"certManager": {"values": "crds: {enabled: false}"}}) == [
        "multisite:certManager.values = 'crds: {enabled: false}': expected a valid dictionary"
    ]


def test_a_users_extra_objects_come_after_the_nginx_ingress_class() -> None:
    # Helm would replace the list: the edge would lose its IngressClass and serve no site.
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "extra"}}
    merged = traefik_values(replicas=1, load_balancer_ip=None, overrides={"extraObjects": [config_map]})
    assert [o["kind"] for o in merged["extraObjects"]] == ["IngressClass", "ConfigMap"]
    assert merged["extraObjects"][0]["metadata"]["name"] == "nginx"
    assert merged["extraObjects"][1] == config_map


def test_ingress_nginx_values_that_would_unbind_the_ip_or_the_class_are_refused() -> None:
    raw = {
        "edge": "ingress-nginx",
        "ingressNginx": {
            "values": {
                "controller": {
                    "service": {"loadBalancerIP": "34.1.2.3", "ports": {"http": 8080}},
                    "ingressClassResource": {"name": "public"},
                    "image": {"digest": ""},
                    "annotations": {"team": "edge"},  # beside the invariants: fine
                }
            }
        },
    }
    lb = (
        "one LoadBalancer Service on the stack's static IP, answering ACME HTTP-01 challenges on port"
        " 80 and the sites on 443; choose the address with multisite:staticIp"
    )
    assert problems(raw) == [
        f"multisite:ingressNginx.values.controller.service.loadBalancerIP = '34.1.2.3': {RELIES}{lb}",
        f"multisite:ingressNginx.values.controller.service.ports.http = 8080: {RELIES}{lb}",
        "multisite:ingressNginx.values.controller.ingressClassResource = {'name': 'public'}:"
        f" {RELIES}the controller serves the IngressClass 'nginx' (the sites' and the ACME solver's);"
        " keep the class as the program sets it",
        f"multisite:ingressNginx.values.controller.image.digest = '': {RELIES}the controller is pinned by"
        " the chart (4.15.1), digest included; pin another chart with multisite:ingressNginx.version"
        " (image.registry may point at a mirror)",
    ]


def test_cert_manager_values_that_would_drop_the_crds_or_the_startup_check_are_refused() -> None:
    raw = {
        "certManager": {
            "values": {
                "crds": {"keep": False},
                "startupapicheck": {"enabled": False},
                "webhook": {"image": {"tag": "v1.20.0"}},
            }
        }
    }
    assert problems(raw) == [
        f"multisite:certManager.values.crds.keep = False: {RELIES}the release installs cert-manager's"
        " CRDs and keeps them when it is deleted (deleting them deletes every Certificate in the"
        " cluster); leave CRD handling to the program",
        f"multisite:certManager.values.startupapicheck.enabled = False: {RELIES}the release is ready"
        " only once the webhook answers, so no issuer races it; keep the startup API check",
        f"multisite:certManager.values.webhook.image.tag = 'v1.20.0': {RELIES}every cert-manager image"
        " is the chart's own (v1.21.2); pin another chart with multisite:certManager.version"
        " (imageRegistry may point at a mirror)",
    ]


def test_a_users_feature_gates_join_the_programs_and_may_not_turn_its_own_back() -> None:
    merged = cert_manager_values({"featureGates": "ServerSideApply=true"})
    assert merged["featureGates"] == "ACMEHTTP01IngressPathTypeExact=false,ServerSideApply=true"
    assert cert_manager_values({})["featureGates"] == "ACMEHTTP01IngressPathTypeExact=false"
    found = problems({"certManager": {"values": {"featureGates": "ACMEHTTP01IngressPathTypeExact=true"}}})
    assert found == [
        "multisite:certManager.values.featureGates = 'ACMEHTTP01IngressPathTypeExact=true': expected"
        " other gates than ACMEHTTP01IngressPathTypeExact, which the program sets to false (the ACME"
        " solver's Ingress must pass ingress-nginx's strict path check); the gates given are added to it"
    ]
