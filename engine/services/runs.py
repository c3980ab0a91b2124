"""Runs and history: start a sync, list the runs, and one run's journal."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import String, case, cast, func, select
from sqlmodel import col

from engine.errors import NotFound
from engine.services.context import ServiceContext
from engine.store.models import Change, ExternalWrite, Run
from engine.sync.run_notes import APPLIED as APPLIED_STATUSES
from engine.sync.run_notes import PLANNED as PLANNED_STATUSES
from engine.sync.run_notes import STAGES

if TYPE_CHECKING:
    from engine.sync.pipeline import SyncResult
    from engine.sync.state import StageReport

__all__ = [
    "APPLIED_STATUSES",
    "PLANNED_STATUSES",
    "ChangeRow",
    "ExternalWriteRow",
    "JournalObject",
    "JournalReading",
    "JournalStage",
    "RunSummary",
    "RunsService",
]


#: How a sync reads whose process is gone before it ended (the store keeps "running" until the
#: next sync finishes what it left)
INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class RunSummary:
    id: int
    kind: str
    status: str
    dry_run: bool
    started_at: datetime
    started_by: str
    ended_at: datetime | None = None
    counts: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    # a dry run: the run that applied its plan as it was planned (`plan_run` names it back);
    # known to `run_summary`, None in the history's list
    carried_out_by: int | None = None

    @classmethod
    def of(cls, run: Run) -> RunSummary:
        return cls(
            run.id or 0,
            run.kind,
            run.status,
            run.dry_run,
            run.started_at,
            run.started_by,
            run.ended_at,
            run.counts or {},
            run.error,
        )

    @property
    def stage_counts(self) -> dict[str, dict[str, Any]]:
        """Each stage's counters, as the run stored them (not its problems, nor what a later
        run recovered of it: those are kept beside the stages in `counts`)."""
        return {
            name: value
            for name, value in self.counts.items()
            if isinstance(value, dict) and name not in ("problems", "notes", "recovered")
        }

    @property
    def settled(self) -> bool | None:
        """Whether this applied run left the store settled (a sync on the same data ends at
        once); None for a dry run, a run that did not apply, or one recorded before runs
        said."""
        found = self.counts.get("settled")
        return found if isinstance(found, bool) else None

    @property
    def plan_run(self) -> int | None:
        """The dry run whose plan this applied run carried out (`roster sync --expect-plan`,
        or the console's confirmation), when it was one."""
        found = self.counts.get("plan_run")
        return found if isinstance(found, int) and not isinstance(found, bool) else None

    @property
    def problems(self) -> dict[str, list[str]]:
        """Each stage's problems as the run stored them (the first 200 of a stage)."""
        return self._per_stage("problems")

    @property
    def notes(self) -> dict[str, list[str]]:
        """Each stage's notes (information, not trouble: why a run did what it did) as the
        run stored them; runs before Roster stored them have none."""
        return self._per_stage("notes")

    def _per_stage(self, key: str) -> dict[str, list[str]]:
        stored = self.counts.get(key)
        if not isinstance(stored, dict):
            return {}
        return {
            str(stage): [str(p) for p in found]
            for stage, found in stored.items()
            if isinstance(found, list) and found
        }

    @property
    def accounts(self) -> dict[str, int]:
        """A sync's accounts as its provision stage counted them (SyncResult.accounts):
        planned, created, refused by the app, invalid; all 0 for other runs."""
        from engine.sync.provisioning import ACCOUNT_COUNTS

        counts = self.counts.get("provision") if self.kind == "sync" else None
        if not isinstance(counts, dict):
            counts = {}
        return {key: int(counts.get(name) or 0) for key, name in ACCOUNT_COUNTS.items()}

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "status": self.status,
            "dry_run": self.dry_run,
            "started_at": self.started_at.isoformat(),
            "started_by": self.started_by,
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "counts": self.counts,
            "error": self.error,
            "settled": self.settled,
            "carried_out_by": self.carried_out_by,
        }

    as_dict = to_json


@dataclass(frozen=True)
class ChangeRow:
    """One journalled change of a run."""

    stage: str
    object_type: str
    object_id: str
    field: str
    old: Any
    new: Any
    reason: str
    applied: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "object_type": self.object_type,
            "object_id": self.object_id,
            "field": self.field,
            "old": self.old,
            "new": self.new,
            "reason": self.reason,
            "applied": self.applied,
        }


