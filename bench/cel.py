"""CEL benchmark: Roster's engine against cel-python's plain evaluation, in the same run.

    python bench/cel.py [--users N]

For five typical expressions over N synthetic users (default 3,000): evaluations per second
of Roster's engine (compiled once, records pre-converted), the same from cold records
(conversion included, as a first preview pays it), and cel-python 0.5.0's default
Environment (InterpretedRunner) with `celpy.json_to_cel` activations converted once, and the
ratio. Machines are noisy: read the ratios. Takes well under a minute.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.cel import CelEngine  # noqa: E402
from engine.records import Population, UserRecord  # noqa: E402

EXPRESSIONS = [
    ("push_condition", 'subject.department == "Engineering"'),
    ("push_condition", 'subject.status == "ENABLED" && subject.department in ["Sales", "Support"]'),
    ("push_condition", 'subject.emails.exists(e, e.endsWith("@corp.example.com"))'),
    ("push_mapping", 'has(subject.profile.cost_center) ? subject.profile.cost_center : "none"'),
    ("push_mapping", 'subject.givenName + " " + subject.familyName'),
]

DEPARTMENTS = ["Engineering", "Sales", "Support", "Finance", "Legal", "People"]


def make_users(count: int) -> list[UserRecord]:
    rng = random.Random(7)
    users = []
    for i in range(count):
        attributes: dict[str, object] = {
            "department": rng.choice(DEPARTMENTS),
            "job_title": rng.choice(["Engineer", "Manager", "VP Sales", "Analyst"]),
            "employment_type": rng.choice(["FULL_TIME", "CONTRACTOR"]),
            "manager_email": [f"user{rng.randrange(count)}@example.com"],
        }
        if rng.random() < 0.7:
            attributes["cost_center"] = f"CC-{rng.randrange(100)}"
        users.append(
            UserRecord(
                i,
                email=f"user{i}@example.com",
                emails=[f"user{i}@corp.example.com"] if rng.random() < 0.3 else [],
                username=f"user{i}",
                display_name=f"Given{i} Family{i}",
                given_name=f"Given{i}",
                family_name=f"Family{i}",
                status=rng.choice(["ENABLED"] * 9 + ["DISABLED"]),
                attributes=attributes,
            )
        )
    return users


def as_plain_dict(user: UserRecord) -> dict[str, object]:
    """The user as cel-python would get it from a naive integration: a JSON-like dict."""
    profile = {k: v for k, v in user.attributes.items()}
    return {
        "id": str(user.id),
        "email": user.email,
        "emails": [user.email, *user.emails],
        "givenName": user.given_name,
        "familyName": user.family_name,
        "displayName": user.display_name,
        "status": user.status,
        "department": user.attributes.get("department", ""),
        "jobTitle": user.attributes.get("job_title", ""),
        "profile": profile,
    }


def rate(run: Callable[[], int], minimum: float = 0.4) -> float:
    """Evaluations per second of `run` (which returns how many it did), repeated for a while."""
    done = 0
    start = time.perf_counter()
    while True:
        done += run()
        elapsed = time.perf_counter() - start
        if elapsed >= minimum:
            return done / elapsed


def main() -> None:
    arguments = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    arguments.add_argument("--users", type=int, default=3000)
    arguments.add_argument("--baseline-users", type=int, default=600)
    options = arguments.parse_args()

    users = make_users(options.users)
    engine = CelEngine(Population(users))
    started = time.perf_counter()
    engine.warm_up()  # the compiled parser first (CEL_NOTES trap 1)
    parser_seconds = time.perf_counter() - started

    import celpy  # after warm_up, on purpose

    baseline_env = celpy.Environment()  # cel-python's default: InterpretedRunner
    baseline_users = users[: options.baseline_users]
    baseline_activations = [
        {"subject": celpy.json_to_cel(as_plain_dict(user))} for user in baseline_users
    ]

    rows = []
    for context, text in EXPRESSIONS:
        started = time.perf_counter()
        program = engine.compile(context, text)
        compile_ms = (time.perf_counter() - started) * 1000

        # Cold: records not converted yet (what a first preview pays).
        engine.clear_cache()
        evaluate = engine.evaluate
        started = time.perf_counter()
        for user in users:
            evaluate(program, engine.activation_for(context, user))
        cold = len(users) / (time.perf_counter() - started)

        activations = [engine.activation_for(context, user) for user in users]
        for variables in activations:  # make sure every touched field is converted
            evaluate(program, variables)

        def warm_pass(
            program: object = program, activations: list = activations, evaluate=evaluate
        ) -> int:
            for variables in activations:
                evaluate(program, variables)
            return len(activations)

        warm = rate(warm_pass)

        baseline_program = baseline_env.program(baseline_env.compile(text))

        def baseline_pass(program: object = baseline_program) -> int:
            for variables in baseline_activations:
                program.evaluate(variables)  # type: ignore[attr-defined]
            return len(baseline_activations)

        baseline = rate(baseline_pass, minimum=0.5)

        # Same answers (the baseline's plain dicts have no StatusValue; values compare equal).
        for user, variables in zip(baseline_users[:50], baseline_activations[:50], strict=True):
            ours = evaluate(program, engine.activation_for(context, user))
            theirs = baseline_program.evaluate(variables)
            assert ours == theirs, (text, ours, theirs)

        rows.append((text, compile_ms, warm, cold, baseline, warm / baseline))

    width = max(len(row[0]) for row in rows)
    parser_ms = parser_seconds * 1000
    print(f"CEL evaluations per second, {len(users):,} users (parser built in {parser_ms:.0f} ms)")
    header = (
        f"{'expression':<{width}}  {'compile ms':>10}  {'roster/s':>10}  {'cold/s':>9}  "
        f"{'cel-python/s':>12}  {'ratio':>6}"
    )
    print(header)
    print("-" * len(header))
    for text, compile_ms, warm, cold, baseline, ratio in rows:
        print(
            f"{text:<{width}}  {compile_ms:>10.1f}  {warm:>10,.0f}  {cold:>9,.0f}  "
            f"{baseline:>12,.0f}  {ratio:>5.0f}×"
        )
    print()
    print("roster/s: compiled once, records pre-converted (target ≥ 100,000/s, README.md)")
    print("cold/s: the same with record conversion included (first preview over a population)")
    print("cel-python/s: default Environment (InterpretedRunner), json_to_cel activations")


if __name__ == "__main__":
    main()
