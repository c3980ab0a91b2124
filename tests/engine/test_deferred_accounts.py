"""A sync's accounts are loaded narrow from a SQLite store and the rest of each is read when
first needed (engine.store.deferred): every way of reading one sees the whole record, a value
the run set stands, and a store changed underneath is an error naming the account."""

from __future__ import annotations

import copy
import dataclasses
import gc
import pickle
import sqlite3
import threading
from contextlib import closing
from typing import Any

import orjson
import pytest

from engine.errors import StoreError
from engine.records import ACCOUNT_DATA_FIELDS, AccountRecord, Population, read_entitlements
from engine.store import deferred as deferred_module
from engine.store.deferred import DEFERRED_FIELDS, DeferredAccounts
from engine.store.repo import get_meta, load_accounts, set_meta
from engine.sync import pipeline
from engine.sync.by_hand import bump as bump_manual_generation


def _load(demo: Any) -> tuple[DeferredAccounts, list[AccountRecord], list[AccountRecord]]:
    """The demo's accounts deferred, and the same accounts read whole."""
    source = DeferredAccounts(demo.db.sqlite_path, "the demo store")
    with demo.db.session() as session:
        lazy = load_accounts(session, fingerprints={}, filter_results={}, deferred=source)
        whole = load_accounts(session, fingerprints={}, filter_results={})
    return source, lazy, whole


def test_deferred_accounts_equal_the_accounts_read_whole(demo: Any) -> None:
    source, lazy, whole = _load(demo)
    assert len(lazy) == len(whole) > 1000
    assert all(a.__class__ is source.cls for a in lazy)  # nothing read yet
    assert [a.id for a in lazy] == [a.id for a in whole]
    assert [(a.owner_id, a.status, a.entitlements) for a in lazy] == [
        (a.owner_id, a.status, a.entitlements) for a in whole
    ]
    assert source.reads == 0  # the narrow fields are there without a read
    assert lazy == whole  # every field of every record (one query per app past BULK_AFTER)
    assert all(a.__class__ is AccountRecord for a in lazy)
    source.close()


def test_the_read_groups_the_accounts_by_app_as_it_reads_them(demo: Any) -> None:
    source = DeferredAccounts(demo.db.sqlite_path, "the demo store")
    groups: dict[str, dict[tuple[str, str], AccountRecord]] = {}
    with demo.db.session() as session:
        lazy = load_accounts(
            session, fingerprints={}, filter_results={}, deferred=source, groups=groups
        )
    assert sorted(groups) == sorted({a.app_id for a in lazy})
    for app, group in groups.items():
        mine = [a for a in lazy if a.app_id == app]
        assert len(group) == len(mine)
        assert all(x is y for x, y in zip(group.values(), mine, strict=True))  # the same records
        assert all(key == (a.app_id, a.external_id) for key, a in group.items())
    source.close()


def test_every_way_of_reading_a_deferred_account_sees_the_whole_record(demo: Any) -> None:
    source, lazy, whole = _load(demo)
    pairs = [(a, b) for a, b in zip(lazy, whole, strict=True) if b.profile and b.emails][:14]
    assert len(pairs) == 14
    (a, b), *rest = pairs
    assert a.email == b.email and a.__class__ is AccountRecord
    a, b = rest.pop()
    assert b == a  # a whole record on the left asks the deferred one
    a, b = rest.pop()
    assert getattr(a, "profile") == b.profile  # noqa: B009 - the getattr path
    a, b = rest.pop()
    assert dataclasses.asdict(a) == dataclasses.asdict(b)
    a, b = rest.pop()
    assert dataclasses.astuple(a) == dataclasses.astuple(b)
    a, b = rest.pop()
    assert dataclasses.replace(a, owner_id=None) == dataclasses.replace(b, owner_id=None)
    a, b = rest.pop()
    assert pickle.loads(pickle.dumps(a)) == b
    a, b = rest.pop()
    assert copy.deepcopy(a) == b and copy.copy(rest[-1][0]) == rest[-1][1]
    rest.pop()
    a, b = rest.pop()
    assert orjson.loads(orjson.dumps(a)) == orjson.loads(orjson.dumps(b))
    a, b = rest.pop()
    assert repr(a) == repr(b)
    a, b = rest.pop()
    assert not a != b and hasattr(a, "manager")
    with pytest.raises(AttributeError):
        _ = rest[0][0].no_such_field
    source.close()


