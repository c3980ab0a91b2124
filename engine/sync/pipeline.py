"""A sync run: lock, load, run the stages in memory, check the deletion threshold, then either
store the plan (dry run) or write each stage in its own transaction (apply)."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from engine.cel import CelEngine
from engine.connectors.registry import make_connector
from engine.errors import ConnectorError, InvalidInput, RosterError, SyncLocked
from engine.store.db import Database
from engine.store.models import Account, App, AttributeValue, Meta, Person, Run, SyncLock, utcnow
from engine.store.repo import (
    config_versions,
    current_actor,
    get_meta,
    load_accounts,
    load_config_document,
    load_users,
    set_meta,
    stable_hash,
)
from engine.sync import writer
from engine.sync.attributes import compile_attributes, is_empty, run_attributes
from engine.sync.identify import run_identify
from engine.sync.importer import connector_spec, run_import
from engine.sync.ownership import run_ownership
from engine.sync.provisioning import (
    AccessRequestItem,
    Creation,
    create,
    load_requests,
    plan_provisioning,
    requests_digest,
)
from engine.sync.push import PushItem, app_id_of, plan_push, send
from engine.sync.state import AttributeState, PlannedChange, StageReport, WorkState

STAGES = ("import", "identify", "ownership", "attributes", "push", "provision")
Progress = Callable[[str, int, int], None]  # stage, done, total


class Cancelled(RosterError):
    pass


@dataclass
class SyncResult:
    run_id: int
    status: str
    dry_run: bool
    stages: list[StageReport]
    planned: list[PlannedChange]
    deletions: dict[str, list[str]] = field(default_factory=dict)
    error: str = ""
    seconds: dict[str, float] = field(default_factory=dict)  # wall time per phase

    @cached_property
    def changes(self) -> list[dict[str, Any]]:
        """The changes as plain dicts, built on first use (a first sync has hundreds of
        thousands; the run itself never needs them in this form)."""
        return [c.as_dict() for c in self.planned]

    @property
    def exit_code(self) -> int:
        return {"applied": 0, "planned": 0, "blocked-by-threshold": 3}.get(self.status, 1)

    def as_dict(self, limit: int = 1000) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "dry_run": self.dry_run,
            "stages": [s.as_dict() for s in self.stages],
            "changes": [c.as_dict() for c in self.planned[:limit]],
            "changes_total": len(self.planned),
            "changes_truncated": len(self.planned) > limit,
            "deletions": self.deletions,
            "error": self.error,
            "seconds": self.seconds,
        }


# --- the lock ------------------------------------------------------------------------------


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _locked_message(held: SyncLock | None) -> str:
    who = f"{held.holder} on {held.host} (pid {held.pid})" if held else "another process"
    since = held.since.strftime("%Y-%m-%d %H:%M:%S UTC") if held else "just now"
    return (
        f"Another sync is running: started by {who} since {since}. Wait for it to finish; "
        "if that process is gone, run the sync again from the same host to clear the stale "
        "lock."
    )


def acquire_lock(db: Database, actor: str) -> None:
    host = socket.gethostname()
    with db.session() as session:
        held = session.get(SyncLock, "sync")
        if held is not None:
            if held.host != host or _pid_alive(held.pid):
                raise SyncLocked(_locked_message(held))
            session.delete(held)  # its process died: the lock is stale, and so is its run
            session.execute(
                update(Run)
                .where(Run.status == "running")
                .values(
                    status="failed",
                    ended_at=utcnow(),
                    error="interrupted: the process running it stopped before it finished",
                )
            )
            session.commit()
        session.add(SyncLock(name="sync", holder=actor, host=host, pid=os.getpid(), since=utcnow()))
        try:
            session.commit()
        except IntegrityError:  # another process took it between our read and our write
            session.rollback()
            session.expunge_all()
            raise SyncLocked(_locked_message(session.get(SyncLock, "sync"))) from None


def release_lock(db: Database) -> None:
    with db.session() as session:
        held = session.get(SyncLock, "sync")
        if held is not None and held.pid == os.getpid():
            session.delete(held)
            session.commit()


# --- loading -------------------------------------------------------------------------------


def load_state(session: Session) -> WorkState:
    a = Account.__table__.c  # type: ignore[attr-defined]
    fingerprints: dict[tuple[str, str], str] = {}
    filter_results: dict[tuple[str, str], str] = {}
    for app_id, ext, digest, decision in session.execute(
        select(a.app_id, a.external_id, a.fingerprint, a.filter_result)
    ):
        fingerprints[(app_id, ext)] = digest
        if decision:
            filter_results[(app_id, ext)] = decision
    v = AttributeValue.__table__.c  # type: ignore[attr-defined]
    attributes = {
        (r[0], r[1]): AttributeState(r[2], r[3], r[4] or {}, bool(r[5]))
        for r in session.execute(
            select(v.user_id, v.attribute, v.value, v.source, v.last_seen, v.ever_set)
        )
    }
    state = WorkState(load_accounts(session), load_users(session), fingerprints, attributes)
    state.filter_results = filter_results
    state.source_versions = {
        key.removeprefix("source_version:"): value
        for key, value in session.execute(
            select(Meta.key, Meta.value).where(Meta.key.startswith("source_version:"))  # type: ignore[attr-defined]
        )
    }
    return state


# --- the run -------------------------------------------------------------------------------


def run_sync(
    db: Database,
    *,
    dry_run: bool = False,
    allow_deletes: bool = False,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] | None = None,
    actor: str | None = None,
) -> SyncResult:
    actor = actor or current_actor()
    acquire_lock(db, actor)
    try:
        return _run_locked(db, dry_run, allow_deletes, progress, cancelled, actor)
    finally:
        release_lock(db)


def _run_locked(
    db: Database,
    dry_run: bool,
    allow_deletes: bool,
    progress: Progress | None,
    cancelled: Callable[[], bool] | None,
    actor: str,
) -> SyncResult:
    marks: list[tuple[str, float]] = [("load", time.perf_counter())]

    def step(stage: str, done: int) -> None:
        # while applying, the time until the next step is spent writing that stage
        label = f"write {stage}" if marks[-1][0].startswith(("write", "plan")) else stage
        marks.append((label, time.perf_counter()))
        if progress is not None:
            progress(stage, done, len(STAGES))
        if cancelled is not None and cancelled():
            raise Cancelled(f"cancelled before the {stage} stage")

    with db.session() as session:
        document = load_config_document(session)
        versions = config_versions(session)
        base_dir = Path(get_meta(session, "config_base_dir", ".") or ".")
        run = Run(
            kind="sync",
            dry_run=dry_run,
            started_by=actor,
            started_at=utcnow(),
            status="running",
            config_versions=versions,
        )
        session.add(run)
        session.commit()
        run_id = run.id
        assert run_id is not None
        apps = list(document.get("apps") or [])
        manual = get_meta(session, "manual_generation")
        signature = _signature(
            apps, base_dir, versions, manual, requests_digest(document, base_dir)
        )
        if signature is not None and signature == get_meta(session, "last_sync_signature"):
            settled_by = get_meta(session, "last_settled_run")
            return _nothing_changed(db, run_id, dry_run, len(apps), settled_by)
        state = load_state(session)
        population = _population_sizes(session)
        app_rows = {row.id: row for row in session.execute(select(App)).scalars()}
        full = _needs_everyone(session, run_id, versions) or manual != get_meta(
            session, "applied_manual_generation"
        )
        full_identify = full or _section_changed(session, versions, "directories")

    reports = [StageReport(name) for name in STAGES]
    directories = list(document.get("directories") or [])
    cel = CelEngine()
    result = SyncResult(run_id, "running", dry_run, reports, [])
    committed: set[str] = set()  # stages whose changes are written (journalled as applied)
    volatile = _reads_beyond_the_person(document)
    try:

        def checkpoint() -> None:
            if cancelled is not None and cancelled():
                raise Cancelled("cancelled; nothing of this run was applied")

        state.checkpoint = checkpoint
        step("import", 0)
        imported = run_import(state, apps, base_dir, reports[0])
        import_errors = {p.split(":", 1)[0]: p for p in reports[0].problems}
        step("identify", 1)
        cel.population = state.population()  # c1.* functions in filters and rules see everyone
        known = {a["id"] for a in apps}
        for directory in directories:
            if directory.get("app") not in known:
                raise InvalidInput(f"directory {directory.get('app')!r} names an unknown app")
        run_identify(state, directories, cel, reports[1], everyone=full_identify)
        step("ownership", 2)
        run_ownership(state, apps, {d["app"] for d in directories}, cel, reports[2])
        step("attributes", 3)
        cel.population = state.population()
        definitions = compile_attributes(list(document.get("attributes") or []), cel)
        run_attributes(
            state,
            definitions,
            cel,
            reports[3],
            only=None if full or volatile else state.touched_users(),
        )
        step("push", 4)
        cel.population = state.population()  # people as the attributes stage left them
        pushes = plan_push(state, document, app_rows, cel, reports[4])
        step("provision", 5)
        with db.session() as session:
            requests = load_requests(session, document, base_dir, reports[5])
        creations = plan_provisioning(state, document, app_rows, cel, requests, reports[5])
        cel.population = None  # planning is over: let the converted records go
        if progress is not None:
            progress("done", len(STAGES), len(STAGES))
        marks.append(("write import" if not dry_run else "plan", time.perf_counter()))
        result.planned = state.changes
        result.deletions = _deletions(state)
        # target values are measured against the accounts of the apps pushed to
        targets = {app_id_of(rule) for rule in document.get("push_rules") or []}
        population["target values"] = sum(
            1 for (app, _), a in state.accounts.items() if app in targets and a.status != "DELETED"
        )
        blocked = _threshold(document, population, result.deletions)
        if blocked and not allow_deletes:
            result.status = "blocked-by-threshold"
            result.error = blocked
        elif dry_run:
            result.status = "planned"
        else:
            # problems from rules repeat identically on the same data; a failed import must
            # be retried, so only a run whose every app imported settles the store
            # Expressions that read other people or the clock can change with no new data, so
            # such a configuration never settles.
            failed = reports[0].counts.get("apps_failed")
            settled = signature if not failed and not volatile else None
            _apply(db, state, run_id, imported, import_errors, step, settled, manual, committed)
            _push(db, state, run_id, pushes, apps, base_dir, reports[4], step, committed)
            _provision(
                db, state, run_id, creations, requests, apps, base_dir, reports[5], step, committed
            )
            _settle(db, run_id, document, base_dir, versions, settled, manual)
            result.status = "applied"
    except Cancelled as exc:
        result.status, result.error = "cancelled", exc.message
    except RosterError as exc:
        result.status, result.error = "failed", exc.message
    except Exception as exc:  # noqa: BLE001 - recorded on the run, never half-applied silently
        result.status, result.error = "failed", f"{exc.__class__.__name__}: {exc}"
    marks.append(("end", time.perf_counter()))
    for (label, start), (_, end) in zip(marks, marks[1:], strict=False):
        result.seconds[label] = round(result.seconds.get(label, 0.0) + end - start, 3)
    _finish(db, run_id, result, state, committed)
    return result


def _apply(
    db: Database,
    state: WorkState,
    run_id: int,
    imported: set[str],
    import_errors: dict[str, str],
    step: Callable[[str, int], None],
    settled: str | None,
    manual: str,
    committed: set[str],
) -> None:
    with db.session() as session, session.begin():
        # until this run has finished, the store is not settled (a crash must be redone)
        set_meta(session, "last_sync_signature", "")
        writer.write_import(session, state, run_id, imported, import_errors)
    committed.add("import")
    step("identify", 1)
    with db.session() as session, session.begin():
        writer.write_identities(session, state, run_id)
    committed.update(("identify", "ownership"))
    step("attributes", 3)
    with db.session() as session, session.begin():
        writer.write_attributes(session, state, run_id)
    committed.add("attributes")


def _push(
    db: Database,
    state: WorkState,
    run_id: int,
    pushes: list[PushItem],
    apps: list[dict[str, Any]],
    base_dir: Path,
    report: StageReport,
    step: Callable[[str, int], None],
    committed: set[str],
) -> None:
    """External writes, after the store is committed; each one is recorded. Then the pushed
    apps are read back, so the store holds what the apps now say and the next sync is quiet."""
    step("push", 4)
    if pushes:
        by_id = {app["id"]: app for app in apps}
        connectors = {
            app_id: make_connector(connector_spec(by_id[app_id], base_dir))
            for app_id in {item.app_id for item in pushes}
        }
        failures = send(pushes, connectors)
        for (app_id, external_id), reason in failures.items():
            report.bump("refused")
            report.problems.append(f"{app_id}:{external_id}: the app refused the push: {reason}")
        relisted = {}
        for app_id, connector in connectors.items():
            try:
                relisted[app_id] = (connector.list_all(), connector.source_version())
            except ConnectorError as exc:
                report.problems.append(f"{app_id}: could not read back after pushing: {exc}")
        with db.session() as session, session.begin():
            writer.write_push(session, state, run_id, pushes, failures, relisted)
    committed.add("push")


def _provision(
    db: Database,
    state: WorkState,
    run_id: int,
    creations: list[Creation],
    requests: list[AccessRequestItem],
    apps: list[dict[str, Any]],
    base_dir: Path,
    report: StageReport,
    step: Callable[[str, int], None],
    committed: set[str],
) -> None:
    """Create the planned accounts (after the store is committed) and link each one at once;
    the access requests are imported into the store and the served ones marked fulfilled."""
    step("provision", 5)
    by_id = {app["id"]: app for app in apps}
    connectors = {
        app_id: make_connector(connector_spec(by_id[app_id], base_dir))
        for app_id in {c.app_id for c in creations}
    }
    created = create(creations, connectors, report) if creations else []
    with db.session() as session, session.begin():
        writer.write_access_requests(session, requests)
        if creations:
            writer.write_provisioned(session, state, run_id, created)
        for app_id, connector in connectors.items():
            version = connector.source_version()
            if version is not None:
                set_meta(session, f"source_version:{app_id}", version)
    committed.add("provision")


def _settle(
    db: Database,
    run_id: int,
    document: dict[str, Any],
    base_dir: Path,
    versions: dict[str, str],
    settled: str | None,
    manual: str,
) -> None:
    """A clean run settles the store: until an app's data, the configuration or a manual
    decision changes, the next sync has nothing to do and says so at once."""
    if settled is not None:  # pushes changed the apps' data: take their digests afresh
        apps = list(document.get("apps") or [])
        requests = requests_digest(document, base_dir)
        settled = _signature(apps, base_dir, versions, manual, requests)
    with db.session() as session, session.begin():
        set_meta(session, "last_sync_signature", settled or "")
        set_meta(session, "last_settled_run", str(run_id) if settled else "")
        set_meta(session, "applied_manual_generation", manual)


def _reads_beyond_the_person(document: dict[str, Any]) -> bool:
    """Whether an attribute's CEL reads other people (c1.* directory functions) or the clock."""
    for attribute in document.get("attributes") or []:
        for source in attribute.get("sources") or []:
            text = source.get("cel") or ""
            if "c1." in text or "now(" in text:
                return True
    return False


