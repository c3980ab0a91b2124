"""Configuration: export, validate and import (all or nothing), and the app rows it implies."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.config.model import RosterConfig
from engine.config.paths import join_path
from engine.errors import ConfigInvalid, Problem
from engine.services.context import ServiceContext
from engine.store.models import App
from engine.store.repo import (
    config_base_dir,
    config_versions,
    current_actor,
    load_config,
    save_config,
    set_config_base_dir,
)
from engine.sync.lock import refuse_while_applying

if TYPE_CHECKING:
    from engine.config import ConfigChange, ValidationResult


@dataclass(frozen=True)
class ConfigImportResult:
    changes: list[ConfigChange]
    warnings: list[Problem]
    applied: bool
    sections: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": True,
            "applied": self.applied,
            "changes": [c.as_dict() for c in self.changes],
            "warnings": [w.as_dict() for w in self.warnings],
        }


class ConfigurationService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def export_config(self) -> str:
        from engine.config import dump_config

        return dump_config(self.ctx.config())

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
        with self.ctx.db.session() as session:
            old = load_config(session) if config_versions(session) else None  # None: first import
            old_base = config_base_dir(session)
        changes = diff_configs(old, result.config)
        if old is not None and old_base:
            changes += repointed_files(old, old_base, result.config, base_dir)
        if dry_run:
            return ConfigImportResult(changes, warnings, applied=False)
        with self.ctx.db.session() as session, session.begin():
            refuse_while_applying(self.ctx.db, session, f"Importing {source}")
            sections = save_config(session, result.config, actor=actor or current_actor())
            save_apps(session, result.config, base_dir)
            set_config_base_dir(session, base_dir)
        self.ctx.invalidate()
        return ConfigImportResult(changes, warnings, applied=True, sections=sections)


def _files(app: Any, base_dir: Path) -> dict[str, str]:
    from engine.connectors.registry import describe
    from engine.sync.importer import connector_spec

    try:
        return dict(describe(connector_spec(app, base_dir)).files)
    except Exception:  # noqa: BLE001 - a connector that cannot describe itself: validate says
        return {}


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
                        f"{join_path(['apps', app.id, 'settings', key])} (resolved)",
                        before[key],
                        after[key],
                    )
                )
    before_file, after_file = requests_path(old, old_base), requests_path(new, new_base)
    if before_file is not None and after_file is not None and before_file != after_file:
        changes.append(
            ConfigChange(
                "changed",
                "settings.access_requests (resolved)",
                str(before_file.absolute()),
                str(after_file.absolute()),
            )
        )
    return changes


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
