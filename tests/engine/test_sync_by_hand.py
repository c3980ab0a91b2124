"""Decisions taken by hand between syncs (a link, an unlink, a pin, an account provisioned for
someone): the next sync looks again at those accounts and at the people who had and have them,
not at everyone, and leaves exactly the store a sync that reconsiders everyone leaves
(engine/sync/by_hand.py). When the note of what was decided is missing, unreadable or too
long, the sync reconsiders everyone, as before the note."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select

from engine.services import Services
from engine.store.models import Account, Meta, Person
from engine.store.repo import get_meta, set_meta
from engine.sync import by_hand
from tests.engine.test_sync_incremental import change_the_apps
from tests.engine.test_sync_incremental_push import Pair

Decide = Callable[[Services], None]


def _account(services: Services, app: str, n: int = 0, *, owned: bool = True) -> str:
    """The key of the Nth account of APP (by external id) that has an owner (or has none)."""
    with services.db.session() as session:
        rows = session.scalars(
            select(Account)
            .where(Account.app_id == app)
            .where(Account.owner_id.is_not(None) if owned else Account.owner_id.is_(None))  # type: ignore[union-attr]
            .order_by(Account.external_id)
        ).all()
        return f"{app}:{rows[n].external_id}"


def _owner(services: Services, key: str) -> int | None:
    app, external = key.split(":", 1)
    with services.db.session() as session:
        return session.scalars(
            select(Account.owner_id).where(Account.app_id == app, Account.external_id == external)
        ).one()


def _other_person(services: Services, key: str, n: int = 0) -> int:
    """The id of the Nth live person (by id) who does not own the account KEY."""
    owner = _owner(services, key)
    with services.db.session() as session:
        people = session.scalars(
            select(Person.id).where(Person.status != "DELETED").order_by(Person.id)
        ).all()
    return [p for p in people if p != owner][n]


def link_slack_to_someone_else(services: Services) -> None:
    key = _account(services, "slack", 2)
    services.set_link(key, _other_person(services, key, 4))


def unlink_github_pinned(services: Services) -> None:
    services.set_link(_account(services, "github", 1), None, pin=True)


def unlink_ad_back_to_the_rules(services: Services) -> None:
    # unpinned: the rules link it again (to whom they find)
    services.set_link(_account(services, "ad", 3), None, pin=False)


def unlink_a_directory_account_back_to_the_rules(services: Services) -> None:
    # the merge rules decide it again: it goes back to whom they find
    services.set_link(_account(services, "idp", 6), None, pin=False)


def link_a_directory_account_elsewhere(services: Services) -> None:
    key = _account(services, "idp", 5)
    services.set_link(key, _other_person(services, key, 7))


def unlink_an_hr_record(services: Services) -> None:
    services.set_link(_account(services, "hr", 2), None, pin=True)


def pin_then_release(services: Services) -> None:
    key = _account(services, "entra", 1)
    services.pin(key, True)
    services.pin(key, False)


def link_a_badge_and_back(services: Services) -> None:
    key = _account(services, "badge", 0)
    owner = _owner(services, key)
    services.set_link(key, _other_person(services, key, 2))
    services.set_link(key, owner, pin=False)


def unlink_every_directory_account_of_someone(services: Services) -> None:
    """Nothing keeps them any more: the person goes (or is held), as a full run decides."""
    owner = _owner(services, _account(services, "hr", 4))
    with services.db.session() as session:
        theirs = session.scalars(
            select(Account).where(
                Account.owner_id == owner,
                Account.app_id.in_(("hr", "idp", "hr_feed")),  # type: ignore[attr-defined]
            )
        ).all()
        keys = [f"{a.app_id}:{a.external_id}" for a in theirs]
    for key in keys:
        services.set_link(key, None, pin=True)


def provision_an_account(services: Services) -> None:
    with services.db.session() as session:
        have = set(session.scalars(select(Account.owner_id).where(Account.app_id == "entra")))
        people = session.scalars(
            select(Person.id).where(Person.status == "ENABLED").order_by(Person.id)
        ).all()
    without = [p for p in people if p not in have]
    result = services.provision("entra", without[0])
    assert result.status == "applied", result


def several_at_once(services: Services) -> None:
    link_slack_to_someone_else(services)
    unlink_github_pinned(services)
    link_a_directory_account_elsewhere(services)
    unlink_ad_back_to_the_rules(services)


SCENARIOS = [
    link_slack_to_someone_else,
    unlink_github_pinned,
    unlink_ad_back_to_the_rules,
    link_a_directory_account_elsewhere,
    unlink_a_directory_account_back_to_the_rules,
    unlink_an_hr_record,
    pin_then_release,
    link_a_badge_and_back,
    unlink_every_directory_account_of_someone,
    provision_an_account,
    several_at_once,
]


def test_decisions_by_hand_and_the_apps_changing_in_one_sync(
    demo_template: Path, tmp_path: Path
) -> None:
    """Merges, ownership, pushed values and a leaver move in the apps' data while the admin
    links and unlinks: the sync that follows still leaves what reconsidering everyone does."""
    pair = Pair(demo_template, tmp_path)
    try:
        pair.quiet_down()
        for services in pair.services:
            several_at_once(services)
            unlink_an_hr_record(services)
        pair.edit_apps(change_the_apps)
        inc, full = pair.sync_both(allow_deletes=True)
        assert inc.status == full.status, (inc.error, full.error)
        assert any("by hand since the last sync" in note for note in _notes(inc)), _notes(inc)
        pair.assert_same()
    finally:
        pair.close()


def _notes(result: Any) -> list[str]:
    return [note for stage in result.stages for note in stage.notes]


def _considered(result: Any) -> int:
    return sum(s.counts.get("users_considered", 0) for s in result.stages if s.name == "attributes")


@pytest.mark.parametrize("decide", SCENARIOS, ids=[s.__name__ for s in SCENARIOS])
def test_the_sync_after_decisions_by_hand_leaves_what_reconsidering_everyone_leaves(
    demo_template: Path, tmp_path: Path, decide: Decide
) -> None:
    pair = Pair(demo_template, tmp_path)
    try:
        pair.quiet_down()  # both synced, and settled alike
        for services in pair.services:
            decide(services)
        inc, full = pair.sync_both()
        assert inc.status == full.status, (inc.error, full.error)
        assert any("by hand since the last sync" in note for note in _notes(inc)), _notes(inc)
        assert not any("computed everyone" in note for note in _notes(inc)), _notes(inc)
        assert any("computed everyone" in note for note in _notes(full))
        assert _considered(inc) < _considered(full)
        pair.assert_same()
        # and the note is spent: the next sync on the same data has nothing to do
        again = pair.inc.sync()
        assert any(note.startswith("nothing changed") for note in _notes(again)), _notes(again)
    finally:
        pair.close()


def test_a_sync_cannot_tell_what_was_decided_reconsiders_everyone(
    demo_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No note (a store synced by a Roster that kept none), an unreadable one, or one past
    its limit: the sync reconsiders everyone, and the run that applied leaves a note the next
    decision is kept in again."""
    pair = Pair(demo_template, tmp_path)
    try:
        pair.quiet_down()
        services = pair.inc
        deep = '{"from": 0, "accounts": [], "x": ' + "[" * 5000 + "]" * 5000 + "}"
        lone = '{"from": 0, "accounts": [[999999, "slack", "\\ud800", null]]}'
        cases: list[tuple[str, Callable[[], None]]] = [
            ("after", lambda: _set_note(services, "")),
            ("after", lambda: _set_note(services, '{"from": 0, "accounts": [[1, "slack"]]}')),
            ("after", lambda: _set_note(services, "\x00{not json")),
            ("after", lambda: _set_note(services, deep)),  # (json.loads: RecursionError)
            ("after", lambda: _set_note(services, lone)),  # (SQLite refuses to store it)
            ("after", lambda: _set_note(services, '{"from": 999999, "accounts": []}')),
            ("after", lambda: _set_note(services, '{"from": 0, "accounts": [], "everyone": 9999}')),
            # a generation that went back: a new decision under a number the last run applied
            ("before", lambda: _set_meta(services, "manual_generation", None)),
            ("before", lambda: _set_meta(services, "manual_generation", "1 ")),
        ]
        for when, spoil in cases:
            if when == "before":
                spoil()
            link_slack_to_someone_else(services)
            if when == "after":
                spoil()
            result = services.sync()
            assert result.status == "applied", result.error
            assert any("computed everyone: manual decisions" in n for n in _notes(result))
            # a decision after that run is kept, and its sync looks at it alone
            unlink_github_pinned(services)
            result = services.sync()
            assert any("by hand since the last sync" in n for n in _notes(result)), _notes(result)
            assert not any("computed everyone" in n for n in _notes(result))
        monkeypatch.setattr(by_hand, "LIMIT", 1)
        link_slack_to_someone_else(services)
        unlink_github_pinned(services)  # the second decision: past the limit
        result = services.sync()
        assert any("computed everyone: manual decisions" in n for n in _notes(result))
    finally:
        pair.close()