def _needs_everyone(session: Session, run_id: int, versions: dict[str, str]) -> bool:
    """Whether the attribute stage must reconsider every person: its configuration changed
    since the last applied run, or the last run that set out to apply did not finish (its
    earlier stages may be committed without their attribute consequences)."""
    previous = session.execute(
        select(Run)
        .where(Run.id < run_id, Run.dry_run.is_(False))  # type: ignore[attr-defined]
        .order_by(Run.id.desc())
        .limit(1)  # type: ignore[union-attr]
    ).scalar_one_or_none()
    if previous is None or previous.status not in ("applied", "blocked-by-threshold"):
        return True
    last_applied = session.execute(
        select(Run)
        .where(Run.status == "applied", Run.dry_run.is_(False))  # type: ignore[attr-defined]
        .order_by(Run.id.desc())
        .limit(1)  # type: ignore[union-attr]
    ).scalar_one_or_none()
    if last_applied is None:
        return True
    return (last_applied.config_versions or {}).get("attributes") != versions.get("attributes")


def _section_changed(session: Session, versions: dict[str, str], section: str) -> bool:
    """Whether a configuration section differs from the one the last applied run used."""
    last_applied = session.execute(
        select(Run)
        .where(Run.status == "applied", Run.dry_run.is_(False))  # type: ignore[attr-defined]
        .order_by(Run.id.desc())  # type: ignore[union-attr]
        .limit(1)
    ).scalar_one_or_none()
    if last_applied is None:
        return True
    return (last_applied.config_versions or {}).get(section) != versions.get(section)


