"""The dashboard: how many people and accounts, per app, the last runs, and what needs care."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlmodel import col

from engine.changes import HELD_BACK
from engine.collector import collector_paused
from engine.errors import RosterError
from engine.services.care import CareList, care_lists, left_out_by_filter
from engine.services.context import ServiceContext
from engine.services.runs import INTERRUPTED, RunsService, RunSummary
from engine.store.models import Account, App, Person
from engine.store.repo import config_base_dir
from engine.sync.run_notes import load_conflicts, load_held


@dataclass(frozen=True)
class AppSummary:
    id: str
    name: str
    connector: str
    accounts: int
    last_import_at: datetime | None
    last_import_status: str
    is_directory: bool = False
    removed: bool = False  # from the configuration; the next sync retires its accounts


@dataclass(frozen=True)
class Dashboard:
    people: int
    accounts: int
    unowned: int
    unmerged: int
    errors: int
    apps: list[AppSummary]
    last_runs: list[RunSummary]
    warnings: list[str]
    # identity decisions that need an admin's eye (engine.services.care), bounded lists
    care: list[CareList] = field(default_factory=list)
    held: int = 0  # attribute values the last applied run held (see HeldBlank)
    # where the store is, and the folder the configuration's relative paths start from (the
    # demo's app files): a newcomer found neither from the CLI
    store: str = ""
    config_folder: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "people": self.people,
            "accounts": self.accounts,
            "unowned": self.unowned,
            "unmerged": self.unmerged,
            "errors": self.errors,
            "apps": [
                {
                    "id": a.id,
                    "name": a.name,
                    "connector": a.connector,
                    "accounts": a.accounts,
                    "last_import_at": a.last_import_at.isoformat() if a.last_import_at else None,
                    "last_import_status": a.last_import_status,
                    "is_directory": a.is_directory,
                    "removed": a.removed,
                }
                for a in self.apps
            ],
            "last_runs": [
                {
                    **{k: v for k, v in r.to_json().items() if k != "counts"},
                    "changes": (r.counts or {}).get("changes"),
                }
                for r in self.last_runs
            ],
            "store": self.store,
            "config_folder": self.config_folder,
            "warnings": self.warnings,
            "held": self.held,
            "care": [c.to_json() for c in self.care],
        }


class DashboardService:
    def __init__(self, ctx: ServiceContext, runs: RunsService) -> None:
        self.ctx = ctx
        self.runs = runs

    def care(self, stop: Callable[[], bool] | None = None) -> tuple[list[CareList], list[str]]:
        """The identity decisions that need an eye, and a warning when they could not be
        checked. Reads every person and account (seconds on a large store): the console asks
        for it after its first screen is up, and may `stop` it (`Stopped` is raised)."""
        try:
            config = self.ctx.config()
            population = self.ctx.identity_population(stop)
            with self.ctx.db.session() as session:
                left_out = left_out_by_filter(session, config)
                conflicts = load_conflicts(session)
            with collector_paused():  # hundreds of thousands of short-lived objects
                return care_lists(population, config, stop, left_out, conflicts), []
        except RosterError as exc:  # a damaged configuration is reported where it is read
            return [], [f"Could not check people and managers: {exc}"]

    def _configured_apps(self) -> set[str] | None:
        try:
            return {app.id for app in self.ctx.config().apps}
        except RosterError:  # a damaged configuration: every app the store knows is shown
            return None

    def dashboard(self, *, with_care: bool = True) -> Dashboard:
        live = col(Account.status) != "DELETED"
        with self.ctx.db.session() as session:
            people = (
                session.scalar(
                    select(func.count()).select_from(Person).where(col(Person.status) != "DELETED")
                )
                or 0
            )
            apps_rows = session.scalars(
                select(App).order_by(
                    col(App.directory_order).is_(None), col(App.directory_order), col(App.id)
                )
            ).all()
            directory_ids = {a.id for a in apps_rows if a.is_directory}
            folder = config_base_dir(session)
            # every account count in one pass over the table (a large store has millions)
            ownerless = col(Account.owner_id).is_(None)
            per_app: dict[str, int] = {}
            unowned = unmerged = 0
            rows: Iterable[Any] = session.execute(
                select(
                    col(Account.app_id),
                    func.count(),
                    func.count(case((ownerless, 1))),
                    func.count(
                        case((and_(ownerless, col(Account.filter_result) == "MATCH_ONLY"), 1))
                    ),
                )
                .where(live)
                .group_by(col(Account.app_id))
            )
            for app_id, count, no_owner, match_only in rows:
                per_app[app_id] = count
                if app_id in directory_ids:
                    unmerged += match_only  # a directory's unowned accounts that only merge
                else:
                    unowned += no_owner
            accounts = sum(per_app.values())
            held = len(load_held(session))
            configured = self._configured_apps()
            apps = [
                AppSummary(
                    a.id,
                    a.name,
                    a.connector,
                    per_app.get(a.id, 0),
                    a.last_import_at,
                    a.last_import_status,
                    a.is_directory,
                    configured is not None and a.id not in configured,
                )
                for a in apps_rows
                # an app removed from the configuration, once a sync retired its accounts
                if configured is None or a.id in configured or per_app.get(a.id)
            ]
        runs = self.runs.runs(limit=5)
        errors = sum(1 for a in apps if a.last_import_status not in ("", "ok"))
        warnings = [
            f"{a.name or a.id}: last import {a.last_import_status}"
            if a.last_import_status.startswith(HELD_BACK)
            else f"{a.name or a.id}: last import failed: {a.last_import_status}"
            for a in apps
            if a.last_import_status not in ("", "ok")
        ]
        # the last sync that applied (or tried to) decides whether the store is in trouble: a
        # dry run planned since, or an account provisioned by hand, hid a failed sync from
        # `status --check`, and a killed sync (interrupted) raised only a warning (day-two
        # review, hostile pass); a sync dry run since adds its own failures. Provisioning
        # runs are one person's account each: their refusals are no error of the store.
        real = self.runs.last_sync(applied_only=True)
        latest = self.runs.last_sync()
        judged = [real] if real is not None else []
        if latest is not None and latest.dry_run and (real is None or latest.id > real.id):
            judged.insert(0, latest)
        known = {a.id for a in apps if a.last_import_status not in ("", "ok")}
        for run in judged:
            found, said = _run_alerts(run, known)
            errors += found
            warnings += said
        loose = self.ctx.db.permission_warning()
        if loose:
            warnings.insert(0, loose)
        if not apps:
            warnings.append(
                "No apps are configured: import a configuration "
                "(roster config import FILE) or load the demo (roster init --sample)."
            )
        if unowned:
            warnings.append(f"{unowned:,} account{'s have' if unowned != 1 else ' has'} no owner.")
        if held:
            warnings.append(
                f"{held} attribute value{'s are' if held != 1 else ' is'} held: clearing "
                f"{'them' if held != 1 else 'it'} comes only from source accounts gone from "
                "their apps (roster sync --allow-deletes clears them)."
            )
        care: list[CareList] = []
        if with_care:
            care, problem = self.care()
            warnings.extend(problem)
        return Dashboard(
            people,
            accounts,
            unowned,
            unmerged,
            errors,
            apps,
            runs,
            warnings,
            care,
            held,
            store=str(self.ctx.db.sqlite_path or self.ctx.db.display_url),
            config_folder=str(folder) if folder is not None else None,
        )


def _run_alerts(run: RunSummary, failing_apps: set[str]) -> tuple[int, list[str]]:
    """What RUN adds to the dashboard's errors and warnings; FAILING_APPS: those whose own
    last import failed (their lines say so already)."""
    if run.status == INTERRUPTED:
        return 1, [
            f"Run {run.id} interrupted: its process ended before the run did (killed, or its "
            "machine stopped); the next sync finishes what it left."
        ]
    if run.status in ("failed", "blocked-by-threshold"):
        return 1, [f"Run {run.id} {run.status}: {run.error}"]
    if not run.status.endswith("-with-failures"):
        return 0, []
    failures = run.counts.get("failures", [])
    # the failed imports are counted with their apps; refused pushes are the run's
    if any(f.get("stage") != "import" for f in failures):
        return 1, [f"Run {run.id} {run.status}: {run.error}"]
    # a dry run records no import status: its apps read "ok" on the dashboard, and "the apps
    # above" named none of them (newcomer review)
    unknown = [f for f in failures if f.get("app") and f["app"] not in failing_apps]
    if not unknown:  # the apps' own lines say why, once
        return 0, [f"Run {run.id} {run.status}: the apps above failed to import."]
    said = []
    for failure in unknown:
        reason = str(failure.get("reason", "")).split("\n")[0]
        said.append(f"Run {run.id} {run.status}: {failure['app']} could not be read: {reason}")
    return len(unknown), said