def test_a_value_the_run_set_stands_when_the_rest_is_read(demo: Any) -> None:
    source, lazy, whole = _load(demo)
    account, stored = next((a, b) for a, b in zip(lazy, whole, strict=True) if b.profile)
    account.email = "set.by.the.run@example.com"
    account.profile = {"title": "set by the run"}
    assert account.__class__ is source.cls  # setting reads nothing
    assert account.display_name == stored.display_name  # the rest is read now
    assert account.email == "set.by.the.run@example.com"
    assert account.profile == {"title": "set by the run"}
    assert account.usernames == stored.usernames
    source.close()


def test_many_reads_in_one_app_read_the_rest_of_it_at_once(demo: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(deferred_module, "BULK_AFTER", 5)
    source, lazy, whole = _load(demo)
    ad = [(a, b) for a, b in zip(lazy, whole, strict=True) if a.app_id == "ad"]
    assert len(ad) > 20
    for a, b in ad[: len(ad) // 4 + 2]:
        assert a.email == b.email
    assert source.apps_read == ["ad"]
    assert source.reads <= len(ad) // 4 + 1
    assert all(a.__class__ is AccountRecord for a, _ in ad)  # read with the app
    assert [a for a, _ in ad] == [b for _, b in ad]
    others = [a for a in lazy if a.app_id != "ad"]
    assert all(a.__class__ is source.cls for a in others)
    source.close()


def test_accounts_read_together_are_read_in_a_few_queries(demo: Any, monkeypatch: Any) -> None:
    """read_whole: deferred accounts among plain ones are read READ_CHUNK to a query, a value
    the run set stands, and one removed underneath stays deferred until read (then names
    itself)."""
    monkeypatch.setattr(deferred_module, "READ_CHUNK", 7)
    source, lazy, whole = _load(demo)
    queries: list[str] = []
    real_query = source._query
    monkeypatch.setattr(source, "_query", lambda sql, p: queries.append(sql) or real_query(sql, p))
    picked = [(a, b) for a, b in zip(lazy, whole, strict=True) if a.app_id == "ad"][:40]
    _ = picked[0][0].email  # read already: read_whole leaves it be
    picked[1][0].display_name = "set by the run"
    gone = picked[2][0]
    with closing(sqlite3.connect(demo.db.sqlite_path)) as db, db:
        db.execute("DELETE FROM grant WHERE account_id = ?", (gone.id,))
        db.execute("DELETE FROM account WHERE id = ?", (gone.id,))
    queries.clear()
    deferred_module.read_whole([a for a, _ in picked] + [whole[0]])
    assert len(queries) == 6  # 39 deferred, 7 to a query
    assert source.reads == 1 + 38  # the one gone is not among them
    assert all(a.__class__ is AccountRecord for a, _ in picked[3:])
    assert [a for a, _ in picked[3:]] == [b for _, b in picked[3:]]
    assert picked[1][0].display_name == "set by the run"
    assert picked[1][0].email == picked[1][1].email
    assert gone.__class__ is source.cls
    with pytest.raises(StoreError, match="no longer in the identity store"):
        _ = gone.email
    source.close()


def test_threads_reading_one_account_read_it_once(demo: Any) -> None:
    source, lazy, whole = _load(demo)
    account, stored = lazy[3], whole[3]
    seen: list[Any] = []
    threads = [threading.Thread(target=lambda: seen.append(account.email)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == [stored.email] * 8 and source.reads == 1
    source.close()


def test_an_account_removed_underneath_is_an_error_naming_it(demo: Any) -> None:
    source, lazy, _ = _load(demo)
    account = next(a for a in lazy if a.owner_id is None)
    with closing(sqlite3.connect(demo.db.sqlite_path)) as db, db:
        db.execute("DELETE FROM grant WHERE account_id = ?", (account.id,))
        db.execute("DELETE FROM account WHERE id = ?", (account.id,))
    with pytest.raises(StoreError) as gone:
        _ = account.email
    assert f"{account.app_id}:{account.external_id} (id {account.id})" in gone.value.message
    assert "no longer in the identity store" in gone.value.message
    source.close()


def test_a_damaged_list_column_is_an_error_naming_the_account(demo: Any) -> None:
    source, lazy, _ = _load(demo)
    account = lazy[0]
    with closing(sqlite3.connect(demo.db.sqlite_path)) as db, db:
        db.execute("UPDATE account SET emails = '[\"a\",' WHERE id = ?", (account.id,))
    with pytest.raises(StoreError) as damaged:
        _ = account.given_name
    assert f"emails of account {account.app_id}:{account.external_id}" in damaged.value.message
    assert "cannot be read as JSON" in damaged.value.message
    source.close()


def test_a_damaged_list_column_read_whole_names_the_account_too(demo: Any) -> None:
    """The same store read whole (a configuration change, PostgreSQL, the services) used to
    end in orjson's own traceback."""
    with demo.db.session() as session:
        account = load_accounts(session)[0]
    with closing(sqlite3.connect(demo.db.sqlite_path)) as db, db:
        db.execute("UPDATE account SET usernames = '[\"a\",' WHERE id = ?", (account.id,))
    with demo.db.session() as session, pytest.raises(StoreError) as damaged:
        load_accounts(session)
    shown = damaged.value.message
    assert f"usernames of account {account.app_id}:{account.external_id} (id {account.id})" in shown
    assert "cannot be read as JSON" in shown


def test_a_store_that_cannot_be_opened_again_is_an_error(demo: Any, tmp_path: Any) -> None:
    source = DeferredAccounts(tmp_path / "gone" / "r.db", "the gone store")
    record = source.cls.__new__(source.cls)
    AccountRecord.__dict__["id"].__set__(record, 1)
    AccountRecord.__dict__["app_id"].__set__(record, "ad")
    AccountRecord.__dict__["external_id"].__set__(record, "x")
    with pytest.raises(StoreError) as failed:
        _ = record.email
    assert "the gone store could not be opened again" in failed.value.message


def _count_sources(monkeypatch: Any) -> list[DeferredAccounts]:
    """The DeferredAccounts each sync makes, in order (the sync's own, counted)."""
    made: list[DeferredAccounts] = []

    class Counted(DeferredAccounts):
        def __init__(self, *args: Any) -> None:
            super().__init__(*args)
            made.append(self)

    monkeypatch.setattr(pipeline, "DeferredAccounts", Counted)
    return made


def test_a_sync_reads_the_rest_only_of_what_it_works_on(demo: Any, monkeypatch: Any) -> None:
    """One changed AD account: the run reads the rest of a handful of accounts (the changed
    one, its person's), not the store's every account; and plans what a whole load plans."""
    made = _count_sources(monkeypatch)
    ad = demo.db.sqlite_path.parent / "r-demo" / "apps" / "ad.yaml"
    text = ad.read_text(encoding="utf-8")
    # one line changed, as the app would change it (a YAML dump would reformat every record)
    edited = text.replace(
        "    title: Chief Executive Officer\n", "    title: 'Head of <b>Things</b> [bold]x[/]'\n", 1
    )
    assert edited != text
    ad.write_text(edited, encoding="utf-8")
    with closing(sqlite3.connect(demo.db.sqlite_path)) as db:
        total = db.execute("SELECT count(*) FROM account").fetchone()[0]
    planned = demo.sync(dry_run=True)
    assert planned.status == "planned", planned.error
    source = made[-1]
    assert 0 < source.reads < total / 10 and not source.apps_read
    monkeypatch.setattr(pipeline, "DeferredAccounts", _never)
    whole = demo.sync(dry_run=True)
    assert [c.as_dict() for c in whole.planned] == [c.as_dict() for c in planned.planned]
    assert any("Head of <b>Things</b>" in str(c.new) for c in planned.planned)
    applied = demo.sync()
    assert applied.status == "applied", applied.error


def _edit_ad_title(demo: Any) -> None:
    ad = demo.db.sqlite_path.parent / "r-demo" / "apps" / "ad.yaml"
    text = ad.read_text(encoding="utf-8")
    edited = text.replace("    title: Chief Executive Officer\n", "    title: Boss\n", 1)
    assert edited != text
    ad.write_text(edited, encoding="utf-8")


def test_a_run_that_reconsiders_everyone_loads_whole_records(demo: Any, monkeypatch: Any) -> None:
    """Deferred, every account would be read again one by one (or an app at a time)."""
    built: list[int] = []

    class Counted(DeferredAccounts):
        def records(self, rows: Any, *args: Any) -> list[AccountRecord]:
            records = super().records(rows, *args)
            built.append(len(records))
            return records

    monkeypatch.setattr(pipeline, "DeferredAccounts", Counted)
    _edit_ad_title(demo)
    with demo.db.session() as session, session.begin():
        bump_manual_generation(session)  # a manual decision: everyone is reconsidered
    assert demo.sync(dry_run=True).status == "planned"
    assert built == []
    with demo.db.session() as session, session.begin():  # as the last applied run left it
        set_meta(session, "applied_manual_generation", get_meta(session, "manual_generation"))
    assert demo.sync(dry_run=True).status == "planned"
    assert built and built[-1] > 1000  # an incremental run defers


def test_the_accounts_are_let_go_of_before_the_collector_resumes(
    demo: Any, monkeypatch: Any
) -> None:
    """Once the collector resumes, its first full collection walks whatever is alive: a run's
    580,000 accounts, if they were still held, cost a third of a second (issue 11)."""
    collecting: list[bool] = []

    class Watched(DeferredAccounts):
        def close(self) -> None:
            collecting.append(gc.isenabled())
            super().close()

    monkeypatch.setattr(pipeline, "DeferredAccounts", Watched)
    _edit_ad_title(demo)
    assert gc.isenabled()
    assert demo.sync(dry_run=True).status == "planned"
    assert collecting and collecting[0] is False  # first let go of while still paused
    assert gc.isenabled()


def test_the_accounts_of_a_run_do_not_outlive_it(demo: Any) -> None:
    """The deferred class's methods hold the DeferredAccounts: while it held the accounts,
    every run's accounts lived on until a full garbage collection (a console plans and syncs
    many times in one process)."""
    _edit_ad_title(demo)
    gc.collect()
    gc.disable()
    try:
        for _ in range(2):
            result = pipeline.run_sync(demo.db, dry_run=True)
            assert result.status == "planned", result.error
        alive = sum(1 for o in gc.get_objects() if isinstance(o, AccountRecord))
    finally:
        gc.enable()
    assert alive < 100


def _never(*args: Any) -> None:
    """In place of DeferredAccounts: the sync loads whole records."""
    return None


def test_the_deferred_fields_are_the_data_fields_no_stage_reads_for_everyone() -> None:
    # status and type are read of every account (deleted ones are skipped, service accounts
    # are never linked by rules): they come with the table
    assert DEFERRED_FIELDS == tuple(f for f in ACCOUNT_DATA_FIELDS if f not in ("status", "type"))


def _entitled(source: DeferredAccounts, record: AccountRecord) -> bool:
    """Whether RECORD's entitlements are read (or set) without reading them."""
    try:
        AccountRecord.__dict__["entitlements"].__get__(record, AccountRecord)
    except AttributeError:
        return False
    return True


def test_entitlements_are_read_alone_and_an_app_at_a_time(demo: Any, monkeypatch: Any) -> None:
    """The grants are not read with the table: an account's are read when first read, without
    its profile; past BULK_AFTER in one app the app's are read in one query."""
    monkeypatch.setattr(deferred_module, "BULK_AFTER", 5)
    source, lazy, whole = _load(demo)
    assert not any(_entitled(source, a) for a in lazy)  # nothing read with the table
    github = [(a, b) for a, b in zip(lazy, whole, strict=True) if a.app_id == "github"]
    assert any(b.entitlements for _, b in github)
    for a, b in github[: len(github) // 4 + 2]:
        assert a.entitlements == b.entitlements
    assert source.grant_apps_read == ["github"] and source.grant_reads <= len(github) // 4 + 1
    assert all(a.entitlements == b.entitlements for a, b in github)  # the rest read with it
    assert source.reads == 0 and all(a.__class__ is source.cls for a, _ in github)
    assert not any(_entitled(source, a) for a in lazy if a.app_id != "github")
    assert lazy == whole  # read whole, every account's entitlements are the stored grants
    source.close()


def test_entitlements_the_run_set_stand_and_read_together(demo: Any) -> None:
    source, lazy, whole = _load(demo)
    pairs = [(a, b) for a, b in zip(lazy, whole, strict=True) if b.entitlements][:30]
    assert len(pairs) == 30
    (mine, stored), *rest = pairs
    mine.entitlements = ["set-by-the-run"]
    assert mine.email == stored.email  # the rest read: the run's entitlements stand
    assert mine.entitlements == ["set-by-the-run"] and mine.__class__ is AccountRecord
    queries: list[str] = []
    real_query = source._query
    source._query = lambda sql, p: queries.append(sql) or real_query(sql, p)  # type: ignore
    read_entitlements([a for a, _ in rest] + [mine])
    assert len(queries) == 1  # 29 accounts, one query
    assert [a.entitlements for a, _ in rest] == [b.entitlements for _, b in rest]
    assert all(a.__class__ is source.cls for a, _ in rest)  # the rest of them still deferred
    source.close()


def test_whether_any_account_holds_an_entitlement_reads_none(demo: Any) -> None:
    source, lazy, whole = _load(demo)
    by_app: dict[str, list[AccountRecord]] = {}
    for account in lazy:
        by_app.setdefault(account.app_id, []).append(account)
    expected = {app: any(b.entitlements for b in whole if b.app_id == app) for app in by_app}
    assert set(expected.values()) == {True, False}  # apps with grants and apps without
    assert {app: deferred_module.any_entitlements(a) for app, a in by_app.items()} == expected
    assert source.grant_reads == 0 and not any(_entitled(source, a) for a in lazy)
    hr = by_app["hr"]
    hr[5].entitlements = ["set-by-the-run"]  # what the run set counts, not the store
    assert deferred_module.any_entitlements(hr)
    source.close()


def test_a_changed_grant_plans_what_a_whole_load_plans(demo: Any, monkeypatch: Any) -> None:
    """A grants change read deferred (the import compares every account's entitlements of
    the app, the writer writes them) plans and applies as a whole load would."""
    monkeypatch.setattr(deferred_module, "BULK_AFTER", 5)
    made = _count_sources(monkeypatch)
    github = demo.db.sqlite_path.parent / "r-demo" / "apps" / "github.yaml"
    text = github.read_text(encoding="utf-8")
    edited = text.replace("- account: '143925100'\n  entitlement: org-admin\n", "", 1)
    assert edited != text
    github.write_text(edited, encoding="utf-8")
    planned = demo.sync(dry_run=True)
    assert planned.status == "planned", planned.error
    source = made[-1]  # the app's grants read at once, its profiles not
    assert source.grant_apps_read == ["github"] and source.apps_read == []
    monkeypatch.setattr(pipeline, "DeferredAccounts", _never)
    whole = demo.sync(dry_run=True)
    assert [c.as_dict() for c in whole.planned] == [c.as_dict() for c in planned.planned]
    assert any(c.field == "entitlements" for c in planned.planned)
    _count_sources(monkeypatch)
    applied = demo.sync()
    assert applied.status == "applied", applied.error
    with closing(sqlite3.connect(demo.db.sqlite_path)) as db:
        held = db.execute(
            'SELECT e.external_id FROM "grant" g JOIN entitlement e ON e.id = g.entitlement_id '
            "JOIN account a ON a.id = g.account_id WHERE a.external_id = '143925100'"
        ).fetchall()
    assert ("org-admin",) not in held and held


def test_entitlements_of_an_account_removed_underneath_are_an_error_naming_it(demo: Any) -> None:
    """As its other fields: not an empty list (review)."""
    source, lazy, _ = _load(demo)
    account, other = [a for a in lazy if a.app_id == "github"][:2]
    with closing(sqlite3.connect(demo.db.sqlite_path)) as db, db:
        for gone in (account, other):
            db.execute("DELETE FROM grant WHERE account_id = ?", (gone.id,))
            db.execute("DELETE FROM account WHERE id = ?", (gone.id,))
    read_entitlements([other])  # read together: it stays unread, its own read says so
    for gone in (account, other):
        with pytest.raises(StoreError, match="no longer in the identity store"):
            _ = gone.entitlements
    source.close()


def test_the_members_of_entitlements_read_each_app_s_grants_at_once(demo: Any) -> None:
    """GetEntitlementMembers indexes everyone's entitlements: an app in one query, not an
    account at a time (review: 1,532 single reads in a demo's dry run)."""
    source, lazy, whole = _load(demo)
    with demo.db.session() as session:
        from engine.store.repo import load_users

        users = load_users(session)
    deferred = Population(users, lazy, {})
    stored = Population(users, whole, {})
    assert deferred.entitlement_members("github", "org-admin")
    for app, entitlement in [("github", "org-admin"), ("ad", "grp-all-staff")]:
        assert [u.id for u in deferred.entitlement_members(app, entitlement)] == [
            u.id for u in stored.entitlement_members(app, entitlement)
        ]
    assert source.grant_reads <= 1 + len({a.app_id for a in lazy})
    assert source.reads == 0
    source.close()