def _signature(
    apps: list[dict[str, Any]],
    base_dir: Path,
    versions: dict[str, str],
    manual: str,
    requests: str,
) -> str | None:
    """What a sync's outcome depends on (apps' data, configuration, manual decisions, access
    requests); None when some app cannot tell cheaply."""
    sources: dict[str, str] = {}
    for app in apps:
        try:
            version = make_connector(connector_spec(app, base_dir)).source_version()
        except Exception:  # noqa: BLE001 - the import will report it properly
            return None
        if version is None:
            return None
        sources[app["id"]] = version
    return stable_hash(
        {"config": versions, "sources": sources, "manual": manual, "requests": requests}
    )


def _nothing_changed(
    db: Database, run_id: int, dry_run: bool, apps: int, settled_by: str
) -> SyncResult:
    report = StageReport("import")
    since = f" since run {settled_by}" if settled_by else ""
    report.notes.append(
        f"nothing changed{since}: no app's data, no configuration and no manual decision; "
        "the findings of that run still stand"
    )
    report.bump("apps_unchanged", apps)
    stages = [report, *(StageReport(name) for name in STAGES[1:])]
    result = SyncResult(run_id, "planned" if dry_run else "applied", dry_run, stages, [])
    with db.session() as session, session.begin():
        session.execute(
            update(Run)
            .where(Run.id == run_id)
            .values(
                status=result.status,
                ended_at=utcnow(),
                error="",
                counts={"import": {"apps_unchanged": apps}, "changes": 0},
            )
        )
    return result


