"""A sync run: lock, load, run the stages in memory, check the deletion threshold, then either
store the plan (dry run) or write each stage in its own transaction (apply).

The parts live beside it: the lock in lock.py, loading the working state in loading.py, what
lets a run do less (its signature, changed configuration sections) in incremental.py, and the
deletion threshold with its typed deletions in threshold.py."""

from __future__ import annotations

import contextlib
import datetime
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col

from engine.cel import SWEEP_CACHE_LIMIT, CelEngine, CelLimits, CelTimeBudgetError
from engine.changes import StagePlan, plan_counts
from engine.collector import collector_paused
from engine.config.model import App as AppConfig
from engine.config.model import RosterConfig
from engine.connectors.registry import make_connector
from engine.errors import ConnectorError, InvalidInput, RosterError, StoreLocked
from engine.files import limit_problems
from engine.records import UserRecord
from engine.roles import current_actor
from engine.store.db import Database
from engine.store.deferred import DeferredAccounts
from engine.store.models import App, Change, Run, utcnow
from engine.store.repo import (
    config_base_dir,
    get_meta,
    load_config,
    set_meta,
    stable_hash,
)
from engine.sync import by_hand, import_ahead, key_memo, reads, recovery, writer
from engine.sync.attributes import (
    CATCH_UP,
    AttributeDef,
    Narrowing,
    account_moves,
    attribute_reads,
    compile_attributes,
    drop_undone,
    in_reading_order,
    narrowed,
    read_before_set,
    removed_attributes,
    run_attributes,
)
from engine.sync.identify import run_identify
from engine.sync.import_ahead import ImportAhead
from engine.sync.importer import connector_spec, run_import, source_version_of
from engine.sync.incremental import (
    NO_APPLIED_RUN,
    PushRevisit,
    config_changed,
    confirmed_pushes,
    found_nobody_scope,
    load_filter_failed,
    load_found_nobody,
    load_push_revisit,
    load_stamps,
    run_versions,
    save_filter_failed,
    save_found_nobody,
    save_push_revisit,
    save_stamps,
    section_changed,
    sync_signature,
    why_everyone,
)
from engine.sync.loading import load_attribute_states, load_state, per_app
from engine.sync.lock import acquire_lock, release_lock
from engine.sync.ownership import keep_keys, rewalk_after_push, run_ownership
from engine.sync.provisioning import (
    ACCOUNT_COUNTS,
    AccessRequestItem,
    Creation,
    Satisfied,
    create,
    known_entitlements,
    load_requests,
    plan_provisioning,
    plan_requeued,
    planned_creation_id,
    requests_digest,
)
from engine.sync.push import PushItem, plan_push, reads_pushed_accounts, send
from engine.sync.run_notes import (
    APPLIED,
    PLANNED,
    STAGES,
    load_conflicts,
    load_held,
    load_read_early,
    save_conflicts,
    save_held,
    save_read_early,
)
from engine.sync.state import HeldBlank, PlannedChange, StageReport, WorkState
from engine.sync.threshold import (
    Deletion,
    DeletionKind,
    accounts_per_app,
    check_threshold,
    deletions_of,
    population_sizes,
)
from engine.text import printable

#: The most converted records a run's CEL engine keeps at once (a name of its own: tests set it)
CEL_CACHE_LIMIT = SWEEP_CACHE_LIMIT

# acquire_lock, release_lock and load_state live in their own modules; they stay importable
# from here for the callers that know them by this address.
__all__ = [
    "STAGES",
    "Cancelled",
    "SyncResult",
    "acquire_lock",
    "load_state",
    "release_lock",
    "run_sync",
]

Progress = Callable[[str, int, int], None]  # stage, done, total
StageDone = Callable[[StageReport], None]  # a stage's report, once it is planned


#: A run's status -> the command line's exit code (README.md): 5 is "applied (or planned), but
#: some apps failed to import or some pushes were refused; the run says which".
EXIT_CODES = {
    "applied": 0,
    "planned": 0,
    "blocked-by-threshold": 3,
    "applied-with-failures": 5,
    "planned-with-failures": 5,
}


class Cancelled(RosterError):
    pass


@dataclass
class SyncResult:
    run_id: int
    status: str
    dry_run: bool
    stages: list[StageReport]
    planned: list[PlannedChange]
    removals: dict[Deletion, list[str]] = field(default_factory=dict)  # typed, by cause
    error: str = ""
    seconds: dict[str, float] = field(default_factory=dict)  # wall time per phase
    # attribute values kept because only a vanished source account would have cleared them;
    # --allow-deletes (or the console's confirmation) clears them
    held: list[HeldBlank] = field(default_factory=list)
    # a digest of what the plan stands on (plan_digest): `roster sync --expect-plan` and the
    # console's confirmation apply only when it is unchanged
    plan: str = ""
    # the dry run an applied run carried out the plan of (None: none, or not applied)
    plan_run: int | None = None
    # whether the store is settled after this run: a sync on the same data ends at once
    # ("nothing changed"); never after a dry run, which settles nothing
    settled: bool = False
    # the accounts ("app:id") whose pushes the apps refused: their changes were not applied
    refused: set[str] = field(default_factory=set)

    @property
    def not_applied(self) -> int:
        """The planned changes an applied run did not apply: the pushes the apps refused."""
        if not self.refused:  # (a first sync plans a million changes: not walked for none)
            return 0
        return sum(1 for c in self.planned if c.stage == "push" and c.object_id in self.refused)

    @cached_property
    def changes(self) -> list[dict[str, Any]]:
        """The changes as plain dicts, built on first use (a first sync has hundreds of
        thousands; the run itself never needs them in this form)."""
        return [c.as_dict() for c in self.planned]

    @cached_property
    def plan_counts(self) -> dict[str, StagePlan]:
        """What the plan changes, per stage (engine.changes.plan_counts), counted once: the
        console counts it off its screen's thread (1.3 million changes take seconds) and
        without keeping `changes`."""
        return plan_counts(c.as_dict() for c in self.planned)

    @property
    def deletions(self) -> dict[str, list[str]]:
        """The removals as the admin reads them: cause -> the objects it removes."""
        return {deletion.label: objects for deletion, objects in self.removals.items()}

    @property
    def failures(self) -> list[dict[str, str]]:
        """What makes the run "with failures": each app that failed to import or to be read
        back, and the pushes and creations an app refused, with the reason."""
        return [
            {"stage": stage.name, "app": app_id, "reason": reason}
            for stage in self.stages
            for app_id, reason in stage.failures
        ]

    @property
    def accounts(self) -> dict[str, int]:
        """The provision stage's accounts: how many the run set out to create (`planned`),
        of those how many the apps created and how many they refused (0 and 0 in a dry run,
        and in a run that stopped before it created any), and how many asked for could not
        be planned (`invalid`: a field failed; the stage's problems say which and why)."""
        counts = next((s.counts for s in self.stages if s.name == "provision"), {})
        return {key: counts.get(name, 0) for key, name in ACCOUNT_COUNTS.items()}

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.status, 1)

    def as_dict(self, limit: int = 1000) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "dry_run": self.dry_run,
            "stages": [s.as_dict() for s in self.stages],
            "changes": [c.as_dict() for c in self.planned[:limit]],
            "changes_total": len(self.planned),
            "changes_truncated": len(self.planned) > limit,
            "changes_not_applied": self.not_applied,
            "deletions": self.deletions,
            "error": self.error,
            "failures": self.failures,
            "accounts": self.accounts,
            "held": [h.as_dict() for h in self.held[:limit]],
            "held_total": len(self.held),
            "plan": self.plan,
            "plan_run": self.plan_run,
            # a dry run settles nothing: null, as `roster runs` shows one
            "settled": None if self.dry_run else self.settled,
            "seconds": self.seconds,
        }


# --- the run -------------------------------------------------------------------------------


