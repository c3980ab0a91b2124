"""The CEL specification's conformance suite, run through Roster's own compile and evaluate.

Every runnable test of the vendored files (tests/cel_conformance/data, google/cel-spec; see
data/ORIGIN.md) is one case here. A test that cannot pass yet is listed by name, with the
reason, in tests/cel_conformance/known_failures.txt; a listed test that passes fails this run
(remove it: the list only shrinks), and so does a failing test that is not listed. A value
where the specification expects an error or another value is tolerated only while it is
listed as a `wrong value` (none is left, and the core check allows none), and no test may
crash. `python bench/cel_conformance.py` prints the table per file next to cel-python.
"""

from __future__ import annotations

import pytest

from tests.cel_conformance.runner import (
    ALL_FILES,
    CORE_FILES,
    CRASH,
    PASS,
    WRONG,
    Case,
    Tally,
    known_failures,
    load_cases,
    run_roster,
)

# The share of the core files' runnable tests that must pass. Raise it when fixes land; never
# lower it.
CORE_FLOOR = 0.97

CASES = load_cases(ALL_FILES)
RUNNABLE = [case for case in CASES if not case.skip]
KNOWN = known_failures()


@pytest.mark.parametrize("case", RUNNABLE, ids=[case.id for case in RUNNABLE])
def test_conformance(case: Case) -> None:
    outcome = run_roster(case)
    reason = KNOWN.get(case.id)
    if outcome.kind == PASS:
        assert reason is None, (
            f"{case.id} passes now: remove it from tests/cel_conformance/known_failures.txt"
        )
        return
    assert outcome.kind != CRASH, f"{case.expr!r} crashed the engine: {outcome.detail}"
    assert reason is not None, (
        f"{case.expr!r} fails ({outcome.kind}: {outcome.detail}) and is not a known failure"
    )
    if outcome.kind == WRONG:
        assert reason.startswith(WRONG), (
            f"{case.expr!r} now gives a wrong value ({outcome.detail}); it was listed as "
            f"failing with: {reason}"
        )


def test_core_pass_rate_and_no_wrong_values() -> None:
    tally = Tally()
    wrong = []
    for case in RUNNABLE:
        if case.file in CORE_FILES:
            outcome = run_roster(case)
            tally.add(outcome)
            if outcome.kind == WRONG:
                wrong.append(case.id)
    assert tally.crashes == 0
    assert tally.rate >= CORE_FLOOR, f"core pass rate {tally.rate:.1%} < floor {CORE_FLOOR:.0%}"
    # none is left: a value Roster cannot get right is an error, never a silently wrong value
    assert not wrong, f"silently wrong values: {wrong[:5]}"
    assert not [test_id for test_id, reason in KNOWN.items() if reason.startswith(WRONG)]


def test_known_failures_name_real_tests_with_reasons() -> None:
    ids = {case.id for case in RUNNABLE}
    stale = sorted(set(KNOWN) - ids)
    assert not stale, f"known_failures.txt names tests that do not exist: {stale[:5]}"
    assert all(KNOWN.values()), "every known failure needs a reason"


def test_the_data_is_complete() -> None:
    # from a fresh clone: every file is vendored and most of each is runnable here
    by_file = {stem: [case for case in CASES if case.file == stem] for stem in ALL_FILES}
    assert all(by_file.values())
    assert len([case for case in RUNNABLE if case.file in CORE_FILES]) >= 1300
