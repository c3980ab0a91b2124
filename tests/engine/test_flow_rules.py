"""docs/attributes.md's worked cases, run through the one function the sync and `explain` both
use."""

from __future__ import annotations

from typing import Any

from engine.config.model import FlowRule
from engine.records import UserRecord
from engine.sync.attributes import UNCHANGED, AttributeDef, Source, decide
from engine.sync.state import AttributeState


class Values:
    """Stands in for the accounts: what each source holds right now."""

    def __init__(self, **values: Any) -> None:
        self.values = values

    def read(self, attribute: AttributeDef, source: Source, user: UserRecord) -> Any:
        return self.values.get(source.app, "")


def flow(name: str, *rules: tuple[str, str, int, int, int]) -> AttributeDef:
    sources = [
        Source(
            f"{app}:profile.{name}",
            app,
            f"profile.{name}",
            rule=FlowRule(app=app, direction=direction, create=c, update=u, delete=d),
        )
        for app, direction, c, u, d in rules
    ]
    return AttributeDef(name, False, sources, authority=True)


def step(attribute: AttributeDef, state: AttributeState, **values: Any) -> AttributeState:
    decision = decide(attribute, UserRecord(id=1), state, Values(**values))
    return AttributeState(decision.value, decision.source, decision.seen, decision.ever_set)


USER = UserRecord(id=1)


def test_case_1_phone_create_then_update_by_the_higher_update_score() -> None:
    phone = flow("phone", ("hr", "inbound", 50, 50, 50), ("pbx", "inbound", 30, 55, 50))
    state = step(phone, AttributeState(), hr="+1 111", pbx="+1 222")
    assert (state.value, state.source) == ("+1 111", "hr:profile.phone")  # create: 50 > 30

    state = step(phone, state, hr="+1 111", pbx="+1 333")
    assert (state.value, state.source) == ("+1 333", "pbx:profile.phone")  # 55 >= 50

    decision = decide(phone, USER, state, Values(hr="+1 444", pbx="+1 333"))
    assert decision.value == "+1 333"  # 50 < 55: rejected
    hr = next(c for c in decision.candidates if c.source == "hr:profile.phone")
    assert hr.outcome == "lost" and "50 < 55" in hr.reason


def test_case_2_department_ad_change_rejected_hr_change_accepted() -> None:
    department = flow("department", ("hr", "inbound", 50, 60, 50), ("ad", "inbound", 50, 45, 50))
    state = step(department, AttributeState(), hr="Engineering", ad="Engineering")
    assert state.source == "hr:profile.department"

    rejected = step(department, state, hr="Engineering", ad="Sales")
    assert rejected.value == "Engineering"
    # the AD value is now remembered as seen: it is not retried on every sync
    assert rejected.last_seen["ad:profile.department"] == "Sales"

    accepted = step(department, rejected, hr="Finance", ad="Sales")
    assert (accepted.value, accepted.source) == ("Finance", "hr:profile.department")


def test_case_3_manager_delete_scores() -> None:
    manager = flow("manager", ("hr", "inbound", 50, 70, 80), ("ad", "inbound", 50, 60, 40))
    start = step(manager, AttributeState(), hr="boss@example.com", ad="boss@example.com")
    assert start.source == "hr:profile.manager"

    removed_in_ad = step(manager, start, hr="boss@example.com", ad="")
    assert removed_in_ad.value == "boss@example.com"  # 40 < 70

    removed_in_hr = step(manager, start, hr="", ad="boss@example.com")
    assert removed_in_hr.value == ""  # 80 >= 70

    # a cleared value is not filled again by the stale value AD still holds…
    again = step(manager, removed_in_hr, hr="", ad="boss@example.com")
    assert again.value == ""
    # …only by a later change
    changed = step(manager, again, hr="new.boss@example.com", ad="boss@example.com")
    assert changed.value == "new.boss@example.com"


def test_outbound_sources_never_flow_in_and_disabled_only_creates() -> None:
    title = flow("title", ("hr", "outbound", 90, 90, 90), ("idp", "disabled", 40, 40, 40))
    created = step(title, AttributeState(), hr="CEO", idp="Engineer")
    assert created.value == "Engineer"  # outbound never flows in; disabled counts for create
    later = step(title, created, hr="CEO", idp="Director")
    assert later.value == "Engineer"  # disabled never updates


