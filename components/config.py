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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pulumi
from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

NAMESPACE = "multisite"

# Chart pins. ingress-nginx 4.15.1 is the final release of the retired project
# (2026-03-19); cert-manager v1.21.2 is the newest patch of the newest
# supported line (see README "Pinned versions").
INGRESS_NGINX_CHART_VERSION = "4.15.1"
CERT_MANAGER_CHART_VERSION = "v1.21.2"

IssuerChoice = Literal["staging", "prod"]
NetworkTier = Literal["PREMIUM", "STANDARD"]

_DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_GCP_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
_GCP_REGION = re.compile(r"^[a-z]+-[a-z]+[0-9]+$")
_IMAGE = re.compile(r"^[^\s]+$")
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


class _Model(BaseModel):
    """Base for config objects: camelCase keys, unknown keys rejected, immutable."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True)

    @classmethod
    def keys(cls) -> list[str]:
        """The keys this object accepts, as written in a stack file."""
        return sorted(f.alias or n for n, f in cls.model_fields.items())


class ClusterConfig(_Model):
    """How to reach the cluster: a GKE cluster by name, or a kubeconfig."""

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

    @model_validator(mode="after")
    def _one_way_in(self) -> ClusterConfig:
        gke = self.name is not None or self.location is not None
        if gke and self.kubeconfig is not None:
            raise ValueError("expected either {name, location} of a GKE cluster or {kubeconfig}, not both")
        if gke and (self.name is None or self.location is None):
            raise ValueError("expected both 'name' and 'location' to look up a GKE cluster")
        if self.context is not None and self.kubeconfig is None:
            raise ValueError("expected 'context' only together with 'kubeconfig'")
        if self.project is not None and not gke:
            raise ValueError("expected 'project' only together with a GKE {name, location}")
        return self

    @field_validator("kubeconfig")
    @classmethod
    def _kubeconfig_exists(cls, value: str) -> str:
        if "\n" in value or value.lstrip().startswith(("apiVersion", "{")):
            return value  # inline kubeconfig
        path = os.path.expanduser(value)
        if not os.path.isfile(path):
            raise ValueError("expected inline kubeconfig YAML or the path of an existing file")
        return path


class StaticIpConfig(_Model):
    """The one external IP every site shares."""

    enabled: bool = True
    name: str | None = None
    region: str | None = None
    network_tier: NetworkTier = "PREMIUM"
    address: str | None = None

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
        if not _GCP_REGION.match(value):
            raise ValueError("expected a GCP region such as 'europe-west1' (a region, not a zone)")
        return value

    @field_validator("address")
    @classmethod
    def _ipv4(cls, value: str) -> str:
        try:
            ipaddress.IPv4Address(value)
        except ValueError:
            raise ValueError("expected an IPv4 address such as '203.0.113.10'") from None
        return value

    @property
    def reserves(self) -> bool:
        """True when the program reserves the address (not given, not ephemeral)."""
        return self.enabled and self.address is None

    @model_validator(mode="after")
    def _consistent(self) -> StaticIpConfig:
        if self.address is not None and self.name is not None:
            raise ValueError(
                "expected either 'address' (an IP you reserved) or 'name' (an IP we reserve), not both"
            )
        if not self.enabled and (self.address or self.name or self.region):
            raise ValueError("expected no address, name or region when 'enabled' is false")
        return self


class AcmeConfig(_Model):
    """Let's Encrypt: which issuer the sites use, and how `pulumi up` waits."""

    issuer: IssuerChoice
    email: EmailStr | None = None
    wait_for_certificates: bool = False


class ChartConfig(_Model):
    """A Helm chart: version pin, optional source override, extra values."""

    version: str
    chart: str | None = None
    values: dict[str, Any] = Field(default_factory=dict)

    @field_validator("version", "chart")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("expected a non-empty string")
        return value


class IngressNginxConfig(ChartConfig):
    """The ingress-nginx release."""

    version: str = INGRESS_NGINX_CHART_VERSION
    replicas: int = Field(default=2, ge=1, le=20)


class CertManagerConfig(ChartConfig):
    """The cert-manager release."""

    version: str = CERT_MANAGER_CHART_VERSION


