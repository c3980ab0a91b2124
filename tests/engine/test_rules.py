"""Merge and ownership rules: every preset, CEL on either side, ambiguity, and each strategy."""

from __future__ import annotations

import pytest

from engine.cel import CelEngine
from engine.config.model import App, Directory, MatchRule
from engine.errors import InvalidInput
from engine.records import AccountRecord, Population, UserRecord
from engine.sync.identify import run_identify
from engine.sync.keys import compile_rule, strip_plus_tag
from engine.sync.ownership import run_ownership
from engine.sync.state import StageReport, WorkState

ANN = UserRecord(
    id=1,
    email="ann@x.com",
    emails=["ann@x.com", "a.lee@x.com"],
    username="alee",
    usernames=["alee"],
    display_name="Ann Lee",
    employee_id="E1",
    employee_ids=["E1"],
)
BO = UserRecord(
    id=2,
    email="bo@x.com",
    emails=["bo@x.com"],
    username="bchen",
    display_name="Bo Chen",
    employee_id="E2",
    employee_ids=["E2"],
)
TWIN = UserRecord(
    id=3,
    email="ann2@x.com",
    emails=["ann2@x.com"],
    display_name="Ann Lee",
    employee_id="E3",
    employee_ids=["E3"],
)


def account(**fields: object) -> AccountRecord:
    return AccountRecord(id=100, app_id="app", external_id="a1", **fields)  # type: ignore[arg-type]


def match(rule: dict, acct: AccountRecord, users: list[UserRecord] | None = None) -> set[int]:
    cel = CelEngine(Population(users or [ANN, BO, TWIN]))
    compiled = compile_rule(MatchRule.model_validate({"name": "rule", **rule}), cel, 0)
    index = compiled.index(users or [ANN, BO, TWIN])
    found: set[int] = set()
    for key in compiled.account_keys(acct):
        found |= index.get(key, set())
    return found


@pytest.mark.parametrize(
    ("preset", "acct", "expected"),
    [
        ("primary_email", account(email=" ANN@x.com "), {1}),
        ("all_emails", account(email="", emails=["nobody@x.com", "a.lee@X.com"]), {1}),
        ("username", account(username="BCHEN"), {2}),
        ("display_name", account(display_name="Ann Lee"), {1, 3}),  # ambiguous
        ("employee_id", account(employee_ids=["E2"]), {2}),
        ("primary_email", account(email=""), set()),  # empty keys never match
    ],
)
def test_presets(preset: str, acct: AccountRecord, expected: set[int]) -> None:
    user_side = {"primary_email": "all_emails"}.get(preset, preset)
    rule = {"account": {"preset": preset}, "user": {"preset": user_side}}
    assert match(rule, acct) == expected


def test_plus_tags_are_stripped_only_when_asked() -> None:
    tagged = account(email="ann+it@x.com")
    plain = {"account": {"preset": "primary_email"}, "user": {"preset": "all_emails"}}
    assert match(plain, tagged) == set()
    stripping = {
        "account": {"preset": "primary_email", "strip_plus_tag": True},
        "user": {"preset": "all_emails"},
    }
    assert match(stripping, tagged) == {1}
    assert strip_plus_tag("a+b+c@x.com") == "a@x.com" and strip_plus_tag("no-at") == "no-at"


def test_cel_on_both_sides_returning_strings_or_lists() -> None:
    rule = {
        "account": {"cel": 'account.profile.login.split("@")[0]'},
        "user": {"cel": '[subject.username, user.email.split("@")[0]]'},
    }
    assert match(rule, account(profile={"login": "bo@corp.example"})) == {2}
    assert match(rule, account(profile={"login": "ann2@corp"})) == {3}


def test_a_broken_rule_names_the_rule() -> None:
    with pytest.raises(InvalidInput, match="by-login"):
        match(
            {
                "name": "by-login",
                "account": {"cel": "account.profile.("},
                "user": {"preset": "all_emails"},
            },
            account(),
        )


def _state(users: list[UserRecord], accounts: list[AccountRecord]) -> WorkState:
    return WorkState(
        accounts, [UserRecord(**{f: getattr(u, f) for f in u.__slots__}) for u in users], {}, {}
    )