def run_sync(
    db: Database,
    *,
    dry_run: bool = False,
    allow_deletes: bool = False,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] | None = None,
    actor: str | None = None,
    clock: Callable[[], datetime.datetime] | None = None,
    expect_plan: str | None = None,
    plan_run: int | None = None,
    stage_done: StageDone | None = None,
) -> SyncResult:
    """One sync run. `clock` is what `now()` reads in the run's expressions (the system clock
    unless given; tests pass their own). `expect_plan`: the `plan` of the dry run an admin
    confirmed; when what it was computed from changed since, nothing is applied (status
    plan-changed). `plan_run`: that dry run's id, when the caller knows it (the history names
    it; another dry run of the same plan may have run since). `stage_done` is given each
    stage's report as soon as the stage is planned (an app that failed to import is known
    a minute before the run ends at 100,000 people)."""
    actor = actor or current_actor()
    if expect_plan is not None and not dry_run:
        _known_plan(db, expect_plan)
    acquire_lock(db, actor)
    path = db.sqlite_path
    # a SQLite store's accounts are loaded narrow, the rest of each read when first needed
    deferred = DeferredAccounts(path, db.display_url) if path is not None else None
    try:
        # a run builds hundreds of thousands of long-lived records, nearly none of them in a
        # cycle: the cyclic collector would walk them all again at every allocation burst
        # (measured: a third of a 1 % sync at 10,000 people, for the same peak memory)
        with collector_paused(), db.checkpoints_aside(), contextlib.ExitStack() as cleanup:
            if deferred is not None:
                # the run's accounts are let go of while the collector is still paused: once
                # it resumes, its first full collection would walk every one of them first
                # (a third of a second at 100,000 people)
                cleanup.callback(deferred.close)
            return _run_locked(
                db,
                dry_run,
                allow_deletes,
                progress,
                cancelled,
                actor,
                clock,
                expect_plan,
                deferred,
                plan_run,
                cleanup,
                stage_done,
            )
    finally:
        if deferred is not None:
            deferred.close()
        release_lock(db)


