"""Roster's CEL engine against cel-python's own evaluator on identity-shaped data.

The conformance suite checks Roster against the specification's expected values; this checks it
against the library it grew out of, on the kind of expressions admins write (string work,
lists of emails, profile maps, ternaries, comprehensions) over generated records with hostile
text. Wherever cel-python gives a value, Roster must give the same value (type included);
Roster may refuse what cel-python gets wrong, never the other way round (the few places the
specification and cel-python disagree are listed in DISAGREE with the reason).
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from tests.cel_conformance.runner import form
from tests.hostile import SHOWN

# (cel-python's default environment has no strings extension, so split/substring/trim are
# left to the conformance suite's string_ext file)
EXPRESSIONS = [
    'subject.email.size() > 20 ? "long" : "short"',
    'subject.displayName + " <" + subject.email + ">"',
    'subject.department == "Engineering"',
    'subject.department in ["Sales", "Support"] || subject.status != "ENABLED"',
    'subject.emails.exists(e, e.endsWith("@corp.example.com"))',
    'subject.emails.filter(e, e.contains("+")).size()',
    "subject.emails.map(e, e.lowerAscii())",
    "subject.emails.all(e, e.size() > 3)",
    "subject.emails.exists_one(e, e == subject.email)",
    'subject.givenName + " " + subject.familyName',
    "subject.displayName.size()",
    'subject.displayName.startsWith("A") ? "a-team" : "others"',
    'subject.email.matches("^[a-z0-9.]+@example[.]com$")',
    '"cost_center" in subject.profile ? subject.profile.cost_center : "none"',
    'has(subject.profile.cost_center) ? subject.profile.cost_center : "none"',
    "subject.profile.size()",
    "subject.profile.level * 2 + 1",
    "subject.profile.level > 3 && subject.profile.level <= 7",
    "double(subject.profile.level) / 4.0",
    "subject.profile.level % 3",
    "string(subject.profile.level)",
    'int("7") + subject.profile.level',
    "[subject.email] + subject.emails",
    "size(subject.emails) == 0 ? subject.email : subject.emails[0]",
    '{"dept": subject.department, "title": subject.jobTitle}',
    'subject.profile.tags.filter(t, t != "").map(t, t + "!")',
    '"admin" in subject.profile.tags',
    'subject.jobTitle.contains("Manager") ? 1 : 0',
    'subject.status == "ENABLED" ? subject.department : ""',
    "subject.emails.size() > 1 ? subject.emails[1] : subject.email",
    'subject.department + "/" + subject.jobTitle',
    'subject.displayName == subject.givenName + " " + subject.familyName',
    'subject.email.endsWith(".com") && !subject.email.startsWith("x")',
]

DEPARTMENTS = ["Engineering", "Sales", "Support", "Finance", "", "Legal & Compliance"]
TITLES = ["Engineer", "Manager", "VP Sales", "Analyst", ""]


def make_subjects(count: int) -> list[dict[str, Any]]:
    rng = random.Random(13)
    texts = list(SHOWN)  # markup, escapes, bidi overrides, a NUL
    subjects = []
    for i in range(count):
        given = rng.choice(["Ann", "Bo", "Zoë", "Ann-Marie", rng.choice(texts)])
        family = rng.choice(["Lee", "O'Brien", "Ødegård", rng.choice(texts)])
        email = f"user{i}@example.com" if rng.random() < 0.8 else f"User+{i}@Corp.Example.com"
        profile: dict[str, Any] = {
            "level": rng.randrange(10),
            "tags": rng.sample(["admin", "", "ops", "remote", rng.choice(texts)], rng.randrange(4)),
        }
        if rng.random() < 0.6:
            profile["cost_center"] = f"CC-{rng.randrange(100)}"
        subjects.append(
            {
                "email": email,
                "emails": rng.sample(
                    [f"u{i}@corp.example.com", f"u{i}+tag@example.com", email.lower()],
                    rng.randrange(4),
                ),
                "givenName": given,
                "familyName": family,
                "displayName": f"{given} {family}",
                "status": rng.choice(["ENABLED", "DISABLED"]),
                "department": rng.choice(DEPARTMENTS),
                "jobTitle": rng.choice(TITLES),
                "profile": profile,
            }
        )
    return subjects


SUBJECTS = make_subjects(60)


def roster_value(expr: str, subject: Any) -> Any:
    from engine.cel import CelCompileError, CelEngine, CelEvalError, ContextSpec

    engine = CelEngine()
    spec = ContextSpec(
        "differential", ("subject",), "any value", "user", variable_kinds={"subject": "dyn"}
    )
    try:
        program = engine.compile(spec, expr)
        return form(engine.evaluate(program, {"subject": subject}))
    except (CelCompileError, CelEvalError):
        return None


def celpy_value(environment: Any, expr: str, subject: Any) -> Any:
    from celpy.evaluation import CELEvalError

    try:
        value = environment.program(environment.compile(expr)).evaluate({"subject": subject})
    except Exception:  # noqa: BLE001 — any failure of the reference means "no reference value"
        return None
    return None if isinstance(value, CELEvalError) else form(value)


@pytest.mark.parametrize("expr", EXPRESSIONS)
def test_roster_agrees_with_cel_python(expr: str) -> None:
    import celpy

    from engine.cel.engine import quiet_celpy_loggers

    quiet_celpy_loggers()
    environment = celpy.Environment()
    compared = 0
    for subject in SUBJECTS:
        bound = celpy.json_to_cel(subject)
        theirs = celpy_value(environment, expr, bound)
        if theirs is None:
            continue
        ours = roster_value(expr, celpy.json_to_cel(subject))
        assert ours == theirs, f"{expr!r} on {subject!r}: Roster {ours!r}, cel-python {theirs!r}"
        compared += 1
    assert compared > 0, f"cel-python evaluated {expr!r} for nobody: the test checks nothing"
