"""Configuration: export, validate and import (all or nothing), and the app rows it implies."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func
from sqlmodel import col, select

from engine.config.model import RosterConfig
from engine.config.paths import join_path
from engine.errors import ConfigInvalid, Problem, RosterError
from engine.roles import current_actor
from engine.services.context import ServiceContext
from engine.store.models import Account, App, AuditEvent
from engine.store.repo import (
    config_base_dir,
    config_versions,
    load_config,
    lock_config,
    save_config,
    set_config_base_dir,
)
from engine.sync.lock import refuse_while_applying

if TYPE_CHECKING:
    from engine.config import ConfigChange, ValidationResult
    from engine.store.db import Database


@dataclass(frozen=True)
class ConfigImportResult:
    changes: list[ConfigChange]
    warnings: list[Problem]
    applied: bool
    sections: list[str] = field(default_factory=list)
    # a dry run's: why the import itself would be refused ("" when it would not)
    refused: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": not self.refused,
            "applied": self.applied,
            "refused": self.refused or None,
            "changes": [c.as_dict() for c in self.changes],
            "warnings": [w.as_dict() for w in self.warnings],
        }


class ConfigurationService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def export_config(self, to_dir: Path | None = None) -> str:
        """The configuration as YAML. TO_DIR: the folder the export is written to. Relative
        file paths are read from the folder of the file imported, so an export written
        elsewhere names the same files relative to its own folder: exported to /tmp and
        imported back unchanged, `apps/hr.yaml` pointed every app at /tmp/apps (newcomer
        review)."""
        from engine.config import dump_config

        config = self.ctx.config()
        if to_dir is not None:
            with self.ctx.db.session() as session:
                base = config_base_dir(session)
            if base is not None and base.resolve() != to_dir.resolve():
                config = repoint_files(config, base, to_dir)
        return dump_config(config)

    def validate_config(self, text: str, *, source: str, base_dir: Path) -> ValidationResult:
        """Every problem of TEXT, and the typed configuration when it is valid."""
        from engine.config import validate_text

        return validate_text(
            text, source=source, base_dir=base_dir, population=self.ctx.population_or_none()
        )

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
        """Validate, then replace the configuration in one transaction (all or nothing). An
        import that would point apps from files that exist at files that do not is refused
        unless `allow_missing_files` (see `_lost_files`)."""
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
        with self.ctx.db.session() as session:
            old = load_config(session) if config_versions(session) else None  # None: first import
            old_base = config_base_dir(session)
        changes = diff_configs(old, result.config)
        lost = ""
        warnings += removed_app_warnings(self.ctx.db, old, result.config)
        if old is not None and old_base:
            changes += repointed_files(old, old_base, result.config, base_dir)
            lost = "" if allow_missing_files else _lost_files(source, changes, old_base, base_dir)
            if lost and not dry_run:
                raise RosterError(f"{lost} Nothing was imported.")
        if dry_run:  # the differences, and whether the import itself would be refused
            return ConfigImportResult(changes, warnings, applied=False, refused=lost)
        repointed = [c for c in changes if c.path.endswith(RESOLVED)]
        with self.ctx.db.session() as session, session.begin():
            lock_config(session)  # not interleaved with an edit's check and save
            refuse_while_applying(self.ctx.db, session, f"Importing {source}")
            sections = save_config(session, result.config, actor=actor or current_actor())
            save_apps(session, result.config, base_dir)
            set_config_base_dir(session, base_dir)
            if repointed:
                # the same text read from another folder names other files: audited as the
                # change it is (an unchanged text left no trace while every app moved)
                session.add(
                    AuditEvent(
                        actor=actor or current_actor(),
                        action="config.import",
                        object_kind="config",
                        object_name="apps",
                        before={c.path: c.before for c in repointed},
                        after={c.path: c.after for c in repointed},
                    )
                )
        self.ctx.invalidate()
        return ConfigImportResult(changes, warnings, applied=True, sections=sections)


def _lost_files(source: str, changes: list[ConfigChange], old_base: Path, base_dir: Path) -> str:
    """Why to refuse an import that points apps from files that exist at files that do not: the
    configuration exported to standard output and imported from another folder (its relative
    paths then start from there) made every app's import fail at the next sync, the import
    itself saying "Imported" (day-two review)."""
    lost = [
        change
        for change in changes
        if change.path.endswith(RESOLVED)
        and Path(str(change.before)).exists()
        and not Path(str(change.after)).exists()
    ]
    if not lost:
        return ""
    shown = "; ".join(
        f"{change.path.removesuffix(RESOLVED)}: {change.before} → {change.after} (missing)"
        for change in lost[:3]
    ) + (f"; and {len(lost) - 3} more" if len(lost) > 3 else "")
    return (
        f"{source}: the import would point {len(lost)} file setting"
        f"{'s' if len(lost) != 1 else ''} from files that exist at files that do not: {shown}. "
        f"Relative paths start from the imported file's folder ({base_dir.absolute()}); the "
        "saved ones "
        f"start from {old_base}. Import the file from that folder, or export with `roster "
        "config export FILE` (which writes the paths from FILE's folder); if the files really "
        "moved, import with --allow-missing-files."
    )


def _files(app: Any, base_dir: Path) -> dict[str, str]:
    from engine.connectors.registry import describe
    from engine.sync.importer import connector_spec

    try:
        return dict(describe(connector_spec(app, base_dir)).files)
    except Exception:  # noqa: BLE001 - a connector that cannot describe itself: validate says
        return {}


#: After the path of a file setting whose absolute file changes (its text may not).
RESOLVED = " (resolved)"


def repoint_files(config: RosterConfig, base: Path, to_dir: Path) -> RosterConfig:
    """CONFIG with its relative file settings (the apps' files, the access requests) written
    relative to TO_DIR, naming the files they name from BASE."""
    import os

    from engine.sync.provisioning import requests_path

    def moved(name: str, resolved: Path) -> str:
        if Path(name).is_absolute():
            return name
        # from the folder as the system reaches it: `..` out of a symlinked folder leads
        # from where it points (an export into one named files that did not exist)
        return os.path.relpath(os.path.realpath(resolved), os.path.realpath(to_dir))

    apps = []
    for app in config.apps:
        settings = dict(app.settings)
        for key, resolved in _files(app, base).items():
            if isinstance(settings.get(key), str):
                settings[key] = moved(settings[key], Path(resolved))
        apps.append(app.model_copy(update={"settings": settings}))
    update: dict[str, Any] = {"apps": apps}
    requests = requests_path(config, base)
    if requests is not None and config.settings.access_requests:
        update["settings"] = config.settings.model_copy(
            update={"access_requests": moved(config.settings.access_requests, requests)}
        )
    return config.model_copy(update=update)


def repointed_files(
    old: RosterConfig, old_base: Path, new: RosterConfig, new_base: Path
) -> list[ConfigChange]:
    """Apps whose files resolve elsewhere after an import from another folder: relative paths
    follow the configuration file's folder, so the same `path: apps/hr.yaml` can name another
    file. One change per file, old -> new absolute path."""
    from engine.config import ConfigChange
    from engine.sync.provisioning import requests_path

    changes: list[ConfigChange] = []
    for app in new.apps:
        before_app = old.app(app.id)
        if before_app is None:
            continue  # a new app: the diff shows it whole
        before, after = _files(before_app, old_base), _files(app, new_base)
        for key in after:
            if key in before and before[key] != after[key]:
                changes.append(
                    ConfigChange(
                        "changed",
                        join_path(["apps", app.id, "settings", key]) + RESOLVED,
                        before[key],
                        after[key],
                    )
                )
    before_file, after_file = requests_path(old, old_base), requests_path(new, new_base)
    if before_file is not None and after_file is not None:
        # one file named two ways (`apps/x.yaml` from one folder, `../r/apps/x.yaml` from
        # another) is the same file
        before_file, after_file = before_file.resolve(), after_file.resolve()
    if before_file is not None and after_file is not None and before_file != after_file:
        changes.append(
            ConfigChange(
                "changed",
                "settings.access_requests" + RESOLVED,
                str(before_file.absolute()),
                str(after_file.absolute()),
            )
        )
    return changes


def removed_app_warnings(
    db: Database, saved: RosterConfig | None, new: RosterConfig
) -> list[Problem]:
    """What removing apps (an edit, an import) does to their accounts, said before it is
    saved: one warning per removed app the store holds live accounts of."""
    removed = {app.id for app in saved.apps} - {app.id for app in new.apps} if saved else set()
    if not removed:
        return []
    with db.session() as session:
        counts = dict(
            session.execute(
                select(col(Account.app_id), func.count())
                .where(col(Account.app_id).in_(removed), col(Account.status) != "DELETED")
                .group_by(col(Account.app_id))
            ).all()
        )
    return [
        Problem(
            f"the store holds {counts[app_id]:,} of its accounts: the next sync marks them "
            "DELETED (they stay in the history; a share over the deletion threshold waits "
            "for --allow-deletes)",
            path=join_path(["apps", app_id]),
            hint="add the app back before the next sync to keep them",
            severity="warning",
        )
        for app_id in sorted(removed)
        if counts.get(app_id)
    ]


def save_apps(session: Any, config: RosterConfig, base_dir: Path) -> None:
    """One App row per configured app, with what its connector can do (schemas, capabilities).
    An import and an object edit both call this inside their transaction."""
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
    # an app removed from the configuration keeps its row while the store holds its accounts
    # (the next sync marks them DELETED): it creates, pushes and alerts no more
    configured = {app.id for app in config.apps}
    for row in session.scalars(select(App)):
        if row.id not in configured:
            row.capabilities, row.push_schema, row.creation_schema = {}, [], []
            row.is_directory, row.directory_order = False, None
            # no alert for an app that is gone; added back, it reads as last imported
            row.last_import_status = "ok" if row.last_import_at is not None else ""
            session.add(row)
