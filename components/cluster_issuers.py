"""ClusterIssuers: the Let's Encrypt staging and production ACME issuers."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pulumi

from components.config import issuer_name
from components.metadata import custom_resource
from components.secrets import secret_if

if TYPE_CHECKING:
    from components.config import AcmeConfig

ACME_SERVERS = {
    "staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
    "prod": "https://acme-v02.api.letsencrypt.org/directory",
}


def cluster_issuer_manifest(
    choice: str,
    *,
    solver: dict[str, Any],
    email: pulumi.Input[str] | None,
    server: pulumi.Input[str] | None = None,
    ca_bundle: pulumi.Input[str] | None = None,
) -> dict[str, Any]:
    """The `cert-manager.io/v1` ClusterIssuer for `staging` or `prod`.

    ACME v2 with the edge's HTTP-01 `solver`, against Let's Encrypt's
    directory unless `server` names a private one; `ca_bundle` (base64 of PEM)
    is what cert-manager trusts for that server's HTTPS certificate.
    The e-mail is optional: Let's Encrypt no longer sends expiry mail.
    """
    name = issuer_name(choice)
    acme: dict[str, Any] = {
        "server": server or ACME_SERVERS[choice],
        # cert-manager creates the ACME account key in this Secret.
        "privateKeySecretRef": {"name": f"{name}-account-key"},
        "solvers": [solver],
    }
    if email:
        acme["email"] = email
    if server and ca_bundle:
        acme["caBundle"] = ca_bundle
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
    acme: AcmeConfig
    """The stack's `multisite:acme`: e-mail, private servers and their CA bundle."""
    secret: bool = False
    """`multisite:acme` was set with `--secret`: the e-mail and servers stay secret."""


class ClusterIssuers(pulumi.ComponentResource):
    """Both issuers, always: `letsencrypt-staging` and `letsencrypt-prod`."""

    names: dict[str, str]

    def __init__(
        self, name: str, args: ClusterIssuersArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("multisite:cluster_issuers:ClusterIssuers", name, None, opts)
        self.names = {}
        acme, secret = args.acme, args.secret
        bundle = acme.ca_bundle and base64.b64encode(acme.ca_bundle.encode()).decode()
        for choice in ACME_SERVERS:
            server = acme.server(choice)
            manifest = cluster_issuer_manifest(
                choice,
                solver=args.http01_solver,
                email=acme.email and secret_if(secret, acme.email),
                server=server and secret_if(secret, server),
                ca_bundle=bundle and secret_if(secret, bundle),
            )
            custom_resource(
                f"{name}-{choice}",
                manifest,
                pulumi.ResourceOptions(parent=self, depends_on=[args.cert_manager]),
            )
            self.names[choice] = manifest["metadata"]["name"]
        self.register_outputs({"names": self.names})
