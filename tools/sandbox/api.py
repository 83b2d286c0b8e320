"""The sandbox's own Kubernetes API client: stdlib only, for its processes.

The sandbox's processes (the start-up wait, the node agent, the load
balancer) run with nothing but the standard library and sign in with the
sandbox's static admin token; the official client is for tests and tools.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"


class ApiClient:
    """Requests to one API server with a bearer token, trusting one CA file."""

    def __init__(self, server: str, ca_file: Path, token: str) -> None:
        self.server = server
        self.token = token
        self.context = ssl.create_default_context(cafile=str(ca_file))

    @classmethod
    def admin(cls, directory: Path, server: str) -> ApiClient:
        """The sandbox admin (first line of `pki/tokens.csv`) at `server`."""
        token = (directory / "pki" / "tokens.csv").read_text().split(",", 1)[0]
        return cls(server, directory / "pki" / "ca.crt", token)

    def request(
        self, method: str, path: str, body: Any = None, *, content_type: str = JSON, timeout: float = 15.0
    ) -> tuple[int, Any]:
        """(HTTP status, decoded JSON body, or its text when it is not JSON).

        An HTTP error status is returned, not raised; a failed connection raises
        OSError (`urllib.error.URLError` is one)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.server + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        req.add_header("Accept", JSON)
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, context=self.context, timeout=timeout) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode(errors="replace")

    def read(self, path: str, *, timeout: float = 15.0) -> Any:
        """GET `path`; its JSON body. An error status raises OSError naming it."""
        status, body = self.request("GET", path, timeout=timeout)
        if status != 200:
            raise OSError(f"GET {path}: HTTP {status}: {str(body)[:200]}")
        return body
