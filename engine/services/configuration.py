"""Configuration: export, validate and import (all or nothing), and the app rows it implies."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import ConfigInvalid, Problem
from engine.services.context import ServiceContext
from engine.store.models import App
from engine.store.repo import current_actor, save_config_document, set_meta

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
        from engine.config import dump_config, from_document

        return dump_config(from_document(self.ctx.config_document()))

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
        from engine.config import diff_configs, from_document, to_document

        result = self.validate_config(text, source=source, base_dir=base_dir)
        errors = [p for p in result.problems if p.severity == "error"]
        warnings = [p for p in result.problems if p.severity != "error"]
        if errors or result.config is None:
            raise ConfigInvalid(
                f"{source}: {len(errors)} problem{'s' if len(errors) != 1 else ''}; "
                "nothing was imported.",
                errors,
            )
        current = self.ctx.config_document()
        old = from_document(current) if len(current) > 1 else None
        changes = diff_configs(old, result.config)
        if dry_run:
            return ConfigImportResult(changes, warnings, applied=False)
        document = to_document(result.config)
        with self.ctx.db.session() as session, session.begin():
            sections = save_config_document(session, document, actor=actor or current_actor())
            _save_apps(session, document, base_dir)
            set_meta(session, "config_base_dir", str(base_dir.resolve()))
        self.ctx.invalidate()
        return ConfigImportResult(changes, warnings, applied=True, sections=sections)


def _save_apps(session: Any, document: dict[str, Any], base_dir: Path) -> None:
    """One App row per configured app, with what its connector can do (schemas, capabilities)."""
    from engine.connectors.base import ConnectorSpec
    from engine.connectors.registry import describe

    order = {d["app"]: i for i, d in enumerate(document.get("directories") or [])}
    for app in document.get("apps") or []:
        description = describe(
            ConnectorSpec(
                app["id"],
                app.get("connector", "file"),
                dict(app.get("settings") or {}),
                base_dir,
            )
        )
        row = session.get(App, app["id"]) or App(id=app["id"])
        row.name = app.get("name") or app["id"]
        row.connector = app.get("connector", "file")
        row.settings = dict(app.get("settings") or {})
        row.capabilities = description.capabilities.as_dict()
        row.account_fields = list(description.account_fields)
        row.push_schema = [f.as_dict() for f in description.push_schema]
        row.creation_schema = [f.as_dict() for f in description.creation_schema]
        row.is_directory = app["id"] in order
        row.directory_order = order.get(app["id"])
        row.ownership_strategy = (app.get("ownership") or {}).get("strategy") or "narrow"
        session.add(row)