def _run_locked(
    db: Database,
    dry_run: bool,
    allow_deletes: bool,
    progress: Progress | None,
    cancelled: Callable[[], bool] | None,
    actor: str,
    clock: Callable[[], datetime.datetime] | None = None,
    expect_plan: str | None = None,
    deferred: DeferredAccounts | None = None,
    plan_run: int | None = None,
    cleanup: contextlib.ExitStack | None = None,
    stage_done: StageDone | None = None,
) -> SyncResult:
    """`cleanup`: what the run started that must stop with it, however it ends."""
    marks: list[tuple[str, float]] = [("load", time.perf_counter())]
    planned: set[int] = set()  # the stages whose reports went to `stage_done`

    def finished(index: int) -> None:
        # once each, as planned: applying steps through the stages again to write them
        if stage_done is not None and index not in planned:
            planned.add(index)
            stage_done(reports[index])

    def step(stage: str, done: int) -> None:
        # while applying, the time until the next step is spent writing that stage
        label = f"write {stage}" if marks[-1][0].startswith(("write", "plan")) else stage
        marks.append((label, time.perf_counter()))
        if done > 0:
            finished(done - 1)
        if progress is not None:
            progress(stage, done, len(STAGES))
        if cancelled is not None and cancelled():
            raise Cancelled(f"cancelled before the {stage} stage")

    with db.session() as session:
        config = load_config(session)
        versions = run_versions(session)
        base_dir = config_base_dir(session) or Path(".")
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
        apps = list(config.apps)
        manual = get_meta(session, "manual_generation")
        # what a plan stands on besides the apps' data: the configuration, the manual
        # decisions and the store as the last applied run left it
        grounds = {"config": versions, "manual": manual, "store": last_applied_run(session)}
        stamps = load_stamps(session)
        stamped = dict(stamps)
        requested = requests_digest(config, base_dir)  # the access requests' file
        read: dict[str, str] = {}  # app -> the version of its data this run starts from
        signature = sync_signature(
            apps, base_dir, versions, manual, requested, stamps, sources=read
        )
        save_stamps(session, stamps, stamped)  # a cache of what the files hold: kept always
        session.commit()
        held_before = load_held(session)
        # values held by the last applied run wait for --allow-deletes: such a run must
        # reconsider their people even when nothing else changed
        release = allow_deletes and bool(held_before)
        if (
            not release
            and signature is not None
            and signature == get_meta(session, "last_sync_signature")
            and not recovery.has_unsettled(session)  # a dry run says what is left, too
        ):
            settled_by = get_meta(session, "last_settled_run")
            plan = plan_digest(grounds, [])
            if not dry_run and expect_plan is not None and expect_plan != plan:
                return _plan_changed(db, run_id, plan)
            return _nothing_changed(db, run_id, dry_run, len(apps), settled_by, held_before, plan)
        everyone_because = why_everyone(session, run_id, versions)
        decided = None  # what admins decided by hand since the last applied run
        if not everyone_because and manual != get_meta(session, "applied_manual_generation"):
            decided = by_hand.since(session, get_meta(session, "applied_manual_generation"))
            if decided is None:  # not all of it is known
                everyone_because = (
                    "manual decisions (links, unlinks, pins) since the last sync, and the "
                    "store does not say which accounts they touched (its note of them is "
                    f"missing or unreadable, or they were more than {by_hand.LIMIT:,})"
                )
        full = bool(everyone_because)
        full_identify = full or section_changed(session, versions, "directories")
        # the push stage plans only the people whose data can have changed since the last
        # applied run, and those that run left to look at again; a configuration change
        # (rules, schemas, attributes) or an unreadable note plans everyone
        # (the ownership stage likewise looks again only at changed accounts)
        pushed = None if full else load_push_revisit(session)
        revisit = None if config_changed(session, versions) else pushed
        # a run that reconsiders every account reads every account whole: deferred, each
        # would be read again one by one (or an app at a time), for nothing
        incremental = revisit is not None and not full_identify
        if progress is not None:  # seconds at 100,000 people: the console says so
            progress("load", 0, len(STAGES))
        ahead = _list_ahead(
            db, session, apps, base_dir, read, trust_sidecars=revisit is not None, stamps=stamps
        )
        if ahead is not None and cleanup is not None:
            cleanup.callback(ahead.close)  # also when the run stops before its import
        state = load_state(session, attributes=False, deferred=deferred if incremental else None)
        state.stamps = stamps
        if decided is not None and not full:
            state.decided_by_hand(decided.accounts, decided.previous_owners)
        state.found_nobody_scope = found_nobody_scope(versions, CelLimits.of(config.settings.cel))
        if not full_identify:
            state.found_nobody_before = load_found_nobody(session, state.found_nobody_scope)
            state.filter_failed_before = load_filter_failed(session)
        # a conflict standing since the last applied run is not journalled again (also when
        # this run reconsiders everyone: it is the same conflict, not a change)
        state.conflicts_before = load_conflicts(session)
        # what custom ownership rules' CEL gave last time (read only when an app has them)
        memo_text = (
            get_meta(session, key_memo.META_KEY)
            if any(app.ownership.strategy == "custom" for app in apps)
            else None
        )
        per_app = accounts_per_app(state)
        population = population_sizes(session, state, per_app)
        app_rows = {row.id: row for row in session.scalars(select(App))}

    reports = [StageReport(name) for name in STAGES]
    if import_ahead.threshold_problem():
        reports[0].notes.append(import_ahead.threshold_problem())
    reports[0].notes.extend(limit_problems())
    if state.by_hand:
        reports[1].notes.append(
            f"{_count(len(state.by_hand), 'account')} linked, unlinked, pinned or provisioned "
            f"by hand since the last sync ({_which(state.by_hand)}): looked at again, with the "
            "people who had and have them"
        )
    directories = list(config.directories)
    directory_apps = {d.app for d in directories}
    cel = CelEngine(
        clock=clock, limits=CelLimits.of(config.settings.cel), cache_limit=CEL_CACHE_LIMIT
    )
    memo = None
    if memo_text is not None:
        memo = key_memo.KeyMemo(
            key_memo.load(memo_text), fingerprints=state.fingerprints, max_cost=cel.limits.max_cost
        )
    result = SyncResult(run_id, "running", dry_run, reports, [])
    committed: set[str] = set()  # stages whose changes are written (journalled as applied)
    try:

        def checkpoint() -> None:
            if cancelled is not None and cancelled():
                raise Cancelled("cancelled; nothing of this run was applied")

        state.checkpoint = checkpoint
        step("import", 0)
        requeued: list[recovery.Requeued] = []  # accounts asked for by hand, never made
        if not dry_run:  # a killed run's leftovers: its temporary files, its unsettled writes
            recovery.remove_temporaries(apps, base_dir, reports[0])
            requeued = recovery.recover(db, state, run_id, apps, base_dir, reports[0])
        else:
            with db.session() as session:
                reports[0].notes.extend(recovery.unsettled_notes(session))
        try:
            imported = run_import(
                state, apps, base_dir, reports[0], trust_sidecars=revisit is not None, ahead=ahead
            )
        finally:
            if ahead is not None:
                ahead.close()
        if ahead is not None and ahead.taken:  # not those it could not list (it died)
            reports[0].notes.append(
                f"listed {', '.join(ahead.taken)} in a second process while the store loaded"
            )
        # app -> why it failed (the dashboard shows it beside the app's name)
        import_errors = {
            app_id: why.removeprefix("failed to import: ") for app_id, why in reports[0].failures
        }
        step("identify", 1)
        cel.population = state.population()  # c1.* functions in filters and rules see everyone
        known = {a.id for a in apps}
        for directory in directories:
            if directory.app not in known:
                raise InvalidInput(f"directory {directory.app!r} names an unknown app")
        # each stage's expressions share its time budget (settings.cel.max_seconds_per_stage);
        # running out fails the run before anything is applied, and the lock is released
        if pushed is not None:  # what the last run's push wrote after its identify (also
            # when a configuration change has the push plan everyone: review)
            state.written_before = {k for k in pushed.accounts if k[0] in directory_apps}
        with cel.stage_budget("identify"):
            run_identify(state, directories, cel, reports[1], everyone=full_identify)
        step("ownership", 2)
        with cel.stage_budget("ownership"):
            run_ownership(
                state,
                apps,
                {d.app for d in directories},
                cel,
                reports[2],
                everyone=revisit is None,
                # an account decided by hand: walked again, as a changed one (unless pinned)
                also=revisit.accounts | state.by_hand if revisit is not None else None,
                rewalk=revisit.rewalk | state.by_hand
                if revisit is not None and revisit.rewalk is not None
                else None,
                memo=memo,
            )
        step("attributes", 3)
        cel.population = state.population()
        definitions = compile_attributes(list(config.attributes), cel)
        # an attribute that reads the clock can change for a person whose records did not:
        # then every person is reconsidered; one that reads other people, their readers
        reads_clock = any(
            source.program is not None and source.program.reads_clock
            for definition in definitions
            for source in definition.sources
        )
        reading_others = [
            definition.name
            for definition in definitions
            if any(
                source.program is not None and source.program.reads_directory
                for source in definition.sources
            )
        ]
        stored_reads = None
        if reading_others and not reads_clock and not full:
            with db.session() as session:
                stored_reads = reads.load(get_meta(session, reads.META_KEY))
        only, readers_note = _attribute_scope(
            state, full or reads_clock, reading_others, stored_reads, held_before
        )
        # two attributes that read each other: what the last run set after its reader read it
        read_early = read_before_set(definitions)
        again_early: set[int] = set()
        if read_early:  # (also when it computes everyone: whether values went back, below)
            with db.session() as session:
                again_early = {u for u in load_read_early(session) if u in state.users}
            if only is not None:
                only |= again_early
        # of those touched only through their accounts' data: the attributes that read it
        narrow = (
            None
            if only is None
            else narrowed(state, definitions, {h.user_id for h in held_before} | again_early)
        )
        with db.session() as session:  # only the states of the values it considers
            load_attribute_states(session, state, only, narrow)
        if only is None:  # (everyone's states are loaded: those of removed attributes too)
            removed = removed_attributes(state.attributes.items(), (d.name for d in definitions))
            if removed:
                definitions = in_reading_order(definitions + removed)
                one = len(removed) == 1
                reports[3].notes.append(
                    f"{_listed([d.name for d in removed])} {'is' if one else 'are'} no longer "
                    f"configured: {'its' if one else 'their'} values are cleared, and whoever "
                    f"reads {'it' if one else 'them'} reads them cleared"
                )
        with cel.stage_budget("attributes"):
            run_attributes(
                state,
                definitions,
                cel,
                reports[3],
                only=only,
                hold=not allow_deletes,
                narrow=narrow,
            )
            again, more = _catch_up(
                db, state, definitions, cel, reports[3], only, not allow_deletes
            )
        if full and everyone_because != NO_APPLIED_RUN:
            reports[3].notes.append(f"computed everyone: {everyone_because}")
        elif readers_note:
            reports[3].notes.append(readers_note)
        if again:
            reports[3].notes.append(
                f"{_people(len(again))} computed a second time ({_who(state, again)}): they had "
                "read someone before this run set their values"
            )
        if more:
            reports[3].notes.append(
                f"{_people(len(more))} computed as well ({_who(state, more)}): they read someone "
                "whose values this run set"
            )
        # (ids as this run numbers them: new people are numbered when written)
        left_early = _read_early_moved(state, read_early)
        if left_early:
            note = _read_early_note(state, definitions, read_early, left_early)
            flipped = _set_back(db, state, read_early, left_early & again_early)
            if flipped:  # a pair whose values keep answering each other never agrees
                note += (
                    f"; {len(flipped)} of them ({_who(state, flipped)}) went back to "
                    "the values they had before the last sync: unless what they read went "
                    "back too, their values alternate at every sync (each is computed from the "
                    "other's last value), and so does what is pushed of them; make one of the "
                    "attributes stop reading the other"
                )
            reports[3].notes.append(note)
        result.held = state.held
        if state.held:
            reports[3].notes.append(
                f"{_count(len(state.held), 'value')} held: clearing them comes only from source "
                "accounts gone from their apps; sync with --allow-deletes to clear them"
            )
        step("push", 4)
        cel.population = state.population()  # people as the attributes stage left them
        with cel.stage_budget("push"):
            troubled: list[UserRecord] = []
            pushes = plan_push(
                state,
                config,
                app_rows,
                cel,
                reports[4],
                reconsider=None
                if revisit is None
                else state.touched_users()
                | {user_id for user_id, _ in state.dirty_attributes}
                | revisit.owners(state.accounts),
                troubled=troubled,
            )
        step("provision", 5)
        with db.session() as session:
            requests = load_requests(session, config, base_dir, reports[5])
            entitlements = known_entitlements(session, state)
        with cel.stage_budget("provision"):
            satisfied: list[Satisfied] = []
            creations = plan_provisioning(
                state, config, app_rows, cel, requests, reports[5], satisfied, entitlements
            )
            asked, unanswered = plan_requeued(
                state, config, app_rows, cel, requeued, creations, reports[5]
            )
            creations += asked
        cel.population = None  # planning is over: let the converted records go
        finished(len(STAGES) - 1)
        if progress is not None:
            progress("done", len(STAGES), len(STAGES))
        marks.append(("write import" if not dry_run else "plan", time.perf_counter()))
        result.planned = state.changes
        result.removals = deletions_of(state.changes, _directory_record(state, directories))
        if dry_run or expect_plan is not None:
            # an app that fails to import leaves its changes out of the plan: a plan made
            # while it imported is not this one (an apply carried "as planned" a new failure)
            failing = {"failed": sorted(import_errors)} if import_errors else {}
            result.plan = plan_digest({**grounds, **failing}, state.changes)
        # target values are measured against the accounts of the apps pushed to
        targets = {rule.app for rule in config.push_rules}
        population[DeletionKind.TARGET_VALUES] = sum(
            1 for (app, _), a in state.accounts.items() if app in targets and a.status != "DELETED"
        )
        blocked = check_threshold(
            config.settings.deletion_threshold,
            population,
            result.removals,
            per_app,
            {app.id: app.deletion_threshold for app in apps if app.deletion_threshold},
        )
        if not dry_run and expect_plan is not None and expect_plan != result.plan:
            result.status, result.error = "plan-changed", PLAN_CHANGED
        elif blocked and not allow_deletes:
            result.status = "blocked-by-threshold"
            result.error = blocked
        elif dry_run:
            result.status = "planned-with-failures" if result.failures else "planned"
            if reading_others:
                readers_left = _left_to_read(
                    state,
                    {c.user.id for c in creations}
                    | {item.user_id for item in pushes if item.changes},
                )
                reports[3].notes.append(
                    _reading_others_note(reading_others, state, readers_left, None)
                )
        else:
            # problems from rules repeat identically on the same data; a failed import must
            # be retried, so only a run whose every app imported settles the store.
            # Expressions that read the clock (any stage) can change with no new data, so such
            # a configuration never settles. Attributes that read other people settle once a
            # run leaves none of them to compute again (`_left_to_read`).
            # (an entry an app held back is read again by the next import, never settled)
            failed = reports[0].counts.get("apps_failed") or reports[0].counts.get("held_back")
            settled = signature if not failed and not cel.compiled_reads_clock else None
            if cel.compiled_reads_clock:
                reports[3].notes.append(
                    "an expression reads the clock (now()): its value can change with no new "
                    "data, so no sync settles the store"
                )
            _apply(
                db,
                state,
                run_id,
                (imported, import_errors, read_early),
                step,
                settled,
                manual,
                committed,
            )
            if left_early:
                settled = None  # the next run computes them again (`_apply` noted whom)
            result.refused = _push(
                db, state, run_id, pushes, apps, base_dir, reports[4], step, committed
            )
            _provision(
                db,
                state,
                run_id,
                (creations, satisfied, requests, unanswered),
                apps,
                base_dir,
                reports[5],
                step,
                committed,
            )
            moved, refreshed_early = _refresh_read_back(
                db, state, run_id, (definitions, read_early), cel, hold=not allow_deletes
            )
            if refreshed_early:
                settled = None  # (the refresh noted whom, with the values it wrote)
                reports[4].notes.append(
                    _read_early_note(state, definitions, read_early, refreshed_early)
                )
            if moved:
                settled = None  # a value moved after the push: the next run pushes it
                reports[4].notes.append(
                    "the pushed accounts, read back from their apps, changed some of their "
                    "owners' values again: the next sync pushes those (not settled)"
                )
            if state.filter_failed:
                settled = None  # a sync on the same data reports them again
                reports[1].notes.append(
                    f"a directory filter failed on {_count(len(state.filter_failed), 'account')}: "
                    "the next sync decides them again and reports them until fixed (not "
                    "settled)"
                )
            rewritten = sorted({app for app, _ in state.read_back} & directory_apps)
            if rewritten:
                settled = None  # the next run decides them and refreshes their people
                reports[1].notes.append(
                    f"this run wrote to accounts of {', '.join(rewritten)} (pushes, creations) "
                    "after its identify decided them: the next sync decides them again and "
                    "refreshes their people (not settled)"
                )
            if state.changed_meanwhile:
                settled = None  # the next run reads what another program wrote meanwhile
                reports[0].notes.append(
                    f"{', '.join(sorted(state.changed_meanwhile))} changed while this run was "
                    "writing to it (another program wrote to it): the next sync reads it again "
                    "(not settled)"
                )
            readers_left = _keep_reads(db, state, run_id, {c.user.id for c in creations})
            if readers_left:
                settled = None  # their readers read values set after them: computed again
            if result.failures:  # a refused push or creation is tried again, and reported again
                settled = None
            if memo is not None:
                marks.append(("keep ownership keys", time.perf_counter()))
                _keep_keys(db, state, apps, cel, memo)
                if memo.unsettled:  # keys moved after the stage: the next run walks again
                    settled = None
                    reports[2].notes.append(
                        "what a custom ownership rule matches on changed after this stage (this "
                        "run's pushes or attributes changed what the rule reads): the next sync "
                        "decides those accounts' owners again (not settled)"
                    )
                marks.append(("settle", time.perf_counter()))
            # read after the writes: people this run created have their stored ids by now
            left = PushRevisit(
                {(item.app_id, item.external_id) for item in pushes} | state.read_back,
                {user.id for user in troubled},
                set()
                if moved or reads_pushed_accounts(config, cel)
                else confirmed_pushes(pushes, state.accounts, state.read_back_moved),
                rewalk_after_push(state),
            )
            # the apps this run wrote to are read again to settle; the others count as the
            # run read them, so that a change made to them meanwhile is new to the next run
            wrote = {app_id for app_id, _ in state.read_back} | {c.app_id for c in creations}
            wrote |= {item.app_id for item in pushes if item.changes and not item.error}
            unwritten = {app_id: v for app_id, v in read.items() if app_id not in wrote}
            settles = _settle(
                db,
                run_id,
                config,
                base_dir,
                (versions, manual, requested),
                settled,
                (unwritten, state.written_versions),
                left,
            )
            result.settled = settles
            if reading_others:
                reports[3].notes.append(
                    _reading_others_note(reading_others, state, readers_left, settles)
                )
            result.status = "applied-with-failures" if result.failures else "applied"
    except Cancelled as exc:
        result.status, result.error = "cancelled", exc.message
    except RosterError as exc:
        result.status, result.error = "failed", exc.message
    except SQLAlchemyError as exc:  # its text carries the statement's rows: never shown
        result.status, result.error = "failed", db.error(exc).message
    except Exception as exc:  # noqa: BLE001 - recorded on the run, never half-applied silently
        result.status, result.error = "failed", f"{exc.__class__.__name__}: {exc}"
    marks.append(("end", time.perf_counter()))
    for (label, start), (_, end) in zip(marks, marks[1:], strict=False):
        result.seconds[label] = round(result.seconds.get(label, 0.0) + end - start, 3)
    try:
        _finish(db, run_id, result, state, committed, plan_run)
    except StoreLocked as exc:
        stopped = "applied" if result.status in APPLIED else f"{result.status}: {result.error}"
        raise StoreLocked(
            f"{exc.message} Run {run_id} ({stopped}) could not be recorded as finished; the "
            "next sync marks it failed."
        ) from None
    return result


