"""Provisioning: create one account for one person (`roster provision`, the Provisioning
screen), test one field, and the queue of accounts the next sync creates for access requests.

Planning is engine.provision (pure); the store writes are engine.sync.writer's; the proactive
stage of the sync is engine.sync.provisioning, whose planning the queue reuses."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from engine.cel import SWEEP_CACHE_LIMIT, CelEngine
from engine.config.model import App as AppConfig
from engine.config.model import Provisioning, RosterConfig
from engine.errors import ConnectorError, InvalidInput, NotFound, StoreError
from engine.provision import (
    FieldCheck,
    FieldResult,
    ProvisionPlan,
    ProvisionRefused,
    ProvisionResult,
    check_field,
    invalid_plan_message,
    plan_account,
    schema_of,
    test_field,
)
from engine.roles import current_actor
from engine.services.context import ServiceContext
from engine.services.records import RecordsService
from engine.store.models import App
from engine.store.repo import config_base_dir, load_config
from engine.sync import writer


@dataclass(frozen=True)
class QueuedAccount:
    """An account the next sync creates for an approved access request."""

    app: str
    user: str
    request: str
    values: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"app": self.app, "user": self.user, "request": self.request, "values": self.values}


@dataclass(frozen=True)
class ProvisionQueue:
    ready: list[QueuedAccount]
    counts: dict[str, int]
    problems: list[str]  # requests that cannot be served, each with its reason

    def to_json(self) -> dict[str, Any]:
        return {
            "ready": [item.to_json() for item in self.ready],
            "counts": self.counts,
            "problems": self.problems,
        }


@dataclass(frozen=True)
class ProvisioningApp:
    """An app whose connector can create accounts."""

    id: str
    name: str
    provisioning: Provisioning | None  # its provisioning config, None when it has none
    creation_schema: list[dict[str, Any]]  # the connector's creation fields (SchemaField dicts)


@dataclass(frozen=True)
class ProvisioningTarget:
    """An app that can create accounts and has a provisioning config."""

    id: str
    name: str
    creation_schema: list[dict[str, Any]]
    fields: dict[str, str]  # creation field: CEL expression
    proactive: bool
    app: AppConfig  # the app's configuration
    base_dir: Path


class ProvisioningService:
    def __init__(self, ctx: ServiceContext, records: RecordsService) -> None:
        self.ctx = ctx
        self.records = records

    def provision_queue(self, *, as_if_proactive: str | None = None) -> ProvisionQueue:
        """The accounts the next sync would create for approved access requests (apps with
        proactive provisioning), each ready or with the reasons it cannot be created.
        `as_if_proactive`: an app with provisioning counted as proactive too (what turning it
        on would create: said before it is turned on)."""
        from engine.sync.loading import load_state
        from engine.sync.provisioning import (
            known_entitlements,
            load_requests,
            plan_provisioning,
        )
        from engine.sync.state import StageReport

        report = StageReport("provision")
        with self.ctx.db.session() as session:
            config = load_config(session)
            if as_if_proactive is not None:
                config = _proactive(config, as_if_proactive)
            # people's values as stored, never their attributes' states (what each source
            # last showed): planning creations reads none of them (1.4 million at 100,000)
            state = load_state(session, attributes=False)
            apps = {row.id: row for row in session.scalars(select(App))}
            base_dir = config_base_dir(session) or Path(".")
            requests = load_requests(session, config, base_dir, report)
            entitlements = known_entitlements(session, state)
        creations = plan_provisioning(
            state,
            config,
            apps,
            CelEngine(state.population(), cache_limit=SWEEP_CACHE_LIMIT),
            requests,
            report,
            entitlements=entitlements,
        )
        return ProvisionQueue(
            [QueuedAccount(c.app_id, c.user_label, c.request_id, c.values) for c in creations],
            dict(report.counts),
            report.problems,
        )

    def provisioning_apps(self) -> list[ProvisioningApp]:
        """Apps whose connector can create accounts, with their provisioning config (or None)
        and creation schema, for the console's provisioning screen and the CLI's messages."""
        with self.ctx.db.session() as session:
            rows = list(session.scalars(select(App).order_by(col(App.id))))
            configured = {app.id: app.provisioning for app in load_config(session).apps}
            return [
                ProvisioningApp(
                    row.id,
                    row.name or row.id,
                    configured.get(row.id),
                    schema_of(row.creation_schema or []),  # in the schema's order
                )
                for row in rows
                if (row.capabilities or {}).get("provisioning") and row.id in configured
            ]

    def target(self, app_id: str, *, require_config: bool = True) -> ProvisioningTarget:
        """The app's row data, provisioning config and config folder; clear errors otherwise.
        `require_config=False` accepts an app that can create accounts but has no provisioning
        config yet (no field mapped, not proactive): an editor drafts its first mapping."""
        with self.ctx.db.session() as session:
            rows = {row.id: row for row in session.scalars(select(App))}
            apps = {app.id: app for app in load_config(session).apps}
            base_dir = config_base_dir(session) or Path(".")
        capable = sorted(
            i for i, r in rows.items() if (r.capabilities or {}).get("provisioning") and i in apps
        )
        configured = [i for i in capable if i in apps and apps[i].provisioning is not None]
        row = rows.get(app_id)
        if row is None or app_id not in apps:
            raise NotFound(
                f"No app {app_id!r}; the apps are: {', '.join(sorted(apps)) or 'none'}"
                f" (with provisioning: {', '.join(configured) or 'none'})."
            )
        if not (row.capabilities or {}).get("provisioning"):
            raise InvalidInput(
                f"App {app_id!r} cannot create accounts: its connector has no account-creation "
                "schema (give it a flavour or declare creation_schema: in its settings). Apps "
                f"that can: {', '.join(capable) or 'none'}."
            )
        provisioning = apps[app_id].provisioning
        if provisioning is None and not require_config:
            provisioning = Provisioning()
        if provisioning is None:
            raise InvalidInput(
                f"App {app_id!r} has no provisioning config: add `provisioning: {{fields: "
                "...}}` to it in the configuration and import it. Apps with one: "
                f"{', '.join(configured) or 'none'}."
            )
        return ProvisioningTarget(
            row.id,
            row.name or row.id,
            list(row.creation_schema or []),
            dict(provisioning.fields),
            provisioning.proactive,
            apps[app_id],
            base_dir,
        )

    def provision_plan(
        self, app_id: str, who: str | int, *, entitlement: dict[str, Any] | None = None
    ) -> ProvisionPlan:
        """Every creation field of APP evaluated and checked for one person (nothing is
        written); `plan.ok` is False with a reason per field."""
        target = self.target(app_id)
        user = self.records.person(who)
        return plan_account(
            self.ctx.cel(), target.creation_schema, target.fields, user, entitlement, app_id=app_id
        )

    def provision_test(
        self,
        app_id: str,
        field_key: str,
        who: str | int,
        *,
        text: str | None = None,
        entitlement: dict[str, Any] | None = None,
    ) -> FieldResult:
        """One creation field against one person: value and type, or the error. `text` tests a
        draft expression instead of the saved one (then the app needs no provisioning config
        yet)."""
        target = self.target(app_id, require_config=text is None)
        user = self.records.person(who)
        return test_field(
            self.ctx.cel(),
            target.creation_schema,
            target.fields,
            user,
            field_key,
            entitlement,
            text=text,
            app_id=app_id,
        )

    def provision_check(
        self,
        app_id: str,
        field_key: str,
        text: str | None = None,
        *,
        progress: Callable[[int, int], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> FieldCheck:
        """One creation field over everyone who is not deleted: how many people get a value
        that fits, an empty value, an invalid one or an error, with samples (see
        engine.provision.FieldCheck). `text` checks a draft instead of the saved expression.
        `progress(done, total)` is called every few hundred people; `cancelled()` stops early
        (the result then says `cancelled`, with the counts so far)."""
        target = self.target(app_id, require_config=False)
        return check_field(
            self.ctx.cel(),
            target.creation_schema,
            target.fields,
            self.ctx.population().users,
            field_key,
            text=text,
            app_id=app_id,
            progress=progress,
            cancelled=cancelled,
        )

    def provision(
        self,
        app_id: str,
        who: str | int,
        *,
        dry_run: bool = False,
        entitlement: dict[str, Any] | None = None,
        actor: str | None = None,
    ) -> ProvisionResult:
        """Create one account in APP for one person, link it at once and journal it.

        Every field is checked first (all or nothing): an invalid plan creates nothing and the
        result (ok False, status "failed") names each field and why. A dry run stores the plan
        as a "planned" run. The connector's refusal (an existing username…) leaves the store
        and the app unchanged, records a failed run and raises ProvisionRefused."""
        from engine.connectors.registry import make_connector
        from engine.sync.importer import connector_spec
        from engine.sync.pipeline import acquire_lock, release_lock

        target = self.target(app_id)
        plan = self.provision_plan(app_id, who, entitlement=entitlement)
        actor = actor or current_actor()
        result = ProvisionResult(plan, dry_run)
        pending_id = f"{app_id}:(new account for {plan.user})"

        def counts(created: int, refused: int = 0) -> dict[str, Any]:
            return {
                "provision": {
                    "app": app_id,
                    "fields": len(plan.fields),
                    "invalid": sum(1 for f in plan.fields if not f.ok),
                    "created": created,
                    "refused": refused,
                }
            }

        if dry_run or not plan.ok:
            status = "planned" if plan.ok else "failed"
            error = "" if plan.ok else invalid_plan_message(plan)
            with self.ctx.db.session() as session, session.begin():
                run_id = writer.start_provision_run(
                    session, actor=actor, dry_run=dry_run, status=status, counts=counts(0),
                    error=error,
                )  # fmt: skip
                writer.journal(session, run_id, writer.provision_journal(plan, pending_id), False)
            result.run_id, result.status, result.error = run_id, status, error
            return result

        acquire_lock(self.ctx.db, actor)  # a sync must not import the app while we write to it
        try:
            with self.ctx.db.session() as session, session.begin():
                run_id = writer.start_provision_run(
                    session, actor=actor, dry_run=False, status="running", counts=counts(0)
                )
                # recorded before the app is asked: a kill before the account is recorded
                # leaves a trace the next sync settles (engine/sync/recovery.py)
                (intent,) = writer.write_intents(
                    session, run_id, [writer.manual_creation_intent(plan, app_id)]
                )
            result.run_id = run_id
            try:
                connector = make_connector(connector_spec(target.app, target.base_dir))
                listed = connector.create_account(plan.values())
            except Exception as exc:  # noqa: BLE001 - a broken connector is a refusal, not a crash
                reason = (
                    exc.message
                    if isinstance(exc, ConnectorError)
                    else f"the connector failed unexpectedly: {exc!r}"
                )
                message = f"{app_id} refused to create the account for {plan.user}: {reason}"
                with self.ctx.db.session() as session, session.begin():
                    writer.end_provision_run(
                        session, run_id, "failed", message, counts(0, refused=1)
                    )
                    writer.journal(
                        session, run_id, writer.provision_journal(plan, pending_id), False
                    )
                    writer.settle_writes(session, run_id, [(intent, "refused", reason, "")])
                result.status, result.error = "failed", message
                problems = exc.problems if isinstance(exc, ConnectorError) else None
                raise ProvisionRefused(message, result, problems) from exc
            key = f"{app_id}:{listed.external_id}"
            try:
                with self.ctx.db.session() as session, session.begin():
                    writer.write_provisioned_account(
                        session, run_id, plan, listed, actor, counts(1)
                    )
                    writer.settle_writes(
                        session, run_id, [(intent, "sent", "", listed.external_id)]
                    )
            except Exception as exc:
                message = (
                    f"{key} was created in {app_id} but could not be recorded in the store "
                    f"({exc}); the next sync imports it and links it to its owner."
                )
                with self.ctx.db.session() as session, session.begin():
                    writer.end_provision_run(session, run_id, "failed", message)
                raise StoreError(message) from exc
            result.status, result.account = "applied", listed.external_id
        finally:
            release_lock(self.ctx.db)
            self.ctx.invalidate()
        return result


def _proactive(config: RosterConfig, app_id: str) -> RosterConfig:
    """CONFIG with APP's provisioning proactive (it must have provisioning)."""
    apps = []
    for app in config.apps:
        if app.id == app_id:
            if app.provisioning is None:
                raise NotFound(f"{app_id} has no provisioning mappings to create accounts from.")
            app = app.model_copy(
                update={"provisioning": app.provisioning.model_copy(update={"proactive": True})}
            )
        apps.append(app)
    return config.model_copy(update={"apps": apps})
