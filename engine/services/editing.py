"""Editing one configuration object: the one audited path every editor uses (issue 8 §1).

An edit names its object by an object path (`engine.config.paths`), is applied to a copy of the
stored document, and the WHOLE document is then validated exactly as `config import` validates a
file (same checks, same messages), each problem named by its object path. Any error refuses the
edit whole. A valid edit is saved in one transaction with one audit event (`config.edit`: who,
when, the path, before and after) and the App rows refreshed, as an import does.

Optimistic concurrency: `config_version()` is a token of the whole configuration and of its
last audited change; an edit made with `expected_version` from before someone else's change to
the same object (the object, something in it, or an edit above it that changed it) is refused
with ConfigConflict, naming who changed it and when. Changes to other objects do not refuse it:
the edit is applied to the configuration as it is now and validated whole, as always.

Data shown for an object (`config_get`, an edit's before/after, the audit) is its document data
as `config export` writes it: defaults that are noise are left out, and a path into a left-out
default (`directories.hr.enabled`, `apps.x.ownership.strategy`) reads the default.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import func, select
from sqlmodel import col

from engine.config.diff import ConfigChange, diff_configs
from engine.config.document import from_document, to_document
from engine.config.export import config_data, value_yaml, yaml_diff
from engine.config.issues import Issue
from engine.config.model import RosterConfig
from engine.config.paths import (
    apply,
    expand_aliases,
    get_value,
    index_to_object_path,
    is_text,
    is_within,
    join_path,
    plain,
    relative_parts,
    resolve,
    split_path,
    value_type,
)
from engine.config.validate import document_issues
from engine.config.yaml_positions import YamlSyntaxError, load_yaml
from engine.errors import ConfigConflict, ConfigInvalid, Problem, RosterError, SyncLocked
from engine.roles import NotPermitted, current_actor
from engine.services.configuration import removed_app_warnings, save_apps
from engine.services.context import ServiceContext
from engine.store.models import AuditEvent
from engine.store.repo import (
    config_base_dir,
    config_versions,
    load_config_document,
    lock_config,
    save_config,
    stable_hash,
)
from engine.sync.lock import refuse_while_applying
from engine.text import printable

if TYPE_CHECKING:
    from sqlmodel import Session

EditOp = Literal["set", "delete", "move", "enable", "disable"]


@dataclass(frozen=True)
class ConfigEdit:
    """One change to one object. `value` (set) is document data, what `yaml.safe_load` gives; a
    path naming a missing keyed item ADDS it (at the end, its key filled in from the path).
    `to_index` (move) is the item's new position in its list, 0 = first."""

    op: EditOp
    path: str
    value: Any = None
    to_index: int | None = None


@dataclass(frozen=True)
class EditResult:
    """What an edit did (or, with dry_run, would do).

    `before`/`after` are the object's data (None when it was added / deleted; for a move, the
    whole list). `changes` is the difference over the whole document. `warnings` are the warnings
    the edit brings (those the saved configuration already had are left out). `applied` is False
    for a dry run and for an edit that changes nothing (`changes` empty)."""

    path: str
    before: Any
    after: Any
    changes: list[ConfigChange]
    warnings: list[Problem]
    applied: bool
    version: str
    config: RosterConfig

    def diff(self) -> list[str]:
        """The before/after data as a short YAML diff (`-`/`+` lines)."""
        return yaml_diff(self.before, self.after)

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "before": self.before,
            "after": self.after,
            "changes": [change.as_dict() for change in self.changes],
            "warnings": [warning.as_dict() for warning in self.warnings],
            "applied": self.applied,
            "version": self.version,
        }


@dataclass(frozen=True)
class AuditEntry:
    """One audit event: a configuration edit or import, a link, a pin.

    `path` is the object path (config.edit), the section (config.import), or the account
    (`APP:EXTERNAL_ID`, link/pin). `before`/`after` are the data as saved then."""

    id: int
    at: datetime
    actor: str
    action: str
    path: str
    before: Any
    after: Any
    kind: str = field(default="config")

    def before_yaml(self) -> str:
        return "" if self.before is None else value_yaml(self.before)

    def after_yaml(self) -> str:
        return "" if self.after is None else value_yaml(self.after)

    def diff(self) -> list[str]:
        return yaml_diff(self.before, self.after)

    def when(self) -> str:
        return self.at.strftime("%Y-%m-%d %H:%M:%S UTC")

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "path": self.path,
            "before": self.before,
            "after": self.after,
        }


