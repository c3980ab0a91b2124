"""The CEL specification's conformance tests, per file: Roster next to cel-python, same run.

    python bench/cel_conformance.py [--failures] [--file NAME]

Runnable tests are those that need no protobuf message types, containers or unknowns (see
tests/cel_conformance/runner.py). "wrong" counts values returned where the specification
expects an error or another value (silently wrong results); "crash" counts exceptions that are
not the evaluator's own errors. `--failures` lists Roster's failing tests with the reason.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.cel_conformance.runner import (  # noqa: E402
    ALL_FILES,
    CORE_FILES,
    PASS,
    Tally,
    load_file,
    run_celpy,
    run_roster,
    runnable,
)


def main() -> None:
    arguments = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    arguments.add_argument("--failures", action="store_true", help="list Roster's failures")
    arguments.add_argument("--file", action="append", help="only these files (repeatable)")
    options = arguments.parse_args()
    files = tuple(options.file) if options.file else ALL_FILES

    started = time.perf_counter()
    rows = []
    failures = []
    core = (Tally(), Tally())
    for stem in files:
        ours, theirs = Tally(), Tally()
        for case in runnable(load_file(stem)):
            outcome = run_roster(case)
            ours.add(outcome)
            theirs.add(run_celpy(case))
            if outcome.kind != PASS:
                failures.append((case.id, outcome))
        rows.append((stem, ours, theirs))
        if stem in CORE_FILES:
            for total, tally in zip(core, (ours, theirs), strict=True):
                total.runnable += tally.runnable
                total.passed += tally.passed
                total.wrong += tally.wrong
                total.errors += tally.errors
                total.crashes += tally.crashes

    header = (
        f"{'file':<14} {'tests':>5} │ {'roster':>6} {'%':>6} {'wrong':>5} {'crash':>5} │ "
        f"{'cel-python':>10} {'%':>6} {'wrong':>5} {'crash':>5}"
    )
    print(header)
    print("─" * len(header))

    def line(name: str, ours: Tally, theirs: Tally) -> str:
        return (
            f"{name:<14} {ours.runnable:>5} │ {ours.passed:>6} {ours.rate:>6.1%} {ours.wrong:>5} "
            f"{ours.crashes:>5} │ {theirs.passed:>10} {theirs.rate:>6.1%} {theirs.wrong:>5} "
            f"{theirs.crashes:>5}"
        )

    for stem, ours, theirs in rows:
        print(line(stem, ours, theirs))
    print("─" * len(header))
    if core[0].runnable:
        print(line("core (15)", *core))
    print(f"\n{time.perf_counter() - started:.1f} s")
    if options.failures:
        print()
        for test_id, outcome in failures:
            print(f"{outcome.kind:<11} {test_id}  {outcome.detail}")


if __name__ == "__main__":
    main()