def _list_ahead(
    db: Database,
    session: Session,
    apps: list[AppConfig],
    base_dir: Path,
    read: dict[str, str],
    trust_sidecars: bool,
    stamps: dict[str, str],
) -> ImportAhead | None:
    """Start listing the changed file apps in a second process while the store loads
    (engine.sync.import_ahead); not when a killed run left writes to settle first."""
    store = db.sqlite_path
    if store is None or recovery.has_unsettled(session):
        return None
    stored = per_app(session, "source_version:")
    changed = {app.id for app in apps if app.id not in read or read[app.id] != stored.get(app.id)}
    sidecars = per_app(session, "sidecar_digest:") if trust_sidecars else {}
    return import_ahead.start(
        store, apps, base_dir, changed, per_app(session, "import_cursor:"), sidecars, stamps
    )


def _directory_record(state: WorkState, directories: list[Any]) -> Callable[[str], str | None]:
    """For `deletions_of`: whose directory record an account ("APP:ID") is, as the plan
    labels people ("" when the plan leaves it with no owner; None: not a directory's)."""
    apps = {directory.app for directory in directories}

    def record_of(object_id: str) -> str | None:
        app_id, _, external_id = object_id.partition(":")
        account = state.accounts.get((app_id, external_id))
        if app_id not in apps or account is None:
            return None
        return state.owner_label(account.owner_id) or ""

    return record_of


