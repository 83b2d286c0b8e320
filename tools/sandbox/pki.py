"""The sandbox's PKI, made with the ``openssl`` CLI: a CA, serving certificates, keys and tokens.

Everything lives in the sandbox's ``pki/`` directory:

* ``ca.key``/``ca.crt``: the sandbox CA (EC P-256, ten years). It signs every
  serving certificate, and the kubeconfigs and the ACME issuer trust it;
* ``<name>.key``/``.crt`` (``serving_cert``): a server's certificate for the
  names and addresses it is reached at (``server.*`` for kube-apiserver,
  ``pebble.*`` for the ACME CA);
* ``sa.key``/``sa.pub``: the service-account signing key pair;
* ``tokens.csv``: kube-apiserver's static tokens.
"""

from __future__ import annotations

import base64
import secrets
import shutil
import subprocess
from pathlib import Path

from tools.sandbox.process import SandboxError

CLUSTER_NAME = "multisite-sandbox"
_EC = ("-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256")


def openssl(pki: Path, *args: str) -> None:
    """Run `openssl ARGS` in `pki`; SandboxError with its message on failure."""
    binary = shutil.which("openssl")
    if not binary:
        raise SandboxError("the openssl command is needed to make the sandbox certificates")
    proc = subprocess.run([binary, *args], cwd=pki, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SandboxError(f"openssl {' '.join(args)} failed: {proc.stderr.strip()}")


def make(pki: Path, token: str) -> None:
    """The CA, the service-account key pair, and the static tokens: `token` for the
    admin (group ``system:masters``), a fresh one for the controller manager."""
    pki.mkdir(parents=True, exist_ok=True)
    openssl(pki, "genpkey", *_EC, "-out", "ca.key")
    openssl(
        pki, "req", "-x509", "-new", "-key", "ca.key", "-days", "3650", "-out", "ca.crt",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-subj", f"/CN={CLUSTER_NAME}-ca",
    )  # fmt: skip
    openssl(pki, "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "sa.key")
    openssl(pki, "pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub")
    # Static token file: token,user,uid,"group1,group2"
    # The controller manager signs in as the user its bootstrap RBAC role is bound to.
    (pki / "tokens.csv").write_text(
        f'{token},sandbox-admin,sandbox-admin,"system:masters"\n'
        f"{secrets.token_hex(24)},system:kube-controller-manager,system:kube-controller-manager\n"
    )
    for p in pki.iterdir():
        p.chmod(0o600)


def serving_cert(
    pki: Path, name: str, *, common_name: str, alt_names: list[str], days: int, key_usage: str
) -> None:
    """`<name>.key` and `<name>.crt` (EC P-256, signed by the CA) for a server
    reached at `alt_names` (``IP:...``/``DNS:...``)."""
    openssl(pki, "genpkey", *_EC, "-out", f"{name}.key")
    openssl(pki, "req", "-new", "-key", f"{name}.key", "-subj", f"/CN={common_name}", "-out", f"{name}.csr")
    (pki / f"{name}.ext").write_text(
        f"basicConstraints=CA:FALSE\nkeyUsage=critical,{key_usage}\nextendedKeyUsage=serverAuth\n"
        f"subjectAltName={','.join(alt_names)}\n"
    )
    openssl(
        pki, "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-days", str(days),
        "-extfile", f"{name}.ext", "-set_serial", str(secrets.randbits(63)), "-out", f"{name}.crt",
    )  # fmt: skip
    for suffix in ("key", "csr", "ext", "crt"):
        (pki / f"{name}.{suffix}").chmod(0o600)


def token(pki: Path, user: str) -> str:
    """`user`'s static token from tokens.csv."""
    lines = (pki / "tokens.csv").read_text().splitlines()
    return next(line.split(",", 1)[0] for line in lines if line.split(",")[1] == user)


def kubeconfig_yaml(server: str, ca_pem: bytes, token: str, *, user: str = "sandbox-admin") -> str:
    """A kubeconfig for the API server at `server` (CA `ca_pem`), as `user` with `token`."""
    ca = base64.b64encode(ca_pem).decode()
    return (
        "apiVersion: v1\n"
        "kind: Config\n"
        "clusters:\n"
        f"- name: {CLUSTER_NAME}\n"
        "  cluster:\n"
        f"    server: {server}\n"
        f"    certificate-authority-data: {ca}\n"
        "users:\n"
        f"- name: {user}\n"
        "  user:\n"
        f"    token: {token}\n"
        "contexts:\n"
        f"- name: {CLUSTER_NAME}\n"
        "  context:\n"
        f"    cluster: {CLUSTER_NAME}\n"
        f"    user: {user}\n"
        "    namespace: default\n"
        f"current-context: {CLUSTER_NAME}\n"
    )


def write_kubeconfig(path: Path, pki: Path, server: str, user: str = "sandbox-admin") -> Path:
    """Write a kubeconfig (mode 0600) for `user` (its token from tokens.csv) at `server`."""
    path.write_text(kubeconfig_yaml(server, (pki / "ca.crt").read_bytes(), token(pki, user), user=user))
    path.chmod(0o600)
    return path