def _finish(
    db: Database, run_id: int, result: SyncResult, state: WorkState, committed: set[str]
) -> None:
    counts = {r.name: dict(r.counts) for r in result.stages}
    counts["changes"] = len(result.planned)  # type: ignore[assignment]
    # what each stage reported stays with the run, for `roster runs` and the Sync screen
    counts["problems"] = {r.name: r.problems[:200] for r in result.stages if r.problems}  # type: ignore[assignment]
    with db.session() as session, session.begin():
        if result.status != "applied":
            # the plan (or what was computed before the failure) is kept, marked not applied;
            # stages already written are in the journal as applied
            pending = [c for c in state.changes if c.stage not in committed]
            writer.journal(session, run_id, pending, applied=False)
        session.execute(
            update(Run)
            .where(Run.id == run_id)
            .values(status=result.status, ended_at=utcnow(), counts=counts, error=result.error)
        )


def _population_sizes(session: Session) -> dict[str, int]:
    return {
        "users": session.scalar(
            select(func.count()).select_from(Person).where(Person.status != "DELETED")
        )
        or 0,
        "accounts": session.scalar(
            select(func.count()).select_from(Account).where(Account.status != "DELETED")
        )
        or 0,
        "values": session.scalar(select(func.count()).select_from(AttributeValue)) or 0,
    }


