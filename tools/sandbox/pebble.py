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

The DNS server is a process of its own (``dns``). Pebble signs with a root
it makes at start, served by its management interface at ``ROOT_URL``
(``root`` reads it; ``Sandbox.acme_root``).
"""

from __future__ import annotations

import json
import os

from tools.engine_env import engine_env
from tools.sandbox import network, pki
from tools.sandbox.process import Command, SandboxError
from tools.sandbox.state import SandboxState

NAME = "pebble"
PORT = 14000
MANAGEMENT_PORT = 15000
DNS = f"{network.NODE_IP}:53"
DIRECTORY = f"https://{network.NODE_IP}:{PORT}/dir"
ROOT_URL = f"https://{network.NODE_IP}:{MANAGEMENT_PORT}/roots/0"
# The first LoadBalancer Service's address (tools.sandbox.load_balancer): the edge.
EDGE_IP = str(network.LB_NETWORK.network_address + 1)
CONFIG = "pebble-config.json"


def prepare(sb: SandboxState) -> None:
    """Pebble's serving certificate (sandbox CA) and its config file."""
    pki.serving_cert(
        sb.pki,
        "pebble",
        common_name="pebble",
        alt_names=[f"IP:{network.NODE_IP}", "DNS:pebble", "DNS:localhost"],
        days=30,
        key_usage="digitalSignature",
    )
    config = {
        "pebble": {
            "listenAddress": f"0.0.0.0:{PORT}",
            "managementListenAddress": f"0.0.0.0:{MANAGEMENT_PORT}",
            "certificate": str(sb.pki / "pebble.crt"),
            "privateKey": str(sb.pki / "pebble.key"),
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
    (sb.directory / CONFIG).write_text(json.dumps(config, indent=2) + "\n")


def command(sb: SandboxState) -> Command:
    argv = [engine_env()["MULTISITE_PEBBLE"], "-config", str(sb.directory / CONFIG), "-dnsserver", DNS]
    return Command(argv, {**os.environ, **pebble_env(always_valid=sb.acme_always_valid)}, in_node=True)


def ready(sb: SandboxState) -> bool:
    """At once: the ACME issuer retries until it answers."""
    return True


def pebble_env(*, always_valid: bool = False) -> dict[str, str]:
    """Pebble's switches: no random sleeps or nonce rejections (tests stay quick and
    deterministic); `always_valid` skips validation altogether."""
    env = {"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0", "PEBBLE_AUTHZREUSE": "0"}
    if always_valid:
        env["PEBBLE_VA_ALWAYS_VALID"] = "1"
    return env


# Fetched by a Python child in the node namespace, where Pebble's address is.
_FETCH = (
    "import ssl,sys,urllib.request;"
    "c=ssl.create_default_context(cafile=sys.argv[2]);"
    "sys.stdout.write(urllib.request.urlopen(sys.argv[1],context=c,timeout=5).read().decode())"
)


def root(sb: SandboxState) -> str:
    """The PEM root certificate Pebble signs with (it makes a new one at each start)."""
    proc = sb.run_python_in_node(
        "-c", _FETCH, ROOT_URL, str(sb.pki / "ca.crt"), capture_output=True, timeout=30
    )
    if proc.returncode != 0:
        raise SandboxError(f"could not read the ACME CA's root from {ROOT_URL}: {proc.stderr[-400:]}")
    return proc.stdout
