"""Policy logic for the multisite stacks.

Every rule is a plain function that takes hand-buildable data and returns a
list of violation messages (empty = compliant). The thin ``validate_*``
adapters below turn pulumi_policy's ``ResourceValidationArgs`` /
``StackValidationArgs`` into those inputs and report each message; the pack
in ``__main__.py`` registers them. Unit tests call the adapters directly.

Property names are the Pulumi input names the engine hands to analyzers:
Kubernetes objects keep their Kubernetes field names (``spec.ingressClassName``)
and bridged GCP resources use camelCase (``addressType``). During a real run
nested values arrive as read-only ``Mapping``/``Sequence`` proxies, never
``dict``/``list``, so the helpers only rely on those ABCs.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

# --- resource type tokens -----------------------------------------------------

INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
CERTIFICATE = "kubernetes:cert-manager.io/v1:Certificate"
CLUSTER_ISSUER = "kubernetes:cert-manager.io/v1:ClusterIssuer"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
SERVICE = "kubernetes:core/v1:Service"
GATEWAY = "kubernetes:gateway.networking.k8s.io/v1:Gateway"
HTTP_ROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
# The shared Gateway the Traefik chart renders in Gateway mode (`gateway.name`), in its release's namespace.
EDGE_GATEWAY = "edge"
ADDRESS = "gcp:compute/address:Address"
GLOBAL_ADDRESS = "gcp:compute/globalAddress:GlobalAddress"

LE_PRODUCTION_SERVER = "https://acme-v02.api.letsencrypt.org/directory"
LE_STAGING_SERVER = "https://acme-staging-v02.api.letsencrypt.org/directory"
LETS_ENCRYPT_API_HOST = "api.letsencrypt.org"
PRODUCTION_ISSUER_NAME = "letsencrypt-prod"
STAGING_ISSUER_NAME = "letsencrypt-staging"

SSL_REDIRECT_ANNOTATIONS = (
    "nginx.ingress.kubernetes.io/ssl-redirect",
    "nginx.ingress.kubernetes.io/force-ssl-redirect",
)
# A site's redirect names: every request answered with this redirect (ingress-nginx's
# annotations, which Traefik's compatible provider honours).
PERMANENT_REDIRECT = "nginx.ingress.kubernetes.io/permanent-redirect"
PERMANENT_REDIRECT_CODE = "nginx.ingress.kubernetes.io/permanent-redirect-code"
CLUSTER_ISSUER_ANNOTATION = "cert-manager.io/cluster-issuer"
ISSUER_ANNOTATION = "cert-manager.io/issuer"

DEFAULT_PRODUCTION_STACKS: tuple[str, ...] = ("prod",)


# --- small helpers ------------------------------------------------------------


def _get(obj: Any, *path: str) -> Any:
    """Walk nested mappings; ``None`` as soon as a step is missing."""
    cur = obj
    for key in path:
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(key)
    return cur


def _seq(value: Any) -> list[Any]:
    """A list of the items of a sequence value (never of a string's chars)."""
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return list(value)
    return []


def _is_false(value: Any) -> bool:
    """True for ``False`` and for the string ``"false"`` (any case)."""
    if isinstance(value, bool):
        return not value
    return isinstance(value, str) and value.strip().lower() == "false"


def _is_true(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return isinstance(value, str) and value.strip().lower() == "true"


def _label(resource_type: str, name: str) -> str:
    kind = resource_type.rpartition(":")[2]
    return f"{kind} '{name}'"


def stack_from_urn(urn: str) -> str | None:
    """The stack name of a URN ``urn:pulumi:<stack>::<project>::<type>::<name>``."""
    if not urn.startswith("urn:pulumi:"):
        return None
    stack = urn[len("urn:pulumi:") :].partition("::")[0]
    return stack or None


def resolve_stack_name(urn: str, environ: Mapping[str, str] | None = None) -> str | None:
    """Which stack is being analysed.

    The URN of every resource carries the stack name, so that is the primary
    source. As a fallback, the engine starts Python policy packs with
    ``PULUMI_STACK`` (and ``PULUMI_PROJECT``, ``PULUMI_DRY_RUN``,
    ``PULUMI_CONFIG``) in their environment; pulumi_policy then also feeds
    them to ``pulumi.runtime.configure`` so ``pulumi.get_stack()`` works.
    """
    env = os.environ if environ is None else environ
    return stack_from_urn(urn) or env.get("PULUMI_STACK") or None


def chart_basename(chart: str) -> str:
    """``ingress-nginx`` for ``ingress-nginx``, ``repo/ingress-nginx``,
    ``./charts/ingress-nginx``, ``oci://host/charts/ingress-nginx`` and the
    archive ``/charts/ingress-nginx-4.15.1.tgz``."""
    base = chart.rstrip("/").rpartition("/")[2]
    return re.sub(r"-v?[0-9]+\.[0-9]+\.[0-9]+[^/]*\.tgz$", "", base)


def is_local_chart(chart: str) -> bool:
    return chart.startswith((".", "/", "~"))


# --- Ingress -------------------------------------------------------------------


def _host_covered(host: str, tls_hosts: Iterable[str]) -> bool:
    for tls_host in tls_hosts:
        if tls_host == host:
            return True
        # A wildcard certificate covers exactly one extra label.
        if tls_host.startswith("*.") and host.partition(".")[2] == tls_host[2:]:
            return True
    return False


def check_ingress(name: str, props: Mapping[str, Any]) -> list[str]:
    """Class name set, TLS covers every rule host, HTTPS redirect not disabled (unless every
    request is redirected permanently to an https:// URL: a site's redirect names)."""
    msgs: list[str] = []
    spec = _get(props, "spec") or {}
    if not _get(spec, "ingressClassName"):
        msgs.append(
            f"Ingress '{name}' has no spec.ingressClassName. Set "
            "spec.ingressClassName: nginx (the annotation kubernetes.io/ingress.class "
            "is deprecated) so the edge serves it (ingress-nginx and Traefik's "
            "ingress-nginx provider both serve class nginx)."
        )

    tls_entries = _seq(_get(spec, "tls"))
    tls_hosts: list[str] = []
    for i, entry in enumerate(tls_entries):
        tls_hosts.extend(h for h in _seq(_get(entry, "hosts")) if isinstance(h, str))
        if not _get(entry, "secretName"):
            msgs.append(
                f"Ingress '{name}' spec.tls[{i}] has no secretName. Set it to the "
                "Certificate's spec.secretName so the edge serves that certificate."
            )

    for i, rule in enumerate(_seq(_get(spec, "rules"))):
        host = _get(rule, "host")
        if not host:
            msgs.append(
                f"Ingress '{name}' spec.rules[{i}] has no host. Give every rule a "
                "host (name-based virtual hosting on the shared IP) and list it in spec.tls."
            )
        elif not _host_covered(host, tls_hosts):
            msgs.append(
                f"Ingress '{name}' rule host '{host}' is not covered by spec.tls. "
                f"Add '{host}' to spec.tls[].hosts with the secretName of its Certificate."
            )

    annotations = _get(props, "metadata", "annotations") or {}
    if _redirects_everything_to_https(annotations):
        return msgs  # plain HTTP serves nothing: it answers with the permanent redirect
    for key in SSL_REDIRECT_ANNOTATIONS:
        if _is_false(_get(annotations, key)):
            msgs.append(
                f"Ingress '{name}' disables the HTTP->HTTPS redirect with {key}: \"false\". "
                'Remove it or set nginx.ingress.kubernetes.io/ssl-redirect: "true" '
                "(ACME HTTP-01 challenges are exempt from the redirect already)."
            )
    return msgs


def _redirects_everything_to_https(annotations: Mapping[str, Any]) -> bool:
    """True when the Ingress answers every request with a permanent (301/308) redirect to https://."""
    target = _get(annotations, PERMANENT_REDIRECT)
    code = str(_get(annotations, PERMANENT_REDIRECT_CODE) or "301")
    temporal = _get(annotations, "nginx.ingress.kubernetes.io/temporal-redirect")
    return (
        isinstance(target, str) and target.startswith("https://") and code in ("301", "308") and not temporal
    )


def check_gateway(name: str, props: Mapping[str, Any]) -> list[str]:
    """Every HTTPS listener terminates TLS with a certificate, for one host name."""
    msgs = []
    for i, listener in enumerate(_seq(_get(props, "spec", "listeners"))):
        if _get(listener, "protocol") != "HTTPS":
            continue
        refs = _seq(_get(listener, "tls", "certificateRefs"))
        if _get(listener, "tls", "mode") not in (None, "Terminate") or not refs:
            msgs.append(
                f"Gateway '{name}' spec.listeners[{i}] is HTTPS without a certificate to terminate TLS"
                " with. Set tls: {mode: Terminate, certificateRefs: [{kind: Secret, name: <the site's"
                " Certificate's secretName>}]}."
            )
        if not _get(listener, "hostname"):
            msgs.append(
                f"Gateway '{name}' spec.listeners[{i}] has no hostname: on the shared IP it would answer"
                " every name with this certificate. Give each HTTPS listener the one name it serves."
            )
    return msgs


def validate_gateway(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type == GATEWAY:
        for msg in check_gateway(args.name, args.props):
            report_violation(msg, None)


def check_route_parents(resources: Sequence[PolicyResource]) -> list[tuple[str, str]]:
    """Every HTTPRoute attaches only to a Gateway this stack creates, or to the edge's shared
    Gateway (`edge`, in the namespace of the Helm release that renders it)."""
    gateways = {
        (_get(r.props, "metadata", "namespace") or "default", _get(r.props, "metadata", "name"))
        for r in resources
        if r.resource_type == GATEWAY
    }
    gateways |= {
        (_get(r.props, "namespace"), EDGE_GATEWAY) for r in resources if r.resource_type == HELM_RELEASE
    }
    out = []
    for r in resources:
        if r.resource_type != HTTP_ROUTE:
            continue
        namespace = _get(r.props, "metadata", "namespace") or "default"
        name = _get(r.props, "metadata", "name")
        for ref in _seq(_get(r.props, "spec", "parentRefs")):
            parent = (_get(ref, "namespace") or namespace, _get(ref, "name"))
            if _get(ref, "kind") not in (None, "Gateway") or parent not in gateways:
                out.append(
                    (
                        f"HTTPRoute '{name}' attaches to {_get(ref, 'kind') or 'Gateway'}"
                        f" '{parent[0]}/{parent[1]}', which this stack does not create. Attach it to its"
                        " site's Gateway or to the edge's shared Gateway only.",
                        r.urn,
                    )
                )
    return out


def validate_route_parents(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    for msg, urn in check_route_parents(args.resources):
        report_violation(msg, urn)


def validate_ingress(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type == INGRESS:
        for msg in check_ingress(args.name, args.props):
            report_violation(msg, None)


# --- Helm releases -----------------------------------------------------------

_VERSION_RANGE_CHARS = ("^", "~", "*", ">", "<", "=", " ", "||", "x", "X")


def _is_exact_version(version: str) -> bool:
    bare = version.removeprefix("v")
    if not bare or not bare[0].isdigit():
        return False
    return not any(c in bare for c in _VERSION_RANGE_CHARS)


def check_helm_release(name: str, props: Mapping[str, Any]) -> list[str]:
    """Pinned chart version; ingress-nginx snippets off; Traefik hardened; cert-manager CRDs kept."""
    msgs: list[str] = []
    chart = _get(props, "chart") or ""
    version = _get(props, "version")
    if not isinstance(chart, str):
        chart = ""
    if not is_local_chart(chart):
        # A chart directory on disk is pinned by its files; a repository or OCI
        # chart without an exact version floats to whatever is newest.
        if not isinstance(version, str) or not version:
            msgs.append(
                f"Helm release '{name}' (chart '{chart}') does not pin a chart version. "
                'Set `version` to an exact chart version (e.g. "4.15.1").'
            )
        elif not _is_exact_version(version):
            msgs.append(
                f"Helm release '{name}' (chart '{chart}') uses the version range "
                f"'{version}'. Pin an exact chart version (e.g. \"4.15.1\")."
            )

    values = _get(props, "values") or {}
    base = chart_basename(chart)
    if base == "ingress-nginx":
        allow = _get(values, "controller", "allowSnippetAnnotations")
        if not _is_false(allow):
            msgs.append(
                f"Helm release '{name}' (ingress-nginx) must disable snippet annotations "
                "explicitly: set values.controller.allowSnippetAnnotations: false."
            )
        cfg = _get(values, "controller", "config", "allow-snippet-annotations")
        if cfg is not None and not _is_false(cfg):
            msgs.append(
                f"Helm release '{name}' (ingress-nginx) sets controller.config"
                f'["allow-snippet-annotations"] to {cfg!r}. Set it to "false" '
                "(snippets let any Ingress author inject NGINX config)."
            )
    if base == "traefik":
        msgs.extend(_check_traefik(name, values))
    if base == "cert-manager" and not _is_true(_get(values, "crds", "keep")):
        msgs.append(
            f"Helm release '{name}' (cert-manager) does not keep its CRDs on "
            "uninstall; deleting them deletes every Certificate. Set "
            "values.crds.keep: true (with values.crds.enabled: true)."
        )
    return msgs


def _check_traefik(name: str, values: Any) -> list[str]:
    """Traefik exposes no dashboard or insecure API, allows no snippets and runs a pinned image."""
    msgs: list[str] = []
    if not _is_false(_get(values, "api", "dashboard")):
        msgs.append(
            f"Helm release '{name}' (traefik) must turn the dashboard off explicitly (the chart "
            "enables it): set values.api.dashboard: false."
        )
    if _is_true(_get(values, "api", "insecure")):
        msgs.append(
            f"Helm release '{name}' (traefik) serves its API over plain HTTP (values.api.insecure); "
            "remove it."
        )
    if _is_true(_get(values, "providers", "kubernetesIngressNGINX", "allowSnippetAnnotations")):
        msgs.append(
            f"Helm release '{name}' (traefik) allows NGINX snippet annotations; remove "
            "values.providers.kubernetesIngressNGINX.allowSnippetAnnotations."
        )
    if not (_get(values, "image", "tag") or _get(values, "image", "digest")):
        msgs.append(
            f"Helm release '{name}' (traefik) does not pin its image: set values.image.tag "
            '(e.g. "v3.7.11") or values.image.digest.'
        )
    return msgs


def validate_helm_release(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type == HELM_RELEASE:
        for msg in check_helm_release(args.name, args.props):
            report_violation(msg, None)


# --- static IP -----------------------------------------------------------------


def check_static_ip(resource_type: str, name: str, props: Mapping[str, Any], protect: bool) -> list[str]:
    """The shared IP is a regional EXTERNAL address and protected."""
    msgs: list[str] = []
    if resource_type == GLOBAL_ADDRESS:
        return [
            (
                f"GlobalAddress '{name}' cannot back the edge's L4 load balancer. "
                "Use gcp.compute.Address with `region` set to the cluster's region."
            )
        ]
    if resource_type != ADDRESS:
        return msgs
    if not _get(props, "region"):
        msgs.append(
            f"Address '{name}' has no `region`. Set region to the GKE cluster's "
            "region: the load balancer only binds a regional address in its own region."
        )
    address_type = _get(props, "addressType")
    if address_type is not None and address_type != "EXTERNAL":
        msgs.append(
            f"Address '{name}' has addressType {address_type!r}. Use "
            'address_type="EXTERNAL" for the public ingress IP.'
        )
    if not protect:
        msgs.append(
            f"Address '{name}' is not protected; deleting it breaks every domain "
            "whose DNS points at it. Register it with ResourceOptions(protect=True)."
        )
    return msgs


def validate_static_ip(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type in (ADDRESS, GLOBAL_ADDRESS):
        protect = bool(args.opts.protect) if args.opts is not None else False
        for msg in check_static_ip(args.resource_type, args.name, args.props, protect):
            report_violation(msg, None)


# --- LoadBalancer Services -------------------------------------------------------


def check_service(name: str, props: Mapping[str, Any]) -> list[str]:
    if _get(props, "spec", "type") == "LoadBalancer":
        return [
            (
                f"Service '{name}' is of type LoadBalancer, which reserves another IP and "
                "load balancer. Use type ClusterIP and route to it with an Ingress "
                "(ingressClassName: nginx) on the shared static IP."
            )
        ]
    return []


def validate_service(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type == SERVICE:
        for msg in check_service(args.name, args.props):
            report_violation(msg, None)


# --- ACME issuers ------------------------------------------------------------------


def check_cluster_issuer(name: str, props: Mapping[str, Any]) -> list[str]:
    """The well-known issuer names never point at the other Let's Encrypt directory.

    A private ACME directory (`multisite:acme.servers`: step-ca, Pebble, an
    internal Boulder) is the user's explicit choice and passes; any Let's
    Encrypt directory must be the one the name says."""
    issuer = _get(props, "metadata", "name")
    server = _get(props, "spec", "acme", "server")
    expected = {
        PRODUCTION_ISSUER_NAME: LE_PRODUCTION_SERVER,
        STAGING_ISSUER_NAME: LE_STAGING_SERVER,
    }
    if not (isinstance(issuer, str) and issuer in expected) or server == expected[issuer]:
        return []
    if isinstance(server, str) and not _is_lets_encrypt(server):
        return []
    return [
        (
            f"ClusterIssuer '{issuer}' (resource '{name}') uses ACME server {server!r}. "
            f"Set spec.acme.server to {expected[issuer]} so the name says what it issues."
        )
    ]


def _is_lets_encrypt(server: str) -> bool:
    """True for a URL on Let's Encrypt's ACME API hosts (api.letsencrypt.org and its subdomains)."""
    host = urllib.parse.urlsplit(server).hostname or ""
    return host == LETS_ENCRYPT_API_HOST or host.endswith("." + LETS_ENCRYPT_API_HOST)


def validate_cluster_issuer(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type == CLUSTER_ISSUER:
        for msg in check_cluster_issuer(args.name, args.props):
            report_violation(msg, None)


def _issuer_servers(resources: Sequence[PolicyResource]) -> dict[str, Any]:
    """ClusterIssuer metadata.name -> spec.acme.server for the stack."""
    out: dict[str, Any] = {}
    for r in resources:
        if r.resource_type == CLUSTER_ISSUER:
            name = _get(r.props, "metadata", "name")
            if isinstance(name, str) and name:
                out[name] = _get(r.props, "spec", "acme", "server")
    return out


def _issuer_refs(
    resources: Sequence[PolicyResource],
) -> list[tuple[PolicyResource, str, str, str | None]]:
    """(resource, label, issuer kind, issuer name) for each Certificate and each
    Ingress that asks cert-manager's ingress-shim for a certificate."""
    refs: list[tuple[PolicyResource, str, str, str | None]] = []
    for r in resources:
        if r.resource_type == CERTIFICATE:
            ref = _get(r.props, "spec", "issuerRef") or {}
            kind = _get(ref, "kind") or "Issuer"  # cert-manager's default kind
            group = _get(ref, "group")
            if group not in (None, "", "cert-manager.io"):
                kind = f"{group}/{kind}"
            name = _get(ref, "name")
            refs.append(
                (
                    r,
                    _label(r.resource_type, r.name),
                    kind,
                    name if isinstance(name, str) else None,
                )
            )
        elif r.resource_type == INGRESS:
            annotations = _get(r.props, "metadata", "annotations") or {}
            if _get(annotations, CLUSTER_ISSUER_ANNOTATION):
                refs.append(
                    (
                        r,
                        _label(r.resource_type, r.name),
                        "ClusterIssuer",
                        _get(annotations, CLUSTER_ISSUER_ANNOTATION),
                    )
                )
            if _get(annotations, ISSUER_ANNOTATION):
                refs.append(
                    (
                        r,
                        _label(r.resource_type, r.name),
                        "Issuer",
                        _get(annotations, ISSUER_ANNOTATION),
                    )
                )
    return refs


def check_certificate_issuers(
    resources: Sequence[PolicyResource],
) -> list[tuple[str, str]]:
    """Every Certificate references a ClusterIssuer this stack creates.

    Returns (message, urn) pairs."""
    issuers = _issuer_servers(resources)
    known = ", ".join(sorted(issuers)) or "none"
    out: list[tuple[str, str]] = []
    for r, label, kind, name in _issuer_refs(resources):
        if kind != "ClusterIssuer":
            out.append(
                (
                    (
                        f"{label} references an issuer of kind '{kind}'. Use spec.issuerRef "
                        "{kind: ClusterIssuer, group: cert-manager.io, name: <one of: "
                        f"{known}>}}."
                    ),
                    r.urn,
                )
            )
        elif not name or name not in issuers:
            out.append(
                (
                    (
                        f"{label} references ClusterIssuer '{name}', which this stack does not "
                        f"create (it creates: {known}). Point spec.issuerRef.name at one of "
                        "them, or add that ClusterIssuer to the stack."
                    ),
                    r.urn,
                )
            )
    return out


def validate_certificate_issuers(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    for msg, urn in check_certificate_issuers(args.resources):
        report_violation(msg, urn)


def is_production_issuer(name: str | None, servers: Mapping[str, Any]) -> bool:
    """An issuer is 'production' if the stack's ClusterIssuer of that name talks
    to the Let's Encrypt production server, or (not in the stack) by its name."""
    if name is None:
        return False
    if name in servers:
        return bool(servers[name] == LE_PRODUCTION_SERVER)
    return name == PRODUCTION_ISSUER_NAME


def check_production_issuer_usage(
    resources: Sequence[PolicyResource],
    stack: str | None,
    config: Mapping[str, Any],
) -> list[tuple[str, str]]:
    """Production stacks use the production issuer; other stacks never do.

    Escape hatches, both explicit policy config: ``allowProductionIssuer: true``
    lets a non-production stack use it; ``allowStagingIssuer: true`` lets a
    production stack keep a site on staging while it is being onboarded."""
    prod_stacks = config.get("productionStacks")
    production_stacks = (
        tuple(s for s in _seq(prod_stacks) if isinstance(s, str))
        if prod_stacks is not None
        else DEFAULT_PRODUCTION_STACKS
    )
    allow_prod = _is_true(config.get("allowProductionIssuer"))
    allow_staging = _is_true(config.get("allowStagingIssuer"))
    servers = _issuer_servers(resources)
    is_prod = stack is not None and stack in production_stacks
    out: list[tuple[str, str]] = []
    for r, label, _kind, name in _issuer_refs(resources):
        uses_prod = is_production_issuer(name, servers)
        if is_prod and not uses_prod and not allow_staging:
            msg = (
                f"{label} in production stack '{stack}' uses issuer '{name}', whose certificates "
                "browsers do not trust. Set `issuer: prod` under `multisite:acme` in "
                f"Pulumi.{stack}.yaml (and drop any per-site `issuer: staging`) so it uses "
                f"{PRODUCTION_ISSUER_NAME}."
            )
            out.append((msg, r.urn))
        elif not is_prod and uses_prod and not allow_prod:
            msg = (
                f"{label} in non-production stack '{stack}' uses the production issuer '{name}' "
                "(Let's Encrypt production rate limits are tight). Set `issuer: staging` under "
                f"`multisite:acme` (and per site) to use {STAGING_ISSUER_NAME}, or allow it "
                "explicitly with the policy config allowProductionIssuer: true."
            )
            out.append((msg, r.urn))
    return out


def validate_production_issuer_usage(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    if not args.resources:
        return  # nothing to check
    stack = resolve_stack_name(args.resources[0].urn)
    for msg, bad_urn in check_production_issuer_usage(args.resources, stack, args.get_config()):
        report_violation(msg, bad_urn)


def check_production_protected(resources: Sequence[PolicyResource]) -> list[tuple[str, str]]:
    """A stack that serves production certificates protects every resource, so an
    accidental `pulumi destroy` deletes nothing. Production means any Certificate
    (or Ingress shim) uses the production issuer, as the program decides it."""
    servers = _issuer_servers(resources)
    if not any(is_production_issuer(name, servers) for _r, _label, _kind, name in _issuer_refs(resources)):
        return []
    return [
        (
            f"{_label(r.resource_type, r.name)} is not protected, but this stack serves production "
            "certificates: an accidental `pulumi destroy` would delete it. Register it with "
            "ResourceOptions(protect=True) (the program protects every resource of such a stack).",
            r.urn,
        )
        for r in resources
        if not (r.opts is not None and r.opts.protect)
    ]


def validate_production_protected(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    for msg, urn in check_production_protected(args.resources):
        report_violation(msg, urn)


# --- the pack's policies -----------------------------------------------------------

ISSUER_POLICY_CONFIG = PolicyConfigSchema(
    properties={
        "allowProductionIssuer": {
            "type": "boolean",
            "default": False,
            "description": "Let a non-production stack use the Let's Encrypt production issuer.",
        },
        "productionStacks": {
            "type": "array",
            "items": {"type": "string"},
            "default": list(DEFAULT_PRODUCTION_STACKS),
            "description": "Stack names that count as production.",
        },
        "allowStagingIssuer": {
            "type": "boolean",
            "default": False,
            "description": "Let a production stack keep a site on the staging issuer (onboarding).",
        },
    },
)

POLICIES: list[ResourceValidationPolicy | StackValidationPolicy] = [
    ResourceValidationPolicy(
        name="ingress-tls-and-redirect",
        description="Ingresses set ingressClassName, cover every host with TLS and keep the HTTPS redirect.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=validate_ingress,
    ),
    ResourceValidationPolicy(
        name="gateway-listener-tls",
        description="Every HTTPS listener of a Gateway terminates TLS with a certificate, for one host name.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=validate_gateway,
    ),
    StackValidationPolicy(
        name="http-route-parents",
        description="HTTPRoutes attach only to the stack's own Gateways and the edge's shared Gateway.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=validate_route_parents,
    ),
    ResourceValidationPolicy(
        name="helm-release-hardening",
        description="Charts pinned; edge hardened (no snippets, no dashboard); cert-manager keeps its CRDs.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=validate_helm_release,
    ),
    ResourceValidationPolicy(
        name="static-ip-regional-protected",
        description="The shared static IP is a regional EXTERNAL address registered with protect=True.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=validate_static_ip,
    ),
    ResourceValidationPolicy(
        name="no-loadbalancer-services",
        description="No LoadBalancer Service outside the edge's release: one IP for every site.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=validate_service,
    ),
    ResourceValidationPolicy(
        name="acme-issuer-servers",
        description=(
            "letsencrypt-staging / letsencrypt-prod point at the matching Let's Encrypt directory"
            " (or at a private ACME directory)."
        ),
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=validate_cluster_issuer,
    ),
    StackValidationPolicy(
        name="certificate-issuer-exists",
        description="Every Certificate references a ClusterIssuer that this stack creates.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=validate_certificate_issuers,
    ),
    StackValidationPolicy(
        name="production-issuer-per-stack",
        description="Production stacks use the production issuer; other stacks do not (unless configured).",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=validate_production_issuer_usage,
        config_schema=ISSUER_POLICY_CONFIG,
    ),
    StackValidationPolicy(
        name="production-stack-protected",
        description="A stack that serves production certificates protects every resource.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=validate_production_protected,
    ),
]
