"""A preview of one record reads the store one query at a time (engine.store.directory), not
the whole population: the answers must be the ones the loaded population gives, and the
population must stay unloaded."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from typing import Any

import pytest

from engine.services import open_services
from engine.store.directory import StoreDirectory
from engine.store.repo import load_population

EXPRESSIONS = [
    ("push_condition", 'c1.user.v1.HasApp(subject, "github")'),
    ("push_condition", 'c1.user.v1.HasEntitlement(subject, "github", "Organisation owners")'),
    ("push_condition", 'c1.user.v1.HasEntitlement(subject, "github", "org-admin")'),
    ("push_condition", 'c1.user.v1.GetAppUserStatus(subject, "ad") == UserStatus.ENABLED'),
    (
        "attribute_source",
        'c1.user.v1.ListAppUsersForUser(subject, "slack").map(a, a.email).join(",")',
    ),
    ("attribute_source", "c1.directory.users.v1.GetManagers(subject).map(m, m.email).join(',')"),
    (
        "attribute_source",
        "c1.directory.users.v1.DirectReports(subject).map(m, m.email).join(',')",
    ),
    ("attribute_source", "c1.directory.users.v1.FindByEmail(subject.email).displayName"),
    ("attribute_source", "c1.directory.users.v1.FindByName(subject.displayName).email"),
    (
        "attribute_source",
        'c1.directory.apps.v1.GetEntitlementMembers("github", "Organisation owners")'
        ".map(u, u.email).join(',')",
    ),
    ("attribute_source", 'subject.profile["department"] + "/" + subject.accounts["hr"].email'),
]


def _people(services: Any) -> list[Any]:
    population = services.ctx.population()
    managers = [u for u in population.users if population.direct_reports(u)][:2]
    owners = population.entitlement_members("github", "org-admin")[:2]
    return [population.users[0], *managers, *owners, population.users[-1]]


def test_one_record_previews_agree_with_the_population_and_load_nobody(demo: Any) -> None:
    people = [(u.id, u.email) for u in _people(demo)]
    expected = {
        (email, text): demo.preview_one(context, text, demo.user_by_email(email)).as_dict()
        for _, email in people
        for context, text in EXPRESSIONS
    }
    fresh = open_services(db_path=demo.db.sqlite_path)
    try:
        for _, email in people:
            record = fresh.user_by_email(email)
            for context, text in EXPRESSIONS:
                got = fresh.preview_one(context, text, record).as_dict()
                want = expected[(email, text)]
                got.pop("elapsed_ms", None)
                want = {k: v for k, v in want.items() if k != "elapsed_ms"}
                assert got == want, (email, text)
        assert fresh.ctx._population is None  # nobody was loaded for it
    finally:
        fresh.db.dispose()


@pytest.mark.parametrize(
    "email",
    [
        "under_score@example.com",  # LIKE's wildcards are literal
        "per%cent@example.com",
        "  Spaced.Out@Example.COM ",  # keys are trimmed and case-folded
        "\u212aelvin@example.com",  # KELVIN SIGN folds to an ASCII k
        "stra\u00dfe@example.com",  # ß folds to ss
        'quote"d@example.com',  # JSON escapes it in the emails column
    ],
)
def test_store_lookups_match_the_population_for_odd_addresses(demo: Any, email: str) -> None:
    """Each address is given to a second person (as an alias): both paths find the same
    people for the address and for its folded forms."""
    path = demo.db.sqlite_path
    with closing(sqlite3.connect(path)) as db, db:
        first, second = [r[0] for r in db.execute("SELECT id FROM person ORDER BY id LIMIT 2")]
        db.execute("UPDATE person SET email = ? WHERE id = ?", (email, first))
        db.execute("UPDATE person SET emails = json_array(?) WHERE id = ?", (email, second))
        db.execute("UPDATE person SET display_name = ? WHERE id = ?", (email, second))
    with demo.db.session() as session:
        population = load_population(session)
    store = StoreDirectory(demo.db.session)
    folded = email.strip().casefold()
    for wanted in {email, folded, folded.upper(), "kelvin@example.com", "strasse@example.com"}:
        assert [u.id for u in store.users_by_email(wanted)] == [
            u.id for u in population.users_by_email(wanted)
        ], wanted
        assert [u.id for u in store.users_by_name(wanted)] == [
            u.id for u in population.users_by_name(wanted)
        ], wanted
    assert {u.id for u in store.users_by_email(email)} == {first, second}


def test_store_directory_answers_every_lookup_as_the_population(demo: Any) -> None:
    with demo.db.session() as session:
        population = load_population(session)
    store = StoreDirectory(demo.db.session)
    for user in population.users[::7]:
        assert store.user_by_id(user.id) == user
        assert store.accounts_of(user.id) == population.accounts_of(user.id)
        assert store.managers_of(user) == population.managers_of(user)
        assert store.direct_reports(user) == population.direct_reports(user)
        for email in [user.email, *user.emails]:
            assert store.users_by_email(email) == population.users_by_email(email)
    for account in population.accounts[::11]:
        assert store.account(account.app_id, account.external_id) == account
        assert store.account_by_id(account.id) == account
    assert store.app_ids() == population.app_ids()
    assert store.has_users() == population.has_users()
    for kind, app in (("user", None), ("account", None), ("account", "github")):
        assert store.profile_keys(kind, app) == population.profile_keys(kind, app)
    for (app, ent), name in population.entitlement_names.items():
        assert store.entitlement_label(app, ent) == name
        assert store.entitlement_named(app, name) == population.entitlement_named(app, name)
        assert store.entitlement_members(app, ent) == population.entitlement_members(app, ent)
    assert store.user_by_id("not a number") is None and store.users_by_email("") == []


def _without_time(result: Any) -> dict[str, Any]:
    answer = result.as_dict()
    answer.pop("elapsed_ms", None)
    return answer


def test_the_driver_path_answers_as_the_services(demo: Any) -> None:
    """`roster preview --user/--account` of a SQLite store reads it through sqlite3
    (engine/services/one_record.py): the same values, types and errors as the services."""
    from engine.services.one_record import preview_sqlite

    path = demo.db.sqlite_path
    for user in _people(demo):
        for context, text in [*EXPRESSIONS, ("push_condition", "subject.email")]:
            quick = preview_sqlite(path, context, text, user_email=user.email)
            assert quick is not None and quick.record == user
            want = demo.preview_one(context, text, demo.user_by_email(user.email))
            assert _without_time(quick.result) == _without_time(want), (user.email, text)
    account = demo.ctx.population().accounts[3]
    key = f"{account.app_id}:{account.external_id}"
    quick = preview_sqlite(path, "account_key", "account.email", account_key=key)
    assert quick is not None and quick.record == account
    assert quick.result.value == demo.preview_one("account_key", "account.email", account).value
    none = preview_sqlite(path, "cel", "[1, 2].map(x, x * 2)")
    assert none is not None and none.record is None and none.result.value == [2, 4]


def test_the_driver_path_reads_the_stored_budget(demo: Any) -> None:
    from engine.services.one_record import preview_sqlite

    text = "[" + ",".join(['"abcdefghijklmnop"'] * 200) + "].map(s, s + s).join('')"
    before = preview_sqlite(demo.db.sqlite_path, "cel", text)
    assert before is not None and before.result.ok
    with closing(sqlite3.connect(demo.db.sqlite_path)) as db:
        row = db.execute("SELECT body FROM config_object WHERE section = 'settings'").fetchone()
    settings = json.loads(row[0]) if row and row[0] else {}
    settings["cel"] = {**settings.get("cel", {}), "max_cost": 1000}
    _set_settings(demo.db.sqlite_path, settings)
    quick = preview_sqlite(demo.db.sqlite_path, "cel", text)
    assert quick is not None and not quick.result.ok  # 6,400 characters built: over 1,000
    fresh = open_services(db_path=demo.db.sqlite_path)
    try:
        assert _without_time(quick.result) == _without_time(fresh.preview_one("cel", text, None))
    finally:
        fresh.db.dispose()


def _set_settings(path: Any, body: Any) -> None:
    with closing(sqlite3.connect(path)) as db, db:
        db.execute(
            "UPDATE config_object SET body = ? WHERE section = 'settings'",
            (body if isinstance(body, str) else json.dumps(body),),
        )
        if not db.execute("SELECT 1 FROM config_object WHERE section = 'settings'").fetchone():
            db.execute(
                "INSERT INTO config_object (section, body, version, updated_at, updated_by) "
                "VALUES ('settings', ?, '', '2026-01-01', 'test')",
                (body if isinstance(body, str) else json.dumps(body),),
            )


@pytest.mark.parametrize(
    "settings",
    [
        '{"cel": {"max_cost": "lots"}}',
        '{"cel": [1]}',
        "[]",
        '{"cel": {"max_cost": true}}',
        "{",
        '{"cel": {"max_cost": 5}}',  # below the model's least: the services use the default
        '{"cel": {"max_cost": 1500.7}}',
        '{"cel": {"max_cost": 1000, "bogus": 1}}',
        '{"cel": {"max_seconds_per_preview": 100000}}',
        '{"cel": {"max_seconds_per_stage": 0}}',
    ],
)
def test_the_driver_path_leaves_unusual_settings_to_the_services(demo: Any, settings: str) -> None:
    from engine.services.one_record import preview_sqlite

    _set_settings(demo.db.sqlite_path, settings)
    assert preview_sqlite(demo.db.sqlite_path, "cel", "1") is None


def test_the_driver_path_leaves_a_store_to_migrate_or_a_missing_one_to_the_services(
    demo: Any, tmp_path: Any
) -> None:
    from engine.services.one_record import preview_sqlite

    path = demo.db.sqlite_path
    assert preview_sqlite(tmp_path / "missing.db", "cel", "1") is None
    (tmp_path / "junk.db").write_bytes(b"not a database at all" * 100)
    assert preview_sqlite(tmp_path / "junk.db", "cel", "1") is None
    demo.db.dispose()
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("UPDATE alembic_version SET version_num = 'older'")
    assert preview_sqlite(path, "cel", "1") is None


def test_a_store_that_fails_under_the_driver_path_says_so_as_the_services_do(
    demo: Any, tmp_path: Any
) -> None:
    """A table gone after the version check: the services' StoreError, not a traceback."""
    from engine.errors import StoreError
    from engine.services.one_record import preview_sqlite

    path = demo.db.sqlite_path
    account = demo.ctx.population().accounts[0]
    key = f"{account.app_id}:{account.external_id}"
    demo.db.dispose()
    with closing(sqlite3.connect(path)) as db, db:
        db.execute('DROP TABLE "grant"')
    with pytest.raises(StoreError) as quick:
        preview_sqlite(path, "account_key", "account.email", account_key=key)
    fresh = open_services(db_path=path)
    try:
        with pytest.raises(StoreError) as slow:
            fresh.preview_one("account_key", "account.email", fresh.account_by_key(key))
    finally:
        fresh.db.dispose()
    assert quick.value.message == slow.value.message
    assert "refused the operation (OperationalError: no such table: grant)" in quick.value.message


