"""ClusterIssuers: the Let's Encrypt staging and production ACME issuers."""

from __future__ import annotations

import base64
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

import pulumi
from pydantic import AfterValidator, EmailStr, Field

from components.cluster import Cluster
from components.fields import AcmeDirectoryUrl, KeysRule, Model, PemCaBundle
from components.metadata import TIMEOUT, WAIT_FOR, custom_resource

IssuerChoice = Literal["staging", "prod"]
ACME_SERVERS = {
    "staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
    "prod": "https://acme-v02.api.letsencrypt.org/directory",
}


# Let's Encrypt serves ACME on api.letsencrypt.org and its subdomains (acme-v02, acme-staging-v02).
LETS_ENCRYPT_API_HOST = "api.letsencrypt.org"


def not_lets_encrypt(value: str) -> str:
    """Check that an ACME directory URL is not one of Let's Encrypt's; return it unchanged.

    Whether a stack is production (protected) follows from its issuers' names. A
    `staging` issuer pointed at Let's Encrypt's production directory would issue
    trusted certificates on a stack the program treats as dev, so Let's Encrypt's
    own directories are refused in `servers`: the issuer names already choose them.
    """
    host = urllib.parse.urlsplit(value).hostname or ""
    if host == LETS_ENCRYPT_API_HOST or host.endswith("." + LETS_ENCRYPT_API_HOST):
        raise ValueError(
            "expected a private ACME directory: this is Let's Encrypt's, which the issuer"
            f" names already choose (staging: {ACME_SERVERS['staging']}, prod:"
            f" {ACME_SERVERS['prod']}); remove this key and set multisite:acme.issuer"
            " (or a site's issuer) instead"
        )
    return value


PrivateAcmeDirectory = Annotated[AcmeDirectoryUrl, AfterValidator(not_lets_encrypt)]


class AcmeServersConfig(Model):
    """Private ACME directories (step-ca, Pebble, an internal Boulder) in place of Let's Encrypt's."""

    staging: PrivateAcmeDirectory | None = None
    """Directory URL of the `staging` issuer."""
    prod: PrivateAcmeDirectory | None = None
    """Directory URL of the `prod` issuer."""


class AcmeConfig(Model):
    """Let's Encrypt: which issuer the sites use, and how `pulumi up` waits.

    `servers` points an issuer at a private ACME directory instead, and
    `caBundle` holds the CAs that sign those directories' HTTPS certificates.
    """

    FREE_TEXT: ClassVar[frozenset[str]] = frozenset({"ca_bundle"})

    issuer: IssuerChoice
    """The ClusterIssuer of every site that names none: `staging` (`letsencrypt-staging`) or
    `prod` (`letsencrypt-prod`)."""
    email: EmailStr | None = None
    """Contact address of the ACME account; optional (Let's Encrypt no longer sends expiry mail)."""
    wait_for_certificates: bool = False
    """`pulumi up` waits until each Certificate is Ready, and fails loudly when issuance fails."""
    certificate_timeout: int = Field(default=300, ge=30, le=3600)
    """Seconds `pulumi up` waits for each Certificate before failing; only with
    `waitForCertificates: true`."""
    servers: AcmeServersConfig = Field(default_factory=AcmeServersConfig)
    """Private ACME directories (`https://` URLs of step-ca, Pebble, an internal Boulder) in
    place of Let's Encrypt's, per issuer; the issuer names stay the same. Let's Encrypt's own
    directories are refused here: the issuer names choose them."""
    ca_bundle: PemCaBundle | None = None
    """PEM certificates that cert-manager trusts for those directories' HTTPS; only with `servers`."""

    @classmethod
    def shape_problems(cls, given: Mapping[str, Any]) -> list[KeysRule]:
        problems = []
        if "caBundle" in given and "servers" not in given:
            problems.append(
                KeysRule(
                    ("caBundle", "servers"),
                    "expected 'caBundle' only together with 'servers': Let's Encrypt's own"
                    " directories are served with publicly trusted certificates",
                )
            )
        if "certificateTimeout" in given and given.get("waitForCertificates") is not True:
            problems.append(
                KeysRule(
                    ("certificateTimeout", "waitForCertificates"),
                    "expected 'certificateTimeout' only together with 'waitForCertificates: true'"
                    " (it bounds that wait)",
                )
            )
        return problems

    def server(self, choice: str) -> str | None:
        """The private directory of issuer `choice`, or None for Let's Encrypt's."""
        return self.servers.staging if choice == "staging" else self.servers.prod


def issuer_name(choice: str) -> str:
    """`staging` -> `letsencrypt-staging`, `prod` -> `letsencrypt-prod`."""
    return f"letsencrypt-{choice}"


def wait_annotations(acme: AcmeConfig) -> dict[str, pulumi.Input[str]]:
    """What makes `pulumi up` wait for a Certificate to be Ready, when the stack asks to.

    `pulumi.com/waitFor: condition=Ready` fails the `up` loudly when issuance
    fails instead of reporting success, after at most `certificateTimeout`
    seconds (`pulumi.com/timeoutSeconds`). Secret when the ACME section is.
    """
    if not acme.wait_for_certificates:
        return {}
    return {WAIT_FOR: acme.input("condition=Ready"), TIMEOUT: acme.input(str(acme.certificate_timeout))}


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
    """The stack's `multisite:acme`, whole: e-mail, private servers and their CA bundle,
    the stack's issuer and how `pulumi up` waits for certificates."""
    cluster: Cluster
    """Where they go."""


class ClusterIssuers(pulumi.ComponentResource):
    """Both issuers, always: `letsencrypt-staging` and `letsencrypt-prod`.

    Sites take their issuer and the wait for their certificate from here.
    """

    names: dict[str, str]
    acme: AcmeConfig

    def __init__(
        self, name: str, args: ClusterIssuersArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("multisite:cluster_issuers:ClusterIssuers", name, None, args.cluster.options(opts))
        self.names = {}
        self.acme = acme = args.acme
        bundle = acme.ca_bundle and base64.b64encode(acme.ca_bundle.encode()).decode()
        for choice in ACME_SERVERS:
            server = acme.server(choice)
            manifest = cluster_issuer_manifest(
                choice,
                solver=args.http01_solver,
                email=acme.email and acme.input(acme.email),
                server=server and acme.input(server),
                ca_bundle=bundle and acme.input(bundle),
            )
            custom_resource(
                f"{name}-{choice}",
                manifest,
                pulumi.ResourceOptions(parent=self, depends_on=[args.cert_manager]),
            )
            self.names[choice] = manifest["metadata"]["name"]
        self.register_outputs({"names": self.names})

    def issuer_for(self, choice: str | None) -> pulumi.Input[str]:
        """The ClusterIssuer name of a site that chose `choice` (None: the stack's issuer)."""
        return self.acme.input(issuer_name(choice or self.acme.issuer))
