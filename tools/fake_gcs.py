"""fake-gcs-server on loopback as the state backend of `pulumi` (`gs://`).

Pulumi's Google Cloud Storage backend (pkg/backend/diy, through gocloud.dev's
gcsblob) sends every request to `STORAGE_EMULATOR_HOST` over plain HTTP,
unauthenticated, when that is set; `GOOGLE_OAUTH_ACCESS_TOKEN` only keeps its
credential lookup from asking for Google's default credentials. So a stack
can keep its state in the emulator with no network and no Google account:

    with FakeGcs.start(engine["MULTISITE_FAKE_GCS_SERVER"], work) as gcs:
        project.pulumi("up", "--yes", env=gcs.env)
        state = json.loads(gcs.read(".pulumi/stacks/multisite/local.json"))
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

#: The bucket the state goes to.
STATE_BUCKET = "multisite-state"


@dataclass(frozen=True)
class FakeGcs:
    """A running fake-gcs-server with an empty `STATE_BUCKET`."""

    base_url: str
    """`http://127.0.0.1:<port>`"""

    @property
    def env(self) -> dict[str, str]:
        """The environment that points `pulumi` at the bucket."""
        return {
            "PULUMI_BACKEND_URL": f"gs://{STATE_BUCKET}",
            "STORAGE_EMULATOR_HOST": self.base_url.removeprefix("http://"),
            "GOOGLE_OAUTH_ACCESS_TOKEN": "unused-by-the-emulator",
        }

    def read(self, name: str) -> bytes:
        """The content of object `name` of the bucket (JSON API media download)."""
        url = f"{self.base_url}/storage/v1/b/{STATE_BUCKET}/o/{urllib.parse.quote(name, safe='')}?alt=media"
        with urllib.request.urlopen(url, timeout=30) as response:
            return bytes(response.read())

    @classmethod
    @contextmanager
    def start(cls, binary: str, directory: Path) -> Iterator[FakeGcs]:
        """Run `binary` (`MULTISITE_FAKE_GCS_SERVER`) on a free loopback port, in
        memory, with its log in `directory`; stopped on exit."""
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        log = open(directory / "fake-gcs-server.log", "w")  # noqa: SIM115 (closed below)
        # Reads come as /<bucket>/<object> (the XML API's path), which the
        # server only routes for requests to its -public-host.
        host = f"127.0.0.1:{port}"
        argv = [binary, "-scheme", "http", "-host", "127.0.0.1", "-port", str(port), "-public-host", host]
        proc = subprocess.Popen([*argv, "-backend", "memory"], stdout=log, stderr=subprocess.STDOUT)
        gcs = cls(f"http://{host}")
        try:
            gcs._create_bucket(proc, log.name)
            yield gcs
        finally:
            proc.terminate()
            proc.wait(timeout=15)
            log.close()

    def _create_bucket(self, proc: subprocess.Popen[bytes], log: str) -> None:
        """Create `STATE_BUCKET`, retrying until the server listens (30 s)."""
        request = urllib.request.Request(
            f"{self.base_url}/storage/v1/b?project=multisite",
            data=json.dumps({"name": STATE_BUCKET}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(request, timeout=5).close()
                return
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"fake-gcs-server did not start; see {log}") from None
                time.sleep(0.2)