@dataclass(frozen=True)
class JournalStage:
    """One stage of a run's journal, counted by the store: its changes, the objects they
    touch, how many were applied, and the ids of its first and last change (a stage's
    changes are read a page at a time between them: `RunsService.journal_objects`)."""

    name: str
    changes: int
    objects: int
    applied: int
    first: int
    last: int


@dataclass
class JournalReading:
    """Where reading one stage of a run's journal stands (`RunsService.journal_objects`)."""

    stage: JournalStage
    after: int = -1  # the change id read up to (-1: the stage's start)
    shown: set[tuple[str, str]] = field(default_factory=set)  # the objects read
    changes: int = 0  # their changes read

    def __post_init__(self) -> None:
        if self.after < 0:
            self.after = self.stage.first - 1

    @property
    def done(self) -> bool:
        return self.after >= self.stage.last


@dataclass
class JournalObject:
    """One object of a journal stage with its changes in that stage, in the order written."""

    object_type: str
    object_id: str
    changes: list[ChangeRow] = field(default_factory=list)


@dataclass(frozen=True)
class ExternalWriteRow:
    """One write a run made (or meant to make) to an app: a push to an account or an account
    creation, with its outcome: "sent", "refused", or, for a run that was killed before it
    recorded it, what the next sync found ("found applied", "not sent", "unknown"); "" while
    the run is still writing."""

    kind: str  # push, create
    app: str
    account: str  # APP:EXTERNAL_ID ("" for a creation the app has not made)
    user: str
    rule: str  # the push rule, or the access request
    values: dict[str, Any]  # push: target -> [old, new]; create: field -> value
    outcome: str
    reason: str
    settled_by_run: int | None

    @property
    def recovered(self) -> bool:
        """Settled by a later sync: the run that wrote it was killed before recording it."""
        return self.outcome in ("found applied", "not sent", "unknown")

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "app": self.app,
            "account": self.account,
            "user": self.user,
            "rule": self.rule,
            "values": self.values,
            "outcome": self.outcome,
            "reason": self.reason,
            "settled_by_run": self.settled_by_run,
        }


