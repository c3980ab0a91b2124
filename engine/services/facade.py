"""The engine facade: what the console and the CLI can do, as blocking calls.

Screens call these from thread workers; the CLI calls them directly. Each call opens its own
session, so calls from several threads are safe. Every method hands over to the area that
owns it (records, previews, configuration, people and links, runs, push, provisioning,
dashboard); the areas share one ServiceContext (store, cached records, CEL engine).
"""

from __future__ import annotations

import functools
import shlex
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import EllipsisType
from typing import TYPE_CHECKING, Any

from engine.errors import StoreError
from engine.services.context import ServiceContext
from engine.store.db import Database, default_db_path, sqlite_url

if TYPE_CHECKING:
    # The areas are imported when first used (`Services.previews` …), so a command that
    # previews one expression never imports the sync pipeline or the connectors.
    from engine.cel import CelEngine, ContextSpec
    from engine.config import RosterConfig, ValidationResult
    from engine.preview import OnePreview, PopulationPreview
    from engine.provision import FieldCheck, FieldResult, ProvisionPlan, ProvisionResult
    from engine.records import AccountRecord, Population, UserRecord
    from engine.services.apps import AppTest
    from engine.services.attributes import AppFields, AttributesService
    from engine.services.care import CareList
    from engine.services.configuration import ConfigImportResult, ConfigurationService
    from engine.services.dashboard import Dashboard, DashboardService
    from engine.services.editing import AuditEntry, ConfigEdit, EditingService, EditResult
    from engine.services.impact import ImpactProgress, ImpactService, LinkImpact, ListKind
    from engine.services.people import Explanation, LinkResult, PeopleService, UserDetail
    from engine.services.previews import Completions, PreviewsService, SavedExpression
    from engine.services.provisioning import (
        ProvisioningApp,
        ProvisioningService,
        ProvisionQueue,
    )
    from engine.services.push import PushExecutionRow, PushPlan, PushRules, PushService
    from engine.services.push_editor import (
        MappingPreview,
        PushChoices,
        PushEditorService,
        TargetingImpact,
    )
    from engine.services.records import PersonRow, RecordRef, RecordsService
    from engine.services.runs import (
        ChangeRow,
        ExternalWriteRow,
        JournalObject,
        JournalReading,
        JournalStage,
        RunsService,
        RunSummary,
    )
    from engine.services.values import ValueImpact, ValuesService
    from engine.store.backup import Backup
    from engine.store.role_grants import Grant
    from engine.sync.matrix import MatchMatrix, MatrixListing
    from engine.sync.pipeline import SyncResult
    from engine.sync.simulate import IdentityImpact
    from engine.sync.state import StageReport
    from engine.sync.values import Reader


