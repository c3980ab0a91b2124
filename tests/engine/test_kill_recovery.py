"""A sync killed (SIGKILL) at any moment, then synced again, leaves the same store as a sync
that was never interrupted; what the killed run wrote to the apps is in the audit trail.

The organisation is the small test org (tests/engine/org.py) with an Active Directory file app
the sync pushes to (and reads department from, under a flow rule) and an Entra ID file app that
creates an account for an approved access request. Each case kills a spawned process at one
point of an applied sync, runs the recovery sync in this process, and compares the whole store
(people, accounts, links, grants, attribute values with the last value seen from every source,
push records, access requests, the journal of applied changes) with an uninterrupted sync of a
separate copy of the same organisation."""

from __future__ import annotations

import copy
import json
import multiprocessing
import os
import shutil
import signal
import sqlite3
from collections import Counter
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from engine.services import Services, open_services
from engine.store.models import (
    AccessRequest,
    Account,
    App,
    AttributeValue,
    Change,
    Entitlement,
    ExternalWrite,
    Grant,
    Person,
    PushExecution,
    Run,
)
from engine.store.repo import set_meta
from tests.engine.org import CONFIG, write_org

AD = {
    "accounts": [
        {
            "id": "alee",
            "display_name": "Ann Lee",
            "email": "ann.lee@example.com",
            "username": "alee",
            "profile": {"department": "Old Department", "title": "Old title"},
        },
        {
            "id": "bchen",
            "display_name": "Bo Chen",
            "email": "bo.chen@example.com",
            "username": "bchen",
            "profile": {"department": "Engineering", "title": "Manager"},
        },
    ],
}
ENTRA = {
    "accounts": [
        {
            "id": "ann.lee@example.com",
            "display_name": "Ann Lee",
            "email": "ann.lee@example.com",
            "username": "ann.lee@example.com",
            "profile": {"userPrincipalName": "ann.lee@example.com"},
        }
    ],
    "entitlements": [{"id": "lic-e5", "name": "E5 licence"}],
}
REQUESTS = {
    "requests": [
        {
            "id": "REQ-1",
            "user_email": "sam.park@example.com",
            "app": "entra",
            "entitlement": "lic-e5",
            "status": "APPROVED",
        }
    ]
}


def kill_config() -> dict[str, Any]:
    config = copy.deepcopy(CONFIG)
    config["settings"]["access_requests"] = "requests.yaml"
    config["apps"] += [
        {
            "id": "ad",
            "name": "AD",
            "connector": "file",
            "settings": {"path": "ad.yaml", "flavour": "active_directory"},
        },
        {
            "id": "entra",
            "name": "Entra",
            "connector": "file",
            "settings": {"path": "entra.yaml", "flavour": "entra_id"},
            "provisioning": {
                "proactive": True,
                "fields": {
                    "displayName": "subject.displayName",
                    "mailNickname": 'subject.email.split("@")[0]',
                    "userPrincipalName": "subject.email",
                },
            },
        },
    ]
    department = next(a for a in config["attributes"] if a["name"] == "department")
    department["sources"].append({"app": "ad", "field": "profile.department"})
    department["flow_rules"].append(
        {"app": "ad", "direction": "bidirectional", "create": 30, "update": 40, "delete": 30}
    )
    config["push_rules"] = [
        {
            "name": "ad-core",
            "app": "ad",
            "enabled": True,
            "targeting": {"kind": "everyone"},
            "mappings": [
                {"target": "title", "attribute": "job_title"},
                {"target": "department", "attribute": "department"},
            ],
        }
    ]
    return config


def write_kill_org(folder: Path) -> Path:
    """The organisation's files in FOLDER; returns its configuration's path."""
    path = write_org(folder, kill_config(), ad=AD, entra=ENTRA)
    (folder / "requests.yaml").write_text(yaml.safe_dump(REQUESTS, sort_keys=False))
    return path