def _apply(
    db: Database,
    state: WorkState,
    run_id: int,
    imports: tuple[set[str], dict[str, str], set[str]],
    step: Callable[[str, int], None],
    settled: str | None,
    manual: str,
    committed: set[str],
) -> None:
    """`imports`: the apps imported, those that failed with why, and the attributes an
    attribute computed before them reads (`read_before_set`)."""
    imported, import_errors, read_early = imports
    # the accounts and the people they belong to, in one transaction: a new account is
    # written once, with its owner, who must be in the store already
    with db.session() as session, session.begin():
        # until this run has finished, the store is not settled (a crash must be redone)
        set_meta(session, "last_sync_signature", "")
        writer.write_people(session, state)
        writer.write_import(session, state, run_id, imported, import_errors)
        step("identify", 1)
        writer.write_links(session, state, run_id)
        save_found_nobody(session, state, run_id)  # with the people it stands for: at once
        save_filter_failed(session, state)
        save_conflicts(session, state)
    committed.update(("import", "identify", "ownership"))
    step("attributes", 3)
    with db.session() as session, session.begin():
        writer.write_attributes(session, state, run_id)
        save_held(session, state.held)  # with the values they stand for: one transaction
        # whom the next run computes again, with the values that leave them so (their ids
        # are the stored ones by now: the people were written first)
        save_read_early(session, _read_early_moved(state, read_early))
        # who read whom is stored again when the run is done with the values (`_keep_reads`):
        # a run stopped before then leaves none, and the next run computes everyone
        set_meta(session, reads.META_KEY, "")
    committed.add("attributes")


def _push(
    db: Database,
    state: WorkState,
    run_id: int,
    pushes: list[PushItem],
    apps: list[AppConfig],
    base_dir: Path,
    report: StageReport,
    step: Callable[[str, int], None],
    committed: set[str],
) -> set[str]:
    """External writes, after the store is committed; each one is recorded before it is sent
    (intent) and after (outcome). Then the pushed apps are read back, so the store holds what
    the apps now say and the next sync is quiet. Returns the accounts ("app:id") whose pushes
    the apps refused."""
    step("push", 4)
    refused_keys: set[str] = set()
    if pushes:
        by_id = {app.id: app for app in apps}
        connectors = {
            app_id: make_connector(connector_spec(by_id[app_id], base_dir))
            for app_id in {item.app_id for item in pushes}
        }
        # the store's fingerprints do not change until the read-back is written
        known = {app_id: state.known_digests(app_id) for app_id in connectors}
        for app_id, connector in connectors.items():
            recognise = getattr(connector, "recognise", None)
            if recognise is not None:  # a file connector parses only the records it writes
                recognise(known[app_id])
        # what is about to be written is recorded first (one insert for the stage); the
        # outcomes are recorded with the pushes themselves, in one transaction, below
        sent = [item for item in pushes if not item.error and item.changes]
        with db.session() as session, session.begin():
            intents = writer.write_intents(session, run_id, [writer.push_intent(i) for i in sent])
        failures = send(pushes, connectors, _check_unchanged(state, connectors))
        refused: dict[str, list[str]] = {}
        for (app_id, external_id), reason in failures.items():
            refused_keys.add(f"{app_id}:{external_id}")
            report.bump("refused")
            report.problems.append(f"{app_id}:{external_id}: the app refused the push: {reason}")
            refused.setdefault(app_id, []).append(f"{external_id}: {reason}")
        for app_id, reasons in sorted(refused.items()):
            more = f" (and {len(reasons) - 1} more)" if len(reasons) > 1 else ""
            report.fail(app_id, f"refused {_count(len(reasons), 'push')}: {reasons[0]}{more}")
        relisted = {}
        for app_id, connector in connectors.items():
            try:
                relisted[app_id] = (
                    _read_back(connector, known[app_id]),
                    _version_written(state, app_id, connector),
                )
            except ConnectorError as exc:
                report.problems.append(f"{app_id}: could not read back after pushing: {exc}")
                report.fail(app_id, f"could not be read back after pushing: {exc}")
        delivered, refusals = [], []
        for intent, item in zip(intents, sent, strict=True):
            refusal = failures.get((item.app_id, item.external_id))
            if refusal is None:
                delivered.append(intent)
            else:
                refusals.append((intent, "refused", refusal, item.external_id))
        with db.session() as session, session.begin():
            writer.write_push(session, state, run_id, pushes, failures, relisted)
            writer.settle_writes(session, run_id, refusals, sent=delivered)
    committed.add("push")
    return refused_keys


def _read_back(connector: Any, known: dict[str, str]) -> Any:
    """What the app lists after a push: with `list_changed`, only the records that differ from
    what the store holds (`known`: its fingerprints; the pushed ones, and any the app changed
    meanwhile), else all."""
    list_changed = getattr(connector, "list_changed", None)
    if list_changed is None:
        return connector.list_all()
    # the store takes the accounts' values from it, never its grants: the import reads those
    return list_changed(known, accounts_only=True)


def _refresh_read_back(
    db: Database,
    state: WorkState,
    run_id: int,
    attributes: tuple[list[AttributeDef], set[str]],
    cel: CelEngine,
    hold: bool,
) -> tuple[bool, set[int]]:
    """The accounts this run pushed to or created, as the apps now list them, are sources of
    their owners' attributes: compute those owners' attributes again, so that the values last
    seen from every source are what a sync reconsidering everyone would find (the store then
    does not depend on whether the next run is incremental). `attributes`: the definitions,
    and those an attribute computed before them reads (`read_before_set`). Returns whether a
    value changed, and the people whose value of one of those this moved: they are added to
    those the next run computes again, with the values (review: a cycle through a pushed
    account's field settled stale)."""
    definitions, read_early = attributes
    # each owner's: what the apps changed of their accounts (None: created)
    moves = account_moves(state, {key: state.read_back_fields.get(key) for key in state.read_back})
    owners = set(moves)  # (the accounts' owners: stored people by now)
    if not owners:
        return False, set()
    narrowing = Narrowing(definitions)
    narrow = {owner: narrowing.of(moved) for owner, moved in moves.items()}
    relevant = [d for d in definitions if any(d.name in names for names in narrow.values())]
    if not relevant:
        return False, set()
    left_before = _read_early_moved(state, read_early)  # what `_apply` noted
    with db.session() as session:  # the states of the values it considers
        load_attribute_states(session, state, owners, narrow)
    planned, state.changes = state.changes, []
    held = list(state.held)  # the run's held values are recorded already; these repeat them
    # the people this run created are stored now, values and all: here they are like any other
    created, state.new_users = state.new_users, set()
    state.dirty_attributes, state.dirty_users = set(), set()
    cel.population = state.population()
    try:
        with cel.stage_budget("attributes"):
            run_attributes(
                state,
                relevant,
                cel,
                StageReport("attributes"),
                only=owners,
                hold=hold,
                narrow=narrow,
            )
    finally:
        cel.population = None
        state.held[:] = held
    moved = bool(state.changes)
    refreshed = _read_early_moved(state, read_early)
    try:
        if state.dirty_attributes or state.dirty_users:
            with db.session() as session, session.begin():
                writer.write_attributes(session, state, run_id)
                if refreshed:
                    save_read_early(session, left_before | refreshed)
    finally:
        state.new_users = created
    state.changes = planned + state.changes
    return moved, refreshed


def _keep_keys(
    db: Database, state: WorkState, apps: list[AppConfig], cel: CelEngine, memo: key_memo.KeyMemo
) -> None:
    """Keep what custom ownership rules' CEL gives the store as this run leaves it, for the
    next run (engine/sync/key_memo.py). A cache: running out of time here costs the next run
    the evaluations, never this run its result."""
    people = state.touched_users() | {user_id for user_id, _ in state.dirty_attributes}
    people |= {
        owner
        for key in state.read_back
        if key in state.accounts and (owner := state.accounts[key].owner_id) is not None
    }
    try:
        with cel.stage_budget("ownership"):
            keep_keys(state, apps, cel, memo, people)
    except CelTimeBudgetError:
        pass
    if memo.changed:
        with db.session() as session, session.begin():
            set_meta(session, key_memo.META_KEY, key_memo.dump(memo))


