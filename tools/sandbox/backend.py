"""The sandbox's stand-in for a site's web server image (see `kubelet.STAND_INS`).

    python -m tools.sandbox.backend --port 8080

Answers every GET with 200 and a short page naming the pod and the Host it
was asked for, so a test can tell which backend answered. Test-only: the
sandbox has no container images, and a site's real image (nginx, for the
local stack) would answer the same way for these purposes.
"""

from __future__ import annotations

import argparse
import http.server
import os
import sys


class _Handler(http.server.BaseHTTPRequestHandler):
    server_version = "multisite-sandbox-backend"

    def do_GET(self) -> None:
        pod = os.environ.get("HOSTNAME", "?")
        data = f"multisite sandbox backend {pod}: {self.headers.get('Host')}{self.path}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        sys.stderr.write(f"{self.address_string()} {format % args}\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.sandbox.backend", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    http.server.ThreadingHTTPServer(("0.0.0.0", args.port), _Handler).serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