def _deletions(state: WorkState) -> dict[str, list[str]]:
    causes: dict[str, list[str]] = {}
    for change in state.changes:
        if change.field == "status" and (
            change.new == "DELETED" or (change.new == "DISABLED" and change.old == "ENABLED")
        ):
            disabled = "disabled: " if change.new == "DISABLED" else ""
            cause = f"{change.object_type}s: {disabled}{change.reason}"
        elif change.stage == "attributes" and is_empty(change.new) and not is_empty(change.old):
            cause = f"attribute values cleared: {change.field}"
        elif change.stage == "push" and is_empty(change.new) and not is_empty(change.old):
            cause = f"target values cleared: {change.object_id.split(':')[0]} {change.field}"
        else:
            continue
        causes.setdefault(cause, []).append(change.object_id)
    return causes


def _threshold(
    document: dict[str, Any], population: dict[str, int], deletions: dict[str, list[str]]
) -> str:
    settings = (document.get("settings") or {}).get("deletion_threshold") or {}
    max_objects = int(settings.get("max_objects", 500))
    max_percent = float(settings.get("max_percent", 20))
    kinds = {"users": 0, "accounts": 0, "values": 0, "target values": 0}
    for cause, objects in deletions.items():
        kind = next(
            (k for k in ("users", "accounts", "target values") if cause.startswith(k)), "values"
        )
        kinds[kind] += len(objects)
    over = []
    for kind, count in kinds.items():
        limit = min(max_objects, int(population.get(kind, 0) * max_percent / 100))
        if count and count > limit:
            over.append(f"{count} {kind} (limit {limit})")
    if not over:
        return ""
    return (
        "The run would remove " + ", ".join(over) + " — more than the deletion threshold "
        f"({max_objects} objects or {max_percent:g} %). Nothing was applied. Review the "
        "deletions, then run again with --allow-deletes to apply them."
    )