def _attribute_scope(
    state: WorkState,
    everyone: bool,
    reading_others: list[str],
    stored: reads.ReadLog | None,
    held: list[HeldBlank],
) -> tuple[set[int] | None, str]:
    """The people whose attributes a run computes (None: everyone), and what it says of them.
    Besides the people whose own data changed (and those with held values), the readers of
    what changed (engine/sync/reads.py): those the stored graph says read a changed person, and
    those the last run left to compute again."""
    if reading_others:  # this run notes who reads whom, from what was stored
        state.reads = stored if stored is not None else reads.ReadLog()
        state.amendable = {}  # and may compute a reader again (`_catch_up`)
    if everyone:
        return None, ""
    if reading_others and stored is None:
        return None, (
            "computed everyone: the last run left no record of whom the attributes that read "
            "other people read (this run keeps one)"
        )
    touched = state.touched_users()
    only = touched | {h.user_id for h in held}
    if stored is None:
        return only, ""
    moved = set(state.moved_keys)
    # whom identify created, removed or renamed: every lookup of them; the others only their
    # accounts changed (their values, if they move, move in the stage, and their readers are
    # computed then: `_catch_up`)
    identity = state.new_users | state.dirty_users
    for user_id in touched:
        user = state.users.get(user_id)
        if user is not None and user_id in identity:
            moved |= reads.person_keys(user)
        elif user is not None:
            moved.add(f"a:{user_id}")
    state.moved_keys = set()  # from here on: what the attributes stage moves
    users = state.users
    readers = {
        reader
        for reader in (stored.pending | stored.readers_of(moved)) - only
        if reader in users and users[reader].status != "DELETED"
    }
    only |= readers
    if not readers:
        return only, ""
    return only, (
        f"{len(readers)} more {'person' if len(readers) == 1 else 'people'} computed "
        f"({_who(state, readers)}): they read someone who changed since the last run, or whom "
        "the last run changed after they read them"
    )


def _catch_up(
    db: Database,
    state: WorkState,
    definitions: list[AttributeDef],
    cel: CelEngine,
    report: StageReport,
    considered: set[int] | None,
    hold: bool,
) -> tuple[set[int], set[int]]:
    """Compute again, in this run, the readers who read someone before the stage set their
    value (a stage reads as it goes), with a population built anew (its indexes as the stage
    left the people), up to CATCH_UP times. Their changes amend the ones journalled for them,
    so the plan has one change per value. Returns the people computed again, and those the
    passes computed whom the stage had not (readers of a value it set)."""
    if state.reads is None:
        return set(), set()
    again: set[int] = set()
    more: set[int] = set()  # computed by the passes only
    users = state.users
    for _ in range(CATCH_UP):
        left = {
            reader
            for reader in state.reads.left(state.moved_at)
            if reader in users and users[reader].status != "DELETED"
        }
        if not left:
            break
        with db.session() as session:
            load_attribute_states(session, state, left)
        # what the stage said of them (errors, held values) they say again, or no longer
        held_lines = {h.line for h in state.held}
        state.held = [h for h in state.held if h.user_id not in left]
        taken = Counter(line for reader in left for line in state.said.pop(reader, ()))
        if taken:  # one pass: a large stage can have a problem per person
            kept = []
            for line in report.problems:
                if taken[line] > 0:
                    taken[line] -= 1
                    if line not in held_lines:
                        report.bump("errors", -1)
                else:
                    kept.append(line)
            report.problems = kept
        scratch = StageReport(report.name)
        cel.population = state.population()
        run_attributes(state, definitions, cel, scratch, only=left, hold=hold)
        if scratch.counts.get("errors"):
            report.bump("errors", scratch.counts["errors"])
        report.problems.extend(scratch.problems)
        if not report.counts.get("errors"):
            report.counts.pop("errors", None)
        if considered is not None:  # (None: the stage considered everyone)
            first = left - again - considered
            report.bump("users_considered", len(first))
            more |= first
        again |= left
    state.amendable = None  # what is journalled from here on is written as it is
    if again:
        if state.held or report.counts.get("held"):
            report.counts["held"] = len(state.held)
        drop_undone(state, report)
    return again - more, more


def _left_to_read(state: WorkState, owners: set[int]) -> set[int]:
    """The readers of what the attributes stage and after moved, who read it before it did (a
    run reads as it goes): values set after them, the accounts the run pushed to or created
    (of OWNERS and `read_back`). The next run computes them again. (A person the run created
    is read with the id the store gives them: engine.records.Population.stored_id.)"""
    if state.reads is None:
        return set()
    owners |= {
        owner
        for key in state.read_back
        if key in state.accounts and (owner := state.accounts[key].owner_id) is not None
    }
    moved = dict(state.moved_at)
    for owner in owners:  # after every value: the accounts are written last
        moved[f"a:{owner}"] = state.moves + 1
    return state.reads.left(moved)


def _keep_reads(db: Database, state: WorkState, run_id: int, owners: set[int]) -> set[int]:
    """Store who read whom, with the readers the next run computes again (returned)."""
    if state.reads is None:
        return set()
    users = state.users
    state.reads.keep_only(lambda r: r in users and users[r].status != "DELETED")
    left = state.reads.pending = _left_to_read(state, owners)
    with db.session() as session, session.begin():
        set_meta(session, reads.META_KEY, state.reads.dump(run_id))
    return left


def _reading_others_note(
    names: list[str], state: WorkState, left: set[int], settles: bool | None
) -> str:
    """What a run says of the attributes that read other people: whether it leaves some of
    their readers to the next sync. `settles`: whether the applied run settled the store
    (None: a dry run). A run that moved nothing they read may still not settle (the clock, a
    failure, a write meanwhile): then it promises nothing."""
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    said = f"{shown} {'reads' if len(names) == 1 else 'read'} other people: "
    if left:
        who = f"{_people(len(left))} ({_who(state, left)})"
        if settles is None:
            return said + (
                f"{who} read someone this plan then changes, creates or pushes to, so after it "
                "is applied the next sync computes them again"
            )
        return said + (
            f"{who} read someone this run then changed, created or pushed to, so the next sync "
            "computes them again"
        )
    if settles is None:
        return said + "nothing they read would move"
    if settles:
        return said + "nothing they read moved, so the next sync on the same data ends at once"
    return said + "nothing they read moved"


def _read_early_moved(state: WorkState, read_early: set[str]) -> set[int]:
    """The people whose state of an attribute in READ_EARLY this run changed."""
    if not read_early:  # (most configurations: no pass over a first sync's million values)
        return set()
    return {user_id for user_id, name in state.dirty_attributes if name in read_early}


def _set_back(db: Database, state: WorkState, read_early: set[str], people: set[int]) -> set[int]:
    """Of PEOPLE (left by the last applied run to compute again), those this run sets a value
    of an attribute in READ_EARLY back to what it was before that run changed it: values that
    alternate, which no number of syncs settles (review: a pair answering each other pushed
    the other value at every sync, and each run said only that the next computes them)."""
    users = state.users
    labels = {state.user_label(users[u]): u for u in people if u in users}
    planned = {
        (change.object_id, change.field): change.new
        for change in state.changes
        if change.stage == "attributes"
        and change.object_type == "user"
        and change.field in read_early
        and change.object_id in labels
    }
    if not planned:
        return set()
    with db.session() as session:
        last = last_applied_run(session)
        rows = session.execute(  # (object id, attribute, the value before that run)
            select(col(Change.object_id), col(Change.field), col(Change.old)).where(
                col(Change.run_id) == last,
                col(Change.stage) == "attributes",
                col(Change.object_type) == "user",
                col(Change.field).in_(sorted(read_early)),
            )
        )
        return {
            labels[str(label)]
            for label, name, old in rows
            if (label, name) in planned and planned[str(label), str(name)] == old
        }