def test_identify_ambiguity_falls_through_to_the_next_rule_then_reports() -> None:
    hr = AccountRecord(
        id=10, app_id="hr", external_id="x", display_name="Ann Lee", employee_ids=["E3"]
    )
    state = _state([ANN, BO, TWIN], [hr])
    directory = Directory.model_validate(
        {
            "app": "hr",
            "merge_rules": [
                {
                    "name": "name",
                    "account": {"preset": "display_name"},
                    "user": {"preset": "display_name"},
                },
                {
                    "name": "id",
                    "account": {"preset": "employee_id"},
                    "user": {"preset": "employee_id"},
                },
            ],
        }
    )
    report = StageReport("identify")
    run_identify(state, [directory], CelEngine(), report)
    assert hr.owner_id == 3 and report.counts["merged"] == 1  # the second rule resolved it

    lonely = AccountRecord(id=11, app_id="hr", external_id="y", display_name="Ann Lee")
    state = _state([ANN, BO, TWIN], [lonely])
    report = StageReport("identify")
    run_identify(state, [directory], CelEngine(), report)
    assert lonely.owner_id is None and report.counts["conflicts"] == 1
    assert len(state.users) == 3  # no duplicate person


def test_filter_errors_leave_the_account_as_it_was() -> None:
    acct = AccountRecord(id=10, app_id="hr", external_id="x", email="new@x.com")
    state = _state([], [acct])
    report = StageReport("identify")
    directory = Directory(app="hr", filter='"MAYBE"')
    run_identify(state, [directory], CelEngine(), report)
    assert report.counts["filter_errors"] == 1 and not state.users
    assert (
        "the filter returned a string that is no decision; it must return true"
        in (report.problems[0])
    )


@pytest.mark.parametrize(
    ("expression", "said"),
    [
        # the account's own data returned by mistake: the problem (kept with the run) names
        # its type, never the value
        ("account.email", "returned a string that is no decision;"),
        ("[account.email]", "returned a list(string);"),
        ('"Match only."', 'returned a string that is no decision (closest: "MATCH_ONLY");'),
        ("1", "returned an int;"),
        ("1u", "returned a uint;"),
    ],
)
def test_a_filter_result_that_is_no_decision_is_named_by_its_type(
    expression: str, said: str
) -> None:
    acct = AccountRecord(id=10, app_id="hr", external_id="x", email="ann.secret@x.com")
    state = _state([], [acct])
    report = StageReport("identify")
    run_identify(state, [Directory(app="hr", filter=expression)], CelEngine(), report)
    assert report.counts["filter_errors"] == 1
    assert said in report.problems[0] and "ann.secret" not in report.problems[0]


@pytest.mark.parametrize(
    ("strategy", "acct", "owner"),
    [
        ("narrow", AccountRecord(id=20, app_id="gh", external_id="1", username="alee"), 1),
        (
            "narrow",
            AccountRecord(id=20, app_id="gh", external_id="1", display_name="Bo Chen"),
            None,
        ),
        ("broad", AccountRecord(id=20, app_id="gh", external_id="1", display_name="bo  chen"), 2),
        (
            "broad",
            AccountRecord(id=20, app_id="gh", external_id="1", given_name="Bo", family_name="Chen"),
            2,
        ),
        (
            "broad",
            AccountRecord(id=20, app_id="gh", external_id="1", display_name="Ann Lee"),
            None,
        ),  # two Ann Lees: never guessed
    ],
)
def test_ownership_strategies(strategy: str, acct: AccountRecord, owner: int | None) -> None:
    state = _state([ANN, BO, TWIN], [acct])
    run_ownership(
        state,
        [
            App.model_validate(
                {"id": "gh", "connector": "file", "ownership": {"strategy": strategy}}
            )
        ],
        set(),
        CelEngine(),
        StageReport("ownership"),
    )
    assert acct.owner_id == owner


def test_custom_ownership_rules_and_pinned_owners() -> None:
    badge = AccountRecord(id=30, app_id="badge", external_id="B1", profile={"emp": "e2"})
    pinned = AccountRecord(
        id=31, app_id="badge", external_id="B2", profile={"emp": "E1"}, owner_id=2, pinned=True
    )
    state = _state([ANN, BO, TWIN], [badge, pinned])
    app = App.model_validate(
        {
            "id": "badge",
            "connector": "file",
            "ownership": {
                "strategy": "custom",
                "rules": [
                    {
                        "name": "emp",
                        "account": {"cel": "account.profile.emp"},
                        "user": {"preset": "employee_id"},
                    }
                ],
            },
        }
    )
    run_ownership(state, [app], set(), CelEngine(), StageReport("ownership"))
    assert badge.owner_id == 2 and badge.link_kind == "ownership-rule"
    assert pinned.owner_id == 2  # a pinned owner stays, whatever the rules say


def test_a_key_expression_returning_a_whole_record_is_reported_in_a_few_words() -> None:
    from engine.cel import CelEvalError
    from engine.sync.keys import _cel_keys

    with pytest.raises(CelEvalError) as failed:
        _cel_keys({"profile": {"note": "x" * 1_000_000}})
    message = str(failed.value)
    assert message.startswith(
        "a key expression must return a string or a list of strings, got a dict"
    )
    assert len(message) < 200