class DnsConfig(_Model):
    """Cloud DNS: an A record per host and alias in this managed zone."""

    zone: str
    project: str | None = None
    ttl: int = Field(default=300, ge=30, le=86400)

    @field_validator("zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if not _GCP_NAME.match(value):
            raise ValueError("expected the name of a Cloud DNS managed zone, e.g. 'example-com'")
        return value


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

    @field_validator("namespace", "service")
    @classmethod
    def _dns_label(cls, value: str) -> str:
        if not _DNS_LABEL.match(value):
            raise ValueError("expected a Kubernetes name: a-z, 0-9 and '-', at most 63 characters")
        return value

    @field_validator("image")
    @classmethod
    def _image(cls, value: str) -> str:
        if not _IMAGE.match(value):
            raise ValueError(
                "expected a container image reference such as 'nginxinc/nginx-unprivileged:1.29'"
            )
        return value

    @model_validator(mode="after")
    def _one_backend(self) -> SiteConfig:
        if (self.service is None) == (self.image is None):
            raise ValueError(
                "expected exactly one of 'service' (route to an existing Service) or"
                " 'image' (deploy this container)"
            )
        if self.replicas is not None and self.image is None:
            raise ValueError("expected 'replicas' only with 'image' (we do not scale your Service)")
        return self

    @property
    def hosts(self) -> list[str]:
        """The host followed by its aliases: every name on the certificate."""
        return [self.host, *self.aliases]

    @property
    def resource_name(self) -> str:
        """The Kubernetes name of this site's objects."""
        return kubernetes_name(self.host)


@dataclass(frozen=True)
class StackSettings:
    """Everything the program needs, validated."""

    stack: str
    gcp_project: str | None
    gcp_region: str | None
    cluster: ClusterConfig | None
    static_ip: StaticIpConfig
    acme: AcmeConfig
    ingress_nginx: IngressNginxConfig
    cert_manager: CertManagerConfig
    dns: DnsConfig | None
    sites: tuple[SiteConfig, ...]

    def issuer_for(self, site: SiteConfig) -> str:
        """The ClusterIssuer name a site's Certificate references."""
        return issuer_name(site.issuer or self.acme.issuer)

    @property
    def static_ip_region(self) -> str | None:
        return self.static_ip.region or self.gcp_region

    @property
    def static_ip_name(self) -> str:
        return self.static_ip.name or f"{NAMESPACE}-{self.stack}-ingress"

    @property
    def reserves_ip(self) -> bool:
        """True when the program reserves the address in GCP."""
        return self.static_ip.reserves


def issuer_name(choice: str) -> str:
    """`staging` -> `letsencrypt-staging`, `prod` -> `letsencrypt-prod`."""
    return f"letsencrypt-{choice}"


# Each top-level key, the model that validates it, and what an absent key means:
# an error ("required"), the model's defaults ("defaults") or nothing ("none").
_SECTIONS: dict[str, tuple[type[_Model], Literal["required", "defaults", "none"]]] = {
    "cluster": (ClusterConfig, "none"),  # the ambient kubeconfig
    "staticIp": (StaticIpConfig, "defaults"),
    "acme": (AcmeConfig, "required"),
    "ingressNginx": (IngressNginxConfig, "defaults"),
    "certManager": (CertManagerConfig, "defaults"),
    "dns": (DnsConfig, "none"),
    "sites": (SiteConfig, "none"),  # an array of these; absent means no sites
}
KNOWN_KEYS = tuple(_SECTIONS)


def _path(prefix: str, loc: Sequence[int | str]) -> str:
    out = prefix
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _describe(error: Mapping[str, Any], model: type[_Model]) -> str:
    kind, msg = error["type"], str(error["msg"])
    if kind == "missing":
        return "missing; this key is required"
    if kind == "extra_forbidden":
        key = str(error["loc"][-1])
        close = difflib.get_close_matches(key, model.keys(), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown key{hint}; expected only: {', '.join(model.keys())}"
    if kind == "model_type":
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


def _problems(prefix: str, err: ValidationError, model: type[_Model]) -> list[str]:
    problems = []
    for e in err.errors():
        loc = [p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        path = _path(prefix, loc)
        if e["type"] == "missing":
            problems.append(f"{path}: {_describe(e, model)}")
        else:
            problems.append(f"{path} = {_show(e['input'])}: {_describe(e, model)}")
    return problems


def load_settings(
    raw: Mapping[str, Any],
    *,
    stack: str,
    gcp_project: str | None = None,
    gcp_region: str | None = None,
) -> StackSettings:
    """Validate the raw `multisite:` config of one stack.

    `raw` maps each key without its namespace (`sites`, `acme`, ...) to the
    value Pulumi decoded from the stack file. Every section is validated even
    when another one fails, so one run reports every problem.
    """
    problems: list[str] = []
    for key in raw:
        if key not in _SECTIONS:
            close = difflib.get_close_matches(key, KNOWN_KEYS, n=1)
            hint = f" (did you mean {NAMESPACE}:{close[0]}?)" if close else ""
            problems.append(
                f"{NAMESPACE}:{key}: unknown key{hint}; expected only: "
                + ", ".join(f"{NAMESPACE}:{k}" for k in KNOWN_KEYS)
            )

    parsed: dict[str, Any] = {}
    for key, (model, when_absent) in _SECTIONS.items():
        prefix = f"{NAMESPACE}:{key}"
        value = raw.get(key)
        if key == "sites":
            parsed[key] = _load_sites(value, problems)
            continue
        if value is None:
            if when_absent == "required":
                problems.append(f"{prefix}: missing; this key is required")
            parsed[key] = model() if when_absent == "defaults" else None
            continue
        try:
            parsed[key] = model.model_validate(value)
        except ValidationError as err:
            problems.extend(_problems(prefix, err, model))
            parsed[key] = None

    static_ip: StaticIpConfig | None = parsed["staticIp"]
    if static_ip is not None and static_ip.reserves and not (static_ip.region or gcp_region):
        problems.append(
            f"{NAMESPACE}:staticIp.region: missing; set gcp:region (the cluster's region) or"
            f" {NAMESPACE}:staticIp.region to reserve a regional address"
        )
    dns: DnsConfig | None = parsed["dns"]
    if dns is not None and static_ip is not None and not static_ip.enabled:
        problems.append(
            f"{NAMESPACE}:dns = {{zone: {dns.zone!r}}}: expected a static IP to point records at;"
            f" {NAMESPACE}:staticIp.enabled is false, so the address is only known after the"
            " load balancer exists"
        )
    problems.extend(_cross_site_problems(parsed["sites"]))

    if problems:
        raise ConfigError(problems)
    return StackSettings(
        stack=stack,
        gcp_project=gcp_project,
        gcp_region=gcp_region,
        cluster=parsed["cluster"],
        static_ip=parsed["staticIp"],
        acme=parsed["acme"],
        ingress_nginx=parsed["ingressNginx"],
        cert_manager=parsed["certManager"],
        dns=dns,
        sites=tuple(s for _, s in parsed["sites"]),
    )


def _load_sites(value: Any, problems: list[str]) -> list[tuple[int, SiteConfig]]:
    prefix = f"{NAMESPACE}:sites"
    if value is None:
        return []
    if not isinstance(value, list):
        problems.append(f"{prefix} = {_show(value)}: expected an array of site objects")
        return []
    sites = []
    for i, item in enumerate(value):
        try:
            sites.append((i, SiteConfig.model_validate(item)))
        except ValidationError as err:
            problems.extend(_problems(f"{prefix}[{i}]", err, SiteConfig))
    return sites


def _cross_site_problems(sites: list[tuple[int, SiteConfig]]) -> list[str]:
    """Names that two places claim: the same host twice, or two hosts one object name."""
    problems = []
    seen_hosts: dict[str, str] = {}
    seen_names: dict[str, str] = {}
    for i, site in sites:
        duplicate = False
        for j, host in enumerate(site.hosts):
            path = f"{NAMESPACE}:sites[{i}]." + ("host" if j == 0 else f"aliases[{j - 1}]")
            if host in seen_hosts:
                duplicate = True
                problems.append(
                    f"{path} = {host!r}: expected each host once; already used by {seen_hosts[host]}"
                )
            else:
                seen_hosts[host] = path
        # Distinct hosts can still collide once dots become dashes (a-b.com, a.b-com).
        name = f"{site.namespace}/{site.resource_name}"
        if name in seen_names and not duplicate:
            problems.append(
                f"{NAMESPACE}:sites[{i}].host = {site.host!r}: expected a host whose object"
                f" name {site.resource_name!r} is unique in namespace {site.namespace!r};"
                f" {seen_names[name]} maps to the same name"
            )
        seen_names.setdefault(name, f"{NAMESPACE}:sites[{i}].host")
    return problems