def _read_early_note(
    state: WorkState, definitions: list[AttributeDef], read_early: set[str], people: set[int]
) -> str:
    """What a run says of PEOPLE, whose value of an attribute in READ_EARLY it set after an
    attribute computed before it had read it."""
    moved = {name for user_id, name in state.dirty_attributes if name in read_early}
    reads = attribute_reads(definitions, itself=True)
    position = {d.name: i for i, d in enumerate(definitions)}
    # those computed before what they read (or reading themselves), not every reader
    readers = [
        d.name
        for d in definitions
        if any(position[name] >= position[d.name] for name in reads[d.name] & moved)
    ]
    set_late = [d.name for d in definitions if d.name in moved]
    return (
        f"{_people(len(people))} ({_who(state, people)}): {_listed(readers)} read "
        f"{_listed(set_late)} before this run set {'it' if len(set_late) == 1 else 'them'} "
        "(attributes that read each other): the next sync computes them again (not settled)"
    )


def _listed(names: list[str]) -> str:
    return ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else "".join(names)


def _who(state: WorkState, ids: set[int], most: int = 3) -> str:
    """The first few of the people IDS (by label, so a plan and its apply say the same)."""
    labels = sorted(state.owner_label(i) or "" for i in ids)
    more = f" and {len(labels) - most} more" if len(labels) > most else ""
    return ", ".join(labels[:most]) + more


def _which(keys: set[tuple[str, str]], most: int = 3) -> str:
    """The first few of the accounts KEYS, as app:id (ids are the apps' text: shown escaped
    and bounded)."""
    labels = sorted(printable(f"{app}:{external}", 80, one_line=True) for app, external in keys)
    more = f" and {len(labels) - most} more" if len(labels) > most else ""
    return ", ".join(labels[:most]) + more


def _people(n: int) -> str:
    return f"{n} {'person' if n == 1 else 'people'}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 'es' if noun.endswith('sh') else 's'}"


def _provision(
    db: Database,
    state: WorkState,
    run_id: int,
    work: tuple[
        list[Creation], list[Satisfied], list[AccessRequestItem], list[tuple[int, str, str, str]]
    ],
    apps: list[AppConfig],
    base_dir: Path,
    report: StageReport,
    step: Callable[[str, int], None],
    committed: set[str],
) -> None:
    """Create the planned accounts (after the store is committed) and link each one at once;
    the access requests are imported into the store and the served ones marked fulfilled."""
    step("provision", 5)
    creations, satisfied, requests, unanswered = work
    by_id = {app.id: app for app in apps}
    connectors = {
        app_id: make_connector(connector_spec(by_id[app_id], base_dir))
        for app_id in {c.app_id for c in creations}
    }
    # the requests are in the store, and each creation recorded as intended, before any is
    # made: a kill in between leaves a trace the next sync settles (engine/sync/recovery.py)
    with db.session() as session, session.begin():
        writer.write_access_requests(session, requests)
        for answered in satisfied:  # an account the person already has answers it
            writer.fulfil_requests(
                session, run_id, [answered.request_id], answered.account, answered.user_id
            )
        # ... and the journal says so, with the account (`roster runs RUN`)
        closed = {answered.request_id for answered in satisfied}
        writer.journal(
            session,
            run_id,
            [
                c
                for c in state.changes
                if c.stage == "provision"
                and c.object_type == "access_request"
                and c.object_id in closed
            ],
            True,
        )
        intents = writer.write_intents(
            session, run_id, [writer.creation_intent(c) for c in creations]
        )
    check = _check_unchanged(state, connectors)
    for app_id, connector in connectors.items():
        imported = state.new_sidecar_digests.get(app_id)
        expect = getattr(connector, "expect_sidecars", None)
        if imported and expect is not None:
            expect(imported)  # see _sidecars_written
    created, refused = create(creations, connectors, report, check) if creations else ([], {})
    if refused:
        # a refused account was not created: the run must not count it among its changes
        # (the refusal is among the run's failures)
        gone = {planned_creation_id(creations[i]) for i in refused}
        state.changes[:] = [
            c for c in state.changes if not (c.stage == "provision" and c.object_id in gone)
        ]
    made = iter(created)
    outcomes = [
        (intent, "refused", refused[i], "")
        if i in refused
        else (intent, "sent", "", next(made)[1].external_id)
        for i, intent in enumerate(intents)
    ]
    # the intents of accounts asked for by hand in killed runs, answered by this run
    for creation, (_, outcome, reason, external_id) in zip(creations, outcomes, strict=True):
        if creation.intent_id is not None:
            lost = f"the app had no such account (run {creation.asked_in} was killed before asking)"
            done = (
                f"run {run_id} asked again and {creation.app_id} refused: {reason}"
                if outcome == "refused"
                else f"run {run_id} created it: {creation.app_id}:{external_id}"
            )
            unanswered.append((creation.intent_id, "not sent", f"{lost}; {done}", external_id))
    with db.session() as session, session.begin():
        if creations:
            writer.write_provisioned(session, state, run_id, created)
            writer.settle_writes(session, run_id, outcomes)
        if unanswered:
            writer.settle_writes(session, run_id, unanswered)
        for app_id, connector in connectors.items():
            version = _version_written(state, app_id, connector)
            if version is not None:
                set_meta(session, f"source_version:{app_id}", version)
                _sidecars_written(session, state, app_id, connector)
    committed.add("provision")


def _sidecars_written(session: Session, state: WorkState, app_id: str, connector: Any) -> None:
    """After this run created accounts with grants in an app it imported whole, grants and
    all, and the write found the grants as imported (the connector checks under the file's
    lock, where it reads and writes them: hostile review), and no other program changed the
    app meanwhile: the store holds the grants file as the write left it (the old grants, as
    merged, and the new accounts' own), so its digest is the one to compare the next import
    with. Kept as the import took it, the next sync read and merged the whole grants file
    again (half a second for Entra's 12 MB)."""
    written = getattr(connector, "written_sidecars", None)
    digest = written() if written is not None else None
    if digest and state.new_sidecar_digests.get(app_id):
        state.new_sidecar_digests[app_id] = digest
        set_meta(session, f"sidecar_digest:{app_id}", digest)


def _check_unchanged(state: WorkState, connectors: dict[str, Any]) -> Callable[[str], None]:
    """What to call just before an app is written to: adds it to the run's
    `changed_meanwhile` when its data is no longer what this run read of it (its import, or
    its own last write), i.e. another program changed it since. A write keeps their change in
    the app (a file is loaded whole and written back), so recording the version after the
    write would take that change as imported, and the next sync would never read it; such an
    app's version is not recorded (`_version_written`), its read-back takes in only the
    accounts this run wrote to (`writer.write_push`), and the run does not settle."""

    def check(app_id: str) -> None:
        read = state.written_versions.get(app_id) or state.new_source_versions.get(
            app_id, state.source_versions.get(app_id)
        )
        try:
            now = source_version_of(connectors[app_id], app_id, state.stamps)
        except ConnectorError:
            return  # the write says why, if it fails too
        if now is not None and now != read:  # None: an app that keeps no version
            state.changed_meanwhile.add(app_id)

    return check


def _version_written(state: WorkState, app_id: str, connector: Any) -> str | None:
    """The app's version after this run wrote to it, to record (as the write left it, when
    the connector tells: a change made since is the next sync's to read); None for an app
    another program changed before the write (`_check_unchanged`)."""
    if app_id in state.changed_meanwhile:
        return None
    written = getattr(connector, "written_version", None)
    version: str | None = written() if written is not None else None
    if version is None:
        version = connector.source_version()
    if version is not None:
        state.written_versions[app_id] = version
    return version


def _settle(
    db: Database,
    run_id: int,
    config: RosterConfig,
    base_dir: Path,
    grounds: tuple[dict[str, str], str, str],
    settled: str | None,
    versions_of: tuple[dict[str, str], dict[str, str]],
    revisit: PushRevisit,
) -> bool:
    """A clean run settles the store (returns whether it did): until an app's data, the
    configuration or a manual decision changes, the next sync has nothing to do and says so
    at once. `grounds`: the configuration versions, manual generation and access requests'
    digest the run started from; `versions_of`: the versions the run read of the apps it did
    not write to, and those its last writes left in the others (when their connectors tell: a
    change made since is new to the next run); `revisit`: what the next run's push stage must
    look at again (see `PushRevisit`)."""
    unwritten, written = versions_of
    versions, manual, requests = grounds
    stamps: dict[str, str] = {}
    if settled is not None:  # pushes changed the apps' data: take their digests afresh
        apps = list(config.apps)
        settled = sync_signature(
            apps, base_dir, versions, manual, requests, stamps, known=unwritten, written=written
        )
    with db.session() as session, session.begin():
        save_stamps(session, stamps, {})
        set_meta(session, "last_sync_signature", settled or "")
        set_meta(session, "last_settled_run", str(run_id) if settled else "")
        set_meta(session, "applied_manual_generation", manual)
        by_hand.applied(session, manual)
        save_push_revisit(session, revisit)
    return bool(settled)


