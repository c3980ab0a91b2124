"""An account read from the store keeps its profile as JSON text until it is read
(engine.records._StoredJsonSlot): every way of reading it sees the mapping."""

from __future__ import annotations

import copy
import dataclasses
import pickle
import sqlite3
from contextlib import closing
from typing import Any

import orjson
import pytest
import yaml

from engine.cel import CelEngine
from engine.errors import DamagedRecord
from engine.records import AccountRecord, Population, StoredJson
from engine.store.repo import load_accounts

TEXT = '{"title": "Boss <b>", "cost": 3, "tags": ["a", "\\u0000b"]}'
DECODED = {"title": "Boss <b>", "cost": 3, "tags": ["a", "\x00b"]}


def _stored(text: str = TEXT) -> AccountRecord:
    # as engine.store.rows builds it
    return AccountRecord(1, "ad", "x", profile=StoredJson(text))  # type: ignore[arg-type]


def _raw(record: AccountRecord) -> Any:
    return AccountRecord.__dict__["profile"]._slot.__get__(record, AccountRecord)


def test_every_way_of_reading_a_stored_profile_sees_the_mapping() -> None:
    decoded = AccountRecord(1, "ad", "x", profile=dict(DECODED))
    assert _stored() == decoded and decoded == _stored()
    assert _stored().profile == DECODED
    assert getattr(_stored(), "profile") == DECODED  # noqa: B009 - the getattr path
    assert dataclasses.asdict(_stored())["profile"] == DECODED
    assert dataclasses.replace(_stored(), id=2).profile == DECODED
    assert dataclasses.astuple(_stored())[14] == DECODED
    assert pickle.loads(pickle.dumps(_stored())).profile == DECODED
    assert copy.deepcopy(_stored()).profile == DECODED
    assert orjson.loads(orjson.dumps(_stored()))["profile"] == DECODED
    assert "Boss <b>" in repr(_stored())


def test_the_text_is_decoded_once_and_then_is_the_mapping() -> None:
    record = _stored()
    assert _raw(record).text == TEXT  # nothing read it yet
    first = record.profile
    assert _raw(record) is first and record.profile is first
    first["added"] = 1  # a change to the mapping is a change to the record
    assert record.profile["added"] == 1
    record.profile = {"new": "value"}
    assert record.profile == {"new": "value"}
    assert AccountRecord(1, "ad", "x").profile == {}
    text = AccountRecord(1, "ad", "x", profile="text")  # type: ignore[arg-type]
    assert text.profile == "text"  # a decoded value that is text stays what it is


def test_the_store_leaves_profiles_as_text_until_read(demo: Any) -> None:
    with demo.db.session() as session:
        accounts = load_accounts(session)
    with closing(sqlite3.connect(demo.db.sqlite_path)) as db:
        stored = dict(db.execute("SELECT id, profile FROM account"))
    kept = {a.id for a in accounts if isinstance(_raw(a), StoredJson)}
    assert kept and kept == {i for i, text in stored.items() if text not in (None, "{}", "null")}
    for account in accounts:
        if account.id in kept:
            assert account.profile == orjson.loads(stored[account.id])
            assert isinstance(_raw(account), dict)


def test_a_damaged_stored_profile_is_a_store_error_naming_the_account() -> None:
    record = AccountRecord(7, "ad", "a.lee", profile=StoredJson('{"c": "GB",'))  # type: ignore[arg-type]
    with pytest.raises(DamagedRecord) as damaged:
        _ = record.profile
    assert "ad:a.lee (id 7) cannot be read as JSON" in damaged.value.message


def test_cel_never_absorbs_a_damaged_profile_as_an_error_value() -> None:
    """`||` and `has()` absorb an expression's errors; a store that cannot be read is not one
    (an ownership key memoised as "failed" would outlive the repair)."""
    cel = CelEngine(Population())
    for text in (
        'account.profile.c == "GB" || true',
        "has(account.profile.c) || true",
        'account.profile.?c.orValue("") == "" || true',
    ):
        program = cel.compile("directory_filter", text)
        record = AccountRecord(7, "ad", "a.lee", profile=StoredJson("{broken"))  # type: ignore[arg-type]
        with pytest.raises(DamagedRecord):
            cel.evaluate(program, cel.activation_for("directory_filter", record))
    fine = AccountRecord(7, "ad", "a.lee", profile=StoredJson('{"c": "GB"}'))  # type: ignore[arg-type]
    program = cel.compile("directory_filter", 'account.profile.c == "GB"')
    assert cel.evaluate(program, cel.activation_for("directory_filter", fine))


def test_a_sync_that_reads_a_damaged_profile_fails_and_names_it(demo: Any, tmp_path: Any) -> None:
    path = demo.db.sqlite_path
    apps = tmp_path / "r-demo" / "apps"
    data = yaml.safe_load((apps / "ad.yaml").read_text(encoding="utf-8"))
    changed = data["accounts"][0]
    changed.setdefault("profile", {})["title"] = "Changed"  # so the run is not a no-op
    (apps / "ad.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    with closing(sqlite3.connect(path)) as db, db:
        external_id = db.execute(
            "SELECT external_id FROM account WHERE app_id = 'ad' AND profile LIKE '{%' "
            "AND external_id != ? AND owner_id IS NOT NULL LIMIT 1",
            (str(changed["id"]),),
        ).fetchone()[0]
        db.execute(
            "UPDATE account SET profile = ? WHERE app_id = 'ad' AND external_id = ?",
            ('{"c": "GB",', external_id),
        )
        db.execute("DELETE FROM meta WHERE key = 'ownership_key_memo'")  # every key again
    result = demo.sync()
    assert result.status == "failed", result.error
    assert f"ad:{external_id}" in result.error and "cannot be read as JSON" in result.error
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("SELECT 1 FROM meta WHERE key = 'ownership_key_memo'").fetchone() is None


def test_a_persons_stored_attributes_stay_text_until_read(demo: Any) -> None:
    from engine.records import UserRecord
    from engine.store.repo import load_users

    with demo.db.session() as session:
        users = load_users(session)
    with closing(sqlite3.connect(demo.db.sqlite_path)) as db:
        stored = dict(db.execute("SELECT id, attributes FROM person"))
    slot = UserRecord.__dict__["attributes"]
    kept = {u.id for u in users if isinstance(slot.stored(u), StoredJson)}
    assert kept and kept == {i for i, text in stored.items() if text not in (None, "{}", "null")}
    user = next(u for u in users if u.id in kept)
    assert user == dataclasses.replace(user) and user.attributes == orjson.loads(stored[user.id])
    assert isinstance(slot.stored(user), dict)
    assert orjson.loads(orjson.dumps(users[-1]))["attributes"] == orjson.loads(stored[users[-1].id])


def test_damaged_stored_attributes_are_a_store_error_naming_the_person() -> None:
    from engine.records import UserRecord

    person = UserRecord(9, "ann@example.com", attributes=StoredJson('{"department": '))  # type: ignore[arg-type]
    with pytest.raises(DamagedRecord) as damaged:
        _ = person.attributes
    shown = damaged.value.message
    assert "attributes of person ann@example.com (id 9) cannot be read as JSON" in shown