def open_kill_org(folder: Path) -> Services:
    path = write_kill_org(folder / "org")
    services = open_services(db_path=folder / "roster.db", init="empty")
    services.import_config(path.read_text(), source=str(path), base_dir=path.parent)
    return services


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The organisation, its configuration imported, never synced (copied for each case:
    creating and migrating a store costs more than copying one)."""
    folder = tmp_path_factory.mktemp("kill-template")
    open_kill_org(folder).db.dispose()
    return folder


def copy_org(template: Path, folder: Path) -> Services:
    """A copy of the template's store and app files in FOLDER, syncing into its own files."""
    with closing(sqlite3.connect(template / "roster.db")) as source:
        with closing(sqlite3.connect(folder / "roster.db")) as target:
            source.backup(target)
    shutil.copytree(template / "org", folder / "org")
    services = open_services(db_path=folder / "roster.db")
    with services.db.session() as session, session.begin():
        set_meta(session, "config_base_dir", str((folder / "org").resolve()))
    return services


# --- where the killed process dies ----------------------------------------------------------


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _sync_and_die(db_url: str, where: str) -> None:
    """Run an applied sync and kill this process at WHERE (run in a child process)."""
    from engine.connectors import fileio
    from engine.store.db import Database
    from engine.sync import pipeline, writer

    applying = False

    def progress(stage: str, done: int, total: int) -> None:
        nonlocal applying
        if stage == "done":
            applying = True
        elif applying and where == f"before {stage}":
            _die()

    def dying(function: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            _die()
            return function(*args, **kwargs)

        return wrapper

    if where == "push written, not recorded":
        pipeline.writer.write_push = dying(writer.write_push)  # type: ignore[attr-defined]
    elif where == "intents recorded, not sent":
        pipeline.send = dying(pipeline.send)  # type: ignore[attr-defined]
    elif where == "account created, not recorded":
        pipeline.writer.write_provisioned = dying(writer.write_provisioned)  # type: ignore[attr-defined]
    elif where == "after provision":
        pipeline._settle = dying(pipeline._settle)  # type: ignore[attr-defined]
    elif where == "settled, not finished":
        pipeline._finish = dying(pipeline._finish)  # type: ignore[attr-defined]
    elif where == "inside the atomic write":
        replace = fileio.os.replace

        def replace_then_die(source: Any, target: Any) -> None:
            if applying:
                _die()
            replace(source, target)

        fileio.os.replace = replace_then_die  # type: ignore[assignment]
    pipeline.run_sync(Database(db_url), progress=progress)


def _context() -> Any:
    """A fresh process for each killed sync, as spawn gives, without paying for importing the
    engine in each one: a fork server (started clean, never a fork of this test process with
    its threads and open stores) imports it once, then forks a child per case."""
    context = multiprocessing.get_context("forkserver")
    # installed packages only: Python < 3.13 does not give the server the tests' sys.path
    context.set_forkserver_preload(["pytest", "engine.services", "engine.sync.pipeline"])
    return context


def _provision_and_die(db_path: str, before_asking: bool = False) -> None:
    """Create one account by hand (`roster provision create`) and die before recording it (or,
    BEFORE_ASKING, before the app is asked)."""
    from engine.connectors.file.connector import FileConnector
    from engine.sync import writer

    if before_asking:
        FileConnector.create_account = lambda *args, **kwargs: _die()  # type: ignore[assignment,method-assign]
    writer.write_provisioned_account = lambda *args, **kwargs: _die()  # type: ignore[assignment]
    open_services(db_path=db_path).provision("entra", "sam.park2@example.com")


def kill_at(services: Services, where: str) -> None:
    process = _context().Process(target=_sync_and_die, args=(services.db.url, where))
    process.start()
    process.join(60)
    assert process.exitcode == -signal.SIGKILL, f"the sync was not killed {where}"


# --- the whole store, without ids, run numbers and times --------------------------------------


def _sorted(rows: Any) -> list[Any]:
    return sorted(rows, key=repr)


def store(services: Services) -> dict[str, Any]:
    with services.db.session() as session:
        people = {p.id: p.email for p in session.scalars(select(Person))}
        accounts = {a.id: f"{a.app_id}:{a.external_id}" for a in session.scalars(select(Account))}
        entitlements = {
            e.id: f"{e.app_id}:{e.external_id}" for e in session.scalars(select(Entitlement))
        }
        return {
            "people": _sorted(
                p.model_dump(exclude={"id", "created_at", "updated_at"}) | {"id": people[p.id]}
                for p in session.scalars(select(Person))
            ),
            "accounts": _sorted(
                # the fingerprint is left out: a digest of the same record comes in two
                # flavours (the importer's of the file's text, `fingerprint_in`; the
                # provisioning writer's of the listed record), and which one an account holds
                # depends on which read it last, not on what it holds
                a.model_dump(exclude={"id", "first_seen", "last_seen", "owner_id", "fingerprint"})
                | {"owner": people.get(a.owner_id)}  # type: ignore[arg-type]
                for a in session.scalars(select(Account))
            ),
            "entitlements": _sorted(
                (e.app_id, e.external_id, e.name, e.description)
                for e in session.scalars(select(Entitlement))
            ),
            "grants": _sorted(
                (accounts[g.account_id], entitlements[g.entitlement_id])
                for g in session.scalars(select(Grant))
            ),
            "attribute values": _sorted(
                (people[v.user_id], v.attribute, v.value, v.source, v.last_seen, v.ever_set)
                for v in session.scalars(select(AttributeValue))
            ),
            "push records": _sorted(
                (
                    p.push_rule,
                    people.get(p.user_id),  # type: ignore[arg-type]
                    accounts.get(p.account_id),  # type: ignore[arg-type]
                    p.changes,
                    p.success,
                    p.reason,
                )
                for p in session.scalars(select(PushExecution))
            ),
            "access requests": _sorted(
                (r.request_id, r.status, r.account, people.get(r.user_id))  # type: ignore[arg-type]
                for r in session.scalars(select(AccessRequest))
            ),
            "apps": _sorted((a.id, a.last_import_status) for a in session.scalars(select(App))),
            "journal": Counter(
                row
                for c in session.scalars(select(Change).where(Change.applied))
                for row in _journal_rows(c)
            ),
        }


def _journal_rows(c: Change) -> list[tuple[Any, ...]]:
    """A change as comparable rows. A person's attribute values are compared value by value:
    a person created by the killed run has its values computed by the recovery run, which
    journals them one by one, where an uninterrupted run journals a new person's values as one
    change (the same values, told another way)."""
    if c.stage == "attributes" and c.object_type == "user":
        if c.field == "attributes" and c.old is None and isinstance(c.new, dict):
            return [(c.stage, c.object_type, c.object_id, k, repr(v)) for k, v in c.new.items()]
        return [(c.stage, c.object_type, c.object_id, c.field, repr(c.new))]
    return [(c.stage, c.object_type, c.object_id, c.field, repr(c.old), repr(c.new), c.reason)]


def compare(recovered: dict[str, Any], expected: dict[str, Any]) -> None:
    for table in expected:
        got, want = recovered[table], expected[table]
        if table == "journal":
            missing, extra = want - got, got - want
            assert not missing and not extra, (
                f"journal differs: missing {list(missing)}, extra {list(extra)}"
            )
        else:
            assert _sorted(got) == _sorted(want), f"{table} differ"


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory, template: Path) -> dict[str, Any]:
    services = copy_org(template, tmp_path_factory.mktemp("uninterrupted"))
    result = services.sync()
    assert result.status == "applied", result.error
    pushed = next(s for s in result.stages if s.name == "push")
    assert pushed.counts["values"] == 3  # Ann's title and department, Bo's title
    created = next(s for s in result.stages if s.name == "provision")
    assert created.counts["created"] == 1
    assert services.sync().changes == []
    snapshot = store(services)
    services.db.dispose()
    return snapshot