def object_view(config: RosterConfig, path: str) -> Any:
    """The object at PATH as `config export` writes it (a left-out default reads as the default).
    NotFound / InvalidInput, with the names that exist, when PATH names nothing."""
    try:
        return plain(get_value(plain(config_data(config)), path))
    except RosterError:
        pass
    return plain(get_value(to_document(config), path))


def _view_or_none(config: RosterConfig, path: str) -> Any:
    try:
        return object_view(config, path)
    except RosterError:
        return None


def _version(versions: dict[str, str]) -> str:
    return stable_hash(sorted(versions.items()))


#: How many times an edit is made again when other admins' saves keep overtaking it (each
#: round, one of the admins saving at once gets through)
EDIT_ATTEMPTS = 20


class _Overtaken(Exception):
    """The configuration changed between an edit's read and its write."""


def _token(session: Session) -> str:
    """The configuration's version: a digest of its content and the id of the last audited
    configuration event, so a stale edit can tell what happened since it was opened."""
    last = session.scalar(
        select(func.max(AuditEvent.id)).where(col(AuditEvent.object_kind) == "config")
    )
    return f"{_version(config_versions(session))}@{last or 0}"


def _stale(session: Session, expected: str, path: str) -> ConfigConflict | None:
    """The conflict when the configuration changed since EXPECTED in a way that concerns
    PATH (the object itself, something in it, or an edit above it that changed it); None when
    only other objects changed, so an edit is not refused for someone else's unrelated one."""
    _, _, since = expected.rpartition("@")
    if not since.isdigit():
        return _conflict(session, path)  # a version without its event id: be careful
    rows = session.scalars(
        select(AuditEvent)
        .where(col(AuditEvent.object_kind) == "config", col(AuditEvent.id) > int(since))
        .order_by(col(AuditEvent.id).desc())
    ).all()
    if not rows:
        return _conflict(session, path)  # changed without an audit event: be careful
    for row in rows:
        if _concerns(_entry(row), path):
            return _conflict(session, path, row)
    return None


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _unwrap(action: str, data: Any) -> Any:
    if action == "config.edit" and isinstance(data, dict) and set(data) == {"value"}:
        return data["value"]
    return data


def _section_view(section: str, body: Any) -> Any:
    """An imported section's stored data (every field) as `config export` writes it."""
    if body is None or section not in RosterConfig.model_fields:
        return body
    try:
        return plain(config_data(RosterConfig.model_validate({section: body}))[section])
    except Exception:  # noqa: BLE001 - an old or damaged body is shown as stored
        return body


def _entry(row: AuditEvent) -> AuditEntry:
    before = _unwrap(row.action, row.before)
    after = _unwrap(row.action, row.after)
    if row.action == "config.import":
        before = _section_view(row.object_name, before)
        after = _section_view(row.object_name, after)
    return AuditEntry(
        id=row.id or 0,
        at=_utc(row.at),
        actor=row.actor,
        action=row.action,
        path=row.object_name,
        before=before,
        after=after,
        kind=row.object_kind,
    )


