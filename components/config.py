"""Stack configuration: the validated model of every `multisite:` key.

`load_settings` turns the raw values of a stack's config into `StackSettings`
or raises `ConfigError`, which lists every problem at once, each naming the key
path (`multisite:sites[2].host`), the value given and what was expected. The
program calls it before registering any resource, so bad input never touches
the cloud or the cluster.
"""

from __future__ import annotations

import difflib
import hashlib
import ipaddress
import os
import re
import shlex
import ssl
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, cast

import pulumi
from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from components import cert_manager as cert_manager_chart
from components.edge import CONTROLLERS

NAMESPACE = "multisite"

IssuerChoice = Literal["staging", "prod"]
EdgeChoice = Literal["ingress-nginx", "traefik"]
DEFAULT_EDGE: EdgeChoice = "ingress-nginx"
# The config section of each edge.
EDGE_SECTIONS: dict[str, str] = {"ingress-nginx": "ingressNginx", "traefik": "traefik"}
NetworkTier = Literal["PREMIUM", "STANDARD"]

# Kubernetes names (apimachinery validation): most objects and namespaces take a
# DNS-1123 label; a Service name must be a DNS-1035 label (a letter first).
_DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_DNS_1035_LABEL = re.compile(r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")
# GCP: resource names (RFC 1035, at most 63), GKE cluster names (at most 40),
# project IDs (6-30, optionally behind a legacy `domain:` prefix), regions, zones.
_GCP_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
_GKE_CLUSTER_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$")
_GCP_PROJECT = re.compile(r"^([a-z0-9][a-z0-9.-]*[a-z0-9]:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_GCP_REGION = re.compile(r"^[a-z]+-[a-z]+[0-9]+$")
_GCP_ZONE = re.compile(r"^[a-z]+-[a-z]+[0-9]+-[a-z]$")
# A container image reference, after the OCI distribution reference grammar:
# [registry[:port]/]path[:tag][@algorithm:hex].
_IMAGE_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_IMAGE_DOMAIN = (
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::[0-9]+)?"
)
_IMAGE = re.compile(
    rf"^(?:{_IMAGE_DOMAIN}/)?{_IMAGE_PATH_COMPONENT}(?:/{_IMAGE_PATH_COMPONENT})*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$"
)
# An exact chart version (a pin, not a range): 1.2.3 or v1.2.3, with optional pre-release/build.
_CHART_VERSION = re.compile(r"^v?(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)([-+][0-9A-Za-z.+-]+)?$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
HOST_EXPECTED = (
    "a lower-case DNS name such as 'www.example.com': at least two labels of"
    " a-z, 0-9 and '-', each 1-63 characters, 253 in all, no wildcard"
)
# Let's Encrypt signs at most 100 names per certificate.
MAX_NAMES_PER_CERTIFICATE = 100


class ConfigError(pulumi.RunError):
    """Invalid stack configuration. The Pulumi CLI shows it without a traceback."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        header = (
            f"invalid stack configuration ({count} problem{'s' if count != 1 else ''});"
            " nothing was created or changed:"
        )
        super().__init__("\n".join([header, *(f"  - {p}" for p in self.problems)]))


def validate_host(value: str) -> str:
    """Check one host name for an HTTP-01 certificate; return it unchanged."""
    if not isinstance(value, str):
        raise ValueError(f"expected {HOST_EXPECTED}")
    if "*" in value:
        raise ValueError(
            "expected a host without wildcard: HTTP-01 validation cannot issue wildcard certificates"
        )
    if value != value.lower():
        raise ValueError(f"expected lower case ({value.lower()!r}); {HOST_EXPECTED}")
    if len(value) > 253:
        raise ValueError(f"expected at most 253 characters, got {len(value)}")
    labels = value.split(".")
    if len(labels) < 2 or not all(_DNS_LABEL.match(label) for label in labels):
        raise ValueError(f"expected {HOST_EXPECTED}")
    if labels[-1].isdigit():
        raise ValueError("expected a DNS name, not an IP address")
    return value


def _is_host(value: Any) -> bool:
    try:
        validate_host(value)
    except ValueError:
        return False
    return True


def kubernetes_name(host: str) -> str:
    """A stable DNS-1123 label for a host's objects: `www.example.com` -> `www-example-com`.

    Names longer than 63 characters are cut and end in a hash of the host, so
    two long hosts never share a name.
    """
    name = host.replace(".", "-")
    if len(name) <= 63:
        return name
    digest = hashlib.sha256(host.encode()).hexdigest()[:8]
    return f"{name[:54].rstrip('-')}-{digest}"


def service_name(host: str) -> str:
    """The name of the Service deployed for an `image` site: a DNS-1035 label.

    Kubernetes wants a letter first in a Service name, so a host that starts
    with a digit (`1.example.com`) gets a `web-` prefix.
    """
    name = kubernetes_name(host)
    return name if name[0].isalpha() else kubernetes_name(f"web-{host}")


# Where an address cannot be reached from the internet, and why (IANA special-purpose registry).
_NOT_PUBLIC: tuple[tuple[ipaddress.IPv4Network, str], ...] = tuple(
    (ipaddress.IPv4Network(net), why)
    for net, why in [
        ("0.0.0.0/8", "'this network' (0.0.0.0/8), never a destination"),
        ("127.0.0.0/8", "a loopback address (127.0.0.0/8)"),
        ("169.254.0.0/16", "a link-local address (169.254.0.0/16)"),
        ("10.0.0.0/8", "a private address (RFC 1918)"),
        ("172.16.0.0/12", "a private address (RFC 1918)"),
        ("192.168.0.0/16", "a private address (RFC 1918)"),
        ("100.64.0.0/10", "in the shared address space of carrier-grade NAT (100.64.0.0/10)"),
        ("192.0.2.0/24", "a documentation address (TEST-NET-1)"),
        ("198.51.100.0/24", "a documentation address (TEST-NET-2)"),
        ("203.0.113.0/24", "a documentation address (TEST-NET-3)"),
        ("198.18.0.0/15", "a benchmarking address (198.18.0.0/15)"),
        ("224.0.0.0/4", "a multicast address (224.0.0.0/4)"),
        ("240.0.0.0/4", "a reserved address (240.0.0.0/4)"),
    ]
)


def public_ipv4(value: str) -> str:
    """Check that `value` is an IPv4 address the internet can reach; return it unchanged."""
    try:
        address = ipaddress.IPv4Address(value)
    except ValueError:
        raise ValueError("expected an IPv4 address such as '34.120.10.20'") from None
    why = next((why for net, why in _NOT_PUBLIC if address in net), None)
    if why is None and not address.is_global:
        why = "not globally routable (IANA special-purpose range)"
    if why is not None:
        raise ValueError(
            f"expected a public IPv4 address; this is {why}. Let's Encrypt validates HTTP-01"
            " by fetching http://<host>/.well-known/acme-challenge/... through it from the internet"
        )
    return value


def _check_exact_string(value: Any) -> None:
    """Strings arrive exactly as meant: not empty, no surrounding space, no control characters."""
    if isinstance(value, list):
        for i, item in enumerate(value):
            try:
                _check_exact_string(item)
            except ValueError as err:
                raise ValueError(f"[{i}] {item!r}: {err}") from None
    if not isinstance(value, str):
        return
    if value == "":
        raise ValueError("expected a non-empty string")
    if value != value.strip():
        raise ValueError(
            "expected no leading or trailing whitespace (a YAML block scalar such as"
            " `key: |` adds a newline at the end; use a plain or quoted string)"
        )
    if _CONTROL.search(value):
        raise ValueError("expected no control characters (tabs, newlines, ...)")


class _Model(BaseModel):
    """Base for config objects: camelCase keys, exact types, unknown keys rejected, immutable.

    Every given value is checked before its type: an explicit null (`key:` with
    nothing after it) is an error, never a silent default, and strings must be
    exact (see `_check_exact_string`) except in `FREE_TEXT` fields.
    """

    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True, strict=True
    )
    FREE_TEXT: ClassVar[frozenset[str]] = frozenset()
    """Fields whose text is handed on as it is (inline YAML, Helm values)."""

    @classmethod
    def keys(cls) -> list[str]:
        """The keys this object accepts, as written in a stack file."""
        return sorted(f.alias or n for n, f in cls.model_fields.items())

    @classmethod
    def shape_problems(cls, given: Mapping[str, Any]) -> list[str]:
        """Rules between keys, on the keys as given (camelCase). Runs on raw input too,
        so they are reported even when a field's own value is wrong."""
        return []

    @field_validator("*", mode="before")
    @classmethod
    def _given_exactly(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            raise ValueError("expected a value, got an empty one (null); remove the key to take its default")
        if info.field_name not in cls.FREE_TEXT:
            _check_exact_string(value)
        return value

    @model_validator(mode="after")
    def _shape(self) -> _Model:
        fields = type(self).model_fields
        given = {fields[n].alias or n: getattr(self, n) for n in self.model_fields_set}
        problems = type(self).shape_problems(given)
        if problems:
            raise ValueError("; ".join(problems))
        return self


class ClusterConfig(_Model):
    """How to reach the cluster: a GKE cluster by name, or a kubeconfig."""

    FREE_TEXT: ClassVar[frozenset[str]] = frozenset({"kubeconfig"})

    name: str | None = None
    location: str | None = None
    project: str | None = None
    kubeconfig: str | None = None
    context: str | None = None
    skip_await: bool = Field(
        default=False,
        description="Apply workloads without waiting for readiness (clusters with no"
        " controllers, like the local sandbox).",
    )

    @classmethod
    def shape_problems(cls, given: Mapping[str, Any]) -> list[str]:
        gke = "name" in given or "location" in given
        problems = []
        if gke and "kubeconfig" in given:
            problems.append("expected either {name, location} of a GKE cluster or {kubeconfig}, not both")
        elif gke and not ("name" in given and "location" in given):
            problems.append("expected both 'name' and 'location' to look up a GKE cluster")
        if "context" in given and "kubeconfig" not in given:
            problems.append("expected 'context' only together with 'kubeconfig'")
        if "project" in given and not gke:
            problems.append("expected 'project' only together with a GKE {name, location}")
        return problems

    @field_validator("name")
    @classmethod
    def _cluster_name(cls, value: str) -> str:
        if not _GKE_CLUSTER_NAME.match(value):
            raise ValueError(
                "expected a GKE cluster name: lower-case letter first, then a-z, 0-9 or '-',"
                " at most 40 characters"
            )
        return value

    @field_validator("location")
    @classmethod
    def _location(cls, value: str) -> str:
        if not (_GCP_REGION.match(value) or _GCP_ZONE.match(value)):
            raise ValueError(
                "expected the cluster's region ('europe-west1', regional cluster) or zone"
                " ('europe-west1-b', zonal cluster)"
            )
        return value

    @field_validator("project")
    @classmethod
    def _project(cls, value: str) -> str:
        return gcp_project_id(value)

    @field_validator("kubeconfig")
    @classmethod
    def _kubeconfig_exists(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("expected inline kubeconfig YAML or the path of an existing file")
        if "\n" in value or value.lstrip().startswith(("apiVersion", "{")):
            return value  # inline kubeconfig
        path = os.path.expanduser(value)
        if not os.path.isfile(path):
            raise ValueError("expected inline kubeconfig YAML or the path of an existing file")
        return path


def gcp_project_id(value: str) -> str:
    """Check a GCP project ID (`my-project-123`); return it unchanged."""
    if not _GCP_PROJECT.match(value):
        raise ValueError(
            "expected a GCP project ID: 6-30 characters, a lower-case letter first,"
            " then a-z, 0-9 or '-', not ending in '-' (the ID, not the display name or number)"
        )
    return value


def gcp_region(value: str) -> str:
    """Check a GCP region (`europe-west1`, not a zone); return it unchanged."""
    if not _GCP_REGION.match(value):
        raise ValueError("expected a GCP region such as 'europe-west1' (a region, not a zone)")
    return value


class StaticIpConfig(_Model):
    """The one external IP every site shares."""

    enabled: bool = True
    name: str | None = None
    region: str | None = None
    network_tier: NetworkTier = "PREMIUM"
    address: str | None = None

    @classmethod
    def shape_problems(cls, given: Mapping[str, Any]) -> list[str]:
        problems = []
        if "address" in given and "name" in given:
            problems.append(
                "expected either 'address' (an IP you reserved) or 'name' (an IP we reserve), not both"
            )
        if given.get("enabled") is False and any(k in given for k in ("address", "name", "region")):
            problems.append("expected no address, name or region when 'enabled' is false")
        return problems

    @field_validator("name")
    @classmethod
    def _gcp_name(cls, value: str) -> str:
        if not _GCP_NAME.match(value):
            raise ValueError(
                "expected a GCP resource name: lower-case letter first, then a-z, 0-9"
                " or '-', at most 63 characters"
            )
        return value

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        return gcp_region(value)

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        return public_ipv4(value)

    @property
    def reserves(self) -> bool:
        """True when the program reserves the address (not given, not ephemeral)."""
        return self.enabled and self.address is None


def acme_directory_url(value: str) -> str:
    """Check the URL of an ACME directory (`https://host[:port]/path`); return it unchanged."""
    url = urllib.parse.urlsplit(value)
    if url.scheme != "https" or not url.hostname:
        raise ValueError(
            "expected the https:// URL of an ACME directory, such as"
            " 'https://ca.internal:14000/dir' (RFC 8555 serves ACME over HTTPS only)"
        )
    if url.username is not None or url.password is not None or url.fragment:
        raise ValueError("expected an ACME directory URL without user, password or #fragment")
    return value


def pem_ca_bundle(value: str) -> str:
    """Check a PEM bundle of one or more CA certificates; return it unchanged."""
    blocks = re.findall(r"-----BEGIN ([A-Z0-9 ]+)-----", value)
    others = sorted({kind for kind in blocks if kind != "CERTIFICATE"})
    if not blocks or others:
        found = f"{', '.join(others)} blocks" if others else "no PEM block"
        raise ValueError(
            f"expected PEM certificates only (-----BEGIN CERTIFICATE----- blocks); found {found}"
        )
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cadata=value)
    except ssl.SSLError as err:
        raise ValueError(f"expected PEM certificates that parse; OpenSSL says: {err.reason or err}") from None
    return value


class AcmeServersConfig(_Model):
    """Private ACME directories (step-ca, Pebble, an internal Boulder) in place of Let's Encrypt's."""

    staging: str | None = None
    prod: str | None = None

    @field_validator("staging", "prod")
    @classmethod
    def _directory(cls, value: str) -> str:
        return acme_directory_url(value)


class AcmeConfig(_Model):
    """Let's Encrypt: which issuer the sites use, and how `pulumi up` waits.

    `servers` points an issuer at a private ACME directory instead, and
    `caBundle` holds the CAs that sign those directories' HTTPS certificates.
    """

    FREE_TEXT: ClassVar[frozenset[str]] = frozenset({"ca_bundle"})

    issuer: IssuerChoice
    email: EmailStr | None = None
    wait_for_certificates: bool = False
    certificate_timeout: int = Field(
        default=300,
        ge=30,
        le=3600,
        description="Seconds `pulumi up` waits for each Certificate (waitForCertificates) before failing.",
    )
    servers: AcmeServersConfig = Field(default_factory=AcmeServersConfig)
    ca_bundle: str | None = None

    @classmethod
    def shape_problems(cls, given: Mapping[str, Any]) -> list[str]:
        problems = []
        if "caBundle" in given and "servers" not in given:
            problems.append(
                "expected 'caBundle' only together with 'servers': Let's Encrypt's own"
                " directories are served with publicly trusted certificates"
            )
        if "certificateTimeout" in given and given.get("waitForCertificates") is not True:
            problems.append(
                "expected 'certificateTimeout' only together with 'waitForCertificates: true'"
                " (it bounds that wait)"
            )
        return problems

    @field_validator("ca_bundle")
    @classmethod
    def _ca_bundle(cls, value: str) -> str:
        return pem_ca_bundle(value)

    def server(self, choice: str) -> str | None:
        """The private directory of issuer `choice`, or None for Let's Encrypt's."""
        return self.servers.staging if choice == "staging" else self.servers.prod


class ChartConfig(_Model):
    """A Helm chart: version pin, optional source override, extra values."""

    FREE_TEXT: ClassVar[frozenset[str]] = frozenset({"values"})

    version: str
    chart: str | None = None
    values: dict[str, Any] = Field(default_factory=dict)

    @field_validator("version")
    @classmethod
    def _exact_version(cls, value: str) -> str:
        if not _CHART_VERSION.match(value):
            raise ValueError("expected an exact chart version such as '1.2.3' (a pin, not a range)")
        return value

    @field_validator("chart")
    @classmethod
    def _source(cls, value: str) -> str:
        scheme, sep, _ = value.partition("://")
        if sep and scheme not in ("http", "https", "oci"):
            raise ValueError(
                "expected a chart repository URL (https://...), an OCI reference (oci://...)"
                " or a local chart directory"
            )
        if sep and not _.strip("/"):
            raise ValueError(f"expected a {scheme}:// location with a host")
        return value


class EdgeConfig(ChartConfig):
    """The release of an edge controller: a chart plus how many replicas serve."""

    replicas: int = Field(default=2, ge=1, le=20)


class IngressNginxConfig(EdgeConfig):
    """The ingress-nginx release (edge `ingress-nginx`)."""

    version: str = CONTROLLERS["ingress-nginx"].version


class TraefikConfig(EdgeConfig):
    """The Traefik release (edge `traefik`)."""

    version: str = CONTROLLERS["traefik"].version


class CertManagerConfig(ChartConfig):
    """The cert-manager release."""

    version: str = cert_manager_chart.CHART_VERSION


class DnsConfig(_Model):
    """Cloud DNS: an A record per host and alias in this managed zone."""

    zone: str
    project: str | None = None
    ttl: int = Field(default=300, ge=30, le=86400)

    @field_validator("zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if not _GCP_NAME.match(value):
            raise ValueError(
                "expected the name of a Cloud DNS managed zone, e.g. 'example-com' (a letter"
                " first, then a-z, 0-9 or '-', at most 63 characters; the name, not the DNS name)"
            )
        return value

    @field_validator("project")
    @classmethod
    def _project(cls, value: str) -> str:
        return gcp_project_id(value)


class SiteConfig(_Model):
    """One web site: its host names and the backend that serves them."""

    host: str
    aliases: list[str] = Field(default_factory=list)
    namespace: str = "default"
    service: str | None = None
    port: int = Field(default=80, ge=1, le=65535)
    image: str | None = None
    replicas: int | None = Field(default=None, ge=1, le=100)
    issuer: IssuerChoice | None = None

    @classmethod
    def shape_problems(cls, given: Mapping[str, Any]) -> list[str]:
        problems = []
        if ("service" in given) == ("image" in given):
            problems.append(
                "expected exactly one of 'service' (route to an existing Service) or"
                " 'image' (deploy this container)"
            )
        if "replicas" in given and "image" not in given:
            problems.append("expected 'replicas' only with 'image' (we do not scale your Service)")
        return problems

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        return validate_host(value)

    @field_validator("aliases")
    @classmethod
    def _aliases(cls, value: list[str]) -> list[str]:
        problems = []
        for i, alias in enumerate(value):
            try:
                validate_host(alias)
            except ValueError as err:
                problems.append(f"[{i}] {alias!r}: {err}")
        if problems:
            raise ValueError("; ".join(problems))
        if len(value) + 1 > MAX_NAMES_PER_CERTIFICATE:
            raise ValueError(
                f"expected at most {MAX_NAMES_PER_CERTIFICATE - 1} aliases"
                " (Let's Encrypt signs at most 100 names per certificate)"
            )
        return value

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        if not _DNS_LABEL.match(value):
            raise ValueError(
                "expected a Kubernetes namespace name: a-z, 0-9 and '-', at most 63 characters,"
                " a letter or digit at each end"
            )
        return value

    @field_validator("service")
    @classmethod
    def _service(cls, value: str) -> str:
        if not _DNS_1035_LABEL.match(value):
            raise ValueError(
                "expected a Kubernetes Service name: a lower-case letter first, then a-z, 0-9"
                " and '-', at most 63 characters, not ending in '-'"
            )
        return value

    @field_validator("image")
    @classmethod
    def _image(cls, value: str) -> str:
        if len(value) > 255 or not _IMAGE.match(value):
            raise ValueError(
                "expected a container image reference such as"
                " 'nginxinc/nginx-unprivileged:1.29' or 'registry.example.com/web@sha256:<hex>'"
            )
        return value

    @property
    def hosts(self) -> list[str]:
        """The host followed by its aliases: every name on the certificate."""
        return [self.host, *self.aliases]

    @property
    def resource_name(self) -> str:
        """The Kubernetes name of this site's objects."""
        return kubernetes_name(self.host)

    @property
    def service_name(self) -> str:
        """The Service its Ingress routes to: the user's, or the one we deploy for `image`."""
        return self.service or service_name(self.host)


@dataclass(frozen=True)
class StackSettings:
    """Everything the program needs, validated."""

    stack: str
    gcp_project: str | None
    gcp_region: str | None
    cluster: ClusterConfig | None
    static_ip: StaticIpConfig
    acme: AcmeConfig
    edge: EdgeChoice
    ingress_nginx: IngressNginxConfig
    traefik: TraefikConfig
    cert_manager: CertManagerConfig
    dns: DnsConfig | None
    sites: tuple[SiteConfig, ...]
    secret_keys: frozenset[str] = frozenset()
    """Top-level keys (`cluster`, `acme`, ...) set with `pulumi config set --secret`."""

    def issuer_for(self, site: SiteConfig) -> str:
        """The ClusterIssuer name a site's Certificate references."""
        return issuer_name(site.issuer or self.acme.issuer)

    @property
    def production(self) -> bool:
        """True when any site, or the stack, uses the production issuer.

        Such a stack serves certificates that browsers trust: every resource in
        it is protected, so an accidental `pulumi destroy` deletes nothing.
        """
        return self.acme.issuer == "prod" or any(site.issuer == "prod" for site in self.sites)

    @property
    def edge_config(self) -> EdgeConfig:
        """The config section of the edge in use."""
        return self.traefik if self.edge == "traefik" else self.ingress_nginx

    @property
    def edge_section(self) -> str:
        """The top-level key of that section (`ingressNginx`, `traefik`)."""
        return EDGE_SECTIONS[self.edge]

    def is_secret(self, key: str) -> bool:
        """True when the top-level key `multisite:<key>` holds a secret."""
        return key in self.secret_keys

    @property
    def static_ip_region(self) -> str | None:
        return self.static_ip.region or self.gcp_region

    @property
    def static_ip_name(self) -> str:
        return self.static_ip.name or default_static_ip_name(self.stack)

    @property
    def reserves_ip(self) -> bool:
        """True when the program reserves the address in GCP."""
        return self.static_ip.reserves


def issuer_name(choice: str) -> str:
    """`staging` -> `letsencrypt-staging`, `prod` -> `letsencrypt-prod`."""
    return f"letsencrypt-{choice}"


def default_static_ip_name(stack: str) -> str:
    """The GCP name of the address a stack reserves when `staticIp.name` is not set."""
    return f"{NAMESPACE}-{stack}-ingress"


# Each top-level key, the model that validates it, and what an absent key means:
# an error ("required"), the model's defaults ("defaults") or nothing ("none").
# `multisite:edge` and `multisite:charts` are plain strings, checked on their own.
_SCALARS = ("edge", "charts")
_SECTIONS: dict[str, tuple[type[_Model], Literal["required", "defaults", "none"]]] = {
    "cluster": (ClusterConfig, "none"),  # the ambient kubeconfig
    "staticIp": (StaticIpConfig, "defaults"),
    "acme": (AcmeConfig, "required"),
    "ingressNginx": (IngressNginxConfig, "defaults"),
    "traefik": (TraefikConfig, "defaults"),
    "certManager": (CertManagerConfig, "defaults"),
    "dns": (DnsConfig, "none"),
    "sites": (SiteConfig, "none"),  # an array of these; absent means no sites
}
KNOWN_KEYS = (*_SCALARS, *_SECTIONS)
# Host names become resource names (URNs), which Pulumi stores in plain text.
_NEVER_SECRET = ("sites",)
_MISSING = "missing; this key is required"


def _path(prefix: str, loc: Sequence[int | str]) -> str:
    out = prefix
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _model_at(model: type[_Model], loc: Sequence[int | str]) -> type[_Model]:
    """The nested config object at `loc` inside `model`: keys as written, each a field
    of its parent that holds a config object (where pydantic met an unknown key)."""
    for key in loc:
        (nested,) = [field.annotation for field in model.model_fields.values() if field.alias == key]
        model = cast(type[_Model], nested)
    return model


def _describe(error: Mapping[str, Any], model: type[_Model]) -> str:
    kind, msg = error["type"], str(error["msg"])
    if kind == "extra_forbidden":
        model = _model_at(model, error["loc"][:-1])
        key = str(error["loc"][-1])
        close = difflib.get_close_matches(key, model.keys(), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown key{hint}; expected only: {', '.join(model.keys())}"
    if kind in ("model_type", "model_attributes_type"):
        return "expected an object (a YAML mapping)"
    msg = msg.removeprefix("Value error, ")
    if msg.startswith("value is not a valid email address"):
        return f"expected an e-mail address such as 'ops@example.com' ({msg.split(': ', 1)[-1]})"
    if msg.startswith("Input should be"):
        return "expected" + msg.removeprefix("Input should be")
    return msg


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _validate(
    model: type[_Model], value: Any, prefix: str, problems: list[str], *, section: bool = False
) -> Any:
    """`model` validated from `value`, or None with every problem appended to `problems`.

    Rules between keys are checked on the raw mapping first, so a wrong field
    never hides them; pydantic's own report of the same rules is then skipped.
    """
    if isinstance(value, Mapping):
        problems.extend(f"{prefix} = {_show(dict(value))}: {p}" for p in model.shape_problems(value))
    try:
        return model.model_validate(value)
    except ValidationError as err:
        # A rule between keys fails in the model validator, at no key: reported above.
        errors = [e for e in err.errors() if e["loc"] or e["type"] != "value_error"]
        for e in errors:
            loc = e["loc"]
            path = _path(prefix, loc)
            if e["type"] == "missing":
                problems.append(f"{path}: {_MISSING}")
                continue
            text = f"{path} = {_show(e['input'])}: {_describe(e, model)}"
            if section and not loc and isinstance(value, str):
                text += (
                    f"; to set one of its keys from the command line, use --path:"
                    f" pulumi config set --path '{prefix}.<key>' VALUE"
                )
            problems.append(text)
        return None


def load_settings(
    raw: Mapping[str, Any],
    *,
    stack: str,
    gcp_project: str | None = None,
    gcp_region: str | None = None,
    secret_keys: frozenset[str] = frozenset(),
) -> StackSettings:
    """Validate the raw `multisite:` config of one stack.

    `raw` maps each key present in the stack, without its namespace (`sites`,
    `acme`, ...), to the value Pulumi decoded from the stack file (None for an
    explicit null). `secret_keys` names the keys set with `--secret`. Every
    section is validated even when another one fails, so one run reports every
    problem.
    """
    problems: list[str] = []
    for key in raw:
        if key not in KNOWN_KEYS:
            problems.append(_unknown_key_problem(key, raw[key]))
    problems.extend(_gcp_problems(gcp_project, gcp_region))

    parsed: dict[str, Any] = {}
    for key, (model, when_absent) in _SECTIONS.items():
        prefix = f"{NAMESPACE}:{key}"
        if key in raw and raw[key] is None:
            problems.append(
                f"{prefix} = None: expected a value, got an empty one (null);"
                " remove the key to take its default"
            )
            parsed[key] = None
        elif key == "sites":
            parsed[key] = _load_sites(raw.get(key), problems)
        elif key not in raw:
            if when_absent == "required":
                problems.append(f"{prefix}: {_MISSING}")
            parsed[key] = model() if when_absent == "defaults" else None
        else:
            parsed[key] = _validate(model, raw[key], prefix, problems, section=True)
        if key in secret_keys and key in _NEVER_SECRET:
            problems.append(
                f"{prefix}: expected a plain (not --secret) value: host names become resource"
                " names (URNs), which Pulumi never encrypts, so a secret here would not stay"
                f" secret; run `pulumi config set --path '{prefix}' ...` without --secret"
            )

    edge = _edge_choice(raw, problems)
    charts = _local_charts(raw, problems)
    if charts is not None:
        parsed.update(_charts_from(charts, parsed, edge, problems))

    static_ip: StaticIpConfig | None = parsed["staticIp"]
    if static_ip is not None and static_ip.reserves:
        if not (static_ip.region or gcp_region):
            problems.append(
                f"{NAMESPACE}:staticIp.region: missing; set gcp:region (the cluster's region) or"
                f" {NAMESPACE}:staticIp.region to reserve a regional address"
            )
        if static_ip.name is None and not _GCP_NAME.match(default_static_ip_name(stack)):
            problems.append(
                f"{NAMESPACE}:staticIp.name: missing; the default"
                f" {default_static_ip_name(stack)!r}, made from the stack name {stack!r}, is not a"
                " GCP resource name (a lower-case letter first, then a-z, 0-9 or '-', at most 63"
                f" characters): set {NAMESPACE}:staticIp.name"
            )
    dns: DnsConfig | None = parsed["dns"]
    if dns is not None and static_ip is not None and not static_ip.enabled:
        problems.append(
            f"{NAMESPACE}:dns = {{zone: {dns.zone!r}}}: expected a static IP to point records at;"
            f" {NAMESPACE}:staticIp.enabled is false, so the address is only known after the"
            " load balancer exists"
        )
    sites = parsed["sites"] or []
    problems.extend(_cross_site_problems(raw.get("sites")))

    if problems:
        raise ConfigError(problems)
    return StackSettings(
        stack=stack,
        gcp_project=gcp_project,
        gcp_region=gcp_region,
        cluster=parsed["cluster"],
        static_ip=parsed["staticIp"],
        acme=parsed["acme"],
        edge=edge,
        ingress_nginx=parsed["ingressNginx"],
        traefik=parsed["traefik"],
        cert_manager=parsed["certManager"],
        dns=dns,
        sites=tuple(s for s in sites if s is not None),
        secret_keys=frozenset(secret_keys),
    )


def _edge_choice(raw: Mapping[str, Any], problems: list[str]) -> EdgeChoice:
    """`multisite:edge`, and no settings for an edge that is not the one in use."""
    edge: Any = raw.get("edge", DEFAULT_EDGE)
    if edge not in EDGE_SECTIONS:
        expected = " or ".join(repr(e) for e in EDGE_SECTIONS)
        problems.append(f"{NAMESPACE}:edge = {_show(edge)}: expected {expected}")
        return DEFAULT_EDGE
    for other, section in EDGE_SECTIONS.items():
        if other != edge and section in raw:
            problems.append(
                f"{NAMESPACE}:{section}: set, but {NAMESPACE}:edge is {edge!r}: settings for an edge"
                f" not in use would silently do nothing; remove them (pulumi config rm"
                f" {NAMESPACE}:{section}) or move them to {NAMESPACE}:{EDGE_SECTIONS[edge]}"
            )
    return edge  # type: ignore[no-any-return]


def _local_charts(raw: Mapping[str, Any], problems: list[str]) -> str | None:
    """`multisite:charts`: a local directory every chart comes from (air-gapped use)."""
    if "charts" not in raw:
        return None
    value = raw["charts"]
    path = f"{NAMESPACE}:charts = {_show(value)}"
    try:
        _check_exact_string(value)
        if not isinstance(value, str):
            raise ValueError("expected the path of a directory of charts")
    except ValueError as err:
        problems.append(f"{path}: {err}")
        return None
    directory = os.path.abspath(os.path.expanduser(value))
    if not os.path.isdir(directory):
        problems.append(f"{path}: expected an existing directory of charts")
        return None
    return directory


def local_chart(directory: str, chart: str, version: str) -> str | None:
    """`<chart>-<version>.tgz` (as `helm pull` writes it) or `<chart>/` in `directory`, if there."""
    archive = os.path.join(directory, f"{chart}-{version}.tgz")
    if os.path.isfile(archive):
        return archive
    unpacked = os.path.join(directory, chart)
    return unpacked if os.path.isfile(os.path.join(unpacked, "Chart.yaml")) else None


def _charts_from(
    directory: str, parsed: Mapping[str, Any], edge: str, problems: list[str]
) -> dict[str, ChartConfig]:
    """The sections in use, with their chart taken from `directory` unless they name one."""
    in_use = {
        EDGE_SECTIONS[edge]: CONTROLLERS[edge].release.chart,
        "certManager": cert_manager_chart.RELEASE.chart,
    }
    found: dict[str, ChartConfig] = {}
    for section, chart in in_use.items():
        config: ChartConfig | None = parsed[section]
        if config is None or config.chart is not None:
            continue
        path = local_chart(directory, chart, config.version)
        if path is None:
            problems.append(
                f"{NAMESPACE}:charts = {directory!r}: expected {chart}-{config.version}.tgz or {chart}/"
                f" in it (the chart of {NAMESPACE}:{section}), or {NAMESPACE}:{section}.chart"
            )
        else:
            found[section] = config.model_copy(update={"chart": path})
    return found


def _unknown_key_problem(key: str, value: Any) -> str:
    """An unknown top-level key, with the likely fix: `--path` forgotten, or a typo."""
    full = f"{NAMESPACE}:{key}"
    base = re.split(r"[.\[]", key, maxsplit=1)[0]
    if base != key and base in KNOWN_KEYS:
        shown = shlex.quote(value) if isinstance(value, str) else "VALUE"
        return (
            f"{full} = {_show(value)}: a nested key set without --path (this made a top-level"
            f" key named {key!r}); fix it with: pulumi config rm '{full}' &&"
            f" pulumi config set --path '{full}' {shown}"
        )
    close = difflib.get_close_matches(key, KNOWN_KEYS, n=1)
    hint = f" (did you mean {NAMESPACE}:{close[0]}?)" if close else ""
    return f"{full}: unknown key{hint}; expected only: " + ", ".join(f"{NAMESPACE}:{k}" for k in KNOWN_KEYS)


def _gcp_problems(project: str | None, region: str | None) -> list[str]:
    """The `gcp:` provider keys the program reads."""
    problems = []
    for key, value, check in (("gcp:project", project, gcp_project_id), ("gcp:region", region, gcp_region)):
        if value is None:
            continue
        try:
            _check_exact_string(value)
            check(value)
        except ValueError as err:
            problems.append(f"{key} = {_show(value)}: {err}")
    return problems


def _load_sites(value: Any, problems: list[str]) -> list[SiteConfig | None]:
    """Every site validated, in order; None where a site is invalid (its problems appended)."""
    prefix = f"{NAMESPACE}:sites"
    if value is None:
        return []
    if not isinstance(value, list):
        problems.append(f"{prefix} = {_show(value)}: expected an array of site objects")
        return []
    return [_validate(SiteConfig, item, f"{prefix}[{i}]", problems) for i, item in enumerate(value)]


def _names_of(raw: Any) -> tuple[list[str | None], str | None, bool]:
    """(host and aliases, namespace, deploys a Service) of one raw site; None where a name is invalid.

    Read from the raw entry, valid or not, so that a wrong field elsewhere in
    it never hides a duplicate host. For a valid site these are its fields as
    validated: hosts and namespaces are taken unchanged.
    """
    if not isinstance(raw, Mapping):
        return [], None, False
    aliases = raw.get("aliases")
    hosts = [raw.get("host"), *(aliases if isinstance(aliases, list) else [])]
    namespace = raw.get("namespace", "default")
    valid_namespace = isinstance(namespace, str) and bool(_DNS_LABEL.match(namespace))
    return (
        [h if _is_host(h) else None for h in hosts],
        namespace if valid_namespace else None,
        "image" in raw,
    )


def _cross_site_problems(raw_sites: Any) -> list[str]:
    """Names that two places claim: the same host twice, or two hosts one object name."""
    problems: list[str] = []
    if not isinstance(raw_sites, list):
        return problems  # reported by _load_sites
    seen_hosts: dict[str, str] = {}
    seen_names: dict[str, str] = {}
    for i, raw in enumerate(raw_sites):
        hosts, namespace, deploys = _names_of(raw)
        duplicate = False
        for j, host in enumerate(hosts):
            if host is None:
                continue
            path = f"{NAMESPACE}:sites[{i}]." + ("host" if j == 0 else f"aliases[{j - 1}]")
            if host in seen_hosts:
                duplicate = True
                problems.append(
                    f"{path} = {host!r}: expected each host once; already used by {seen_hosts[host]}"
                )
            else:
                seen_hosts[host] = path
        host = hosts[0] if hosts else None
        if host is None or namespace is None or duplicate:
            continue
        # Distinct hosts can still collide once dots become dashes (a-b.com, a.b-com).
        names = {kubernetes_name(host)}
        if deploys:
            names.add(service_name(host))
        for name in sorted(names):
            key = f"{namespace}/{name}"
            if key in seen_names:
                problems.append(
                    f"{NAMESPACE}:sites[{i}].host = {host!r}: expected a host whose object"
                    f" name {name!r} is unique in namespace {namespace!r};"
                    f" {seen_names[key]} maps to the same name"
                )
            seen_names.setdefault(key, f"{NAMESPACE}:sites[{i}].host")
    return problems
