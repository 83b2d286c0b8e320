"""The sandbox cluster's certificate authority: Pebble, and its DNS server.

Pebble is Let's Encrypt's ACME test server (github.com/letsencrypt/pebble).
It runs in the node namespace and serves its ACME directory at
``DIRECTORY`` over HTTPS with a certificate from the sandbox CA, so a
ClusterIssuer reaches it with `acme.servers` and trusts it with
`acme.caBundle` = the sandbox CA. Its validation authority resolves names
through pebble-challtestsrv's DNS server, which answers every name with the
edge's load-balancer address, and fetches HTTP-01 tokens on port 80 there:
through the edge, as Let's Encrypt would. Pods use the same DNS server
(their resolv.conf), so cert-manager's own self-check takes the same road.

Pebble signs with a root it makes at start, served by its management
interface at ``ROOT_URL`` (``Sandbox.acme_root`` reads it).
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
from pathlib import Path

from tools.sandbox import network

PORT = 14000
MANAGEMENT_PORT = 15000
DNS = f"{network.NODE_IP}:53"
DIRECTORY = f"https://{network.NODE_IP}:{PORT}/dir"
ROOT_URL = f"https://{network.NODE_IP}:{MANAGEMENT_PORT}/roots/0"
# The first LoadBalancer Service's address (tools.sandbox.load_balancer): the edge.
EDGE_IP = str(network.LB_NETWORK.network_address + 1)


def _openssl(pki: Path, *args: str) -> None:
    proc = subprocess.run(
        [shutil.which("openssl") or "openssl", *args], cwd=pki, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)}: {proc.stderr.strip()}")


def prepare(directory: Path, pki: Path) -> Path:
    """Pebble's serving certificate (sandbox CA) and config file; returns the config path."""
    _openssl(pki, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "pebble.key")
    _openssl(pki, "req", "-new", "-key", "pebble.key", "-subj", "/CN=pebble", "-out", "pebble.csr")
    (pki / "pebble.ext").write_text(
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
        f"subjectAltName=IP:{network.NODE_IP},DNS:pebble,DNS:localhost\n"
    )
    _openssl(
        pki, "x509", "-req", "-in", "pebble.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-days", "30",
        "-extfile", "pebble.ext", "-set_serial", str(secrets.randbits(63)), "-out", "pebble.crt",
    )  # fmt: skip
    config = {
        "pebble": {
            "listenAddress": f"0.0.0.0:{PORT}",
            "managementListenAddress": f"0.0.0.0:{MANAGEMENT_PORT}",
            "certificate": str(pki / "pebble.crt"),
            "privateKey": str(pki / "pebble.key"),
            # Where the validation authority connects for HTTP-01 and TLS-ALPN-01: the edge's ports.
            "httpPort": 80,
            "tlsPort": 443,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
            "retryAfter": {"authz": 1, "order": 1},
            "keyAlgorithm": "ecdsa",
            "profiles": {"default": {"description": "sandbox", "validityPeriod": 7776000}},
        }
    }
    path = directory / "pebble-config.json"
    path.write_text(json.dumps(config, indent=2) + "\n")
    return path


def pebble_command(env: dict[str, str], config: Path) -> list[str]:
    return [env["MULTISITE_PEBBLE"], "-config", str(config), "-dnsserver", DNS]


def pebble_env(*, always_valid: bool = False) -> dict[str, str]:
    """Pebble's switches: no random sleeps or nonce rejections (tests stay quick and
    deterministic); `always_valid` skips validation altogether."""
    env = {"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0", "PEBBLE_AUTHZREUSE": "0"}
    if always_valid:
        env["PEBBLE_VA_ALWAYS_VALID"] = "1"
    return env


def dns_command(env: dict[str, str]) -> list[str]:
    """pebble-challtestsrv as a plain DNS server: every name -> the edge's address."""
    return [
        env["MULTISITE_PEBBLE_CHALLTESTSRV"],
        "-dnsserver", DNS, "-defaultIPv4", EDGE_IP, "-defaultIPv6", "",
        "-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "",
        "-management", f"{network.NODE_IP}:8055",
    ]  # fmt: skip
