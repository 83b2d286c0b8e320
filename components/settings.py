"""The stack's settings: every `multisite:` key read, validated and reported at once.

`load_settings` turns the raw values of a stack's config into `StackSettings`
or raises `ConfigError`, which lists every problem at once, each naming the key
path (`multisite:sites[2].host`), the value given and what was expected. The
program calls it (through `read_settings`) before registering any resource, so
bad input never touches the cloud or the cluster.

Each section's model lives with the component that takes it (`cluster.py`,
`static_ip.py`, `cluster_issuers.py`, the edge wing, `cert_manager.py`,
`dns.py`, `site.py`); this module only reads, runs every model and applies
the rules that join sections.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

import pulumi
from pydantic import ValidationError

from components import gateway_api, lets_encrypt
from components.cert_manager import RELEASE as CERT_MANAGER_RELEASE
from components.cert_manager import CertManagerConfig
from components.cluster import ClusterConfig
from components.cluster_issuers import AcmeConfig
from components.dns import DnsConfig, names_outside_zone, zone_dns_name
from components.edge import CONTROLLERS, DEFAULT, Controller, EdgeConfig
from components.fields import (
    GCP_NAME,
    KEYS_RULE,
    NAMESPACE,
    Model,
    check_exact_string,
    gcp_project_id,
    gcp_region,
)
from components.helm_chart import ChartConfig, local_chart
from components.site import SiteConfig, site_name_clashes
from components.static_ip import StaticIpConfig, default_static_ip_name


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


@dataclass(frozen=True)
class StackSettings:
    """Everything the program needs, validated.

    A section set with `--secret` arrives marked secret (`Model.secret`).
    """

    stack: str
    gcp_project: str | None
    gcp_region: str | None
    cluster: ClusterConfig | None
    static_ip: StaticIpConfig
    acme: AcmeConfig
    edge: Controller
    """The edge in use (`multisite:edge`)."""
    edge_config: EdgeConfig
    """Its config section."""
    cert_manager: CertManagerConfig
    dns: DnsConfig | None
    sites: tuple[SiteConfig, ...]

    @property
    def production(self) -> bool:
        """True when any site, or the stack, uses the production issuer.

        Such a stack serves certificates that browsers trust: every resource in
        it is protected, so an accidental `pulumi destroy` deletes nothing.
        """
        return self.acme.issuer == "prod" or any(site.issuer == "prod" for site in self.sites)

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

    def ip_to_reserve(self) -> StaticIpConfig:
        """`multisite:staticIp` with its name and region as the stack fills them in."""
        return self.static_ip.model_copy(
            update={"name": self.static_ip_name, "region": self.static_ip_region}
        )


def read_settings() -> StackSettings:
    """Every `multisite:` key of the running stack, validated before anything is registered;
    with `multisite:dns`, every host checked against the zone's DNS name in Cloud DNS."""
    config = pulumi.Config(NAMESPACE)
    # Every key set in the stack, so a typo such as `multisite:site` is reported.
    prefix = f"{NAMESPACE}:"
    keys = {*pulumi.runtime.config.get_config_env(), *pulumi.runtime.config.CONFIG.get()}
    present = sorted(k.removeprefix(prefix) for k in keys if k.startswith(prefix))
    raw: dict[str, Any] = {}
    for key in present:
        text = config.require(key)
        try:
            raw[key] = json.loads(text)
        except ValueError:
            raw[key] = text  # a plain string where an object belongs: load_settings says so
    secret = frozenset(k for k in present if pulumi.runtime.config.is_config_secret(prefix + k))
    gcp = pulumi.Config("gcp")
    settings = load_settings(
        raw,
        stack=pulumi.get_stack(),
        gcp_project=gcp.get("project"),
        gcp_region=gcp.get("region"),
        secret_keys=secret,
    )
    if settings.dns is not None:
        # The records' zone, looked up at preview: Cloud DNS refuses a record outside it at `up`.
        problem = names_outside_zone(zone_dns_name(settings.dns, settings.gcp_project), settings.sites)
        if problem is not None:
            raise ConfigError([problem])
    return settings


