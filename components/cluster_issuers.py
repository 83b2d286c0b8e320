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
    choice: str, *, solver: dict[str, Any], email: pulumi.Input[str] | None
) -> dict[str, Any]:
    """The `cert-manager.io/v1` ClusterIssuer for `staging` or `prod`.

    ACME v2 with the edge's HTTP-01 `solver`.
    The e-mail is optional: Let's Encrypt no longer sends expiry mail.
    """
    name = issuer_name(choice)
    acme: dict[str, Any] = {
        "server": ACME_SERVERS[choice],
        # cert-manager creates the ACME account key in this Secret.
        "privateKeySecretRef": {"name": f"{name}-account-key"},
        "solvers": [solver],
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
    http01_solver: dict[str, Any]
    """The edge's HTTP-01 solver (`Edge.http01_solver`)."""
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
            manifest = cluster_issuer_manifest(choice, solver=args.http01_solver, email=args.email)
            custom_resource(
                f"{name}-{choice}",
                manifest,
                pulumi.ResourceOptions(parent=self, depends_on=[args.cert_manager]),
            )
            self.names[choice] = manifest["metadata"]["name"]
        self.register_outputs({"names": self.names})