class EditingService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self._saved_problem_keys: tuple[str, set[tuple[str, str]]] | None = None

    # ------------------------------------------------------------------ read

    def config(self) -> RosterConfig:
        return self.ctx.config()

    def config_version(self) -> str:
        with self.ctx.db.session() as session:
            return _token(session)

    def config_get(self, path: str) -> Any:
        return object_view(self.ctx.config(), path)

    # ------------------------------------------------------------------ edit

    def config_edit(
        self,
        edit: ConfigEdit,
        *,
        expected_version: str | None = None,
        dry_run: bool = False,
        actor: str | None = None,
    ) -> EditResult:
        # another admin's save between this edit's read and its write: the edit is made again
        # on what they saved (checked whole, and against `expected_version` as before)
        for attempt in range(EDIT_ATTEMPTS):
            try:
                return self._edit_once(
                    edit, expected_version, dry_run, actor, last=attempt == EDIT_ATTEMPTS - 1
                )
            except _Overtaken:
                continue
        raise AssertionError("the last attempt raises")  # pragma: no cover

    def _edit_once(
        self,
        edit: ConfigEdit,
        expected_version: str | None,
        dry_run: bool,
        actor: str | None,
        *,
        last: bool,
    ) -> EditResult:
        with self.ctx.db.session() as session:
            document = load_config_document(session)
            version = _token(session)
            base_dir = config_base_dir(session) or Path(".")
            if expected_version is not None and expected_version != version:
                conflict = _stale(session, expected_version, self._canonical(edit.path))
                if conflict is not None:
                    raise conflict
        saved = from_document(document)
        new_document, done = apply(
            to_document(saved), edit.op, edit.path, edit.value, edit.to_index
        )
        population = self.ctx.population_or_none()
        issues = document_issues(new_document, base_dir=base_dir, population=population)
        edited = (done.index_path, split_path(expand_aliases(done.after_path)))
        problems = [_problem(new_document, issue, edited) for issue in issues]
        errors = [p for p in problems if p.severity == "error"]
        where = printable(done.path, 200, one_line=True) if done.path else "the configuration"
        if errors:
            # one the saved configuration has already (a check added since it was saved) is
            # not the edit's: it would refuse every edit, the one fixing it among them, until
            # all of them were fixed in one go
            known = self._saved_problems(saved, version, base_dir, population, fresh=True)
            errors = [p for p in errors if (p.path, p.message) not in known]
        if errors:
            count = len(errors)
            raise ConfigInvalid(
                f"{where}: the edit has {count} problem{'s' if count != 1 else ''}; "
                "nothing was changed.",
                errors,
            )
        new_config = RosterConfig.model_validate(new_document)
        changes = diff_configs(saved, new_config)
        before = _view_or_none(saved, done.shown_path)
        # a deleted list item has no "after": the next item now sits at a numbered path
        after = None if done.removed else _view_or_none(new_config, done.after_path)
        warnings = self._new_warnings(
            [p for p in problems if p.severity != "error"], saved, version, base_dir, population
        )
        warnings += removed_app_warnings(self.ctx.db, saved, new_config)
        if dry_run or not changes:
            return EditResult(
                done.path, before, after, changes, warnings, False, version, new_config
            )
        who = actor or current_actor()
        self.ctx.require("admin", "changing the configuration", actor)
        with self.ctx.db.session() as session, session.begin():
            lock_config(session)  # first: the version below is then the latest
            refuse_while_applying(self.ctx.db, session, f"Changing {done.path}")
            if _token(session) != version:
                if last:
                    raise ConfigConflict(
                        f"{where}: other admins' saves kept changing the configuration while "
                        f"this edit was being saved ({EDIT_ATTEMPTS} tries); nothing was "
                        "changed. Try again."
                    )
                raise _Overtaken
            save_config(session, new_config, actor=who, audit=False)
            session.add(
                AuditEvent(
                    actor=who,
                    action="config.edit",
                    object_kind="config",
                    object_name=done.path,
                    # wrapped: SQLite's JSON columns would turn a bare number into a number
                    before={"value": before},
                    after={"value": after},
                )
            )
            save_apps(session, new_config, base_dir)
            session.flush()
            new_version = _token(session)
        self.ctx.invalidate()
        return EditResult(
            done.path, before, after, changes, warnings, True, new_version, new_config
        )

    def _new_warnings(
        self,
        warnings: list[Problem],
        saved: RosterConfig,
        version: str,
        base_dir: Path,
        population: Any,
    ) -> list[Problem]:
        """The warnings the edit brings: those of the saved configuration are left out."""
        if not warnings:
            return []
        known = self._saved_problems(saved, version, base_dir, population)
        return [w for w in warnings if (w.path, w.message) not in known]

    def _saved_problems(
        self,
        saved: RosterConfig,
        version: str,
        base_dir: Path,
        population: Any,
        *,
        fresh: bool = False,
    ) -> set[tuple[str, str]]:
        """(path, message) of each problem the saved configuration has (cached by version;
        `fresh`: found again, as errors that let an edit through are: the app files and the
        records they depend on change without the configuration)."""
        cached = self._saved_problem_keys
        if not fresh and cached is not None and cached[0] == version:
            return cached[1]
        document = to_document(saved)
        known = {
            (p.path, p.message)
            for p in (
                _problem(document, issue)
                for issue in document_issues(document, base_dir=base_dir, population=population)
            )
        }
        self._saved_problem_keys = (version, known)
        return known

    # ------------------------------------------------------------------ audit

    def audit(self, path: str | None = None, limit: int = 100) -> list[AuditEntry]:
        """Audit events, newest first. With PATH: the configuration events of that object,
        of anything under it, and of edits and imports above it that changed it."""
        if path is not None:
            split_path(path)  # a malformed path is refused before anything is read
            path = self._canonical(path)
        entries: list[AuditEntry] = []
        with self.ctx.db.session() as session:
            query = select(AuditEvent).order_by(col(AuditEvent.id).desc())
            if path is not None:
                query = query.where(col(AuditEvent.object_kind) == "config")
            for row in session.scalars(query.execution_options(yield_per=200)):
                entry = _entry(row)
                if path is None or _concerns(entry, path):
                    entries.append(entry)
                    if len(entries) >= limit:
                        break
        return entries

    def _canonical(self, path: str) -> str:
        """PATH as the edits recorded it (names are matched without regard to case, as
        `config get` matches them); a path to an object that no longer exists stays as given."""
        try:
            return resolve(to_document(self.ctx.config()), path).path
        except RosterError:
            return path

    def last_change(self, path: str) -> AuditEntry | None:
        found = self.audit(path, 1)
        return found[0] if found else None

    # ------------------------------------------------------------------ $EDITOR

    def edit_in_editor(
        self,
        path: str = "",
        *,
        launch: Callable[[Path], int] | None = None,
        expected_version: str | None = None,
        actor: str | None = None,
    ) -> EditResult | None:
        """Open the object at PATH (the whole configuration when empty) in the admin's editor
        (LAUNCH, by default $EDITOR / $VISUAL / vi), validate on save, and reopen it with the
        problems as `# ERROR:` lines until it is valid (the EditResult) or abandoned: left
        unchanged, emptied, or the editor quit with an error (None; nothing was changed).

        ConfigConflict when the configuration changed meanwhile; the admin's text is kept in
        a file the message names."""
        from engine.config.edit_file import (
            annotate,
            header,
            problem_lines,
            run_editor,
            strip_notes,
            text_problem_lines,
        )

        launch = launch or run_editor
        version = expected_version or self.config_version()
        # a text field (a CEL expression, a name) is edited as the text itself, not as YAML
        text_field = bool(path) and is_text(path)
        if text_field:
            current = self.config_get(path)
            body = (current if isinstance(current, str) else "") + "\n"
        elif path:
            body = value_yaml(self.config_get(path))
        else:
            from engine.config import dump_config

            body = dump_config(self.ctx.config())
        shown = header(path) + body
        handle, name = tempfile.mkstemp(prefix="roster-", suffix=".yaml")
        file = Path(name)
        keep = False
        # refused for a moment (a sync applying): the same text saved again is tried again,
        # not taken as abandoned (team review: the edit was lost after the sync ended)
        waiting = False
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(shown)
            written = _modified(file)
            while True:
                status = launch(file)
                saved = _modified(file) != written  # saved, even unchanged, or quit
                try:
                    raw = file.read_bytes()
                except OSError:
                    raw = b""
                # bytes that are not text are shown back to the admin, never saved as escapes
                text = raw.decode("utf-8", errors="replace").replace("\x00", "\ufffd")
                edited = strip_notes(text)
                # as it was, or as shown after a problem; after a refusal to wait out, the
                # same text saved again is tried again (quitting without saving abandons)
                again = edited == strip_notes(shown) and not (waiting and saved)
                unchanged = edited == body or again
                if status != 0 or not edited.strip() or unchanged:
                    return None
                waiting = False
                notes: list[tuple[int | None, str]] = _bad_bytes(raw, edited)
                if notes:
                    shown = annotate(edited, notes, path)
                    file.write_text(shown, encoding="utf-8")
                    written = _modified(file)
                    continue
                try:
                    if text_field:  # the editor's final newline is not part of the text
                        value: Any = edited[:-1] if edited.endswith("\n") else edited
                    else:
                        value = load_yaml(edited).data
                except YamlSyntaxError as exc:
                    problem = exc.problem
                    notes = [(problem.line, problem.message)]
                else:
                    try:
                        return self.config_edit(
                            ConfigEdit("set", path, value),
                            expected_version=version,
                            actor=actor,
                        )
                    except ConfigConflict as exc:
                        keep = True
                        raise ConfigConflict(
                            f"{exc.message} Your text is kept in {file}."
                        ) from None
                    except ConfigInvalid as exc:
                        if text_field:
                            notes = text_problem_lines(exc.problems, path)
                        else:
                            notes = problem_lines(edited, exc.problems, path)
                    except NotPermitted:
                        raise  # the editor cannot fix that: nothing is saved
                    except SyncLocked as exc:
                        waiting = True
                        notes = [
                            (
                                None,
                                f"{exc.message} When it is done, save this file again "
                                "(unchanged) to save your change; quit without saving to "
                                "change nothing.",
                            )
                        ]
                    except RosterError as exc:  # a path that no longer exists, a bad value
                        notes = [(None, exc.message)]
                shown = annotate(edited, notes, path)
                file.write_text(shown, encoding="utf-8")
                written = _modified(file)
        finally:
            if not keep:
                file.unlink(missing_ok=True)


