"""`make mutate`: run mutmut on the product and print what the tests let through.

Runs `mutmut run` from an empty `mutants/` (so every mutant is tested against
the tests as they are now; `--resume` keeps it, and mutmut goes on where an
interrupted run stopped), then prints the score (killed / mutants that can
change behaviour), every surviving mutant with its diff, the equivalent
mutants excluded (tests/mutation-equivalents.txt) and the wall time. Exits
non-zero when the score is under `--fail-under`, or when the equivalents file
names a mutant that no longer exists or that the tests now kill: a stale entry
fails loudly instead of hiding a mutant.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EQUIVALENTS = ROOT / "tests" / "mutation-equivalents.txt"
# Statuses that mean a test failed because of the mutant.
DETECTED = frozenset({"killed", "timeout", "caught by type check"})
UNCHECKED = "not checked"


@dataclass(frozen=True)
class Report:
    """The outcome of one run, with the equivalent mutants taken out."""

    total: int
    """Mutants that can change behaviour: every mutant but the listed equivalents."""
    killed: int
    survivors: tuple[tuple[str, str], ...]
    """(mutant, status) of every mutant that is neither detected nor a listed equivalent."""
    equivalents: tuple[tuple[str, str], ...]
    """(mutant, reason) as listed."""
    problems: tuple[str, ...]
    """Stale entries of the equivalents file."""
    unchecked: int = 0
    """Mutants the last run did not test (a run of some mutants only); not in the score."""

    @property
    def score(self) -> float:
        return 100.0 * self.killed / self.total if self.total else 100.0


def parse_equivalents(text: str) -> tuple[dict[str, str], list[str]]:
    """`<mutant id> <reason>` per line (blank lines and `#` comments ignored).

    Returns (reason by mutant, problems): a line without a reason, or an id
    listed twice, is a problem.
    """
    reasons: dict[str, str] = {}
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        mutant, _, reason = line.partition(" ")
        if not reason.strip():
            problems.append(f"line {number}: {mutant}: no reason given")
        elif mutant in reasons:
            problems.append(f"line {number}: {mutant}: listed twice")
        else:
            reasons[mutant] = reason.strip()
    return reasons, problems


def summarize(statuses: Mapping[str, str], equivalents: Mapping[str, str]) -> Report:
    """Score `statuses` (mutant -> mutmut status) with `equivalents` excluded."""
    problems = []
    for mutant in equivalents:
        status = statuses.get(mutant)
        if status is None:
            problems.append(f"{mutant}: listed as equivalent but there is no such mutant (remove the line)")
        elif status not in ("survived", UNCHECKED):
            problems.append(f"{mutant}: listed as equivalent but it is {status} (remove the line)")
    # Only a surviving mutant can be equivalent; a stale entry excludes nothing.
    counted = {
        m: s for m, s in statuses.items() if s != UNCHECKED and not (m in equivalents and s == "survived")
    }
    return Report(
        total=len(counted),
        killed=sum(1 for s in counted.values() if s in DETECTED),
        survivors=tuple(sorted((m, s) for m, s in counted.items() if s not in DETECTED)),
        equivalents=tuple(sorted(equivalents.items())),
        problems=tuple(problems),
        unchecked=sum(1 for s in statuses.values() if s == UNCHECKED),
    )


def load_statuses() -> dict[str, str]:
    """mutant -> status from the last `mutmut run` (run from the repository root)."""
    from mutmut.mutation.data import SourceFileMutationData
    from mutmut.stats import status_by_exit_code
    from mutmut.utils.file_utils import walk_mutatable_files

    statuses: dict[str, str] = {}
    for path in walk_mutatable_files():
        data = SourceFileMutationData(path=path)
        data.load()
        statuses.update({m: status_by_exit_code[code] for m, code in data.exit_code_by_key.items()})
    return statuses


def diff_of(mutant: str) -> str:
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    return get_diff_for_mutant(mutant)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-children", type=int, default=2, help="parallel mutant runs (default 2)")
    parser.add_argument("--fail-under", type=float, default=95.0, help="minimum score in percent")
    parser.add_argument("--no-run", action="store_true", help="report on the last run only")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep mutants/: test only the mutants the last run left without a verdict"
        " (an interrupted run goes on) and those whose function changed since",
    )
    args = parser.parse_args(argv)

    started = time.monotonic()
    if not args.no_run:
        if not args.resume:
            shutil.rmtree(ROOT / "mutants", ignore_errors=True)
        run = subprocess.run(
            [sys.executable, "-m", "mutmut", "run", "--max-children", str(args.max_children)], cwd=ROOT
        )
        if run.returncode != 0:
            print(f"mutmut run failed (exit {run.returncode})", file=sys.stderr)
            return run.returncode
    elapsed = time.monotonic() - started

    equivalents, problems = parse_equivalents(EQUIVALENTS.read_text())
    report = summarize(load_statuses(), equivalents)
    problems += report.problems
    if report.unchecked and not args.no_run:
        problems.append(f"{report.unchecked} mutants were not tested")

    print("\n\n=== surviving mutants ===")
    for mutant, status in report.survivors:
        print(f"\n# {mutant}: {status}\n{diff_of(mutant)}")
    print(f"\n=== equivalent mutants excluded ({EQUIVALENTS.relative_to(ROOT)}) ===")
    for mutant, reason in report.equivalents:
        print(f"{mutant}: {reason}")
    for problem in problems:
        print(f"PROBLEM: {problem}")
    print(
        f"\nmutation score: {report.killed}/{report.total} killed = {report.score:.1f}%"
        f" ({len(report.survivors)} survived, {len(report.equivalents)} equivalent excluded"
        + (f", {report.unchecked} not tested in the last run" if report.unchecked else "")
        + ")"
    )
    if not args.no_run:
        resumed = " (this invocation; the run was resumed)" if args.resume else ""
        print(f"wall time of the mutation run: {elapsed / 60:.1f} min ({elapsed:.0f} s){resumed}")
    if problems:
        return 1
    if report.score < args.fail_under:
        print(f"score under {args.fail_under:g}%")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