def test_mapping_mode_fallback_and_union() -> None:
    single = AttributeDef(
        "job_title",
        False,
        [
            Source("hr:profile.job_title", "hr", "profile.job_title"),
            Source("idp:profile.title", "idp", "profile.title"),
        ],
        authority=False,
    )
    decision = decide(single, USER, AttributeState(), Values(hr="", idp="Engineer"))
    assert (decision.value, decision.source) == ("Engineer", "idp:profile.title")
    outcomes = [c.outcome for c in decision.candidates]
    assert outcomes == ["empty", "won"]

    multi = AttributeDef(
        "additional_email",
        True,
        [
            Source("hr:emails", "hr", "emails"),
            Source("idp:emails", "idp", "emails"),
        ],
        authority=False,
    )
    decision = decide(
        multi, USER, AttributeState(), Values(hr=["a@x.com", "b@x.com"], idp=["B@x.com", "c@x.com"])
    )
    assert decision.value == ["a@x.com", "b@x.com", "c@x.com"]
    # every source with values adds to a union: none of them "won"
    assert [(c.outcome, c.reason) for c in decision.candidates] == [
        ("added", "its values are in the union"),
        ("added", "its values are in the union"),
    ]
    assert decision.source == "hr:emails,idp:emails"


def test_a_rejected_change_does_not_hide_a_removal() -> None:
    manager = flow("manager", ("hr", "inbound", 50, 70, 80), ("ad", "inbound", 50, 60, 40))
    start = step(manager, AttributeState(), hr="boss@example.com", ad="boss@example.com")
    # in the same sync HR removes the manager and AD changes it: AD loses (60 < 70), HR's
    # removal (80 >= 70) still clears the value
    after = step(manager, start, hr="", ad="other@example.com")
    assert after.value == ""


def test_an_outbound_source_going_blank_never_clears() -> None:
    department = flow("department", ("hr", "inbound", 50, 45, 50), ("ad", "outbound", 50, 50, 90))
    start = step(department, AttributeState(), hr="Sales", ad="Sales")
    assert step(department, start, hr="Sales", ad="").value == "Sales"


class Failing(Values):
    def read(self, attribute: AttributeDef, source: Source, user: UserRecord) -> Any:
        if source.app == "broken":
            from engine.cel import CelEvalError

            raise CelEvalError("no such key")
        return super().read(attribute, source, user)


def test_a_failing_source_keeps_the_value_in_mapping_mode() -> None:
    title = AttributeDef(
        "job_title",
        False,
        [
            Source("broken:x", "broken", "x"),
            Source("idp:title", "idp", "profile.title"),
        ],
        authority=False,
    )
    before = AttributeState("Engineer", "broken:x", {}, True)
    decision = decide(title, USER, before, Failing(idp="Manager"))
    assert decision.value == "Engineer" and "kept" in decision.reason


def test_reading_back_a_pushed_value_is_not_a_rejected_change() -> None:
    # HR (update 60) changes the department; Roster pushes it to AD (bidirectional, update 45);
    # the next sync reads AD back holding that very value: AD agrees, it did not try to change
    # anything, so `explain` must not call it a rejected change.
    department = flow(
        "department", ("hr", "inbound", 50, 60, 50), ("ad", "bidirectional", 40, 45, 30)
    )
    state = step(department, AttributeState(), hr="Engineering", ad="Engineering")
    state = step(department, state, hr="Finance", ad="Engineering")
    assert (state.value, state.source) == ("Finance", "hr:profile.department")
    decision = decide(department, USER, state, Values(hr="Finance", ad="Finance"))
    assert decision.value == "Finance" and decision.reason == UNCHANGED
    ad = next(c for c in decision.candidates if c.source == "ad:profile.department")
    assert ad.outcome == "ignored" and "as pushed to it" in ad.reason
    assert "rejected" not in ad.reason
    # and a later real change in AD is judged as a change again
    state = AttributeState(decision.value, decision.source, decision.seen, True)
    rejected = decide(department, USER, state, Values(hr="Finance", ad="Sales"))
    ad = next(c for c in rejected.candidates if c.source == "ad:profile.department")
    assert rejected.value == "Finance" and ad.outcome == "lost" and "45 < 60" in ad.reason


def mapping(multi: bool, apps: tuple[str, ...]) -> AttributeDef:
    sources = [Source(f"{app}:profile.x", app, "profile.x") for app in apps]
    return AttributeDef("x", multi, sources, authority=False)


