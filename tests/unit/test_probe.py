"""`tools.probe`: one request as a browser makes it, to a given address (loopback here)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import ClassVar

import pytest

from tools.probe import request


class _Recorder(http.server.BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, str | None]]] = []

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("Host")))
        self.send_response(308)
        self.send_header("Location", "https://www.example.com/")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[int]:
    httpd = http.server.HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def test_the_path_and_query_are_sent_with_the_urls_host(server: int) -> None:
    _Recorder.seen.clear()
    answer = request(f"http://old.example.net:{server}/a/page?x=1&y=2", "127.0.0.1")
    assert _Recorder.seen == [("/a/page?x=1&y=2", f"old.example.net:{server}")]
    assert (answer["status"], answer["location"]) == (308, "https://www.example.com/")
    request(f"http://old.example.net:{server}", "127.0.0.1")
    assert _Recorder.seen[-1][0] == "/"