KILL_POINTS = [
    "before identify",  # import committed
    "before attributes",  # identify and ownership committed
    "before push",  # attributes committed
    "intents recorded, not sent",
    "inside the atomic write",  # the AD file's temporary file written, not renamed
    "push written, not recorded",
    "before provision",  # push committed
    "account created, not recorded",
    "after provision",  # provision committed, the store not settled
    "settled, not finished",
]


@pytest.mark.parametrize("where", KILL_POINTS)
def test_a_sync_after_a_kill_leaves_the_store_an_uninterrupted_sync_leaves(
    tmp_path: Path, where: str, template: Path, uninterrupted: dict[str, Any]
) -> None:
    services = copy_org(template, tmp_path)
    kill_at(services, where)
    with services.db.session() as session:
        assert session.scalars(select(Run)).one().status == "running"
    recovery = open_services(db_path=tmp_path / "roster.db").sync()
    assert recovery.status == "applied", recovery.error
    compare(store(services), uninterrupted)
    assert services.sync().changes == []  # and the store is settled
    assert not list((tmp_path / "org").glob(".*.tmp"))  # no temporary file of ours is left


def test_the_audit_trail_shows_what_a_killed_run_wrote(tmp_path: Path, template: Path) -> None:
    """Killed after AD's file was written and before the pushes were recorded: the next sync
    finds the values in AD and records them against the killed run, which `roster runs` shows;
    the next sync itself pushes nothing (it was all there)."""
    from click.testing import CliRunner

    from console.cli import main

    services = copy_org(template, tmp_path)
    kill_at(services, "push written, not recorded")
    with services.db.session() as session:
        (killed,) = session.scalars(select(Run))
        intents = list(session.scalars(select(ExternalWrite)))
    assert {(w.external_id, w.outcome) for w in intents} == {("alee", ""), ("bchen", "")}
    # its process is gone: the history and the dashboard say so, not "running" (the store
    # keeps its row as it was until the next sync finishes it)
    assert killed.status == "running"
    assert services.runs(limit=1)[0].status == "interrupted"
    assert services.run_summary(killed.id or 0).status == "interrupted"
    assert f"Run {killed.id} interrupted" in " ".join(services.dashboard().warnings)
    recovery = services.sync()
    assert recovery.status == "applied", recovery.error
    assert next(s for s in recovery.stages if s.name == "push").counts.get("values", 0) == 0
    assert any(f"run {killed.id} was interrupted" in n for n in recovery.stages[0].notes)

    writes = services.external_writes(killed.id)
    assert [(w.account, w.outcome, w.settled_by_run) for w in writes] == [
        ("ad:alee", "found applied", recovery.run_id),
        ("ad:bchen", "found applied", recovery.run_id),
    ]
    assert writes[0].values == {
        "title": ["Old title", "Engineer"],
        "department": ["Old Department", "Engineering"],
    }
    pushes = services.push_history(run_id=killed.id)
    assert {(p.account, p.user, p.success) for p in pushes} == {
        ("ad:alee", "ann.lee@example.com", True),
        ("ad:bchen", "bo.chen@example.com", True),
    }
    _, journal = services.run_changes(killed.id)
    pushed = {(c.object_id, c.field, c.new) for c in journal if c.stage == "push" and c.applied}
    assert pushed == {
        ("ad:alee", "title", "Engineer"),
        ("ad:alee", "department", "Engineering"),
        ("ad:bchen", "title", "Director"),
    }
    # the provisioning was never reached: the recovery sync created the account itself
    created = services.external_writes(recovery.run_id)
    assert [(w.kind, w.account, w.outcome) for w in created] == [
        ("create", "entra:sam.park@example.com", "sent")
    ]

    env = {"ROSTER_DB": str(tmp_path / "roster.db")}
    shown = CliRunner().invoke(main, ["runs", str(killed.id)], env=env)
    assert shown.exit_code == 0, shown.output
    assert f"run {recovery.run_id} read the apps back: 2 pushes found applied" in shown.output
    assert (
        f"[found applied, read back by run {recovery.run_id}] push ad:alee "
        "(ann.lee@example.com): found in the app by recovery" in shown.output
    )
    # --limit bounds the writes read back as it bounds the changes (456 were printed at once)
    limited = CliRunner().invoke(main, ["runs", str(killed.id), "--limit", "1"], env=env)
    assert limited.exit_code == 0, limited.output
    assert limited.output.count("read back by run") == 1
    assert (
        f"… and 1 more write read back: `roster runs {killed.id} --limit 0` shows them all"
        in limited.output
    )
    bounded = CliRunner().invoke(main, ["runs", str(killed.id), "--json", "--limit", "1"], env=env)
    data = json.loads(bounded.output)
    assert len(data["external_writes"]) == 1 and data["total_external_writes"] == 2
    data = json.loads(CliRunner().invoke(main, ["runs", str(killed.id), "--json"], env=env).output)
    assert data["total_external_writes"] == len(data["external_writes"]) == 2
    assert data["status"] == "failed"
    assert data["counts"]["recovered"] == {"push found applied": 2}
    assert [w["outcome"] for w in data["external_writes"]] == ["found applied"] * 2