def _set_note(services: Services, text: str) -> None:
    _set_meta(services, by_hand.META_KEY, text)


def _set_meta(services: Services, key: str, text: str | None) -> None:
    with services.db.session() as session, session.begin():
        if text is None:
            session.execute(delete(Meta).where(Meta.key == key))  # type: ignore[arg-type]
        else:
            set_meta(session, key, text)


def test_a_decision_made_while_a_run_applies_is_kept_for_the_next_run(
    demo_template: Path, tmp_path: Path
) -> None:
    pair = Pair(demo_template, tmp_path)
    try:
        services = pair.inc
        with services.db.session() as session, session.begin():
            read = get_meta(session, "manual_generation") or "0"
            by_hand.bump(session, [("slack", "U1", 3)])  # read by the run
            read = get_meta(session, "manual_generation")
            by_hand.bump(session, [("github", "g2", None)])  # made while it ran
            by_hand.applied(session, read)
            after = get_meta(session, "manual_generation")
            kept = by_hand.since(session, read)
            assert kept is not None
            assert kept.accounts == {("github", "g2")}
            assert kept.previous_owners == frozenset()
            # (a sync asks only when the generation moved past the applied one)
            assert by_hand.since(session, after) is None
            # a decision whose accounts are not known: everyone, until a run applies it
            by_hand.bump(session)
            assert by_hand.since(session, after) is None
            spent = get_meta(session, "manual_generation")
            by_hand.applied(session, spent)
            by_hand.bump(session, [("slack", "U2", None)])  # kept again, account by account
            again = by_hand.since(session, spent)
            assert again is not None and again.accounts == {("slack", "U2")}
    finally:
        pair.close()