SCALAR_KEYS: dict[str, str] = {
    "edge": "The edge controller, one of the edges below; the default keeps the write-up's, so"
    " stacks made before this key keep theirs.",
    "charts": "A local directory every chart in use comes from (air-gapped clusters, the local"
    " sandbox): `<chart>-<version>.tgz` as `helm pull` writes it, or an unpacked `<chart>/`."
    " A section's own `chart` wins.",
}
"""The plain-string keys, each checked on its own, and what each means (docs/configuration.md)."""
SECTIONS: dict[str, tuple[type[Model], Literal["required", "defaults", "none"]]] = {
    "cluster": (ClusterConfig, "none"),  # the ambient kubeconfig
    "staticIp": (StaticIpConfig, "defaults"),
    "acme": (AcmeConfig, "required"),
    **{edge.section: (edge.config, "defaults") for edge in CONTROLLERS.values()},
    "certManager": (CertManagerConfig, "defaults"),
    "dns": (DnsConfig, "none"),
    "sites": (SiteConfig, "none"),  # an array of these; absent means no sites
}
"""Each object key, the model that validates it, and what an absent key means: an error
("required"), the model's defaults ("defaults") or nothing ("none")."""
KNOWN_KEYS = (*SCALAR_KEYS, *SECTIONS)
# Host names become resource names (URNs), which Pulumi stores in plain text.
_NEVER_SECRET = ("sites",)
_MISSING = "missing; this key is required"


def _path(prefix: str, loc: Sequence[int | str]) -> str:
    out = prefix
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _model_at(model: type[Model], loc: Sequence[int | str]) -> type[Model]:
    """The nested config object at `loc` inside `model`: keys as written, each a field
    of its parent that holds a config object (where pydantic met an unknown key)."""
    for key in loc:
        (nested,) = [field.annotation for field in model.model_fields.values() if field.alias == key]
        model = cast(type[Model], nested)
    return model


def _describe(error: Mapping[str, Any], model: type[Model]) -> str:
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
    model: type[Model], value: Any, prefix: str, problems: list[str], *, section: bool = False
) -> Any:
    """`model` validated from `value`, or None with every problem appended to `problems`.

    Rules between keys are checked on the raw mapping first, so a wrong field
    never hides them; pydantic's own report of the same rules is then skipped.
    """
    problems.extend(_keys_rules(model, value, prefix))
    try:
        return model.model_validate(value)
    except ValidationError as err:
        # A rule between keys fails in its model's validator: reported above, from the raw mapping.
        errors = [e for e in err.errors() if e["type"] != KEYS_RULE]
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