def test_a_creation_the_killed_run_made_is_linked_and_fulfils_its_request(
    tmp_path: Path, template: Path
) -> None:
    services = copy_org(template, tmp_path)
    kill_at(services, "account created, not recorded")
    recovery = services.sync()
    assert recovery.status == "applied", recovery.error
    with services.db.session() as session:
        killed = session.scalars(select(Run).order_by(Run.id)).first()
        (request,) = session.scalars(select(AccessRequest))
        account = session.scalars(
            select(Account).where(Account.external_id == "sam.park@example.com")
        ).one()
        owner = session.get(Person, account.owner_id)
    assert (request.status, request.fulfilled_run_id) == ("FULFILLED", killed.id)
    assert (account.link_kind, owner.email) == ("provisioned", "sam.park@example.com")
    (creation,) = [w for w in services.external_writes(killed.id) if w.kind == "create"]
    assert (creation.account, creation.outcome) == ("entra:sam.park@example.com", "found applied")
    # the entra file holds one Sam Park: nothing was created twice
    entra = yaml.safe_load((tmp_path / "org" / "entra.yaml").read_text())
    assert [a["id"] for a in entra["accounts"]].count("sam.park@example.com") == 1


def test_writes_that_never_left_are_recorded_as_not_sent(tmp_path: Path, template: Path) -> None:
    services = copy_org(template, tmp_path)
    kill_at(services, "intents recorded, not sent")
    recovery = services.sync()
    with services.db.session() as session:
        killed = session.scalars(select(Run).order_by(Run.id)).first()
    assert [(w.account, w.outcome) for w in services.external_writes(killed.id)] == [
        ("ad:alee", "not sent"),
        ("ad:bchen", "not sent"),
    ]
    assert not services.push_history(run_id=killed.id)
    # the recovery sync sent them itself, and says so
    assert [(w.account, w.outcome) for w in services.external_writes(recovery.run_id)][:2] == [
        ("ad:alee", "sent"),
        ("ad:bchen", "sent"),
    ]


