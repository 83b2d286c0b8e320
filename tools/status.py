"""Status of a stack's sites, read from the cluster: is each certificate issued, does each name point here?

    python -m tools.status [--kubeconfig PATH] [--context NAME] [--ip ADDRESS | --stack NAME]
                           [--resolver HOST[:PORT]] [--requests [--cafile PEM]]
    make status STACK=dev            # --ip from the stack's `ingressIp` output, with --requests

One line per host of every Certificate the program made (label
`app.kubernetes.io/part-of=multisite`): whether it is Ready, its issuer,
when it expires, and when it is not Ready the reason cert-manager gives
(the issuer's error, else the failing Challenge or Order). With --ip, whether
the host's A records (through --resolver, default the system's) are exactly
that address: a name that points elsewhere can never pass HTTP-01. With
--requests, what `http://<host>/` answers at that address (it must redirect
to `https://<host>/`) and what `https://<host>/` answers, with the issuer and
expiry of the certificate actually served (verified for the host against
--cafile or the system's roots).
Exits 0 when every host is issued (and points at --ip, and serves as it should), else 1.
"""

from __future__ import annotations

import argparse
import dataclasses
import http.client as http_client
import json
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.exception
import dns.resolver

from components.metadata import PART_OF

SELECTOR = f"app.kubernetes.io/part-of={PART_OF}"


@dataclass(frozen=True)
class HostStatus:
    """One host of one Certificate."""

    host: str
    certificate: str
    ready: bool
    issuer: str
    not_after: str
    reason: str
    addresses: tuple[str, ...] | None = None
    """The host's A records, or None when they were not looked up."""
    http: str | None = None
    """What `http://<host>/` answered at the stack's address (None: not asked)."""
    https: str | None = None
    """What `https://<host>/` answered, with the certificate as served (None: not asked)."""
    serving: bool = True
    """False when HTTP does not redirect to HTTPS or HTTPS fails (only when asked)."""
    site: str = ""
    """The site's host (its Certificate's first name): where a redirect name may send HTTP."""

    def points_at(self, ip: str) -> bool:
        return self.addresses == (ip,)


def _condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    return next((c for c in obj.get("status", {}).get("conditions") or [] if c["type"] == kind), {})


def _reason(
    certificate: dict[str, Any],
    host: str,
    issuers: dict[str, dict[str, Any]],
    challenges: list[dict[str, Any]],
    orders: list[dict[str, Any]],
) -> str:
    """Why `host` of a not-Ready certificate is not issued, as cert-manager says it:
    the issuer's own failure first (it blocks every certificate), then the
    host's Challenge, the Order, and last the Certificate's Ready condition."""
    issuer = certificate["spec"]["issuerRef"]["name"]
    if issuer not in issuers:
        return f"issuer {issuer}: no such ClusterIssuer"
    issuer_ready = _condition(issuers[issuer], "Ready")
    if issuer_ready.get("status") != "True":
        return f"issuer {issuer} not Ready: {issuer_ready.get('message') or 'no status yet'}"
    namespace = certificate["metadata"]["namespace"]
    for challenge in challenges:
        meta, spec, status = challenge["metadata"], challenge["spec"], challenge.get("status", {})
        if meta["namespace"] == namespace and spec["dnsName"] == host and status.get("state") != "valid":
            return f"challenge {status.get('state') or 'new'}: {status.get('reason') or 'no reason yet'}"
    name = certificate["metadata"]["name"]
    for order in orders:
        meta, status = order["metadata"], order.get("status", {})
        if (
            meta["namespace"] == namespace
            and meta["name"].startswith(f"{name}-")
            and status.get("state")
            in (
                "errored",
                "invalid",
            )
        ):
            return f"order {status['state']}: {status.get('reason', '')}"
    ready = _condition(certificate, "Ready")
    return f"{ready.get('reason', 'Pending')}: {ready.get('message', 'no status yet')}"


def statuses(custom: Any) -> list[HostStatus]:
    """Every host of every multisite Certificate, through a `CustomObjectsApi`."""

    def listed(group: str, plural: str, **kwargs: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = custom.list_cluster_custom_object(group, "v1", plural, **kwargs)[
            "items"
        ]
        return items

    certificates = listed("cert-manager.io", "certificates", label_selector=SELECTOR)
    issuers = {i["metadata"]["name"]: i for i in listed("cert-manager.io", "clusterissuers")}
    challenges = listed("acme.cert-manager.io", "challenges")
    orders = listed("acme.cert-manager.io", "orders")
    rows = []
    for cert in sorted(certificates, key=lambda c: (c["metadata"]["namespace"], c["metadata"]["name"])):
        ready = _condition(cert, "Ready").get("status") == "True"
        for host in cert["spec"].get("dnsNames") or []:
            rows.append(
                HostStatus(
                    host=host,
                    certificate=f"{cert['metadata']['namespace']}/{cert['metadata']['name']}",
                    ready=ready,
                    issuer=cert["spec"]["issuerRef"]["name"],
                    not_after=cert.get("status", {}).get("notAfter", "-"),
                    reason="" if ready else _reason(cert, host, issuers, challenges, orders),
                    site=cert["spec"]["dnsNames"][0],
                )
            )
    return rows


def a_records(host: str, resolver: str | None) -> tuple[str, ...]:
    """The host's IPv4 addresses, sorted: from `resolver` (HOST[:PORT]) or the system's."""
    if resolver is None:
        try:
            infos = socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_STREAM)
        except socket.gaierror:
            return ()
        return tuple(sorted({str(info[4][0]) for info in infos}))
    server, _, port = resolver.partition(":")
    client = dns.resolver.Resolver(configure=False)
    client.nameservers = [server]
    client.port = int(port or 53)
    try:
        answer = client.resolve(host, "A", lifetime=5)
    except dns.exception.DNSException:
        return ()
    return tuple(sorted(r.to_text() for r in answer))


