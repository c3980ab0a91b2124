"""Roles (DESIGN §14, engine/roles.py): the store's creator is its admin; a viewer looks and
previews, an operator also syncs, an admin also changes things; the engine refuses the rest,
and nothing of a refused action is done."""

from __future__ import annotations

import json
import os
import pwd
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, text

from console.cli import main
from engine.roles import NotPermitted
from engine.services import ConfigEdit, Services, open_services
from engine.store.db import Database, sqlite_url
from engine.store.models import AuditEvent, Run
from tests.engine.org import write_org

ME = pwd.getpwuid(os.getuid()).pw_name


@pytest.fixture
def org(tmp_path: Path) -> Services:
    """A store created (and synced) by this process's OS user, with a viewer and an operator."""
    config = write_org(tmp_path / "org")
    services = open_services(db_path=tmp_path / "r.db", init="empty")
    services.import_config(config.read_text(), source=str(config), base_dir=config.parent)
    assert services.sync().status == "applied"
    services.grant_role("vera", "viewer")
    services.grant_role("otto", "operator")
    return services


def as_user(services: Services, user: str) -> Services:
    return Services(Database(services.db.url), actor=user)


def runs(services: Services) -> int:
    with services.db.session() as session:
        return int(session.scalar(select(func.count()).select_from(Run)) or 0)


def test_the_creator_is_admin_and_every_grant_is_listed_and_audited(org: Services) -> None:
    assert org.role() == "admin"
    listed = {(g.os_user, g.role, g.granted_by) for g in org.role_grants()}
    assert listed == {
        (ME, "admin", "(created the store)"),
        ("vera", "viewer", ME),
        ("otto", "operator", ME),
    }
    assert [g.os_user for g in org.role_grants()][0] == ME  # admins first
    audited = [(e.action, e.path, e.after) for e in org.audit() if e.action.startswith("role")]
    assert ("role.grant", "vera", {"role": "viewer"}) in audited


def _refused(call: Callable[[], Any], needed: str, what: str) -> str:
    with pytest.raises(NotPermitted) as caught:
        call()
    message = caught.value.message
    assert f"{what} needs the {needed} role" in message
    assert "Nothing was done" in message and "roster users grant" in message
    return message


def test_a_viewer_looks_and_previews_and_is_refused_the_rest(org: Services) -> None:
    viewer = as_user(org, "vera")
    # looking and previewing
    assert viewer.dashboard(with_care=False).people > 0
    assert viewer.preview_one(
        "attribute_source", "subject.email", viewer.person("ann.lee@example.com")
    ).ok
    assert viewer.explain("ann.lee@example.com", "department").value
    before = runs(org)
    version = org.config_version()
    message = _refused(lambda: viewer.sync(dry_run=True), "operator", "planning a sync")
    assert message.startswith("vera is a viewer of this store")
    _refused(lambda: viewer.sync(), "operator", "running a sync")
    edit = ConfigEdit("set", "directories.hr.filter", '"CREATE"')
    _refused(lambda: viewer.config_edit(edit), "admin", "changing the configuration")
    # a dry run of an edit is a preview: allowed, nothing saved
    assert viewer.config_edit(edit, dry_run=True)
    _refused(lambda: viewer.edit_in_editor("settings"), "admin", "changing the configuration")
    exported = org.export_config()
    _refused(
        lambda: viewer.import_config(exported, source="x.yaml", base_dir=Path(".")),
        "admin",
        "importing a configuration",
    )
    _refused(
        lambda: viewer.set_link("github:ann-gh", None), "admin", "linking or unlinking an account"
    )
    _refused(lambda: viewer.pin("github:ann-gh"), "admin", "pinning an account")
    _refused(lambda: viewer.app_test("hr"), "operator", "testing an app's connection")
    _refused(lambda: viewer.grant_role("vera", "admin"), "admin", "granting roles")
    # nothing of it happened
    assert runs(org) == before and org.config_version() == version
    assert as_user(org, "vera").role() == "viewer"


def test_an_operator_syncs_but_does_not_change_the_configuration(org: Services) -> None:
    operator = as_user(org, "otto")
    assert operator.sync(dry_run=True).status == "planned"
    assert operator.sync().status == "applied"
    message = _refused(
        lambda: operator.config_edit(ConfigEdit("set", "directories.hr.filter", '"CREATE"')),
        "admin",
        "changing the configuration",
    )
    assert message.startswith("otto is an operator of this store")
    _refused(lambda: operator.revoke_role("vera"), "admin", "revoking roles")


