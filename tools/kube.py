"""Read the sandbox cluster back with the official Kubernetes client (not from Pulumi's state)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from kubernetes import client, config

#: cert-manager labels the Pods, Services and Ingresses of its HTTP-01 solver
#: with this; they come and go with each challenge and are not the stack's.
ACME_SOLVER_LABEL = "acme.cert-manager.io/http01-solver"
NOT_SOLVER = f"!{ACME_SOLVER_LABEL}"


class Cluster:
    """A thin reader over one kubeconfig."""

    def __init__(self, kubeconfig: Path) -> None:
        self.api = config.new_client_from_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
        # Typed as Any: the client's models make every field Optional, which
        # would bury these short readers in None checks.
        self.core: Any = client.CoreV1Api(self.api)
        self.apps: Any = client.AppsV1Api(self.api)
        self.networking: Any = client.NetworkingV1Api(self.api)
        self.custom: Any = client.CustomObjectsApi(self.api)
        self.extensions: Any = client.ApiextensionsV1Api(self.api)
        self.discovery: Any = client.DiscoveryV1Api(self.api)

    def cluster_issuers(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.custom.list_cluster_custom_object(
            "cert-manager.io", "v1", "clusterissuers"
        )["items"]
        return sorted(items, key=lambda o: o["metadata"]["name"])

    def certificates(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.custom.list_cluster_custom_object(
            "cert-manager.io", "v1", "certificates"
        )["items"]
        return sorted(items, key=lambda o: (o["metadata"]["namespace"], o["metadata"]["name"]))

    def ingresses(self) -> list[Any]:
        """Every Ingress but cert-manager's HTTP-01 solver's."""
        items = self.networking.list_ingress_for_all_namespaces(label_selector=NOT_SOLVER).items
        return sorted(items, key=lambda o: (o.metadata.namespace, o.metadata.name))

    def ready_endpoints(self, namespace: str, service: str, port: str) -> list[tuple[str, int]]:
        """(address, port) of each ready endpoint behind `service`'s port named `port`."""
        slices = self.discovery.list_namespaced_endpoint_slice(
            namespace, label_selector=f"kubernetes.io/service-name={service}"
        ).items
        return sorted(
            (address, p.port)
            for item in slices
            for p in item.ports or []
            if p.name == port
            for endpoint in item.endpoints or []
            if endpoint.conditions is None or endpoint.conditions.ready is not False
            for address in endpoint.addresses
        )

    def namespaces(self) -> set[str]:
        return {str(ns.metadata.name) for ns in self.core.list_namespace().items if ns.metadata}

    def namespaces_gone(self, names: set[str], *, seconds: float = 120) -> bool:
        """Whether none of `names` exists within `seconds`. A deleted namespace
        terminates in the background (kube-controller-manager empties it), and
        with skipAwait Pulumi's delete does not wait for that."""
        deadline = time.monotonic() + seconds
        while names & self.namespaces():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.5)
        return True

    def helm_releases(self) -> list[str]:
        """Releases Helm recorded, as `namespace/name` (Helm 3 keeps them in Secrets)."""
        secrets: list[Any] = self.core.list_secret_for_all_namespaces(label_selector="owner=helm").items
        return sorted({f"{s.metadata.namespace}/{s.metadata.labels['name']}" for s in secrets})

    def inventory(self) -> dict[str, str]:
        """Every object the stack makes, as `kind namespace/name` -> uid (nothing of the API server's own)."""
        objects: dict[str, str] = {}

        def add(kind: str, meta: Any) -> None:
            meta = meta if isinstance(meta, dict) else meta.to_dict()
            objects[f"{kind} {meta.get('namespace') or ''}/{meta['name']}"] = meta["uid"]

        for issuer in self.cluster_issuers():
            add("ClusterIssuer", issuer["metadata"])
        for certificate in self.certificates():
            add("Certificate", certificate["metadata"])
        for ingress in self.ingresses():
            add("Ingress", ingress.metadata)
        for deployment in self.apps.list_deployment_for_all_namespaces().items:
            add("Deployment", deployment.metadata)
        for service in self.core.list_service_for_all_namespaces(label_selector=NOT_SOLVER).items:
            if service.metadata.name != "kubernetes":
                add("Service", service.metadata)
        for namespace in self.core.list_namespace().items:
            if not namespace.metadata.name.startswith("kube-") and namespace.metadata.name != "default":
                add("Namespace", namespace.metadata)
        for secret in self.core.list_secret_for_all_namespaces(label_selector="owner=helm").items:
            add("HelmReleaseSecret", secret.metadata)
        for ingress_class in self.networking.list_ingress_class().items:
            add("IngressClass", ingress_class.metadata)
        return objects

    def report(self) -> str:
        """What the stack put in the cluster, as a person would want to read it."""
        lines = ["ClusterIssuers:"]
        for issuer in self.cluster_issuers():
            lines.append(f"  {issuer['metadata']['name']:<22} {issuer['spec']['acme']['server']}")
        lines.append("Certificates:")
        for cert in self.certificates():
            meta, spec = cert["metadata"], cert["spec"]
            lines.append(
                f"  {meta['namespace']}/{meta['name']:<28} issuer={spec['issuerRef']['name']:<20}"
                f" secret={spec['secretName']:<26} names={','.join(spec['dnsNames'])}"
            )
        lines.append("Ingresses:")
        for ing in self.ingresses():
            hosts = [rule.host for rule in ing.spec.rules or []]
            tls = [f"{t.secret_name}:{','.join(t.hosts)}" for t in ing.spec.tls or []]
            lines.append(
                f"  {ing.metadata.namespace}/{ing.metadata.name:<28} class={ing.spec.ingress_class_name}"
                f" hosts={','.join(hosts)} tls={';'.join(tls)}"
            )
        lines.append("Helm releases: " + ", ".join(self.helm_releases()))
        return "\n".join(lines)