def with_addresses(rows: list[HostStatus], resolver: str | None) -> list[HostStatus]:
    return [dataclasses.replace(row, addresses=a_records(row.host, resolver)) for row in rows]


def answered(host: str, ip: str, cafile: str | None, site: str = "") -> tuple[str, str, bool]:
    """(HTTP column, HTTPS column, both as they should be) for `host` at `ip`: HTTP redirects to
    `https://<host>/`, or for a site's redirect name to `https://<site>/`; HTTPS answers."""
    from tools.probe import request

    try:
        plain = request(f"http://{host}/", ip)
        targets = {f"https://{host}/", f"https://{site or host}/"}
        redirected = plain["status"] in (301, 308) and plain["location"] in targets
        http = (
            f"{plain['status']} -> {plain['location']}"
            if plain["location"]
            else f"{plain['status']} (no redirect)"
        )
    except (OSError, http_client.HTTPException) as err:
        http, redirected = f"failed: {err}", False
    try:
        secure = request(f"https://{host}/", ip, cafile)
        cert = secure["certificate"]
        issuer = cert["issuer"].rsplit("commonName=", 1)[-1]
        https = f"{secure['status']}, {issuer}, until {cert['not_after']}"
        served = secure["status"] < 500
    except (OSError, http_client.HTTPException) as err:  # ssl.SSLError (no valid certificate) is an OSError
        https, served = f"failed: {err}", False
    return http, https, redirected and served


def with_requests(rows: list[HostStatus], ip: str, cafile: str | None) -> list[HostStatus]:
    out = []
    for row in rows:
        http, https, serving = answered(row.host, ip, cafile, row.site)
        out.append(dataclasses.replace(row, http=http, https=https, serving=serving))
    return out


def render(rows: list[HostStatus], ip: str | None) -> str:
    asked = any(row.http is not None for row in rows)
    header = ["HOST", "CERTIFICATE", "READY", "ISSUER", "EXPIRES"] + (["DNS"] if ip else [])
    header += (["HTTP", "HTTPS"] if asked else []) + ["REASON"]
    table = [header]
    for row in rows:
        line = [row.host, row.certificate, "yes" if row.ready else "NO", row.issuer, row.not_after]
        if ip:
            shown = ",".join(row.addresses or ()) or "no A record"
            line.append(f"-> {ip}" if row.points_at(ip) else f"NOT {ip}: {shown}")
        if asked:
            line += [row.http or "-", row.https or "-"]
        line.append(row.reason)
        table.append(line)
    widths = [max(len(r[i]) for r in table) for i in range(len(header) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(r[:-1], widths, strict=True)) + "  " + r[-1]
        for r in table
    ).rstrip()


def stack_ingress_ip(stack: str) -> str | None:
    """`ingressIp` from `pulumi stack output` of `stack` (None when it has none)."""
    proc = subprocess.run(
        ["pulumi", "stack", "output", "--json", "--stack", stack], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"status: pulumi stack output --stack {stack} failed: {proc.stderr.strip()}")
    value = json.loads(proc.stdout or "{}").get("ingressIp")
    return str(value) if value else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.status", description=__doc__.split("\n\n")[0])
    parser.add_argument("--kubeconfig", type=Path, help="default: $KUBECONFIG or ~/.kube/config")
    parser.add_argument("--context", help="kubeconfig context (default: its current one)")
    parser.add_argument("--ip", help="the address every host must resolve to (the stack's ingressIp)")
    parser.add_argument("--stack", help="take --ip from this stack's ingressIp output")
    parser.add_argument("--resolver", help="DNS server HOST[:PORT] to ask (default: the system's resolver)")
    parser.add_argument(
        "--requests",
        action="store_true",
        help="also request http:// and https:// of every host at --ip: the redirect, and the answer"
        " with the certificate as served",
    )
    parser.add_argument("--cafile", help="roots to verify served certificates with (default: the system's)")
    args = parser.parse_args(argv)
    if args.requests and not (args.ip or args.stack):
        parser.error("--requests needs --ip or --stack (the address to send them to)")

    from kubernetes import client, config

    api = config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=str(args.kubeconfig) if args.kubeconfig else None, context=args.context
    )
    ip = args.ip or (stack_ingress_ip(args.stack) if args.stack else None)
    rows = statuses(client.CustomObjectsApi(api))
    if ip:
        rows = with_addresses(rows, args.resolver)
        if args.requests:
            rows = with_requests(rows, ip, args.cafile)
    if not rows:
        print(f"no multisite Certificates in this cluster (label {SELECTOR})")
        return 1
    print(render(rows, ip))
    healthy = all(r.ready and r.serving and (ip is None or r.points_at(ip)) for r in rows)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
