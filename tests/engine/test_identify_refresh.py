"""Identify refreshes a person's core fields after each directory's pass; after the first
directory only the people whose accounts that pass moved (engine/sync/identify.py). A person
refreshed after every directory ends the same: compared on the demo organisation, whose
directories disagree on names, emails and ids."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from engine.services import open_services
from engine.store.models import Account, Change, Person
from engine.sync import identify


def _store(folder: Path) -> dict[str, Any]:
    services = open_services(db_path=folder / "r.db", init="sample")
    try:
        with services.db.session() as session:
            people = sorted(
                (u.email, u.username, u.display_name, u.given_name, u.family_name,
                 u.employee_id, sorted(u.emails), sorted(u.usernames), sorted(u.employee_ids),
                 u.status, u.type, u.attributes)
                for u in session.scalars(select(Person))
            )  # fmt: skip
            links = sorted(
                (a.app_id, a.external_id, a.link_kind, a.owner_id is not None)
                for a in session.scalars(select(Account))
            )
            journal = sorted(
                (c.stage, c.object_type, c.object_id, c.field, str(c.old), str(c.new), c.reason)
                for c in session.scalars(select(Change))
            )
        return {"people": people, "links": links, "journal": journal}
    finally:
        services.db.dispose()


def test_refreshing_only_the_people_a_directory_moved_ends_as_refreshing_everyone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "only").mkdir()
    (tmp_path / "everyone").mkdir()
    moved: list[set[int]] = []
    original = identify._moved

    def spy(state: Any, app_id: str, before: Any) -> set[int]:
        found = original(state, app_id, before)
        moved.append(found)
        return found

    monkeypatch.setattr(identify, "_moved", spy)
    only = _store(tmp_path / "only")
    # the demo has three directories: the second links most people, the third a few
    assert len(moved) == 2 and all(moved)
    assert len(moved[1]) < len(moved[0]) // 4
    monkeypatch.setattr(identify, "_moved", lambda state, app_id, before: set(state.users))
    everyone = _store(tmp_path / "everyone")
    assert only == everyone
    assert len(only["people"]) > 250
