"""The arithmetic and bookkeeping of `make mutate` (scripts/mutation_report.py)."""

from __future__ import annotations

import os
import sys

import pytest

from scripts.mutation_report import parse_equivalents, summarize
from tests.unit.test_program import program_run_scope


def test_equivalents_need_a_reason_and_are_listed_once() -> None:
    text = "# header\n\na.x_f__mutmut_1 the copy is never mutated\na.x_f__mutmut_2\na.x_f__mutmut_1 again\n"
    reasons, problems = parse_equivalents(text)
    assert reasons == {"a.x_f__mutmut_1": "the copy is never mutated"}
    assert problems == ["line 4: a.x_f__mutmut_2: no reason given", "line 5: a.x_f__mutmut_1: listed twice"]


def test_score_leaves_out_equivalents_and_counts_only_detected_mutants() -> None:
    statuses = {
        "m.k1": "killed",
        "m.k2": "timeout",
        "m.s1": "survived",
        "m.n1": "no tests",
        "m.e1": "survived",
    }
    report = summarize(statuses, {"m.e1": "same result"})
    assert (report.killed, report.total) == (2, 4)
    assert report.score == 50.0
    assert report.survivors == (("m.n1", "no tests"), ("m.s1", "survived"))
    assert report.equivalents == (("m.e1", "same result"),)
    assert report.problems == ()


def test_stale_equivalents_fail_loudly() -> None:
    report = summarize({"m.k1": "killed"}, {"m.k1": "x", "m.gone": "y"})
    assert report.problems == (
        "m.k1: listed as equivalent but it is killed (remove the line)",
        "m.gone: listed as equivalent but there is no such mutant (remove the line)",
    )
    assert report.total == 1 and report.killed == 1  # a killed entry still counts as killed


def test_mutants_a_partial_run_did_not_test_are_left_out_and_counted() -> None:
    report = summarize({"m.k1": "killed", "m.u1": "not checked", "m.u2": "not checked"}, {"m.u2": "x"})
    assert (report.killed, report.total, report.unchecked) == (1, 1, 2)
    assert report.survivors == () and report.problems == ()


class _StatsCollected(Exception):
    """Raised by the fake runner once it has seen the scope; ends the collection early."""


def test_program_runs_once_per_test_while_mutmut_collects_stats(
    monkeypatch: pytest.MonkeyPatch, pytestconfig: pytest.Config
) -> None:
    """The pinned mutmut's stats collection makes tests/unit/test_program.py run per test.

    mutmut credits a module fixture's calls to the first test that used it, so
    a program mutant would meet only that test (docs/development.md "Mutation testing").
    This fails if a mutmut upgrade stops marking its stats collection the way
    `program_run_scope` reads it.
    """
    import mutmut.__main__ as mutmut_main
    from mutmut.mutation.trampoline import set_mutant_under_test

    # mutmut sets variables of its own; they go to a copy, not this session's environment.
    environ = {name: value for name, value in os.environ.items() if name != "MUTANT_UNDER_TEST"}
    monkeypatch.setattr(os, "environ", environ)
    monkeypatch.setattr(sys, "stdout", sys.stdout)  # mutmut's output catcher resets both
    monkeypatch.setattr(sys, "stderr", sys.stderr)
    assert program_run_scope("dev", pytestconfig) == "module"

    seen: list[str] = []

    class Runner:
        def collect_stats(self, tests: object) -> int:
            seen.append(program_run_scope("dev", pytestconfig))
            raise _StatsCollected

    try:
        with pytest.raises(_StatsCollected):
            mutmut_main.run_stats_collection(Runner())  # type: ignore[arg-type]  # only collect_stats is called
    finally:
        set_mutant_under_test(None)
    assert seen == ["function"]
