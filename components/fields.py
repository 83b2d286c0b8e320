"""The config models' common ground: the base `Model` and the typed fields they share.

Each component declares its config section in its own module on top of
`Model`; the rules a value must meet travel with its type (`Host`,
`GcpName`, `PublicIPv4`, ...), so one rule has one message wherever the
value appears. `components/settings.py` loads the sections and reports every
problem at once.
"""

from __future__ import annotations

import ipaddress
import re
import ssl
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, TypeVar, overload

import idna
import pulumi
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

T = TypeVar("T")

NAMESPACE = "multisite"
"""The config namespace of every key the program reads (`multisite:sites`)."""

# Kubernetes names (apimachinery validation): most objects and namespaces take a
# DNS-1123 label; a Service name must be a DNS-1035 label (a letter first).
DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
DNS_1035_LABEL = re.compile(r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")
# GCP: resource names (RFC 1035, at most 63), project IDs (6-30, optionally
# behind a legacy `domain:` prefix), regions.
GCP_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
_GCP_PROJECT = re.compile(r"^([a-z0-9][a-z0-9.-]*[a-z0-9]:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$")
GCP_REGION = re.compile(r"^[a-z]+-[a-z]+[0-9]+$")
# An exact chart version (a pin, not a range): 1.2.3 or v1.2.3, with optional pre-release/build.
_CHART_VERSION = re.compile(r"^v?(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)([-+][0-9A-Za-z.+-]+)?$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
HOST_EXPECTED = (
    "a lower-case DNS name such as 'www.example.com': at least two labels of"
    " a-z, 0-9 and '-', each 1-63 characters, 253 in all, no wildcard"
)


def check_exact_string(value: Any) -> None:
    """Strings arrive exactly as meant: not empty, no surrounding space, no control characters."""
    if isinstance(value, list):
        for i, item in enumerate(value):
            try:
                check_exact_string(item)
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


class Model(BaseModel):
    """Base for config objects: camelCase keys, exact types, unknown keys rejected, immutable.

    Every given value is checked before its type: an explicit null (`key:` with
    nothing after it) is an error, never a silent default, and strings must be
    exact (see `check_exact_string`) except in `FREE_TEXT` fields.

    A section set with `pulumi config set --secret` is marked secret when it is
    loaded; its component passes each value through `input()` on its way into
    a resource, so the value stays secret in the state and in previews.
    """

    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        strict=True,
        # A field's docstring is its description: docs/configuration.md is generated from them.
        use_attribute_docstrings=True,
    )
    FREE_TEXT: ClassVar[frozenset[str]] = frozenset()
    """Fields whose text is handed on as it is (inline YAML, Helm values)."""
    _secret: bool = PrivateAttr(default=False)

    @classmethod
    def keys(cls) -> list[str]:
        """The keys this object accepts, as written in a stack file."""
        return sorted(f.alias or n for n, f in cls.model_fields.items())

    @classmethod
    def shape_problems(cls, given: Mapping[str, Any]) -> list[KeysRule]:
        """Rules between keys that `given` (the keys as written, camelCase) breaks. Runs on
        raw input too, so they are reported even when a field's own value is wrong."""
        return []

    @property
    def secret(self) -> bool:
        """True when this section was set with `--secret`."""
        return self._secret

    def as_secret(self: M) -> M:
        """A copy of this section marked secret. Nested objects stay unmarked: their values
        reach resources through this section's `input`."""
        copy = self.model_copy()
        copy._secret = True
        return copy

    @overload
    def input(self, value: pulumi.Output[T]) -> pulumi.Output[T]: ...
    @overload
    def input(self, value: T) -> pulumi.Input[T]: ...
    def input(self, value: Any) -> Any:
        """`value`, taken from this section, as a resource input: a Pulumi secret when
        the section is secret, else as it is.

        Pulumi encrypts a secret input in the state and masks it in previews; a
        plain value taken from a secret key would be stored in clear text.
        """
        return pulumi.Output.secret(value) if self._secret else value

    # The bodies are module functions: mutmut does not mutate decorated methods.
    @field_validator("*", mode="before")
    @classmethod
    def _given_exactly(cls, value: Any, info: ValidationInfo) -> Any:
        return given_exactly(value, free_text=info.field_name in cls.FREE_TEXT)

    @model_validator(mode="after")
    def _shape(self) -> Model:
        return check_shape(self)


def given_exactly(value: Any, *, free_text: bool) -> Any:
    """A given value before its type is checked: never null, and an exact string unless `free_text`."""
    if value is None:
        raise ValueError("expected a value, got an empty one (null); remove the key to take its default")
    if not free_text:
        check_exact_string(value)
    return value


@dataclass(frozen=True)
class KeysRule:
    """A rule between keys of one object, broken: every key it joins, and what was expected."""

    keys: tuple[str, ...]
    """The keys the rule joins, as written (camelCase), whether given or not; a dotted key
    reaches into a mapping (`values.service.spec`)."""
    expected: str

    def describe(self, prefix: str, given: Mapping[str, Any], show: Callable[[Any], str] = repr) -> str:
        """The problem, naming each key by its path under `prefix` (`multisite:acme`) with the
        value given, or `(not set)`: `multisite:acme.caBundle = '...', multisite:acme.servers
        (not set): expected ...`."""
        shown = []
        for key in self.keys:
            value = _given_at(given, key)
            shown.append(
                f"{prefix}.{key} (not set)" if value is _NOT_SET else f"{prefix}.{key} = {show(value)}"
            )
        return f"{', '.join(shown)}: {self.expected}"


_NOT_SET = object()


def _given_at(given: Mapping[str, Any], key: str) -> Any:
    """The value at dotted `key` in `given`, or `_NOT_SET`."""
    value: Any = given
    for part in key.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _NOT_SET
        value = value[part]
    return value


def check_shape(model: M) -> M:
    """`model`, once the rules between its keys (`shape_problems`) hold for the keys given."""
    fields = type(model).model_fields
    given = {fields[n].alias or n: getattr(model, n) for n in model.model_fields_set}
    broken = type(model).shape_problems(given)
    if broken:
        # Its own error type: the settings loader reports these rules from the raw mapping,
        # with each key's full path, and skips pydantic's report of them.
        message = "; ".join(rule.describe(type(model).__name__, given) for rule in broken)
        raise PydanticCustomError(KEYS_RULE, "{message}", {"message": message})
    return model


KEYS_RULE = "keys_rule"
"""The pydantic error type of a broken rule between keys."""


M = TypeVar("M", bound=Model)


def validate_host(value: str) -> str:
    """Check one host name for an HTTP-01 certificate; return it unchanged."""
    if not isinstance(value, str):
        raise ValueError(f"expected {HOST_EXPECTED}")
    if "*" in value:
        raise ValueError(
            "expected a host without wildcard: HTTP-01 validation cannot issue wildcard certificates"
        )
    if not value.isascii():
        raise ValueError(_ascii_form_expected(value))
    if value != value.lower():
        raise ValueError(f"expected lower case ({value.lower()!r}); {HOST_EXPECTED}")
    if len(value) > 253:
        raise ValueError(f"expected at most 253 characters, got {len(value)}")
    labels = value.split(".")
    if len(labels) < 2 or not all(DNS_LABEL.match(label) for label in labels):
        raise ValueError(f"expected {HOST_EXPECTED}")
    if labels[-1].isdigit():
        raise ValueError("expected a DNS name, not an IP address")
    return value


def _ascii_form_expected(value: str) -> str:
    """What to write instead of an internationalised name: its punycode form, as browsers
    derive it (IDNA 2008 with UTS #46 mapping), when it has one."""
    try:
        ascii_form = idna.encode(value, uts46=True).decode("ascii")
    except idna.IDNAError:
        return f"expected {HOST_EXPECTED}"
    return (
        f"expected the ASCII (punycode) form of an internationalised name: {ascii_form!r}; DNS,"
        " Kubernetes and certificates carry names in that form"
    )


def is_host(value: Any) -> bool:
    """True when `validate_host` accepts `value`."""
    try:
        validate_host(value)
    except ValueError:
        return False
    return True


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


@dataclass(frozen=True)
class Pattern:
    """A check that a string matches `regex`, failing with `expected`.

    `name` says what such a string is (`GCP region`); the configuration
    reference shows it as the field's type. A class rather than a closure:
    the check runs at validation time, where mutation testing can see it.
    """

    regex: re.Pattern[str]
    expected: str
    name: str

    def __call__(self, value: str) -> str:
        if not self.regex.match(value):
            raise ValueError(self.expected)
        return value


gcp_project_id = Pattern(
    _GCP_PROJECT,
    "expected a GCP project ID: 6-30 characters, a lower-case letter first,"
    " then a-z, 0-9 or '-', not ending in '-' (the ID, not the display name or number)",
    name="GCP project ID",
)
gcp_region = Pattern(
    GCP_REGION, "expected a GCP region such as 'europe-west1' (a region, not a zone)", name="GCP region"
)
gcp_name = Pattern(
    GCP_NAME,
    "expected a GCP resource name: lower-case letter first, then a-z, 0-9 or '-', at most 63 characters",
    name="GCP resource name",
)


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


gcp_location = Pattern(
    re.compile(r"^[a-z]+-[a-z]+[0-9]+(-[a-z])?$"),
    "expected the cluster's region ('europe-west1', regional cluster) or zone"
    " ('europe-west1-b', zonal cluster)",
    name="GCP region or zone",
)
chart_version = Pattern(
    _CHART_VERSION,
    "expected an exact chart version such as '1.2.3' (a pin, not a range)",
    name="exact version",
)


Host = Annotated[str, AfterValidator(validate_host)]
"""A host name that can get an HTTP-01 certificate."""
PublicIPv4 = Annotated[str, AfterValidator(public_ipv4)]
"""An IPv4 address the internet can reach."""
GcpProjectId = Annotated[str, AfterValidator(gcp_project_id)]
GcpRegion = Annotated[str, AfterValidator(gcp_region)]
GcpName = Annotated[str, AfterValidator(gcp_name)]
GcpLocation = Annotated[str, AfterValidator(gcp_location)]
AcmeDirectoryUrl = Annotated[str, AfterValidator(acme_directory_url)]
PemCaBundle = Annotated[str, AfterValidator(pem_ca_bundle)]
ChartVersion = Annotated[str, AfterValidator(chart_version)]