class RunsService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def stages(self) -> tuple[str, ...]:
        """The sync's stages, in order, as progress reports name them."""
        return STAGES

    def sync(
        self,
        *,
        dry_run: bool = False,
        allow_deletes: bool = False,
        progress: Callable[[str, int, int], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
        expect_plan: str | None = None,
        plan_run: int | None = None,
        actor: str | None = None,
        stage_done: Callable[[StageReport], None] | None = None,
    ) -> SyncResult:
        from engine.sync.pipeline import run_sync

        try:
            return run_sync(
                self.ctx.db,
                dry_run=dry_run,
                allow_deletes=allow_deletes,
                progress=progress,
                cancelled=cancelled,
                expect_plan=expect_plan,
                plan_run=plan_run,
                actor=actor,
                stage_done=stage_done,
            )
        finally:
            self.ctx.invalidate()

    def runs(self, limit: int | None = 20, *, applied_only: bool = False) -> list[RunSummary]:
        """The newest LIMIT runs (None: all), newest first; `applied_only`: no dry runs (each
        `roster provision --dry-run` is one, and they buried the syncs). A run that did not
        count its changes when it ended (a link, a configuration edit, a provisioning run) has
        them counted from its journal: the history showed "—" for a run holding 16."""
        with self.ctx.db.session() as session:
            query = select(Run).order_by(col(Run.id).desc()).limit(limit)
            if applied_only:
                query = query.where(col(Run.dry_run).is_(False))
            rows = session.scalars(query)
            summaries = self._interrupted(session, [RunSummary.of(r) for r in rows])
            uncounted = [
                s.id for s in summaries if "changes" not in s.counts and s.status != "running"
            ]
            if not uncounted:
                return summaries
            counted = dict(
                session.execute(
                    select(col(Change.run_id), func.count())
                    .where(col(Change.run_id).in_(uncounted))
                    .group_by(col(Change.run_id))
                ).all()
            )
            return [
                replace(s, counts={**s.counts, "changes": counted.get(s.id, 0)})
                if s.id in uncounted
                else s
                for s in summaries
            ]

    def last_sync(self, *, applied_only: bool = False) -> RunSummary | None:
        """The newest sync run (`applied_only`: not a dry run), however many provisioning
        runs came after it: what the dashboard judges the store's health by."""
        with self.ctx.db.session() as session:
            # a refused --expect-plan applied nothing: it hid the failed sync before it
            query = select(Run).where(col(Run.kind) == "sync", col(Run.status) != "plan-changed")
            if applied_only:
                query = query.where(col(Run.dry_run).is_(False))
            row = session.scalars(query.order_by(col(Run.id).desc()).limit(1)).first()
            if row is None:
                return None
            return self._interrupted(session, [RunSummary.of(row)])[0]

    def _interrupted(self, session: Any, summaries: list[RunSummary]) -> list[RunSummary]:
        """SUMMARIES with a sync whose process is gone shown as INTERRUPTED, not running: a
        sync killed mid-run stayed "running" on the dashboard and in `roster status` until the
        next applied sync (hostile review). Only the newest running sync can be running, and
        only while a live process holds the lock; the next sync finishes what it left."""
        running = [s.id for s in summaries if s.status == "running" and s.kind == "sync"]
        if not running:
            return summaries
        from engine.sync.lock import live_lock

        live = None
        held = live_lock(self.ctx.db, session)
        if held is not None:
            # a sync takes the lock before it records its run: one recorded before the lock
            # was taken (by a provisioning write, say) is not the one holding it
            live = session.scalar(
                select(func.max(col(Run.id))).where(
                    col(Run.status) == "running",
                    col(Run.kind) == "sync",
                    col(Run.started_at) >= held.since,
                )
            )
        return [
            replace(s, status=INTERRUPTED) if s.id in running and s.id != live else s
            for s in summaries
        ]

    def run_changes(
        self, run_id: int, limit: int | None = None
    ) -> tuple[RunSummary, list[ChangeRow]]:
        """RUN_ID and its journal in the order it was written: the first LIMIT changes, or all
        of them (a first sync of 100,000 people journals hundreds of thousands)."""
        return self.run_summary(run_id), list(self.each_run_change(run_id, limit))

    def run_summary(self, run_id: int) -> RunSummary:
        with self.ctx.db.session() as session:
            # an id past what a store's ids hold is no run (PostgreSQL refused to look it up:
            # "integer out of range", as if the store had failed)
            run = session.get(Run, run_id) if 0 < run_id < 2**31 else None
            if run is None:
                raise NotFound(f"There is no run {run_id}. `roster runs` lists the runs.")
            (summary,) = self._interrupted(session, [RunSummary.of(run)])
            if not run.dry_run:
                return summary
            applied = session.scalar(
                select(col(Run.id))
                .where(
                    col(Run.id) > run_id,
                    col(Run.dry_run).is_(False),
                    Run.counts["plan_run"].as_integer() == run_id,
                )
                .order_by(col(Run.id))
                .limit(1)
            )
            return replace(summary, carried_out_by=applied)

    def each_run_change(
        self, run_id: int, limit: int | None = None, batch: int = 5000
    ) -> Iterator[ChangeRow]:
        """RUN_ID's journal in the order it was written (the first LIMIT changes, or all), read
        BATCH at a time: `roster runs N --json` writes a first sync's 1.3 million as they come
        (held whole, they took 43 s and 4.4 GB)."""
        c = Change.__table__.c  # type: ignore[attr-defined]
        after, left = 0, limit
        while left is None or left > 0:
            size = batch if left is None else min(batch, left)
            with self.ctx.db.session() as session:
                # columns, not ORM objects: as those, 1.3 million took half a minute
                rows: Any = session.execute(
                    select(c.id, *_CHANGE_ROW_COLUMNS)
                    .where(c.run_id == run_id, c.id > after)
                    .order_by(c.id)
                    .limit(size)
                ).all()
            for row in rows:
                yield ChangeRow(*row[1:])
            if len(rows) < size:
                return
            after = rows[-1][0]
            if left is not None:
                left -= len(rows)

    def journal_stages(self, run_id: int) -> tuple[RunSummary, list[JournalStage]]:
        """RUN_ID and its journal's stages in the order they were written, counted by the
        store (1.4 s for a first sync's 1.3 million changes; nothing of them is read)."""
        c = Change.__table__.c  # type: ignore[attr-defined]
        summary = self.run_summary(run_id)
        # the type's length first: ("account", "x:y") and ("account:x", "y") stay two
        object_key = cast(func.length(c.object_type), String) + ":" + c.object_type + c.object_id
        with self.ctx.db.session() as session:
            counted: Any = session.execute(
                select(
                    c.stage,
                    func.count(),
                    func.count(object_key.distinct()),
                    func.sum(case((c.applied, 1), else_=0)),
                    func.min(c.id),
                    func.max(c.id),
                )
                .where(c.run_id == run_id)
                .group_by(c.stage)
                .order_by(func.min(c.id))
            ).all()
            stages = [
                JournalStage(stage, changes, objects, int(applied or 0), first, last)
                for stage, changes, objects, applied, first, last in counted
            ]
            return summary, stages

    def journal_objects(
        self, run_id: int, reading: JournalReading, count: int
    ) -> list[JournalObject]:
        """The next COUNT objects of a stage of RUN_ID in the order they first appear, each
        with all its changes in the stage, read on from where READING stands (which moves on;
        `reading.done` once the stage is read to its end).

        A page reads the journal in id order from where the last one stopped, up to the row
        that begins the next page. An object whose changes the journal holds apart has its
        later ones read too, up to the stage's end (the `change` table is indexed by run, not
        by object: a scan of the rest of the stage); only when the counts say some of the
        changes not read yet may be such an object's, not in a stage of one change per
        object (a first sync's import, identify, ownership and attributes)."""
        c = Change.__table__.c  # type: ignore[attr-defined]
        stage = reading.stage
        in_stage = (c.run_id == run_id, c.stage == stage.name, c.id <= stage.last)
        found: dict[tuple[str, str], JournalObject] = {}
        batch = max(4 * count, 200)
        shown, full, read = reading.shown, False, 0
        with self.ctx.db.session() as session:
            while not full and reading.after < stage.last:
                rows = session.execute(
                    select(c.id, *_CHANGE_ROW_COLUMNS)
                    .where(*in_stage, c.id > reading.after)
                    .order_by(c.id)
                    .limit(batch)
                ).all()
                for row in rows:
                    key = (row[2], row[3])
                    if key in shown:
                        pass  # read with its object, on an earlier page
                    elif key in found:
                        found[key].changes.append(ChangeRow(*row[1:]))
                        read += 1
                    elif len(found) < count:
                        found[key] = JournalObject(key[0], key[1], [ChangeRow(*row[1:])])
                        read += 1
                    else:
                        full = True  # this row begins the next page
                        break
                    reading.after = row[0]
                if len(rows) < batch and not full:
                    reading.after = stage.last  # the stage is read to its end
            shown.update(found)
            reading.changes += read
            # the changes not read yet, one per object not shown yet: none is a later change
            # of an object shown (each of those objects has at least one of them)
            left = stage.changes - reading.changes
            if full and found and left != stage.objects - len(shown):
                for row in _later_changes(session, in_stage, reading.after, found):
                    found[(row[1], row[2])].changes.append(ChangeRow(*row))
                    reading.changes += 1
        return list(found.values())

    def count_run_changes(self, run_id: int) -> int:
        """How many changes RUN_ID journalled."""
        with self.ctx.db.session() as session:
            return int(
                session.scalar(
                    select(func.count()).select_from(Change).where(col(Change.run_id) == run_id)
                )
                or 0
            )

    def external_writes(self, run_id: int, limit: int = 100_000) -> list[ExternalWriteRow]:
        """What RUN_ID wrote to the apps, each with its outcome, in the order it was planned."""
        with self.ctx.db.session() as session:
            rows = session.scalars(
                select(ExternalWrite)
                .where(col(ExternalWrite.run_id) == run_id)
                .order_by(col(ExternalWrite.id))
                .limit(limit)
            )
            return [
                ExternalWriteRow(
                    w.kind,
                    w.app_id,
                    f"{w.app_id}:{w.external_id}" if w.external_id else "",
                    w.label,
                    w.rule,
                    w.values or {},
                    w.outcome,
                    w.reason,
                    w.settled_by_run,
                )
                for w in rows
            ]


#: A ChangeRow's columns, in its fields' order
_CHANGE_ROW_COLUMNS = tuple(
    getattr(Change.__table__.c, name)  # type: ignore[attr-defined]
    for name in ("stage", "object_type", "object_id", "field", "old", "new", "reason", "applied")
)


def _later_changes(
    session: Any, in_stage: tuple[Any, ...], after: int, objects: dict[tuple[str, str], Any]
) -> Iterator[Any]:
    """The changes of OBJECTS (by type and id) in the stage after the change id AFTER."""
    c = Change.__table__.c  # type: ignore[attr-defined]
    ids = sorted({object_id for _, object_id in objects})
    for start in range(0, len(ids), 500):  # bounded: SQLite limits bound parameters
        rows = session.execute(
            select(*_CHANGE_ROW_COLUMNS)
            .where(*in_stage, c.id > after, c.object_id.in_(ids[start : start + 500]))
            .order_by(c.id)
        )
        for row in rows:
            if (row[1], row[2]) in objects:
                yield row