def test_only_our_own_temporary_files_are_removed(tmp_path: Path, template: Path) -> None:
    services = copy_org(template, tmp_path)
    folder = tmp_path / "org"
    ours = [folder / ".ad.yaml.k3x_9a0q.tmp", folder / ".hr.yaml.abcdefgh.tmp"]
    others = [
        folder / ".ad.yaml.tmp",  # not mkstemp's shape
        folder / ".ad.yaml.toolongname.tmp",
        folder / ".notes.yaml.abcdefgh.tmp",  # beside a file that is no app's
        folder / "ad.yaml.abcdefgh.tmp",
        folder / ".ad.yaml.abcdefgh.bak",
    ]
    for path in ours + others:
        path.write_text("half a file")
    services.sync(dry_run=True)  # a dry run changes nothing, on disk either
    assert all(path.exists() for path in ours)
    result = services.sync()
    assert result.status == "applied", result.error
    assert not any(path.exists() for path in ours)
    assert all(path.exists() for path in others)
    assert any(".ad.yaml.k3x_9a0q.tmp" in note for note in result.stages[0].notes)


def test_an_uninterrupted_run_records_each_write_sent_or_refused(
    tmp_path: Path, template: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.connectors.file.connector import FileConnector
    from engine.errors import ConnectorError

    update_accounts = FileConnector.update_accounts

    def refuse_bo(self: FileConnector, changes: Any) -> dict[str, ConnectorError]:
        refused = {"bchen": ConnectorError("bchen is locked by policy")}
        return {
            **update_accounts(self, {k: v for k, v in changes.items() if k != "bchen"}),
            **refused,
        }

    monkeypatch.setattr(FileConnector, "update_accounts", refuse_bo)
    services = copy_org(template, tmp_path)
    result = services.sync()
    assert result.status == "applied-with-failures", result.error
    writes = services.external_writes(result.run_id)
    assert [(w.kind, w.account, w.outcome, w.reason) for w in writes] == [
        ("push", "ad:alee", "sent", ""),
        ("push", "ad:bchen", "refused", "bchen is locked by policy"),
        ("create", "entra:sam.park@example.com", "sent", ""),
    ]
    assert all(w.settled_by_run == result.run_id and not w.recovered for w in writes)
    assert writes[2].values == {  # the mapped fields, the schema's defaults, the request's grant
        "displayName": "Sam Park",
        "mailNickname": "sam.park",
        "userPrincipalName": "sam.park@example.com",
        "accountEnabled": True,
        "passwordProfile": {"forceChangePasswordNextSignIn": True},
        "groups": ["lic-e5"],
    }


def test_an_account_created_by_hand_in_a_killed_run_is_recorded(
    tmp_path: Path, template: Path
) -> None:
    services = copy_org(template, tmp_path)
    assert services.sync().status == "applied"
    process = _context().Process(target=_provision_and_die, args=(str(tmp_path / "roster.db"),))
    process.start()
    process.join(60)
    assert process.exitcode == -signal.SIGKILL
    recovery = services.sync()
    assert recovery.status == "applied", recovery.error
    with services.db.session() as session:
        killed = session.scalars(select(Run).where(Run.kind == "provision")).one()
        account = session.scalars(
            select(Account).where(Account.external_id == "sam.park2@example.com")
        ).one()
        owner = session.get(Person, account.owner_id)
    assert killed.status == "failed"
    assert "1 account creation found applied" in killed.error
    assert (account.link_kind, owner.email) == ("provisioned", "sam.park2@example.com")
    (write,) = services.external_writes(killed.id)
    assert (write.account, write.outcome, write.settled_by_run) == (
        "entra:sam.park2@example.com",
        "found applied",
        recovery.run_id,
    )
    _, journal = services.run_changes(killed.id)
    assert [(c.object_id, c.reason) for c in journal] == [
        (
            "entra:sam.park2@example.com",
            "created for sam.park2@example.com (asked for by an admin) and linked",
        )
    ]


def test_an_account_asked_for_by_hand_and_never_made_is_made_by_the_next_sync(
    tmp_path: Path, template: Path
) -> None:
    """`roster provision` killed before the app was asked: the apps and the configuration are
    as the last sync left them, yet the next sync does not say "nothing changed". Nothing but
    the admin's command asked for that account, so recovery hands it to the sync's provision
    stage, which creates and links it (it was reported "planned again" and never made:
    hostile review M6)."""
    services = copy_org(template, tmp_path)
    assert services.sync().status == "applied"
    process = _context().Process(
        target=_provision_and_die, args=(str(tmp_path / "roster.db"), True)
    )
    process.start()
    process.join(60)
    assert process.exitcode == -signal.SIGKILL
    with services.db.session() as session:
        killed = session.scalars(select(Run).where(Run.kind == "provision")).one()
    # a dry run reads nothing back, but says what the applied sync will do of it
    dry = services.sync(dry_run=True)
    assert dry.status == "planned", dry.error
    assert (
        f"entra: run {killed.id} was creating the account for sam.park2@example.com (asked "
        "for by an admin) when it was killed; the applied sync creates it if the app does "
        "not have it"
    ) in dry.stages[0].notes
    assert [w.outcome for w in services.external_writes(killed.id)] == [""]
    recovery = services.sync()
    assert recovery.status == "applied", recovery.error
    assert any(
        "sam.park2@example.com that run" in n and "this sync creates it" in n
        for n in recovery.stages[0].notes
    ), recovery.stages[0].notes
    provision = recovery.stages[5]
    assert (provision.counts.get("created"), provision.problems) == (1, [])
    with services.db.session() as session:
        account = session.scalars(
            select(Account).where(Account.external_id == "sam.park2@example.com")
        ).one()
        owner = session.get(Person, account.owner_id)
    assert (account.link_kind, owner.email) == ("provisioned", "sam.park2@example.com")
    assert "sam.park2@example.com" in {
        a["id"] for a in yaml.safe_load((tmp_path / "org" / "entra.yaml").read_text())["accounts"]
    }
    # the killed run's intent says what became of it; the recovery sync's own is sent
    (lost,) = services.external_writes(killed.id)
    assert (lost.kind, lost.outcome, lost.settled_by_run) == ("create", "not sent", recovery.run_id)
    assert lost.reason == (
        f"the app had no such account (run {killed.id} was killed before asking); run "
        f"{recovery.run_id} created it: entra:sam.park2@example.com"
    )
    assert [(w.kind, w.outcome, w.account) for w in services.external_writes(recovery.run_id)] == [
        ("create", "sent", "entra:sam.park2@example.com")
    ]
    _, journal = services.run_changes(recovery.run_id)
    assert [c.reason for c in journal if c.stage == "provision"] == [
        f"created for sam.park2@example.com (asked for by an admin in run {killed.id}, which "
        "was killed before it was made) and linked"
    ]
    again = services.sync()  # nothing is left to do, and nothing is created twice
    assert again.stages[0].counts.get("apps_unchanged"), again.stages[0].notes
    assert not services.external_writes(again.run_id)


def test_an_account_asked_for_by_hand_waits_for_a_sync_that_gets_to_provision(
    tmp_path: Path, template: Path
) -> None:
    """The sync after the kill applies nothing (the plan it was told to expect is not the
    plan): the account is not made, and the killed run's intent stays open for the next."""
    services = copy_org(template, tmp_path)
    assert services.sync().status == "applied"
    process = _context().Process(
        target=_provision_and_die, args=(str(tmp_path / "roster.db"), True)
    )
    process.start()
    process.join(60)
    assert process.exitcode == -signal.SIGKILL
    with services.db.session() as session:
        killed = session.scalars(select(Run).where(Run.kind == "provision")).one()
    # a plan reviewed before something changed (here: the deletion bound)
    reviewed = services.sync(dry_run=True).plan
    from engine.services import ConfigEdit

    services.config_edit(ConfigEdit("set", "settings.deletion_threshold.max_objects", 501))
    stopped = services.sync(expect_plan=reviewed)
    assert stopped.status == "plan-changed"
    assert [(w.outcome, w.settled_by_run) for w in services.external_writes(killed.id)] == [
        ("", None)
    ]
    recovery = services.sync()
    assert recovery.status == "applied", recovery.error
    assert recovery.stages[5].counts.get("created") == 1
    (lost,) = services.external_writes(killed.id)
    assert (lost.outcome, lost.settled_by_run) == ("not sent", recovery.run_id)


def test_writes_to_an_app_that_cannot_be_read_back_are_unknown_with_the_reason(
    tmp_path: Path, template: Path
) -> None:
    services = copy_org(template, tmp_path)
    kill_at(services, "push written, not recorded")
    (tmp_path / "org" / "ad.yaml").write_text("accounts: [ {id: broken\n")  # edited meanwhile
    recovery = services.sync()
    assert recovery.status == "applied-with-failures", recovery.error
    killed = recovery.run_id - 1
    writes = services.external_writes(killed)
    assert [(w.account, w.outcome) for w in writes] == [
        ("ad:alee", "unknown"),
        ("ad:bchen", "unknown"),
    ]
    assert writes[0].reason.startswith("could not be read back: App 'ad': cannot read ")
    assert "ad.yaml" in writes[0].reason
    assert not services.push_history(run_id=killed)


def test_an_account_asked_for_again_by_hand_before_the_sync_is_not_made_twice(
    tmp_path: Path, template: Path
) -> None:
    services = copy_org(template, tmp_path)
    assert services.sync().status == "applied"
    process = _context().Process(
        target=_provision_and_die, args=(str(tmp_path / "roster.db"), True)
    )
    process.start()
    process.join(60)
    assert process.exitcode == -signal.SIGKILL
    with services.db.session() as session:
        killed = session.scalars(select(Run).where(Run.kind == "provision")).one()
    # the admin sees the failed run and asks again, before any sync
    assert services.provision("entra", "sam.park2@example.com").status == "applied"
    recovery = services.sync()
    assert recovery.status == "applied", recovery.error
    assert "created" not in recovery.stages[5].counts and not recovery.stages[5].problems
    (lost,) = services.external_writes(killed.id)
    assert (lost.outcome, lost.settled_by_run) == ("not sent", recovery.run_id)
    assert lost.reason.endswith(
        "sam.park2@example.com has entra:sam.park2@example.com now: nothing to create"
    )
    entra = yaml.safe_load((tmp_path / "org" / "entra.yaml").read_text())["accounts"]
    assert [a["id"] for a in entra].count("sam.park2@example.com") == 1


def test_a_killed_sync_reads_interrupted_while_another_holds_the_lock(
    tmp_path: Path, template: Path
) -> None:
    """Only a sync recorded since the live lock was taken is running: one recorded before it
    is not the lock's (a hostile review: a provisioning write holding the lock made a killed
    sync read "running")."""
    import datetime

    from engine.store.models import utcnow
    from engine.sync.lock import acquire_lock, release_lock

    services = copy_org(template, tmp_path)
    kill_at(services, "push written, not recorded")
    killed = services.runs(limit=1)[0]
    assert killed.status == "interrupted"
    acquire_lock(services.db, "someone")  # held by this live process, taken after the kill
    try:
        # taking the lock records the dead run as failed, as the next sync does
        assert services.run_summary(killed.id).status == "failed"
        ids = {}
        with services.db.session() as session, session.begin():
            # the one recorded before the lock was taken comes last: the newest is not it
            for name, when in (
                ("since", utcnow()),
                ("before", utcnow() - datetime.timedelta(hours=1)),
            ):
                row = Run(kind="sync", status="running", started_at=when)
                session.add(row)
                session.flush()
                ids[name] = row.id
        shown = {r.id: r.status for r in services.runs(limit=2)}
        assert shown == {ids["since"]: "running", ids["before"]: "interrupted"}
    finally:
        release_lock(services.db)
