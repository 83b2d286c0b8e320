"""The demo, read as a newcomer reads it (issue 22): `up` shows each resource once, as the CLI's
display does, and every command it prints is one that ran and that a user can paste and run again."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from pulumi import automation as auto
from pulumi.automation import events

from tools import demo
from tools.demo import Progress, node_commands, run_shown
from tools.engine_env import REPO_ROOT
from tools.sandbox import DEFAULT_DIR, Sandbox, network, pebble

NAMESPACE = "urn:pulumi:local::multisite::kubernetes:core/v1:Namespace::cert-manager"


def _step(op: str) -> events.StepEventMetadata:
    return events.StepEventMetadata(
        op=events.OpType(op), urn=NAMESPACE, type="kubernetes:core/v1:Namespace", provider=""
    )


def _event(seq: int, **kind: object) -> auto.EngineEvent:
    return auto.EngineEvent(sequence=seq, timestamp=0, **kind)  # type: ignore[arg-type]


def test_up_progress_shows_each_resource_once_when_it_is_done() -> None:
    lines: list[str] = []
    progress = Progress(lines.append)
    progress(_event(1, resource_pre_event=events.ResourcePreEvent(_step("create"))))
    for message in ("[1/2] Waiting for namespace", "[2/2] Namespace ready"):  # the repeated status lines
        diag = events.DiagnosticEvent(message, "never", "info", ephemeral=True, urn=NAMESPACE)
        progress(_event(2, diagnostic_event=diag))
    progress(_event(3, res_outputs_event=events.ResOutputsEvent(_step("create"))))
    assert len(lines) == 1
    assert lines[0].startswith(" +  kubernetes:core/v1:Namespace cert-manager created (")


def test_up_progress_keeps_warnings_and_hides_unchanged_resources() -> None:
    lines: list[str] = []
    progress = Progress(lines.append)
    progress(_event(1, res_outputs_event=events.ResOutputsEvent(_step("same"))))
    warning = events.DiagnosticEvent("deprecated field\n", "never", "warning", ephemeral=False, urn=NAMESPACE)
    progress(_event(2, diagnostic_event=warning))
    assert lines == ["    warning cert-manager: deprecated field"]


def test_a_printed_command_is_the_one_that_ran_and_pastes_back(capfd: pytest.CaptureFixture[str]) -> None:
    command = ["sh", "-c", 'echo "ran in $PWD"']
    assert run_shown(command) == 0
    shown, ran = capfd.readouterr().out.strip().splitlines()
    assert shlex.split(shown.removeprefix("$ ")) == command
    assert ran == f"ran in {REPO_ROOT}"  # it runs from the repository, where its relative paths hold


def test_the_demo_runs_status_and_real_curl_inside_the_node_namespace() -> None:
    sandbox = Sandbox(DEFAULT_DIR, cluster=True)
    root = DEFAULT_DIR / "acme-root.pem"
    status, http, https, redirect = node_commands(sandbox, root)
    netns = ["netns", "exec", sandbox.node.netns]
    for command in (status, http, https, redirect):
        assert Path(command[0]).name == "ip" and command[1:4] == netns
    assert status[5:7] == ["-m", "tools.status"]
    for command, url, resolve in (
        (http, "http://www.example.com/", "www.example.com:80"),
        (https, "https://www.example.com/", "www.example.com:443"),
        # Pulumi.local.yaml's redirect name, with a path and query it keeps
        (redirect, "https://old-brand.example.net/a/page?x=1", "old-brand.example.net:443"),
    ):
        assert command[4] == "curl" and command[-1] == url
        assert f"{resolve}:{pebble.EDGE_IP}" in command
        assert command[command.index("--cacert") + 1] == ".sandbox/acme-root.pem"


def test_up_ends_with_the_count_of_changes_and_the_duration_as_the_cli_does() -> None:
    # The CLI's closing lines, from a real `up` of the local stack (tests/e2e, on_output):
    # "Resources:", "    + 22 created", "", "Duration: 37s".
    lines: list[str] = []
    summary = events.SummaryEvent(False, 37, {events.OpType.CREATE: 22}, {})
    Progress(lines.append)(_event(1, summary_event=summary))
    assert "\n".join(lines) == "\nResources:\n    + 22 created\n\nDuration: 37s"


def test_without_curl_the_demo_stops_before_starting_anything(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(network, "available", lambda: None)  # as if root with iproute2
    monkeypatch.setattr(network, "which", lambda name: None if name == "curl" else f"/usr/bin/{name}")
    monkeypatch.setattr(demo, "Sandbox", None)  # a sandbox start would fail loudly
    monkeypatch.setattr("sys.argv", ["tools.demo"])
    assert demo.main() == 1
    assert capsys.readouterr().err == "make demo needs the `curl` command for its requests through the edge\n"
