"""The engine facade: what the console and the CLI can do, as blocking calls.

Screens call these from thread workers; the CLI calls them directly. Each call opens its own
session, so calls from several threads are safe.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_, select
from sqlmodel import col

from engine.cel import CONTEXTS, CelEngine, ContextSpec, field_names, function_names
from engine.config.model import RosterConfig
from engine.errors import ConfigInvalid, InvalidInput, NotFound, RosterError
from engine.preview import OnePreview, PopulationPreview, preview_all, preview_one, record_label
from engine.records import ACCOUNT_DATA_FIELDS, AccountRecord, Population, UserRecord
from engine.store.db import Database, sqlite_url
from engine.store.models import Account, App, Change, Person, Run
from engine.store.repo import (
    config_versions,
    current_actor,
    load_config,
    load_population,
    save_config,
    set_meta,
)


def default_db_path() -> Path:
    from platformdirs import user_data_path

    return user_data_path("roster") / "roster.db"


@dataclass
class AppSummary:
    id: str
    name: str
    connector: str
    accounts: int
    last_import_at: datetime | None
    last_import_status: str
    is_directory: bool = False


@dataclass
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

    def as_dict(self) -> dict[str, Any]:
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
        }


@dataclass
class Dashboard:
    people: int
    accounts: int
    unowned: int
    unmerged: int
    errors: int
    apps: list[AppSummary]
    last_runs: list[RunSummary]
    warnings: list[str]


@dataclass(frozen=True)
class RecordRef:
    kind: str  # "user" | "account"
    id: int
    label: str
    detail: str = ""


@dataclass
class Completions:
    variables: list[str]
    fields: dict[str, list[str]]
    functions: list[str]
    profile_keys: dict[str, list[str]]


@dataclass
class UserDetail:
    user: UserRecord
    attributes: list[dict[str, Any]]
    accounts: list[dict[str, Any]]


@dataclass
class ConfigImportResult:
    changes: list[Any]
    warnings: list[Any]
    applied: bool
    sections: list[str] = field(default_factory=list)


class Services:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._population: Population | None = None
        self._cel: CelEngine | None = None
        self._lock = threading.Lock()

    # --- shared state ------------------------------------------------------------------
    def population(self) -> Population:
        with self._lock:
            if self._population is None:
                with self.db.session() as session:
                    self._population = load_population(session)
            return self._population

    def cel(self) -> CelEngine:
        population = self.population()
        with self._lock:
            if self._cel is None:
                self._cel = CelEngine(population)
            elif self._cel.population is not population:
                self._cel.population = population
                self._cel.clear_cache()
            return self._cel

    def invalidate(self) -> None:
        """Forget cached records after the store changed (a sync, an import, a link)."""
        with self._lock:
            self._population = None

    # --- dashboard ---------------------------------------------------------------------
    def dashboard(self) -> Dashboard:
        with self.db.session() as session:
            people = (
                session.scalar(
                    select(func.count()).select_from(Person).where(Person.status != "DELETED")
                )
                or 0
            )
            accounts = (
                session.scalar(
                    select(func.count()).select_from(Account).where(Account.status != "DELETED")
                )
                or 0
            )
            apps_rows = (
                session.execute(
                    select(App).order_by(
                        col(App.directory_order).is_(None), App.directory_order, App.id
                    )
                )
                .scalars()
                .all()
            )
            directory_ids = [a.id for a in apps_rows if a.is_directory]
            unowned = (
                session.scalar(
                    select(func.count())
                    .select_from(Account)
                    .where(
                        Account.owner_id.is_(None),
                        Account.status != "DELETED",  # type: ignore[union-attr]
                        col(Account.app_id).not_in(directory_ids),
                    )
                )
                or 0
            )
            unmerged = (
                session.scalar(
                    select(func.count())
                    .select_from(Account)
                    .where(
                        Account.owner_id.is_(None),
                        Account.status != "DELETED",  # type: ignore[union-attr]
                        col(Account.app_id).in_(directory_ids),
                        Account.filter_result == "MATCH_ONLY",
                    )
                )
                or 0
            )
            per_app = dict(
                session.execute(
                    select(Account.app_id, func.count())
                    .where(Account.status != "DELETED")
                    .group_by(Account.app_id)
                ).all()
            )
            runs = self.runs(limit=5)
            apps = [
                AppSummary(
                    a.id,
                    a.name,
                    a.connector,
                    per_app.get(a.id, 0),
                    a.last_import_at,
                    a.last_import_status,
                    a.is_directory,
                )
                for a in apps_rows
            ]
        errors = sum(1 for a in apps if a.last_import_status not in ("", "ok"))
        warnings = [
            f"{a.name or a.id}: last import failed: {a.last_import_status}"
            for a in apps
            if a.last_import_status not in ("", "ok")
        ]
        if runs and runs[0].status in ("failed", "blocked-by-threshold"):
            errors += 1
            warnings.append(f"Run {runs[0].id} {runs[0].status}: {runs[0].error}")
        if not apps:
            warnings.append(
                "No apps are configured: import a configuration "
                "(roster config import FILE) or load the demo (roster init --sample)."
            )
        if unowned:
            warnings.append(f"{unowned} accounts have no owner.")
        return Dashboard(people, accounts, unowned, unmerged, errors, apps, runs, warnings)

    def runs(self, limit: int = 20) -> list[RunSummary]:
        with self.db.session() as session:
            rows = session.execute(select(Run).order_by(col(Run.id).desc()).limit(limit)).scalars()
            return [
                RunSummary(
                    r.id or 0,
                    r.kind,
                    r.status,
                    r.dry_run,
                    r.started_at,
                    r.started_by,
                    r.ended_at,
                    r.counts or {},
                    r.error,
                )
                for r in rows
            ]

    def run_changes(self, run_id: int) -> tuple[RunSummary, list[dict[str, Any]]]:
        with self.db.session() as session:
            run = session.get(Run, run_id)
            if run is None:
                raise NotFound(f"There is no run {run_id}. `roster runs` lists the runs.")
            changes = [
                {
                    "stage": c.stage,
                    "object_type": c.object_type,
                    "object_id": c.object_id,
                    "field": c.field,
                    "old": c.old,
                    "new": c.new,
                    "reason": c.reason,
                    "applied": c.applied,
                }
                for c in session.execute(
                    select(Change).where(Change.run_id == run_id).order_by(Change.id)
                ).scalars()
            ]
            summary = RunSummary(
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
        return summary, changes

    # --- records -----------------------------------------------------------------------
    def find_records(self, kind: str, query: str = "", limit: int = 50) -> list[RecordRef]:
        needle = f"%{query.strip()}%"
        with self.db.session() as session:
            if kind == "user":
                statement = select(Person.id, Person.display_name, Person.email, Person.status)
                if query.strip():
                    statement = statement.where(
                        or_(col(Person.email).ilike(needle), col(Person.display_name).ilike(needle))
                    )
                rows = session.execute(
                    statement.order_by(Person.display_name, Person.id).limit(limit)
                ).all()
                return [
                    RecordRef(
                        "user", r[0], f"{r[1]} <{r[2]}>" if r[2] else r[1] or f"user {r[0]}", r[3]
                    )
                    for r in rows
                ]
            statement = select(
                Account.id, Account.app_id, Account.external_id, Account.display_name, Account.email
            )
            if query.strip():
                statement = statement.where(
                    or_(
                        col(Account.email).ilike(needle),
                        col(Account.display_name).ilike(needle),
                        col(Account.external_id).ilike(needle),
                        col(Account.app_id).ilike(needle),
                    )
                )
            rows = session.execute(
                statement.order_by(Account.app_id, Account.external_id).limit(limit)
            ).all()
            return [
                RecordRef("account", r[0], r[3] or r[4] or r[2], f"{r[1]}:{r[2]}") for r in rows
            ]

    def record(self, ref: RecordRef) -> UserRecord | AccountRecord:
        population = self.population()
        if ref.kind == "user":
            user = population.user_by_id(ref.id)
            if user is not None:
                return user
        else:
            for account in population.accounts:
                if account.id == ref.id:
                    return account
        raise NotFound(f"The {ref.kind} {ref.label or ref.id} no longer exists; pick another.")

    def user_by_email(self, email: str) -> UserRecord:
        matches = [
            u for u in self.population().users_by_email(email) if u.status != "DELETED"
        ] or self.population().users_by_email(email)
        if not matches:
            raise NotFound(
                f"No person has the email {email!r}. Search with `roster preview "
                "--context user_key --all 'subject.email'` or in the Users screen."
            )
        return matches[0]

    def person(self, who: str | int) -> UserRecord:
        """A person by email, or by id (people without an email have only their id)."""
        if isinstance(who, int):
            user = self.population().user_by_id(who)
            if user is None:
                raise NotFound(f"There is no person {who}; search again.")
            return user
        return self.user_by_email(who)

    def account_by_key(self, key: str) -> AccountRecord:
        app_id, sep, external_id = key.partition(":")
        account = self.population().account(app_id, external_id) if sep else None
        if account is None:
            raise NotFound(f"No account {key!r}; give it as APP:EXTERNAL_ID, e.g. hr:E10001.")
        return account

    # --- CEL ---------------------------------------------------------------------------
    def contexts(self) -> dict[str, ContextSpec]:
        return dict(CONTEXTS)

    def _check_context(self, context: str) -> None:
        if context not in CONTEXTS:
            raise InvalidInput(f"Unknown context {context!r}; use one of {', '.join(CONTEXTS)}.")

    def preview_one(
        self, context: str, text: str, ref: RecordRef | UserRecord | AccountRecord
    ) -> OnePreview:
        self._check_context(context)
        record = self.record(ref) if isinstance(ref, RecordRef) else ref
        return preview_one(self.cel(), context, text, record)

    def records_in_scope(
        self, context: str, app_id: str | None = None
    ) -> list[UserRecord] | list[AccountRecord]:
        population = self.population()
        if CONTEXTS[context].subject_kind == "account":
            # deleted accounts are out of scope, as they are for the sync's filters
            return [
                a
                for a in population.accounts
                if a.status != "DELETED" and (app_id is None or a.app_id == app_id)
            ]
        return [u for u in population.users if u.status != "DELETED"]

    def preview_all(
        self,
        context: str,
        text: str,
        *,
        app_id: str | None = None,
        compare_to: str | None = None,
        progress: Callable[[int, int], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> PopulationPreview:
        self._check_context(context)
        records = self.records_in_scope(context, app_id)
        return preview_all(
            self.cel(),
            context,
            text,
            records,
            compare_to=compare_to,
            progress=progress,
            cancelled=cancelled,
        )

    def completions(self, context: str) -> Completions:
        self._check_context(context)
        population = self.population()
        return Completions(
            variables=list(CONTEXTS[context].variables),
            fields={"user": field_names("user"), "account": field_names("account")},
            functions=function_names(),
            profile_keys={
                "account": sorted(population.profile_keys("account")),
                "user": sorted(population.profile_keys("user")),
            },
        )

    def label(self, record: UserRecord | AccountRecord) -> str:
        return record_label(record)

    # --- configuration -----------------------------------------------------------------
    def export_config(self) -> str:
        from engine.config import dump_config

        with self.db.session() as session:
            config = load_config(session)
        return dump_config(config)

    def validate_config(self, text: str, *, source: str, base_dir: Path) -> Any:
        from engine.config import validate_text

        return validate_text(
            text, source=source, base_dir=base_dir, population=self._population_or_none()
        )

    def _population_or_none(self) -> Population | None:
        try:
            return self.population()
        except RosterError:
            return None

    def import_config(
        self,
        text: str,
        *,
        source: str,
        base_dir: Path,
        dry_run: bool = False,
        actor: str | None = None,
    ) -> ConfigImportResult:
        """Validate, then replace the configuration in one transaction (all or nothing)."""
        from engine.config import diff_configs

        result = self.validate_config(text, source=source, base_dir=base_dir)
        errors = [p for p in result.problems if p.severity == "error"]
        warnings = [p for p in result.problems if p.severity != "error"]
        if errors or result.config is None:
            raise ConfigInvalid(
                f"{source}: {len(errors)} problem{'s' if len(errors) != 1 else ''}; "
                "nothing was imported.",
                errors,
            )
        with self.db.session() as session:
            old = load_config(session) if config_versions(session) else None  # None: first import
        changes = diff_configs(old, result.config)
        if dry_run:
            return ConfigImportResult(changes, warnings, applied=False)
        with self.db.session() as session, session.begin():
            sections = save_config(session, result.config, actor=actor or current_actor())
            self._save_apps(session, result.config, base_dir)
            set_meta(session, "config_base_dir", str(base_dir.resolve()))
        self.invalidate()
        return ConfigImportResult(changes, warnings, applied=True, sections=sections)

    def _save_apps(self, session: Any, config: RosterConfig, base_dir: Path) -> None:
        from engine.connectors.registry import describe
        from engine.sync.importer import connector_spec

        order = {app_id: i for i, app_id in enumerate(config.directory_app_ids())}
        for app in config.apps:
            description = describe(connector_spec(app, base_dir))
            row = session.get(App, app.id) or App(id=app.id)
            row.name = app.title
            row.connector = app.connector
            row.settings = dict(app.settings)
            row.capabilities = description.capabilities.as_dict()
            row.account_fields = list(description.account_fields)
            row.push_schema = [f.as_dict() for f in description.push_schema]
            row.creation_schema = [f.as_dict() for f in description.creation_schema]
            row.is_directory = app.id in order
            row.directory_order = order.get(app.id)
            row.ownership_strategy = app.ownership.strategy
            session.add(row)

    # --- attributes --------------------------------------------------------------------
    def explain(self, email: str | int, attribute: str) -> dict[str, Any]:
        """Why a person's attribute has its value: the winner and every candidate."""
        from engine.store.models import AttributeValue
        from engine.sync.attributes import SourceReader, compile_attributes, decide
        from engine.sync.state import AttributeState

        user = self.person(email)
        with self.db.session() as session:
            definitions = load_config(session).attributes
            row = (
                session.execute(
                    select(AttributeValue).where(
                        AttributeValue.user_id == user.id,
                        func.lower(AttributeValue.attribute) == attribute.lower(),
                    )
                )
                .scalars()
                .first()
            )
        names = [d.name for d in definitions]
        match = [d for d in definitions if d.name.lower() == attribute.lower()]
        if not match:
            raise NotFound(
                f"No attribute {attribute!r}; the configured ones are: "
                f"{', '.join(names) or 'none'}."
            )
        cel = self.cel()
        definition = compile_attributes(match, cel)[0]
        previous = (
            AttributeState(row.value, row.source, row.last_seen or {}, row.ever_set)
            if row
            else AttributeState()
        )
        reader = SourceReader(cel, {user.id: self.population().accounts_of(user.id)})
        decision = decide(definition, user, previous, reader)
        return {
            "user": user.email,
            "attribute": definition.name,
            "mode": "authority" if definition.authority else "mapping",
            "value": row.value if row else None,
            "source": row.source if row else "",
            "set_at": row.set_at.isoformat() if row and row.set_at else None,
            "reason": decision.reason,
            "candidates": [c.as_dict() for c in decision.candidates],
        }

    def user_detail(self, user_id: int) -> UserDetail:
        """A person with every configured attribute (value and source) and linked account."""
        from engine.store.models import AttributeValue

        population = self.population()
        user = population.user_by_id(user_id)
        if user is None:
            raise NotFound(f"There is no person {user_id}; search again.")
        with self.db.session() as session:
            definitions = load_config(session).attributes
            states = {
                row.attribute: row
                for row in session.execute(
                    select(AttributeValue).where(AttributeValue.user_id == user_id)
                ).scalars()
            }
            app_names = dict(session.execute(select(App.id, App.name)).all())
        attributes = []
        for definition in definitions:
            row = states.get(definition.name)
            attributes.append(
                {
                    "name": definition.name,
                    "value": row.value if row else None,
                    "source": row.source if row else "",
                    "mode": "authority" if definition.authority_mode else "mapping",
                }
            )
        accounts = [
            {
                "key": f"{a.app_id}:{a.external_id}",
                "app": a.app_id,
                "app_name": app_names.get(a.app_id, a.app_id),
                "display_name": a.display_name,
                "email": a.email,
                "status": a.status,
                "link_kind": a.link_kind or "",
                "pinned": a.pinned,
                "entitlements": list(a.entitlements),
            }
            for a in sorted(
                population.accounts_of(user_id), key=lambda a: (a.app_id, a.external_id)
            )
        ]
        return UserDetail(user, attributes, accounts)

    def push_plan(self, rule: str | None = None) -> dict[str, Any]:
        """What push rules would write now, from the store as it is (no import): per rule,
        per account, per attribute old → new; failures with their reason."""
        from engine.sync.pipeline import load_state
        from engine.sync.push import plan_push
        from engine.sync.state import StageReport

        with self.db.session() as session:
            config = load_config(session)
            state = load_state(session)
            apps = {row.id: row for row in session.execute(select(App)).scalars()}
        names = [r.name for r in config.push_rules]
        if rule is not None and rule not in names:
            raise NotFound(f"No push rule {rule!r}; the rules are: {', '.join(names) or 'none'}.")
        cel = CelEngine(state.population())
        report = StageReport("push")
        missing: list[str] = []
        items = plan_push(state, config, apps, cel, report, only_rule=rule, without_account=missing)
        rules: dict[str, list[dict[str, Any]]] = {}
        for item in items:
            rules.setdefault(item.rule, []).append(
                {
                    "account": item.account_key,
                    "user": item.user_label,
                    "changes": {
                        t: {"old": old, "new": new} for t, (old, new) in item.changes.items()
                    },
                    "error": item.error,
                }
            )
        return {
            "rules": rules,
            "without_account": missing,
            "counts": dict(report.counts),
            "problems": report.problems,
            "notes": report.notes,
        }

    def push_history(
        self, limit: int = 200, rule: str | None = None, run_id: int | None = None
    ) -> list[dict[str, Any]]:
        """The latest push executions: who, which attributes old → new, success or reason."""
        from engine.store.models import PushExecution

        with self.db.session() as session:
            statement = select(PushExecution).order_by(col(PushExecution.id).desc()).limit(limit)
            if rule is not None:
                statement = statement.where(PushExecution.push_rule == rule)
            if run_id is not None:
                statement = statement.where(PushExecution.run_id == run_id)
            rows = session.execute(statement).scalars().all()
            accounts = {
                a.id: f"{a.app_id}:{a.external_id}"
                for a in session.execute(
                    select(Account).where(
                        col(Account.id).in_([r.account_id for r in rows if r.account_id])
                    )
                ).scalars()
            }
            people = {
                p.id: p.email or p.display_name
                for p in session.execute(
                    select(Person).where(col(Person.id).in_([r.user_id for r in rows if r.user_id]))
                ).scalars()
            }
        return [
            {
                "run_id": r.run_id,
                "rule": r.push_rule,
                "at": r.at.isoformat(),
                "account": accounts.get(r.account_id or 0, ""),
                "user": people.get(r.user_id or 0, ""),
                "changes": r.changes,
                "success": r.success,
                "reason": r.reason,
            }
            for r in rows
        ]

    # --- manual account decisions ------------------------------------------------------
    def set_link(
        self,
        account_key: str,
        email: str | int | None,
        *,
        pin: bool = True,
        actor: str | None = None,
    ) -> dict[str, Any]:
        """Link an account to a person (email or id) or unlink it (None). Manual decisions are
        pinned so the next sync's rules leave them alone; `pin=False` hands it back to them."""
        from engine.store.models import AuditEvent

        account = self.account_by_key(account_key)
        user = self.person(email) if email is not None else None
        with self.db.session() as session, session.begin():
            row = session.get(Account, account.id)
            if row is None:
                raise NotFound(f"No account {account_key!r}.")
            before = {"owner_id": row.owner_id, "link_kind": row.link_kind, "pinned": row.pinned}
            row.owner_id = user.id if user else None
            row.link_kind = "manual" if user else None
            row.pinned = pin
            session.add(row)
            after = {"owner_id": row.owner_id, "link_kind": row.link_kind, "pinned": row.pinned}
            _bump_manual_generation(session)
            session.add(
                AuditEvent(
                    actor=actor or current_actor(),
                    action="link" if user else "unlink",
                    object_kind="account",
                    object_name=account_key,
                    before=before,
                    after=after,
                )
            )
        self.invalidate()
        owner = (user.email or user.display_name or f"person {user.id}") if user else None
        return {"account": account_key, "owner": owner, "pinned": pin}

    def pin(
        self, account_key: str, pinned: bool = True, actor: str | None = None
    ) -> dict[str, Any]:
        """Pin (or release) an account's current link as it is."""
        from engine.store.models import AuditEvent

        account = self.account_by_key(account_key)
        with self.db.session() as session, session.begin():
            row = session.get(Account, account.id)
            if row is None:
                raise NotFound(f"No account {account_key!r}.")
            session.add(
                AuditEvent(
                    actor=actor or current_actor(),
                    action="pin" if pinned else "unpin",
                    object_kind="account",
                    object_name=account_key,
                    before={"pinned": row.pinned},
                    after={"pinned": pinned},
                )
            )
            row.pinned = pinned
            session.add(row)
            _bump_manual_generation(session)
            owner = session.get(Person, row.owner_id) if row.owner_id else None
        self.invalidate()
        return {"account": account_key, "owner": owner.email if owner else None, "pinned": pinned}

    # --- sync --------------------------------------------------------------------------
    def sync(
        self,
        *,
        dry_run: bool = False,
        allow_deletes: bool = False,
        progress: Callable[[str, int, int], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> Any:
        from engine.sync.pipeline import run_sync

        try:
            return run_sync(
                self.db,
                dry_run=dry_run,
                allow_deletes=allow_deletes,
                progress=progress,
                cancelled=cancelled,
            )
        finally:
            self.invalidate()

    def init_store(self, mode: str) -> Any:
        """`empty`: an empty store. `sample`: the demo organisation, imported and synced."""
        from engine.setup import copy_demo_files, demo_folder_for

        self.db.migrate()
        if mode == "empty":
            return None
        folder = copy_demo_files(demo_folder_for(self.db))
        config_file = folder / "roster.yaml"
        self.import_config(
            config_file.read_text(encoding="utf-8"), source=str(config_file), base_dir=folder
        )
        return self.sync()

    # --- provisioning ------------------------------------------------------------------
    def provision_queue(self) -> dict[str, Any]:
        """The accounts the next sync would create for approved access requests (apps with
        proactive provisioning), each ready or with the reasons it cannot be created."""
        from pathlib import Path

        from engine.store.repo import get_meta
        from engine.sync.pipeline import load_state
        from engine.sync.provisioning import load_requests, plan_provisioning
        from engine.sync.state import StageReport

        with self.db.session() as session:
            config = load_config(session)
            state = load_state(session)
            apps = {row.id: row for row in session.execute(select(App)).scalars()}
            base_dir = Path(get_meta(session, "config_base_dir", ".") or ".")
        report = StageReport("provision")
        requests = load_requests(config, base_dir, report)
        creations = plan_provisioning(
            state, config, apps, CelEngine(state.population()), requests, report
        )
        return {
            "ready": [
                {"app": c.app_id, "user": c.user_label, "request": c.request_id, "values": c.values}
                for c in creations
            ],
            "counts": dict(report.counts),
            "problems": report.problems,
        }

    def provisioning_apps(self) -> list[dict[str, Any]]:
        """Apps whose connector can create accounts, with their provisioning config (or None)
        and creation schema, for the console's provisioning screen and the CLI's messages."""
        with self.db.session() as session:
            rows = list(session.execute(select(App).order_by(App.id)).scalars())
            configured = {
                app.id: app.provisioning.model_dump(mode="json")
                for app in load_config(session).apps
                if app.provisioning is not None
            }
            return [
                {
                    "id": row.id,
                    "name": row.name or row.id,
                    "provisioning": configured.get(row.id),
                    "creation_schema": list(row.creation_schema or []),
                }
                for row in rows
                if (row.capabilities or {}).get("provisioning")
            ]

    def _provisioning_target(self, app_id: str) -> dict[str, Any]:
        """The app's row data, provisioning config and config folder; clear errors otherwise."""
        from engine.store.repo import get_meta

        with self.db.session() as session:
            rows = {row.id: row for row in session.execute(select(App)).scalars()}
            apps = {app.id: app for app in load_config(session).apps}
            base_dir = Path(get_meta(session, "config_base_dir", ".") or ".")
            capable = sorted(
                i for i, r in rows.items() if (r.capabilities or {}).get("provisioning")
            )
            configured = [i for i in capable if i in apps and apps[i].provisioning is not None]
            row = rows.get(app_id)
            if row is None or app_id not in apps:
                raise NotFound(
                    f"No app {app_id!r}; the apps are: {', '.join(sorted(rows)) or 'none'}"
                    f" (with provisioning: {', '.join(configured) or 'none'})."
                )
            if not (row.capabilities or {}).get("provisioning"):
                raise InvalidInput(
                    f"App {app_id!r} cannot create accounts: its connector has no account-creation "
                    "schema (give it a flavour or declare creation_schema: in its settings). Apps "
                    f"that can: {', '.join(capable) or 'none'}."
                )
            provisioning = apps[app_id].provisioning
            if provisioning is None:
                raise InvalidInput(
                    f"App {app_id!r} has no provisioning config: add `provisioning: {{fields: "
                    "...}}` to it in the configuration and import it. Apps with one: "
                    f"{', '.join(configured) or 'none'}."
                )
            return {
                "id": row.id,
                "name": row.name or row.id,
                "creation_schema": list(row.creation_schema or []),
                "fields": dict(provisioning.fields),
                "proactive": provisioning.proactive,
                "app": apps[app_id],
                "base_dir": base_dir,
            }

    def provision_plan(
        self, app_id: str, who: str | int, *, entitlement: dict[str, Any] | None = None
    ) -> Any:
        """Every creation field of APP evaluated and checked for one person (nothing is written).
        Returns an engine.provision.ProvisionPlan; `plan.ok` is False with a reason per field."""
        from engine.provision import plan_account

        target = self._provisioning_target(app_id)
        user = self.person(who)
        return plan_account(
            self.cel(),
            target["creation_schema"],
            target["fields"],
            user,
            entitlement,
            app_id=app_id,
        )

    def provision_test(
        self,
        app_id: str,
        field_key: str,
        who: str | int,
        *,
        text: str | None = None,
        entitlement: dict[str, Any] | None = None,
    ) -> Any:
        """One creation field against one person: value and type, or the error. `text` tests a
        draft expression instead of the saved one. Returns an engine.provision.FieldResult."""
        from engine.provision import test_field

        target = self._provisioning_target(app_id)
        user = self.person(who)
        return test_field(
            self.cel(),
            target["creation_schema"],
            target["fields"],
            user,
            field_key,
            entitlement,
            text=text,
            app_id=app_id,
        )

    def provision(
        self,
        app_id: str,
        who: str | int,
        *,
        dry_run: bool = False,
        entitlement: dict[str, Any] | None = None,
        actor: str | None = None,
    ) -> Any:
        """Create one account in APP for one person, link it at once and journal it.

        Every field is checked first (all or nothing): an invalid plan creates nothing and the
        result (ok False, status "failed") names each field and why. A dry run stores the plan
        as a "planned" run. The connector's refusal (an existing username…) leaves the store
        and the app unchanged, records a failed run and raises ProvisionRefused."""
        from engine.connectors.fingerprint import fingerprint
        from engine.connectors.registry import make_connector
        from engine.errors import ConnectorError, StoreError
        from engine.provision import ProvisionRefused, ProvisionResult, invalid_plan_message
        from engine.store.models import utcnow
        from engine.sync.importer import connector_spec
        from engine.sync.pipeline import acquire_lock, release_lock

        target = self._provisioning_target(app_id)
        plan = self.provision_plan(app_id, who, entitlement=entitlement)
        actor = actor or current_actor()
        result = ProvisionResult(plan, dry_run)
        pending_id = f"{app_id}:(new account for {plan.user})"

        def journal(session: Any, run_id: int, object_id: str, applied: bool) -> None:
            for item in plan.fields:
                session.add(
                    Change(
                        run_id=run_id,
                        stage="provision",
                        object_type="account",
                        object_id=object_id,
                        field=item.key,
                        old=None,
                        new=item.value,
                        reason=(
                            item.reason
                            if not item.ok
                            else f"{item.source}: {item.expression}"
                            if item.source == "cel"
                            else item.note or item.source
                        ),
                        applied=applied,
                    )
                )

        def counts(created: int) -> dict[str, Any]:
            return {
                "provision": {
                    "app": app_id,
                    "fields": len(plan.fields),
                    "invalid": sum(1 for f in plan.fields if not f.ok),
                    "created": created,
                }
            }

        if dry_run or not plan.ok:
            with self.db.session() as session, session.begin():
                run = Run(
                    kind="provision",
                    dry_run=dry_run,
                    started_by=actor,
                    status="planned" if plan.ok else "failed",
                    ended_at=utcnow(),
                    counts=counts(0),
                    error="" if plan.ok else invalid_plan_message(plan),
                    config_versions=config_versions(session),
                )
                session.add(run)
                session.flush()
                assert run.id is not None
                journal(session, run.id, pending_id, applied=False)
                result.run_id, result.status, result.error = run.id, run.status, run.error
            return result

        acquire_lock(self.db, actor)  # a sync must not import the app while we write to it
        try:
            with self.db.session() as session, session.begin():
                run = Run(
                    kind="provision",
                    dry_run=False,
                    started_by=actor,
                    status="running",
                    counts=counts(0),
                    config_versions=config_versions(session),
                )
                session.add(run)
                session.flush()
                assert run.id is not None
                result.run_id = run_id = run.id
            try:
                connector = make_connector(connector_spec(target["app"], target["base_dir"]))
                listed = connector.create_account(plan.values())
            except Exception as exc:  # noqa: BLE001 - a broken connector is a refusal, not a crash
                reason = (
                    exc.message
                    if isinstance(exc, ConnectorError)
                    else f"the connector failed unexpectedly: {exc!r}"
                )
                message = f"{app_id} refused to create the account for {plan.user}: {reason}"
                with self.db.session() as session, session.begin():
                    row = session.get(Run, run_id)
                    assert row is not None
                    row.status, row.ended_at, row.error = "failed", utcnow(), message
                    session.add(row)
                    journal(session, run_id, pending_id, applied=False)
                result.status, result.error = "failed", message
                problems = exc.problems if isinstance(exc, ConnectorError) else None
                raise ProvisionRefused(message, result, problems) from exc
            key = f"{app_id}:{listed.external_id}"
            try:
                self._record_provisioned(
                    run_id, key, listed, plan, actor, journal, counts, fingerprint(listed)
                )
            except Exception as exc:
                message = (
                    f"{key} was created in {app_id} but could not be recorded in the store "
                    f"({exc}); the next sync imports it and links it to its owner."
                )
                with self.db.session() as session, session.begin():
                    row = session.get(Run, run_id)
                    if row is not None:
                        row.status, row.ended_at, row.error = "failed", utcnow(), message
                        session.add(row)
                raise StoreError(message) from exc
            result.status, result.account = "applied", listed.external_id
        finally:
            release_lock(self.db)
            self.invalidate()
        return result

    def _record_provisioned(
        self,
        run_id: int,
        key: str,
        listed: Any,
        plan: Any,
        actor: str,
        journal: Callable[..., None],
        counts: Callable[[int], dict[str, Any]],
        digest: str,
    ) -> None:
        """The created account in the store, linked to its person, journalled and audited."""
        from engine.store.models import AuditEvent, utcnow

        app_id = plan.app_id
        with self.db.session() as session, session.begin():
            account = session.execute(
                select(Account).where(
                    Account.app_id == app_id, Account.external_id == listed.external_id
                )
            ).scalar_one_or_none() or Account(app_id=app_id, external_id=listed.external_id)
            for name in ACCOUNT_DATA_FIELDS:
                value = getattr(listed, name)
                setattr(account, name, list(value) if isinstance(value, list) else value)
            account.profile = dict(listed.profile)
            account.fingerprint = digest
            account.owner_id = plan.user_id
            account.link_kind = "provisioned"
            account.pinned = False
            account.last_seen = utcnow()
            session.add(account)
            journal(session, run_id, key, applied=True)
            session.add(
                Change(
                    run_id=run_id,
                    stage="provision",
                    object_type="account",
                    object_id=key,
                    field="owner",
                    old=None,
                    new=plan.user,
                    reason="provisioned for this person: linked at once",
                    applied=True,
                )
            )
            session.add(
                AuditEvent(
                    actor=actor,
                    action="provision",
                    object_kind="account",
                    object_name=key,
                    before=None,
                    after={
                        "owner_id": plan.user_id,
                        "owner": plan.user,
                        "link_kind": "provisioned",
                        "pinned": False,
                        "fields": plan.values(),
                        "run_id": run_id,
                    },
                )
            )
            row = session.get(Run, run_id)
            assert row is not None
            row.status, row.ended_at, row.counts = "applied", utcnow(), counts(1)
            session.add(row)
            # the person's accounts changed outside a sync: the next sync reconsiders them
            _bump_manual_generation(session)


def _bump_manual_generation(session: Any) -> None:
    """Manual decisions change what a sync must do: the next sync may not skip."""
    from engine.store.repo import get_meta

    set_meta(
        session, "manual_generation", str(int(get_meta(session, "manual_generation") or 0) + 1)
    )


def open_services(
    db_path: Path | str | None = None, database_url: str | None = None, init: str | None = None
) -> Services:
    """Open (and if needed create) a store. `init` = "sample" | "empty" forces initialisation;
    otherwise a new store gets the demo organisation, an existing one is migrated."""
    url = database_url or sqlite_url(db_path or default_db_path())
    services = Services(Database(url))
    if init is not None:
        services.init_store(init)
    elif not services.db.exists():
        services.init_store("sample")
    else:
        services.db.migrate()
    return services
