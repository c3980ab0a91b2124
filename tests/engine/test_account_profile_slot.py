"""An account read from the store keeps its profile as JSON text until it is read
(engine.records._ProfileSlot): every way of reading it sees the mapping."""

from __future__ import annotations

import copy
import dataclasses
import pickle
import sqlite3
from contextlib import closing
from typing import Any

import orjson

from engine.records import AccountRecord, StoredProfile
from engine.store.repo import load_accounts

TEXT = '{"title": "Boss <b>", "cost": 3, "tags": ["a", "\\u0000b"]}'
DECODED = {"title": "Boss <b>", "cost": 3, "tags": ["a", "\x00b"]}


def _stored(text: str = TEXT) -> AccountRecord:
    # as engine.store.rows builds it
    return AccountRecord(1, "ad", "x", profile=StoredProfile(text))  # type: ignore[arg-type]


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
    kept = {a.id for a in accounts if isinstance(_raw(a), StoredProfile)}
    assert kept and kept == {i for i, text in stored.items() if text not in (None, "{}", "null")}
    for account in accounts:
        if account.id in kept:
            assert account.profile == orjson.loads(stored[account.id])
            assert isinstance(_raw(account), dict)