def _keys_rules(model: type[Model], value: Any, prefix: str) -> list[str]:
    """The rules between keys that `value` breaks, in `model` and every config object nested in
    it, each naming its keys by their path under `prefix`."""
    if not isinstance(value, Mapping):
        return []
    found = [rule.describe(prefix, value, _show) for rule in model.shape_problems(value)]
    for name, field in model.model_fields.items():
        key = field.alias or name
        nested = field.annotation
        if key in value and isinstance(nested, type) and issubclass(nested, Model):
            found += _keys_rules(nested, value[key], f"{prefix}.{key}")
    return found


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
    for key, (model, when_absent) in SECTIONS.items():
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
        elif key in secret_keys and isinstance(parsed[key], Model):
            parsed[key] = parsed[key].as_secret()

    edge = _edge_choice(raw, problems)
    charts = _local_charts(raw, problems)
    if charts is not None:
        parsed.update(_charts_from(charts, parsed, edge, problems))

    static_ip: StaticIpConfig | None = parsed["staticIp"]
    if static_ip is not None and static_ip.reserves:
        if not (static_ip.region or gcp_region):
            problems.append(
                f"{NAMESPACE}:staticIp.region (not set), gcp:region (not set): expected one of them to"
                " reserve a regional address (the cluster's region)"
            )
        if static_ip.name is None and not GCP_NAME.match(default_static_ip_name(stack)):
            problems.append(
                f"{NAMESPACE}:staticIp.name: missing; the default"
                f" {default_static_ip_name(stack)!r}, made from the stack name {stack!r}, is not a"
                " GCP resource name (a lower-case letter first, then a-z, 0-9 or '-', at most 63"
                f" characters): set {NAMESPACE}:staticIp.name"
            )
    dns: DnsConfig | None = parsed["dns"]
    if dns is not None and static_ip is not None and not static_ip.enabled:
        problems.append(
            f"{NAMESPACE}:dns.zone = {dns.zone!r}, {NAMESPACE}:staticIp.enabled = False: expected a"
            " static IP to point records at; without one the address is only known after the load"
            " balancer exists"
        )
    sites = parsed["sites"] or []
    problems.extend(site_name_clashes(raw.get("sites")))
    if edge.redirect_annotations is None:
        problems.extend(
            f"{NAMESPACE}:sites[{i}].redirects = {_show(site.redirects)}, {NAMESPACE}:edge = {edge.key!r}:"
            f" expected no redirects on this edge: {edge.redirect_refusal}"
            for i, site in enumerate(sites)
            if site is not None and site.redirects
        )
    if parsed["acme"] is not None:
        problems.extend(lets_encrypt.refused_names(sites, parsed["acme"]))
    edge_config = parsed[edge.section]
    if edge_config is not None and edge_config.routes == "gateway":
        problems.extend(
            f"{NAMESPACE}:sites[{i}].host, {NAMESPACE}:sites[{i}].aliases, {NAMESPACE}:sites[{i}].redirects"
            f" ({len(site.names)} names), {NAMESPACE}:{edge.section}.routes = 'gateway': expected at most"
            f" {gateway_api.MAX_LISTENERS} names per site: its Gateway has an HTTPS listener per name, and a"
            " Gateway takes 64"
            for i, site in enumerate(sites)
            if site is not None and len(site.names) > gateway_api.MAX_LISTENERS
        )

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
        edge_config=parsed[edge.section],
        cert_manager=parsed["certManager"],
        dns=dns,
        sites=tuple(s for s in sites if s is not None),
    )


def _edge_choice(raw: Mapping[str, Any], problems: list[str]) -> Controller:
    """`multisite:edge`, and no settings for an edge that is not the one in use."""
    key: Any = raw.get("edge", DEFAULT.key)
    edge = CONTROLLERS.get(key) if isinstance(key, str) else None
    if edge is None:
        expected = " or ".join(repr(e) for e in CONTROLLERS)
        problems.append(f"{NAMESPACE}:edge = {_show(key)}: expected {expected}")
        return DEFAULT
    for other in CONTROLLERS.values():
        if other is not edge and other.section in raw:
            problems.append(
                f"{NAMESPACE}:{other.section}: set, but {NAMESPACE}:edge is {edge.key!r}: settings for an"
                f" edge not in use would silently do nothing; remove them (pulumi config rm"
                f" {NAMESPACE}:{other.section}) or move them to {NAMESPACE}:{edge.section}"
            )
    return edge


def _local_charts(raw: Mapping[str, Any], problems: list[str]) -> str | None:
    """`multisite:charts`: a local directory every chart comes from (air-gapped use)."""
    if "charts" not in raw:
        return None
    value = raw["charts"]
    path = f"{NAMESPACE}:charts = {_show(value)}"
    try:
        check_exact_string(value)
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


def _charts_from(
    directory: str, parsed: Mapping[str, Any], edge: Controller, problems: list[str]
) -> dict[str, ChartConfig]:
    """The sections in use, with their chart taken from `directory` unless they name one."""
    in_use = {edge.section: edge.release.chart, "certManager": CERT_MANAGER_RELEASE.chart}
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
            check_exact_string(value)
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