def test_a_locked_store_is_reported_by_the_driver_path_after_one_wait(
    demo: Any, monkeypatch: Any
) -> None:
    import time

    import engine.services.one_record as one_record
    from engine.errors import StoreLocked

    monkeypatch.setattr(one_record, "BUSY_TIMEOUT_SECONDS", 0.3)
    path = demo.db.sqlite_path
    demo.db.dispose()
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("PRAGMA locking_mode=EXCLUSIVE")
        holder.execute("BEGIN EXCLUSIVE")
        holder.execute("UPDATE meta SET value = value")
        started = time.monotonic()
        with pytest.raises(StoreLocked) as locked:
            one_record.preview_sqlite(path, "cel", "1")
        assert time.monotonic() - started < 3
        assert "stayed locked for 0.3 s" in locked.value.message
    finally:
        holder.close()


def test_an_evaluation_error_of_one_record_names_its_line_column_and_part(demo: Any) -> None:
    person = demo.user_by_email("ann.lee@example.com")
    text = 'subject.displayName.size() > 3 &&\n  subject.email + 1 == "x"'
    result = demo.preview_one("push_mapping", text, person)
    error = result.as_dict()["error"]
    assert not result.ok
    assert (error["line"], error["column"]) == (2, 17)  # at the `+`, where the types meet
    assert error["message"].startswith("no matching overload for string + int")
    assert error["message"].endswith("(in `subject.email + 1`)")
    assert error["caret"] == '  subject.email + 1 == "x"\n' + " " * 16 + "^"
    assert result.error is not None and result.error.path == "ann.lee@example.com"
    # an error with no place in the text (the value's type is wrong for the context) has none
    result = demo.preview_one("directory_filter", '"maybe"', demo.account_by_key("hr:E10001"))
    assert not result.ok and result.as_dict()["error"]["line"] is None


def test_an_evaluation_error_quotes_its_part_on_one_short_line_under_a_true_caret(
    demo: Any,
) -> None:
    person = demo.user_by_email("ann.lee@example.com")
    spread = "[0,\n" + ",\n".join(str(n) for n in range(1, 40)) + "][99]"
    error = demo.preview_one("push_mapping", spread, person).as_dict()["error"]
    quoted = error["message"].split("(in `", 1)[1]
    assert "\n" not in quoted and len(quoted) < 70 and quoted.endswith("…`)")
    # a wide character takes two cells: the caret stands under the `int(` it names
    text = '"日本語".size() + int("x")'
    error = demo.preview_one("push_mapping", text, person).as_dict()["error"]
    assert error["column"] == text.index("int(") + 1
    assert error["caret"] == f"{text}\n{' ' * (text.index('int(') + 3)}^"  # 3 wide characters