class Services:
    def __init__(self, db: Database, actor: str | None = None) -> None:
        """`actor`: who acts (tests; by default the process's OS user, engine.roles)."""
        self.ctx = ServiceContext(db)
        self._actor = actor
        self.ctx.guard = self.require

    # --- who acts, and what their role lets them do (engine.roles) ---------------------
    @property
    def actor(self) -> str:
        if self._actor is None:
            from engine.roles import current_actor

            self._actor = current_actor()
        return self._actor

    def role(self, actor: str | None = None) -> str | None:
        """The actor's role in this store (None: none). A store nobody holds a role in makes
        its first user admin (engine.store.role_grants.ensure_admin)."""
        from engine.store import role_grants

        who = actor or self.actor
        with self.db.session() as session:
            role = role_grants.role_of(session, who)
            if role is None and role_grants.ensure_admin(session, who):
                role = "admin"
            return role

    def require(self, needed: str, what: str, actor: str | None = None) -> None:
        """NotPermitted (nothing done) unless the actor's role may do what NEEDED may."""
        from engine.roles import NotPermitted, permits, refusal

        who = actor or self.actor
        role = self.role(who)
        if not permits(role, needed):
            raise NotPermitted(refusal(who, role, needed, what, self.store_option()))

    def store_option(self) -> str:
        """How a command names this store (`--db PATH`), for the commands messages suggest."""
        path = self.db.sqlite_path
        if path is not None:
            return f"--db {shlex.quote(str(path))}"
        return store_url_option(self.db)

    def role_grants(self) -> list[Grant]:
        from engine.store import role_grants

        self.require("viewer", "listing roles")
        with self.db.session() as session:
            return role_grants.grants(session)

    def grant_role(self, user: str, role: str) -> Grant:
        """Give USER the role ROLE, as the actor (an admin); audited."""
        from engine.store import role_grants

        self.require("admin", "granting roles")  # (its message names this store)
        with self.db.session() as session:
            return role_grants.grant(session, self.actor, user, role, self.store_option())

    def revoke_role(self, user: str) -> str:
        """Take USER's role away, as the actor (an admin); audited. The role they held."""
        from engine.store import role_grants

        self.require("admin", "revoking roles")
        with self.db.session() as session:
            return role_grants.revoke(session, self.actor, user, self.store_option())

    # --- the areas, each built (and its module imported) on first use --------------------
    @functools.cached_property
    def records(self) -> RecordsService:
        from engine.services.records import RecordsService

        return RecordsService(self.ctx)

    @functools.cached_property
    def configuration(self) -> ConfigurationService:
        from engine.services.configuration import ConfigurationService

        return ConfigurationService(self.ctx)

    @functools.cached_property
    def editing(self) -> EditingService:
        from engine.services.editing import EditingService

        return EditingService(self.ctx)

    @functools.cached_property
    def impact(self) -> ImpactService:
        from engine.services.impact import ImpactService

        return ImpactService(self.ctx)

    @functools.cached_property
    def values(self) -> ValuesService:
        from engine.services.values import ValuesService

        return ValuesService(self.ctx, self.records)

    @functools.cached_property
    def previews(self) -> PreviewsService:
        from engine.services.previews import PreviewsService

        # editing and impact only for a comparison's identity impact: built when asked
        return PreviewsService(self.ctx, self.records, lambda: self.editing, lambda: self.impact)

    @functools.cached_property
    def people(self) -> PeopleService:
        from engine.services.people import PeopleService

        return PeopleService(self.ctx, self.records)

    @functools.cached_property
    def run_history(self) -> RunsService:
        from engine.services.runs import RunsService

        return RunsService(self.ctx)

    @functools.cached_property
    def push(self) -> PushService:
        from engine.services.push import PushService

        return PushService(self.ctx)

    @functools.cached_property
    def push_editor(self) -> PushEditorService:
        from engine.services.push_editor import PushEditorService

        return PushEditorService(self.ctx)

    @functools.cached_property
    def provisioning(self) -> ProvisioningService:
        from engine.services.provisioning import ProvisioningService

        return ProvisioningService(self.ctx, self.records)

    @functools.cached_property
    def overview(self) -> DashboardService:
        from engine.services.dashboard import DashboardService

        return DashboardService(self.ctx, self.run_history)

    @functools.cached_property
    def attribute_fields(self) -> AttributesService:
        from engine.services.attributes import AttributesService

        return AttributesService(self.ctx)

    # --- shared state ------------------------------------------------------------------
    @property
    def db(self) -> Database:
        return self.ctx.db

    def population(self) -> Population:
        return self.ctx.population()

    def cel(self) -> CelEngine:
        return self.ctx.cel()

    def invalidate(self) -> None:
        """Forget cached records after the store changed (a sync, an import, a link)."""
        self.ctx.invalidate()

    def backup(self, target: Path) -> Backup:
        """A checked copy of a SQLite store at TARGET, consistent while others use the store
        (engine.store.backup); a PostgreSQL store is backed up by PostgreSQL's own tools."""
        from engine.store.backup import backup_sqlite

        path = self.db.sqlite_path
        if path is None:
            raise StoreError(
                "A PostgreSQL store is backed up with PostgreSQL's own tools: `pg_dump -Fc "
                "DATABASE > roster.dump`, restored with `pg_restore` (docs/recovery.md)."
            )
        return backup_sqlite(path, target, self.db.display_url)

    # --- dashboard ---------------------------------------------------------------------
    def dashboard(self, *, with_care: bool = True) -> Dashboard:
        """The counts, apps, runs and warnings; `with_care=False` leaves out the care lists
        (which read everyone) for `care()` to answer afterwards."""
        return self.overview.dashboard(with_care=with_care)

    def care(self, stop: Callable[[], bool] | None = None) -> tuple[list[CareList], list[str]]:
        return self.overview.care(stop)

    # --- runs and history --------------------------------------------------------------
    def sync_stages(self) -> tuple[str, ...]:
        return self.run_history.stages()

    def sync(
        self,
        *,
        dry_run: bool = False,
        allow_deletes: bool = False,
        progress: Callable[[str, int, int], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
        expect_plan: str | None = None,
        plan_run: int | None = None,
        stage_done: Callable[[StageReport], None] | None = None,
    ) -> SyncResult:
        """A sync run; `expect_plan` (a dry run's `plan`) applies only if what that plan was
        computed from is unchanged (else status plan-changed, nothing applied); `plan_run`:
        that dry run's id, which the applied run's history names; `stage_done`: each stage's
        report as soon as it is planned (called from the run's thread)."""
        self.require("operator", "planning a sync" if dry_run else "running a sync")
        return self.run_history.sync(
            dry_run=dry_run,
            allow_deletes=allow_deletes,
            progress=progress,
            cancelled=cancelled,
            expect_plan=expect_plan,
            plan_run=plan_run,
            actor=self.actor,
            stage_done=stage_done,
        )

    def store_changed_elsewhere(self) -> bool:
        """Whether the store changed since the last call (a run ended, a decision or the
        configuration was saved, by this process or another); the caches are dropped if so."""
        return self.ctx.changed_since_last_look()

    def sync_running(self) -> bool:
        """Whether a sync holds the store's lock now (this process's or another's)."""
        from engine.sync.lock import sync_lock_held

        return sync_lock_held(self.db)

    def runs(self, limit: int | None = 20, *, applied_only: bool = False) -> list[RunSummary]:
        return self.run_history.runs(limit, applied_only=applied_only)

    def run_changes(
        self, run_id: int, limit: int | None = None
    ) -> tuple[RunSummary, list[ChangeRow]]:
        return self.run_history.run_changes(run_id, limit)

    def run_summary(self, run_id: int) -> RunSummary:
        return self.run_history.run_summary(run_id)

    def each_run_change(self, run_id: int, limit: int | None = None) -> Iterator[ChangeRow]:
        return self.run_history.each_run_change(run_id, limit)

    def count_run_changes(self, run_id: int) -> int:
        return self.run_history.count_run_changes(run_id)

    def journal_stages(self, run_id: int) -> tuple[RunSummary, list[JournalStage]]:
        return self.run_history.journal_stages(run_id)

    def journal_objects(
        self, run_id: int, reading: JournalReading, count: int
    ) -> list[JournalObject]:
        return self.run_history.journal_objects(run_id, reading, count)

    def external_writes(self, run_id: int) -> list[ExternalWriteRow]:
        return self.run_history.external_writes(run_id)

    # --- records and search ------------------------------------------------------------
    def find_records(
        self, kind: str, query: str = "", limit: int = 50, app_id: str | None = None
    ) -> list[RecordRef]:
        return self.records.find_records(kind, query, limit, app_id)

    def first_record(self, context: str) -> RecordRef | None:
        return self.previews.first_record(context)

    def find_people(self, query: str = "", limit: int = 50) -> list[PersonRow]:
        return self.records.find_people(query, limit)

    def count_people(self, query: str = "") -> int:
        return self.records.count_people(query)

    def record(self, ref: RecordRef) -> UserRecord | AccountRecord:
        return self.records.record(ref)

    def user_by_email(self, email: str) -> UserRecord:
        return self.records.user_by_email(email)

    def person(self, who: str | int) -> UserRecord:
        return self.records.person(who)

    def account_by_key(self, key: str) -> AccountRecord:
        return self.records.account_by_key(key)

    def label(self, record: UserRecord | AccountRecord) -> str:
        return self.records.label(record)

    # --- previews ----------------------------------------------------------------------
    def contexts(self) -> dict[str, ContextSpec]:
        return self.previews.contexts()

    def preview_one(
        self, context: str, text: str, ref: RecordRef | UserRecord | AccountRecord | None
    ) -> OnePreview:
        return self.previews.preview_one(context, text, ref)

    def records_in_scope(
        self, context: str, app_id: str | None = None
    ) -> list[UserRecord] | list[AccountRecord]:
        return self.previews.records_in_scope(context, app_id)

    def saved_expression(self, path: str) -> SavedExpression:
        return self.previews.saved_expression(path)

    def preview_all(
        self,
        context: str,
        text: str,
        *,
        app_id: str | None = None,
        compare_to: str | None = None,
        against: str | None = None,
        progress: Callable[[int, int], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
        impact: bool = False,
    ) -> PopulationPreview:
        return self.previews.preview_all(
            context,
            text,
            app_id=app_id,
            compare_to=compare_to,
            against=against,
            progress=progress,
            cancelled=cancelled,
            impact=impact,
        )

    def completions(self, context: str, app_id: str | None = None) -> Completions:
        return self.previews.completions(context, app_id)

    # --- impact and the match matrix -------------------------------------------------
    def identity_impact(
        self,
        edited: RosterConfig,
        *,
        progress: ImpactProgress | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> IdentityImpact:
        return self.impact.identity_impact(edited, progress=progress, cancelled=cancelled)

    def stored_decision_counts(self, config: RosterConfig) -> dict[str, dict[str, int]]:
        """The decisions the store holds for CONFIG's directories, as the last syncs left
        them (they can lag today's: `decision_counts`)."""
        return self.impact.stored_decision_counts(config)

    def decision_counts(
        self, config: RosterConfig, *, cancelled: Callable[[], bool] | None = None
    ) -> dict[str, dict[str, int]]:
        """What CONFIG's filters decide for each directory's living accounts today (the
        filters alone when they read only their accounts: seconds at 100,000 people).
        Cancelled: raises Stopped."""
        return self.impact.decision_counts(config, cancelled=cancelled)

    def stored_value_counts(self) -> dict[str, int]:
        """Per attribute, how many living people have a value as the last sync stored them."""
        return self.values.stored_value_counts()

    def attribute_readers(self, name: str) -> dict[str, Reader]:
        """The saved attributes that read the attribute NAME (directly, or through others:
        `Reader.through`): what removing or changing it changes too."""
        return self.values.attribute_readers(name)

    def value_impact(
        self,
        edited: RosterConfig | None = None,
        *,
        attributes: list[str] | None = None,
        person: str | int | None = None,
        progress: Callable[[str, int, int], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
        push: bool = True,
        renamed: Mapping[str, str] | None = None,
    ) -> ValueImpact:
        """What EDITED does to people's attribute values and to what push rules write, against
        the saved configuration, over the stored records (no sync). Without EDITED: the saved
        configuration's values, counts and failing sources. `attributes` limits (and names) the
        attributes reported, by default those the edit changes; `person` adds that person's
        old and new value of each; `push=False` leaves the push rules out (`push` is empty:
        planning them was a sixth of the Attributes screen's count at 100,000 people).
        `renamed` (edited name -> saved name): push rules the edit renames, compared with the
        rule they were. Cancelled: a ValueImpact with `cancelled=True`."""
        return self.values.value_impact(
            edited,
            attributes=attributes,
            person=person,
            progress=progress,
            cancelled=cancelled,
            push=push,
            renamed=renamed,
        )

    def merge_matrix(
        self, app: str | None = None, *, config: RosterConfig | None = None
    ) -> MatchMatrix:
        return self.impact.merge_matrix(app, config=config)

    def matrix_accounts(
        self,
        kind: ListKind,
        app: str | None = None,
        *,
        rule: str | None = None,
        config: RosterConfig | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> MatrixListing:
        return self.impact.matrix_accounts(
            kind, app, rule=rule, config=config, offset=offset, limit=limit
        )

    # --- configuration -----------------------------------------------------------------
    def export_config(self, to_dir: Path | None = None) -> str:
        """The configuration as YAML, its relative file paths written from TO_DIR (the folder
        the export goes to; None: as stored, from the folder it was imported from)."""
        return self.configuration.export_config(to_dir)

    def validate_config(self, text: str, *, source: str, base_dir: Path) -> ValidationResult:
        return self.configuration.validate_config(text, source=source, base_dir=base_dir)

    def import_config(
        self,
        text: str,
        *,
        source: str,
        base_dir: Path,
        dry_run: bool = False,
        actor: str | None = None,
        allow_missing_files: bool = False,
    ) -> ConfigImportResult:
        if not dry_run:
            self.require("admin", "importing a configuration", actor)
        return self.configuration.import_config(
            text,
            source=source,
            base_dir=base_dir,
            dry_run=dry_run,
            actor=actor or self.actor,
            allow_missing_files=allow_missing_files,
        )

    # --- editing one object (object paths, README.md) and the audit ----------------------
    def config(self) -> RosterConfig:
        """The saved configuration, typed."""
        return self.editing.config()

    def config_version(self) -> str:
        """An opaque token of the whole configuration (pass it back as `expected_version`)."""
        return self.editing.config_version()

    def config_get(self, path: str) -> Any:
        """The object at PATH as `config export` writes it; NotFound / InvalidInput name the
        objects that exist."""
        return self.editing.config_get(path)

    def config_edit(
        self,
        edit: ConfigEdit,
        *,
        expected_version: str | None = None,
        dry_run: bool = False,
        actor: str | None = None,
    ) -> EditResult:
        """Apply EDIT, validated as an import is, in one audited transaction. ConfigInvalid
        (problems named by object path) or ConfigConflict (the configuration moved on)."""
        if not dry_run:
            self.require("admin", "changing the configuration", actor)
        return self.editing.config_edit(
            edit, expected_version=expected_version, dry_run=dry_run, actor=actor or self.actor
        )

    def audit(self, path: str | None = None, limit: int = 100) -> list[AuditEntry]:
        """Audit events, newest first; with PATH, those about that object (see EditingService)."""
        return self.editing.audit(path, limit)

    def last_change(self, path: str) -> AuditEntry | None:
        return self.editing.last_change(path)

    def edit_in_editor(
        self,
        path: str = "",
        *,
        launch: Callable[[Path], int] | None = None,
        expected_version: str | None = None,
        actor: str | None = None,
    ) -> EditResult | None:
        """The $EDITOR round trip on the object at PATH ("" = the whole configuration); None
        when the admin abandoned it (nothing was changed)."""
        self.require("admin", "changing the configuration", actor)
        return self.editing.edit_in_editor(
            path, launch=launch, expected_version=expected_version, actor=actor or self.actor
        )

    def init_store(self, mode: str, ldap: dict[str, Any] | None = None) -> SyncResult | None:
        """`empty`: an empty store. `sample`: the demo organisation, imported and synced;
        with `ldap` (connector settings), its AD app reads that directory instead of its file."""
        from engine.setup import copy_demo_files, demo_folder_for, point_demo_at_ldap
        from engine.store.role_grants import ensure_admin

        self.db.migrate()
        with self.db.session() as session:  # whoever creates the store is its admin
            ensure_admin(session, self.actor)
        if mode == "empty":
            return None
        folder = copy_demo_files(demo_folder_for(self.db))
        if ldap:
            point_demo_at_ldap(folder, ldap)
        config_file = folder / "roster.yaml"
        self.import_config(
            config_file.read_text(encoding="utf-8"), source=str(config_file), base_dir=folder
        )
        return self.sync()

    # --- people and links --------------------------------------------------------------
    def explain(self, who: str | int, attribute: str) -> Explanation:
        return self.people.explain(who, attribute)

    def user_detail(self, user_id: int) -> UserDetail:
        return self.people.user_detail(user_id)

    def set_link(
        self,
        account_key: str,
        who: str | int | None,
        *,
        pin: bool = True,
        actor: str | None = None,
        seen_owner: int | None | EllipsisType = ...,
    ) -> LinkResult:
        """`seen_owner`: the account's owner as the admin saw it (refused if it changed since)."""
        self.require("admin", "linking or unlinking an account", actor)
        return self.people.set_link(
            account_key, who, pin=pin, actor=actor or self.actor, seen_owner=seen_owner
        )

    def pin(
        self,
        account_key: str,
        pinned: bool = True,
        actor: str | None = None,
        seen_owner: int | None | EllipsisType = ...,
    ) -> LinkResult:
        self.require("admin", "pinning an account" if pinned else "unpinning an account", actor)
        return self.people.pin(account_key, pinned, actor or self.actor, seen_owner)

    def link_impact(
        self, account_key: str, who: str | int | None, *, pin: bool = True
    ) -> LinkImpact:
        """What `set_link(account_key, who, pin=pin)` would change beyond that account, as the
        next sync decides: other accounts re-linked or unlinked, people created or removed,
        and the attribute values of the people involved. Nothing is written."""
        account = self.records.account_by_key(account_key)
        user = self.records.person(who) if who is not None else None
        return self.impact.link_impact(
            f"{account.app_id}:{account.external_id}", user.id if user else None, pin=pin
        )

    def unpin_impact(self, account_key: str) -> LinkImpact:
        """What `pin(account_key, False)` would change at the next sync: whom the rules give
        the account to (`after`; None: nobody) and what else moves with it. Nothing is
        written."""
        account = self.records.account_by_key(account_key)
        return self.impact.link_impact(
            f"{account.app_id}:{account.external_id}", account.owner_id, pin=False, release=True
        )

    # --- push --------------------------------------------------------------------------
    def push_rules(self) -> PushRules:
        return self.push.push_rules()

    def push_plan(self, rule: str | None = None, *, config: RosterConfig | None = None) -> PushPlan:
        """CONFIG: plan with an edited configuration (an editor's rule before saving)."""
        return self.push.push_plan(rule, config=config)

    def count_push_executions(self, rule: str) -> tuple[int, int]:
        """RULE's executions, and how many failed (push_history lists the latest only)."""
        return self.push.count_executions(rule)

    def push_history(
        self, limit: int = 200, rule: str | None = None, run_id: int | None = None
    ) -> list[PushExecutionRow]:
        return self.push.push_history(limit, rule, run_id)

    def push_choices(self) -> PushChoices:
        """What a push rule can name: target apps and their push schemas, entitlements,
        attributes."""
        return self.push_editor.push_choices()

    def push_targeting(
        self,
        edited: RosterConfig,
        rule: str,
        *,
        saved_rule: str | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> TargetingImpact:
        """Who RULE of EDITED targets, and who enters and leaves against SAVED_RULE."""
        return self.push_editor.push_targeting(
            edited, rule, saved_rule=saved_rule, cancelled=cancelled
        )

    def readers_of_field(
        self, app_id: str, target: str, config: RosterConfig | None = None
    ) -> list[str]:
        """The rules and sources (object paths) that read a field named TARGET: a push into
        it changes what they find."""
        return self.push_editor.readers_of_field(app_id, target, config)

    def push_mapping_preview(
        self,
        app_id: str,
        target: str,
        who: str | int | UserRecord,
        *,
        attribute: str | None = None,
        cel: str | None = None,
        config: RosterConfig | None = None,
    ) -> MappingPreview:
        """One mapping's value for one person, shaped and checked against the push schema."""
        return self.push_editor.push_mapping_preview(
            app_id, target, who, attribute=attribute, cel=cel, config=config
        )

    # --- provisioning ------------------------------------------------------------------
    def provision_queue(self, *, as_if_proactive: str | None = None) -> ProvisionQueue:
        return self.provisioning.provision_queue(as_if_proactive=as_if_proactive)

    def provisioning_apps(self) -> list[ProvisioningApp]:
        return self.provisioning.provisioning_apps()

    def provision_plan(
        self, app_id: str, who: str | int, *, entitlement: dict[str, Any] | None = None
    ) -> ProvisionPlan:
        return self.provisioning.provision_plan(app_id, who, entitlement=entitlement)

    def provision_test(
        self,
        app_id: str,
        field_key: str,
        who: str | int,
        *,
        text: str | None = None,
        entitlement: dict[str, Any] | None = None,
    ) -> FieldResult:
        return self.provisioning.provision_test(
            app_id, field_key, who, text=text, entitlement=entitlement
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
        """One creation field (or a draft of it) over everyone: counts of ok / empty /
        invalid / error with samples; cancellable, with progress."""
        return self.provisioning.provision_check(
            app_id, field_key, text, progress=progress, cancelled=cancelled
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
        if dry_run:  # recorded as a run, as a sync's plan is
            self.require("operator", "planning an account's creation", actor)
        else:
            self.require("admin", "creating an account by hand", actor)
        return self.provisioning.provision(
            app_id, who, dry_run=dry_run, entitlement=entitlement, actor=actor or self.actor
        )

    # --- attributes ----------------------------------------------------------------------
    def app_fields(self, app_id: str) -> AppFields:
        """The fields APP's stored accounts have (account fields, then `profile.<key>`), each
        with how many accounts hold a value and a few samples: what a direct source can read."""
        return self.attribute_fields.app_fields(app_id)

    # --- apps: testing a connection ----------------------------------------------------
    def app_test(self, app_id: str) -> AppTest:
        """Connect to an app with its saved settings and read a few accounts (nothing is
        written); a failure is the result's message. Blocks up to the app's timeout."""
        from engine.services.apps import AppsService

        self.require("operator", "testing an app's connection")

        return AppsService(self.ctx).app_test(app_id)


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
    # someone with no role does not see the store's data (engine.roles)
    services.require("viewer", "opening this store")
    return services


def store_url_option(db: Database) -> str:
    """`--database-url …` for a command to copy: the URL with its password is never shown, and
    one with `***` in its place fails to sign in when pasted (a newcomer's review); a URL with
    a password is named by the variable that usually holds it."""
    from sqlalchemy.engine import make_url

    if make_url(db.url).password:
        return '--database-url "$ROSTER_DATABASE_URL"'
    return f"--database-url {shlex.quote(db.display_url)}"
