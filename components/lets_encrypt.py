"""Let's Encrypt's rules for the names on a certificate, as its CA enforces them at new-order.

Let's Encrypt runs Boulder; `policy/pa.go` (`validNonWildcardDomain`,
`WellFormedIdentifiers`) refuses a name that Kubernetes and DNS accept when it
has more than 10 labels, a label in the reserved `??--` form other than valid
punycode (`xn--`), or no ICANN public suffix, or is a public suffix itself
(`co.uk`); its RA refuses an order of more than 100 names. These apply only
where Let's Encrypt issues: a private ACME directory (`acme.servers`) has rules
of its own. Boulder's blocklist of high-risk names is policy data it does not
publish, so it is not checked here. `refused_names` applies these rules to the
sites of a stack whose issuer is Let's Encrypt.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from publicsuffixlist import PublicSuffixList

from components.cluster_issuers import AcmeConfig
from components.fields import NAMESPACE
from components.site import SiteConfig

MAX_NAMES_PER_CERTIFICATE = 100
"""Names on one certificate (one order); Boulder's RA `maxNames`."""
MAX_LABELS = 10
"""Labels in one name; Boulder's `maxLabels`."""

# Boulder looks suffixes up in the ICANN section only (iana.ExtractSuffix:
# IgnorePrivate, no default rule), so an unknown TLD has no suffix at all.
_ICANN = PublicSuffixList(only_icann=True, accept_unknown=False)


def name_refusal(host: str) -> str | None:
    """Why Let's Encrypt refuses `host` at new-order, as an `expected ...` reason, or None.

    `host` is a name the generic checks accepted (`fields.validate_host`):
    lower-case LDH labels, at least two, 253 characters at most.
    """
    labels = host.split(".")
    if len(labels) > MAX_LABELS:
        return f"expected at most {MAX_LABELS} labels, got {len(labels)}"
    for label in labels:
        problem = _reserved_label_refusal(label)
        if problem is not None:
            return problem
    suffix = _ICANN.publicsuffix(host)
    if suffix is None:
        return (
            f"expected a name under a public top-level domain; {labels[-1]!r} is not one (the ICANN"
            " section of the Public Suffix List)"
        )
    if suffix == host:
        return f"expected a name below a public suffix; {host!r} is one itself (Public Suffix List)"
    return None


def _reserved_label_refusal(label: str) -> str | None:
    """A label with `--` in its third and fourth characters is reserved (R-LDH, RFC 5890
    2.3.1): only an `xn--` label holding valid, NFC-normalised punycode is issued for."""
    if label[2:4] != "--":
        return None
    if not label.startswith("xn--"):
        return (
            f"expected no label in the reserved form '??--' (RFC 5890) other than punycode 'xn--';"
            f" got {label!r}"
        )
    try:
        decoded = label[4:].encode("ascii").decode("punycode")
    except UnicodeError:
        return f"expected valid punycode after 'xn--'; {label!r} does not decode"
    if not unicodedata.is_normalized("NFC", decoded):
        return f"expected punycode of an NFC-normalised name; {label!r} decodes to {decoded!r}, which is not"
    return None


def refused_names(sites: Sequence[SiteConfig | None], acme: AcmeConfig) -> list[str]:
    """A problem for each name Let's Encrypt would refuse at new-order, and each certificate
    with too many names, on the sites it issues for: those whose issuer has no private
    directory in `acme.servers`. `sites` are the validated sites, None where one is invalid."""
    problems = []
    for i, site in enumerate(sites):
        if site is None:
            continue
        choice = site.issuer or acme.issuer
        if acme.server(choice) is not None:
            continue
        prefix = f"{NAMESPACE}:sites[{i}]"
        chosen_by = f"{prefix}.issuer" if site.issuer else f"{NAMESPACE}:acme.issuer"
        issued_by = (
            f"Let's Encrypt refuses it at new-order, and issues this site's certificate"
            f" ({chosen_by} = {choice!r}, {NAMESPACE}:acme.servers.{choice} (not set))"
        )
        for key, name in site.keyed_names():
            reason = name_refusal(name)
            if reason is not None:
                problems.append(f"{prefix}.{key} = {name!r}: {reason}; {issued_by}")
        most = MAX_NAMES_PER_CERTIFICATE
        if len(site.names) > most:
            problems.append(
                f"{prefix}.host, {prefix}.aliases ({len(site.aliases)} names), {prefix}.redirects"
                f" ({len(site.redirects)} names): expected at most {most} names on one certificate,"
                f" got {len(site.names)}; {issued_by}"
            )
    return problems