def _modified(file: Path) -> int | None:
    """When FILE was last written (ns): an editor that saves writes it, one quit does not."""
    try:
        return file.stat().st_mtime_ns
    except OSError:
        return None


def _bad_bytes(raw: bytes, edited: str) -> list[tuple[int | None, str]]:
    """Lines of the edited text holding bytes that are not UTF-8 or a NUL (shown as U+FFFD)."""
    if b"\x00" not in raw:
        try:
            raw.decode("utf-8")
            return []
        except UnicodeDecodeError:
            pass
    return [
        (
            number,
            "this line held bytes that are not UTF-8 text or a NUL (shown as \ufffd); retype them",
        )  # fmt: skip
        for number, line in enumerate(edited.splitlines(), 1)
        if "\ufffd" in line
    ] or [(None, "the file held bytes that are not UTF-8 text or a NUL; retype them")]


def _problem(
    document: Any, issue: Issue, edited: tuple[tuple[str | int, ...], list[str]] | None = None
) -> Problem:
    """A validation issue named by its object path; CEL problems keep their line and column
    inside the expression. EDITED (the edited object's place in the document and its path)
    names problems inside it by the edit's path, even when the edit renamed or duplicated it."""
    line, column = issue.cel_position if issue.cel_position is not None else (None, None)
    path = "" if issue.unlocated else index_to_object_path(document, issue.path)
    if edited is not None and not issue.unlocated and edited[0]:
        index_path, parts = edited
        if tuple(issue.path[: len(index_path)]) == tuple(index_path):
            path = join_path([*parts, *split_path(path)[len(index_path) :]])
    return Problem(
        message=issue.message,
        path=path,
        line=line,
        column=column,
        hint=issue.hint,
        severity=issue.severity,
    )