#: The stages whose changes say what the apps' data did to the store and to who is who; the
#: later stages follow from them, the configuration and the store (and the clock).
INPUT_STAGES = ("import", "identify", "ownership")
PLAN_CHANGED = (
    "The data or the store changed since the plan you confirmed (an app's data, the "
    "configuration, a manual decision or another run): nothing was applied. Plan again and "
    "review the new plan."
)


def plan_digest(grounds: dict[str, Any], changes: list[PlannedChange]) -> str:
    """What a plan stands on: its grounds (configuration, manual decisions, the last applied
    run) and what the apps' data changes in the store (the input stages' changes). Allowing
    deletions at apply time releases held values on top of the same plan: it changes none of
    this."""
    inputs = [c.as_dict() for c in changes if c.stage in INPUT_STAGES]
    return stable_hash({**grounds, "changes": inputs})


def last_applied_run(session: Any) -> int:
    return (
        session.scalar(
            select(func.max(Run.id)).where(
                col(Run.status).in_(APPLIED), col(Run.dry_run).is_(False)
            )
        )
        or 0
    )


def _plan_changed(db: Database, run_id: int, plan: str) -> SyncResult:
    stages = [StageReport(name) for name in STAGES]
    result = SyncResult(run_id, "plan-changed", False, stages, [], error=PLAN_CHANGED, plan=plan)
    with db.session() as session, session.begin():
        session.execute(
            update(Run)
            .where(col(Run.id) == run_id)
            .values(status=result.status, ended_at=utcnow(), error=PLAN_CHANGED, counts={})
        )
    return result


def _nothing_changed(
    db: Database,
    run_id: int,
    dry_run: bool,
    apps: int,
    settled_by: str,
    held: list[HeldBlank] | None = None,
    plan: str = "",
) -> SyncResult:
    report = StageReport("import")
    since = f" since run {settled_by}" if settled_by else ""
    report.notes.append(
        f"nothing changed{since}: no app's data, no configuration and no manual decision; "
        "the findings of that run still stand"
    )
    report.bump("apps_unchanged", apps)
    stages = [report, *(StageReport(name) for name in STAGES[1:])]
    if held:
        stages[3].bump("held", len(held))
        stages[3].problems.extend(h.line for h in held)
        stages[3].notes.append(
            f"{_count(len(held), 'value')} still held: sync with --allow-deletes to clear them"
        )
    result = SyncResult(run_id, "planned" if dry_run else "applied", dry_run, stages, [])
    result.held = list(held or [])
    result.plan = plan
    result.settled = not dry_run  # it was, and stays
    with db.session() as session, session.begin():
        session.execute(
            update(Run)
            .where(col(Run.id) == run_id)
            .values(
                status=result.status,
                ended_at=utcnow(),
                error="",
                counts={
                    "import": {"apps_unchanged": apps},
                    "changes": 0,
                    # what `--expect-plan` is checked against (`_known_plan`)
                    **({"plan": plan} if plan else {}),
                    **({} if dry_run else {"settled": True}),
                    "notes": {"import": report.notes},
                    **({"attributes": {"held": len(held)}} if held else {}),
                    **({"problems": {"attributes": [h.line for h in held[:200]]}} if held else {}),
                },
            )
        )
    return result


def failures_summary(failures: list[dict[str, str]]) -> str:
    """One line for the run's error: which apps failed and why, the first few in full."""
    # each reason is sentences of its own: their last full stop goes before the ";"
    shown = [f"{f['app']} {f['reason'].rstrip().removesuffix('.')}" for f in failures[:3]]
    more = f"; and {len(failures) - 3} more" if len(failures) > 3 else ""
    return "; ".join(shown) + more


#: How far back an applied run looks for the dry run whose plan it carried out.
PLAN_LOOKBACK = 50


def _known_plan(db: Database, plan: str) -> None:
    """Refuse a plan no recent dry run printed (a typo, another store's): planning again and
    calling it "changed since the plan you confirmed" sent the admin looking for a change
    that never was, and left a run that made the next sync compute everyone (newcomer
    review). Nothing is recorded."""
    with db.session() as session:
        if _planned_by(session, plan, None) is not None:
            return
        newest = session.execute(
            select(col(Run.id), col(Run.counts))
            .where(col(Run.dry_run))
            .order_by(col(Run.id).desc())
            .limit(1)
        ).first()
    last = ""
    if newest is not None and isinstance(newest[1], dict) and newest[1].get("plan"):
        last = f" The newest dry run, run {newest[0]}, planned {newest[1]['plan']}."
    raise InvalidInput(
        f"No dry run of this store planned '{printable(plan, 80, one_line=True)}' (of its last "
        f"{PLAN_LOOKBACK} dry runs): nothing was applied and no run was recorded.{last} Give "
        "the plan a dry run printed (`roster sync --dry-run`), or plan again."
    )


def _planned_by(
    session: Session, plan: str, run_id: int | None, confirmed: int | None = None
) -> int | None:
    """The dry run CONFIRMED when its plan is PLAN (its digest), else the latest dry run
    before RUN_ID (None: any) whose plan it is, if any: two consoles (or a `roster sync
    --dry-run`) may have planned the same since the one the admin confirmed."""
    query = select(col(Run.id), col(Run.counts)).where(col(Run.dry_run))
    if run_id is not None:  # (no bound as a huge number: PostgreSQL's ids are 32-bit)
        query = query.where(col(Run.id) < run_id)
    if confirmed is not None:
        row = session.execute(query.where(col(Run.id) == confirmed)).first()
        if row is not None and isinstance(row[1], dict) and row[1].get("plan") == plan:
            return confirmed
    rows = session.execute(query.order_by(col(Run.id).desc()).limit(PLAN_LOOKBACK))
    for found, counts in rows:
        if isinstance(found, int) and isinstance(counts, dict) and counts.get("plan") == plan:
            return found
    return None


def _finish(
    db: Database,
    run_id: int,
    result: SyncResult,
    state: WorkState,
    committed: set[str],
    plan_run: int | None = None,
) -> None:
    counts: dict[str, Any] = {r.name: dict(r.counts) for r in result.stages}
    counts["changes"] = len(result.planned)
    # what each stage reported stays with the run, for `roster runs` and the Sync screen
    counts["problems"] = {r.name: r.problems[:200] for r in result.stages if r.problems}
    counts["notes"] = {r.name: r.notes[:50] for r in result.stages if r.notes}
    if result.plan:
        counts["plan"] = result.plan
    if not result.dry_run and result.status in APPLIED:  # `roster runs N` says so
        counts["settled"] = result.settled
    if result.failures:
        counts["failures"] = result.failures[:200]
        if not result.error and result.status in (*APPLIED, *PLANNED):
            result.error = failures_summary(result.failures)
    with db.session() as session, session.begin():
        if result.plan and not result.dry_run and result.status in APPLIED:
            # the history says which plan an applied run carried out (newcomer review)
            counts["plan_run"] = result.plan_run = _planned_by(
                session, result.plan, run_id, plan_run
            )
        if result.status not in APPLIED:
            # the plan (or what was computed before the failure) is kept, marked not applied;
            # stages already written are in the journal as applied
            pending = [c for c in state.changes if c.stage not in committed]
            writer.journal(session, run_id, pending, applied=False)
        session.execute(
            update(Run)
            .where(col(Run.id) == run_id)
            .values(status=result.status, ended_at=utcnow(), counts=counts, error=result.error)
        )