def test_someone_with_no_role_cannot_open_the_store(tmp_path: Path) -> None:
    db = Database(sqlite_url(tmp_path / "r.db"))
    Services(db, actor="zoe").init_store("empty")  # zoe created it: this process's user is nobody
    with pytest.raises(NotPermitted) as caught:
        open_services(db_path=tmp_path / "r.db")
    assert caught.value.message.startswith(f"{ME} holds no role in this store: opening this store")
    assert f"roster users grant {ME} viewer" in caught.value.message


def test_the_last_admin_stays_and_names_are_checked(org: Services) -> None:
    with pytest.raises(Exception, match="only admin, so that role stays. Nothing was done") as only:
        org.revoke_role(ME)
    assert "(roster users grant OTHER_USER admin --db " in str(only.value)
    with pytest.raises(Exception, match="only admin"):
        org.grant_role(ME, "viewer")
    with pytest.raises(Exception, match="unknown role 'root'"):
        org.grant_role("vera", "root")
    for bad in ("", "two words", "x\x1b[2Jy", "n" * 300):
        with pytest.raises(Exception, match="OS user|name the OS user"):
            org.grant_role(bad, "viewer")
    with pytest.raises(Exception, match="has no role in this store to revoke"):
        org.revoke_role("nobody-here")
    # with a second admin, the first may step down, and the second then manages the store
    org.grant_role("ada", "admin")
    assert org.grant_role(ME, "operator").role == "operator"
    ada = as_user(org, "ada")
    assert ada.revoke_role("vera") == "viewer"
    assert {g.os_user for g in ada.role_grants()} == {"ada", ME, "otto"}


AUDIT = "INSERT INTO audit_event (at, actor, action, object_kind, object_name) VALUES "
RUN = "INSERT INTO run (kind, dry_run, started_by, started_at, status, error) VALUES "


def _store_before_roles(path: Path, *rows: str) -> Database:
    """A store at migration 0004 holding ROWS (SQL inserts), then migrated to the newest."""
    from alembic import command
    from alembic.config import Config

    from engine.store.location import MIGRATIONS

    db = Database(sqlite_url(path))
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0004")
        for row in rows:
            connection.execute(text(row))
    db.migrate()
    return db


def test_a_store_from_before_roles_makes_its_first_actor_admin(tmp_path: Path) -> None:
    db = _store_before_roles(
        tmp_path / "r.db", AUDIT + "('2026-01-01 00:00:00', 'zoe', 'config.import', 'x', '')"
    )
    assert Services(db, actor="zoe").role() == "admin"
    assert Services(db, actor="someone").role() is None
    # the first action of all, a run or an import: alice's run came before bob's import
    runs_first = _store_before_roles(
        tmp_path / "runs-first.db",
        RUN + "('sync', 0, 'alice', '2026-01-01 00:00:00', 'applied', '')",
        AUDIT + "('2026-01-02 00:00:00', 'bob', 'config.import', 'settings', '')",
    )
    assert Services(runs_first, actor="alice").role() == "admin"
    assert Services(runs_first, actor="bob").role() is None
    # a store with no history: whoever opens it first created it (audited)
    fresh = _store_before_roles(tmp_path / "fresh.db")
    assert Services(fresh, actor="first").role() == "admin"
    assert Services(fresh, actor="second").role() is None
    granted = [e for e in Services(fresh, actor="first").audit() if e.action == "role.grant"]
    assert [(e.actor, e.path) for e in granted] == [("first", "first")]


