"""Loading every account and person of a SQLite store reads the driver's rows directly
(issue 11): the records must be the ones SQLAlchemy's own result processing gives, hostile
values, NULL and JSON-null columns included."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from typing import Any

from sqlmodel import col

from engine.store.models import Account, Person
from engine.store.repo import load_accounts, load_users

NUL = "nul\x00byte [bold]x[/] \u202etxt \x1b]0;pwned\x07"
BIG = "B" * 1_000_000


def test_whole_table_loads_equal_the_sqlalchemy_loads(demo: Any) -> None:
    path = demo.db.sqlite_path
    with closing(sqlite3.connect(path)) as raw, raw:
        first, second, third = [r[0] for r in raw.execute("SELECT id FROM account LIMIT 3")]
        raw.execute(
            "UPDATE account SET display_name = ?, emails = NULL, profile = NULL, pinned = 1 "
            "WHERE id = ?",
            (NUL, first),
        )
        raw.execute(
            "UPDATE account SET usernames = 'null', employee_ids = '[]', profile = ? WHERE id = ?",
            ('{"big": "' + BIG + '", "n": null, "x": [1, {"y": true}], "k": "\\u0000"}', second),
        )
        raw.execute("UPDATE account SET profile = '\"text\"' WHERE id = ?", (third,))
        person = raw.execute("SELECT id FROM person LIMIT 1").fetchone()[0]
        raw.execute(
            "UPDATE person SET display_name = ?, emails = NULL, attributes = 'null' WHERE id = ?",
            (NUL, person),
        )
    with demo.db.session() as session:
        accounts = load_accounts(session)  # the whole table: straight from the driver
        users = load_users(session)
        # a condition every row meets: the same rows through SQLAlchemy's processing
        assert accounts == load_accounts(session, col(Account.id) > -(10**9))
        assert users == load_users(session, col(Person.id) > -(10**9))
    by_id = {a.id: a for a in accounts}
    assert by_id[first].display_name == NUL and by_id[first].pinned is True
    assert by_id[first].emails == [] and by_id[first].profile == {}
    assert by_id[second].usernames == [] and by_id[second].profile["big"] == BIG
    assert by_id[second].profile["k"] == "\x00" and by_id[second].profile["n"] is None
    assert any(a.entitlements for a in accounts)  # grants came along
    assert next(u for u in users if u.id == person).attributes == {}