def _conflict(session: Session, path: str, row: AuditEvent | None = None) -> ConfigConflict:
    if row is None:
        row = session.scalars(
            select(AuditEvent)
            .where(col(AuditEvent.object_kind) == "config")
            .order_by(col(AuditEvent.id).desc())
            .limit(1)
        ).first()
    who = row.actor if row is not None else "someone"
    when = _utc(row.at).strftime("%Y-%m-%d %H:%M:%S UTC") if row is not None else "a moment ago"
    # name what was changed (another object, often), and what the refused edit was about
    changed = (row.object_name if row is not None else "") or "the configuration"
    refused = f" (your edit of {path} was not saved)" if path and path != changed else ""
    return ConfigConflict(
        f"{changed} was changed by {who} at {when} since you opened it{refused}; reload to see it."
    )


def _concerns(entry: AuditEntry, path: str) -> bool:
    """Whether a configuration event is about PATH: the object itself, something under it, or an
    edit or import above it whose data at PATH differs before and after."""
    if entry.action not in ("config.edit", "config.import"):
        return False
    if is_within(entry.path, path):
        return True
    rest = relative_parts(path, entry.path)
    if rest is None:
        return False
    wrap = split_path(expand_aliases(entry.path))
    return bool(_value_below(entry.before, wrap, rest) != _value_below(entry.after, wrap, rest))


def _value_below(data: Any, wrap: list[str], rest: list[str]) -> Any:
    """The data at REST below an event's object (at WRAP), or None when it is not there."""
    if data is None:
        return None
    try:
        annotation, field_name = value_type(wrap)
        return get_value(data, join_path(rest), root=annotation, root_field=field_name)
    except RosterError:
        return None