def test_two_admins_revoking_each_other_at_once_leave_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each change counts the admins left after its own write, holding the store: the
    second one to get there finds the first's and is refused (hostile review: both went
    through, and nobody could manage the store)."""
    import threading
    import time

    from engine.store import role_grants

    zoe = Services(Database(sqlite_url(tmp_path / "r.db")), actor="zoe")
    zoe.init_store("empty")
    zoe.grant_role("yann", "admin")
    counted = role_grants._keep_an_admin

    def slowly(session: Any, user: str, store: str = "") -> None:
        time.sleep(0.3)  # both are under way before either commits
        counted(session, user, store)

    monkeypatch.setattr(role_grants, "_keep_an_admin", slowly)
    outcomes: dict[str, str] = {}

    def revoke(me: str, other: str) -> None:
        try:
            Services(Database(sqlite_url(tmp_path / "r.db")), actor=me).revoke_role(other)
            outcomes[me] = "revoked"
        except Exception as exc:  # noqa: BLE001 - the refusal is the outcome
            outcomes[me] = type(exc).__name__

    both = [
        threading.Thread(target=revoke, args=("zoe", "yann")),
        threading.Thread(target=revoke, args=("yann", "zoe")),
    ]
    for thread in both:
        thread.start()
    for thread in both:
        thread.join()
    # the other is refused: as the only admin left, or (if it started after the first was
    # done, on a slow machine) as no admin at all any more
    assert sorted(outcomes.values())[1] == "revoked", outcomes
    assert sorted(outcomes.values())[0] in ("InvalidInput", "NotPermitted"), outcomes
    winner = next(me for me, outcome in outcomes.items() if outcome == "revoked")
    left = Services(Database(sqlite_url(tmp_path / "r.db")), actor=winner).role_grants()
    assert [(g.os_user, g.role) for g in left] == [(winner, "admin")]  # whichever came first


def test_a_change_saved_after_the_role_was_revoked_is_refused(org: Services) -> None:
    """The role is checked when the change is written: an $EDITOR session opened by an admin
    whose role is revoked meanwhile saves nothing (hostile review)."""
    org.grant_role("ada", "admin")
    ada = as_user(org, "ada")

    def editor(file: Path) -> int:
        org.revoke_role("ada")  # while ada's editor is open (the loop must not reopen it)
        file.write_text(file.read_text().replace("max_objects: 500", "max_objects: 99999"))
        return 0

    version = org.config_version()
    with pytest.raises(NotPermitted, match="ada holds no role in this store"):
        ada.edit_in_editor("settings", launch=editor)
    assert org.config_version() == version


def test_a_plan_of_an_accounts_creation_needs_an_operator(org: Services) -> None:
    """`provision --dry-run` is recorded as a run, as a sync's plan is (hostile review)."""
    before = runs(org)
    viewer = as_user(org, "vera")
    _refused(
        lambda: viewer.provision("github", "ann.lee@example.com", dry_run=True),
        "operator",
        "planning an account's creation",
    )
    assert runs(org) == before


def test_a_user_id_without_a_login_name_can_be_granted_a_role(org: Services) -> None:
    assert org.grant_role("uid 4242", "viewer").os_user == "uid 4242"
    assert as_user(org, "uid 4242").role() == "viewer"
    with pytest.raises(NotPermitted) as caught:
        as_user(org, "uid 4242").sync()
    assert "roster users grant 'uid 4242' operator --db " in caught.value.message


def _nobody(monkeypatch: pytest.MonkeyPatch) -> str:
    """This process runs as another OS user (the actor comes from the user id, never USER)."""
    other = next(p for p in pwd.getpwall() if p.pw_uid != os.getuid())
    monkeypatch.setattr(os, "getuid", lambda: other.pw_uid)
    return other.pw_name


def test_the_command_line_lists_grants_and_refuses_by_role(
    org: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    db = str(org.db.sqlite_path)
    result = runner.invoke(main, ["users", "--db", db, "--json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert listed["you"] == ME and listed["role"] == "admin"
    assert {u["user"]: u["role"] for u in listed["users"]} == {
        ME: "admin",
        "vera": "viewer",
        "otto": "operator",
    }
    # the store's creator was granted by no one (it read "admin by (created the store)")
    result = runner.invoke(main, ["users", "--db", db])
    creator = next(line for line in result.stdout.splitlines() if line.startswith(f"  {ME} "))
    assert " admin     created the store, " in creator, creator
    result = runner.invoke(main, ["users", "grant", "vera", "operator", "--db", db])
    assert result.exit_code == 0 and "vera is now an operator" in result.stdout
    result = runner.invoke(main, ["users", "grant", "vera", "boss", "--db", db])
    assert result.exit_code == 2  # not one of the roles: a usage error

    before = runs(org)
    other = _nobody(monkeypatch)
    for args in (
        ["status"],
        ["sync", "--dry-run"],
        [
            "preview",
            "--context",
            "attribute_source",
            "--user",
            "ann.lee@example.com",
            "subject.email",
        ],
    ):
        result = runner.invoke(main, [*args, "--db", db])
        assert result.exit_code == 7, (args, result.output)  # not permitted (README)
        assert f"{other} holds no role in this store: opening this store" in result.stderr
        # the command it names works on this store, not on the default one
        assert f"roster users grant {other} viewer --db {db}" in result.stderr
    result = runner.invoke(main, ["status", "--db", db, "--json"])
    assert json.loads(result.stderr)["error"].startswith(f"{other} holds no role")
    org.grant_role(other, "viewer")
    assert runner.invoke(main, ["status", "--db", db]).exit_code == 0
    result = runner.invoke(main, ["sync", "--db", db])
    assert result.exit_code == 7
    assert f"{other} is a viewer of this store: running a sync needs the operator role" in (
        result.stderr
    )
    assert runs(org) == before  # the refusals are not runs
    with org.db.session() as session:
        assert not session.scalars(
            select(AuditEvent).where(AuditEvent.actor == other)  # type: ignore[arg-type]
        ).all()