class FailingSome(Values):
    """The sources named in `failing` fail to evaluate."""

    def __init__(self, failing: set[str], **values: Any) -> None:
        super().__init__(**values)
        self.failing = failing

    def read(self, attribute: AttributeDef, source: Source, user: UserRecord) -> Any:
        if source.app in self.failing:
            raise ValueError(f"{source.app} failed")
        return super().read(attribute, source, user)


def test_a_mapping_decides_as_its_explanation_says() -> None:
    """The sync decides a mapping without building its candidates (they are built when read):
    the quick decision is the explained one, whatever the sources hold or whichever fail."""
    from itertools import product

    from engine.sync.attributes import _explained_mapping

    apps = ("hr", "idp", "ad")
    holdings: list[Any] = ["", "Sales", ["a", "B"], ["b"], []]
    for multi, failing_mask in product((False, True), range(4)):
        failing = {app for bit, app in enumerate(apps) if failing_mask >> bit & 1}
        attribute = mapping(multi, apps)
        for held in product(holdings, repeat=len(apps)):
            values = {
                app: (h if multi == isinstance(h, list) else ([] if multi else ""))
                for app, h in zip(apps, held, strict=True)
            }
            for previous in (AttributeState(), AttributeState("Old", "hr:profile.x", {}, True)):
                reader = FailingSome(failing, **values)
                quick = decide(attribute, USER, previous, reader)
                read = {s.key: reader.values.get(s.app, "") for s in attribute.sources}
                read = {k: v for k, v in read.items() if k.split(":")[0] not in failing}
                errors = {f"{app}:profile.x": f"{app} failed" for app in sorted(failing)}
                errors = {s.key: errors[s.key] for s in attribute.sources if s.key in errors}
                slow = _explained_mapping(attribute, previous, read, errors)
                assert (quick.value, quick.source, quick.reason, quick.ever_set) == (
                    slow.value,
                    slow.source,
                    slow.reason,
                    slow.ever_set,
                )
                assert quick.seen == slow.seen
                assert dict(quick.errors) == errors and len(quick.errors) == len(errors)
                assert [c.as_dict() for c in quick.candidates] == [
                    c.as_dict() for c in slow.candidates
                ]


def test_a_failed_source_is_reported_as_explain_shows_it() -> None:
    """What the sync reports of a failed source (`Decision.errors`) is what `explain`'s error
    candidate says: an outbound source that fails says why it failed, not that it is
    outbound (review), and a source listed twice fails twice, as it is shown twice."""
    fails = flow("phone", ("hr", "inbound", 50, 50, 50), ("pbx", "outbound", 0, 0, 0))
    decision = decide(fails, USER, AttributeState(), FailingSome({"pbx"}, hr="+1 111"))
    shown = [(c.source, c.reason) for c in decision.candidates if c.outcome == "error"]
    assert list(decision.errors) == shown == [("pbx:profile.phone", "pbx failed")]
    assert decision.value == "+1 111"

    twice = mapping(False, ("hr", "hr", "idp"))
    decision = decide(twice, USER, AttributeState(), FailingSome({"hr"}, idp="Sales"))
    shown = [(c.source, c.reason) for c in decision.candidates if c.outcome == "error"]
    assert list(decision.errors) == shown == [("hr:profile.x", "hr failed")] * 2

    twice = flow("phone", ("hr", "inbound", 50, 50, 50), ("hr", "inbound", 50, 50, 50))
    decision = decide(twice, USER, AttributeState(), FailingSome({"hr"}))
    shown = [(c.source, c.reason) for c in decision.candidates if c.outcome == "error"]
    assert list(decision.errors) == shown == [("hr:profile.phone", "hr failed")]


def test_a_value_whose_source_was_removed_says_so_when_replaced() -> None:
    """The holder's source no longer configured: the value stays until a source changes, and
    the reason names the removed holder (it read "≥ 0 of the current holder": newcomer)."""
    both = flow("department", ("hr", "inbound", 50, 60, 50), ("ad", "inbound", 50, 45, 50))
    state = step(both, AttributeState(), hr="Engineering", ad="Sales")
    assert state.source == "hr:profile.department"
    ad_only = flow("department", ("ad", "inbound", 50, 45, 50))
    kept = decide(ad_only, USER, state, Values(ad="Sales"))
    assert kept.value == "Engineering" and kept.reason == UNCHANGED  # nothing changed yet
    moved = decide(ad_only, USER, state, Values(ad="Finance"))
    assert moved.value == "Finance"
    assert moved.reason == (
        "changed; update score 45 ≥ 0: hr:profile.department, which set the value, is no "
        "longer one of its sources"
    )
