"""ClusterIssuers: the Let's Encrypt staging and production ACME issuers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from components.config import issuer_name
from components.metadata import custom_resource

ACME_SERVERS = {
    "staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
    "prod": "https://acme-v02.api.letsencrypt.org/directory",
}


def cluster_issuer_manifest(
    choice: str, *, ingress_class: str, email: pulumi.Input[str] | None
) -> dict[str, Any]:
    """The `cert-manager.io/v1` ClusterIssuer for `staging` or `prod`.

    ACME v2 with an HTTP-01 solver that answers through `ingress_class`.
    The e-mail is optional: Let's Encrypt no longer sends expiry mail.
    """
    name = issuer_name(choice)
    acme: dict[str, Any] = {
        "server": ACME_SERVERS[choice],
        # cert-manager creates the ACME account key in this Secret.
        "privateKeySecretRef": {"name": f"{name}-account-key"},
        "solvers": [{"http01": {"ingress": {"ingressClassName": ingress_class}}}],
    }
    if email:
        acme["email"] = email
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "ClusterIssuer",
        "metadata": {"name": name},
        "spec": {"acme": acme},
    }


@dataclass(frozen=True)
class ClusterIssuersArgs:
    """What the issuers need."""

    cert_manager: pulumi.Resource
    """The cert-manager release: its CRDs and webhook must exist first."""
    ingress_class: str
    email: pulumi.Input[str] | None = None


class ClusterIssuers(pulumi.ComponentResource):
    """Both issuers, always: `letsencrypt-staging` and `letsencrypt-prod`."""

    names: dict[str, str]

    def __init__(
        self, name: str, args: ClusterIssuersArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("multisite:cluster_issuers:ClusterIssuers", name, None, opts)
        self.names = {}
        for choice in ACME_SERVERS:
            manifest = cluster_issuer_manifest(choice, ingress_class=args.ingress_class, email=args.email)
            custom_resource(
                f"{name}-{choice}",
                manifest,
                pulumi.ResourceOptions(parent=self, depends_on=[args.cert_manager]),
            )
            self.names[choice] = manifest["metadata"]["name"]
        self.register_outputs({"names": self.names})
