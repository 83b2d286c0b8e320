"""One request to a host at a given address, as a browser would make it: `curl --resolve` in stdlib.

    python -m tools.probe URL --connect IP [--cafile PEM]

Connects to IP, sends the URL's host as SNI and Host header, verifies the
server's certificate for that host name against --cafile (default: the
system's roots), and does not follow redirects. Prints one JSON object
(status, location, body, and for HTTPS the served certificate's names,
issuer and expiry).
`tools.status --requests` uses it for every host; on the sandbox cluster it
runs inside the node (`Sandbox.run_in_node`), where the edge's address is.
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import ssl
import sys
import urllib.parse
from typing import Any


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float, context: ssl.SSLContext) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self.address = address
        self.tls_context = context

    def connect(self) -> None:
        raw = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self.tls_context.wrap_socket(raw, server_hostname=self.host)


def _name(parts: Any) -> str:
    return ", ".join(f"{k}={v}" for rdn in parts for k, v in rdn)


def request(url: str, address: str, cafile: str | None = None, timeout: float = 10.0) -> dict[str, Any]:
    """GET `url` from `address` (SNI and Host: the URL's host); the answer and, for HTTPS, the certificate."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        context = ssl.create_default_context(cafile=cafile)
        conn = _PinnedHTTPS(host, parts.port or 443, address, timeout, context)
    else:
        conn = _PinnedHTTP(host, parts.port or 80, address, timeout)
    try:
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn.request("GET", target, headers={"User-Agent": "multisite-probe", "Accept": "*/*"})
        response = conn.getresponse()
        body = response.read(4096).decode(errors="replace")
        result: dict[str, Any] = {
            "url": url,
            "status": response.status,
            "reason": response.reason,
            "location": response.getheader("Location"),
            "headers": dict(response.getheaders()),
            "body": body,
        }
        if isinstance(conn.sock, ssl.SSLSocket):
            cert: dict[str, Any] = dict(conn.sock.getpeercert() or {})
            result["certificate"] = {
                "names": sorted(v for k, v in cert.get("subjectAltName", ()) if k == "DNS"),
                "issuer": _name(cert.get("issuer", ())),
                "not_after": cert.get("notAfter"),
            }
        return result
    finally:
        conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.probe", description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("--connect", required=True, help="the address to connect to (the edge's)")
    parser.add_argument("--cafile", help="trust these roots (PEM); default: the system's")
    args = parser.parse_args(argv)
    try:
        result = request(args.url, args.connect, args.cafile)
    except (OSError, ssl.SSLError, http.client.HTTPException) as err:
        print(json.dumps({"url": args.url, "error": f"{type(err).__name__}: {err}"}))
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
