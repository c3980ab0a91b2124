"""`roster config get|set|delete|move|enable|disable|edit` and `roster audit`: one configuration
object at a time, through the same audited edit path as the console's editors (README.md)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from console.cli import (
    Number,
    _emit,
    _guard,
    _services,
    _store_options,
    config,
    echo,
    echo_line,
    main,
    print_identity_impact,
)
from engine.errors import ConfigInvalid, Problem
from engine.text import clip, literal_text

if TYPE_CHECKING:
    from engine.services import EditResult, IdentityImpact, ValueImpact

DIFF_LINES = 40  # lines of one audit entry's diff shown before "… N more lines"


def _where(problem: Problem) -> str:
    """`path: message (hint)`; a CEL problem says where inside the expression."""
    text = f"{problem.path}: " if problem.path else ""
    text += problem.message
    if problem.line is not None:
        text += f" (line {problem.line}, column {problem.column} of the expression)"
    if problem.hint:
        text += f" ({problem.hint})"
    return text


def _refused(exc: ConfigInvalid, as_json: bool) -> None:
    if as_json:
        _emit({"ok": False, "error": exc.message, "problems": [p.as_dict() for p in exc.problems]})
    else:
        echo(f"Error: {exc.message}", err=True)
        for problem in exc.problems:
            echo_line(f"  {_where(problem)}", err=True)
    sys.exit(1)


def _shapes_people(path: str) -> bool:
    """Whether an edit at PATH can change who is a person or who owns an account."""
    parts = path.split(".")
    return parts[0] == "directories" or (parts[0] == "apps" and "ownership" in parts[2:3])


def _shapes_values(path: str) -> bool:
    """Whether an edit at PATH can change people's attribute values or what is pushed."""
    return path.split(".")[0] in ("attributes", "push_rules")


def _sample(value: object, width: int) -> str:
    """A sample value of a dry run's summary, cut to WIDTH (a value can be megabytes)."""
    return clip(literal_text(value), width)


def _reads(reads: tuple[str, ...], through: tuple[str, ...]) -> str:
    """How an attribute reads the edited ones: " (reads team)", or " (reads badge, which
    reads team)" when it reads them only through others."""
    if not reads:
        return ""
    if not through:
        return f" (reads {', '.join(reads)})"
    verb = "reads" if len(through) == 1 else "read"
    return f" (reads {', '.join(through)}, which {verb} {', '.join(reads)})"


#: Why an edit of an attribute with flow rules changes no one's value at once
AUTHORITY_KEEPS = (
    "authority mode: a value stays until one of its sources' values changes, so an edit of "
    "the sources or flow rules changes no one's value now (docs/attributes.md)"
)


def print_value_impact(impact: ValueImpact) -> None:
    """What saving an attribute or push-rule edit would do to values and pushes, in words."""
    echo(f"if saved (against the saved configuration, over {impact.people:,} people):")
    for name, outcome in impact.attributes.items():
        through = _reads(outcome.reads, outcome.through)
        echo(
            f"  attribute {name}{through}: {outcome.changed:,} people change, "
            f"{outcome.with_value:,} with a value, {outcome.empty:,} empty"
            + (f", {outcome.error_count:,} with a failing source" if outcome.error_count else "")
        )
        for change in outcome.samples[:5]:
            echo(f"    {change.person}: {_sample(change.old, 40)} → {_sample(change.new, 40)}")
        if outcome.changed > 5:
            echo(f"    … and {outcome.changed - 5:,} more (--json lists {len(outcome.samples)})")
        for error in outcome.errors[:3]:
            echo(f"    error: {error.person}: {error.source}: {error.message}")
        if outcome.authority and not outcome.changed and not outcome.reads:
            echo(f"    ({AUTHORITY_KEEPS})")
    for name, push in impact.push.items():
        if not (push.entered or push.left or push.added or push.removed or push.failed):
            continue
        echo(
            f"  push rule {name} ({push.app}): {push.targeted:,} targeted "
            f"(+{push.entered:,} −{push.left:,}), {push.added:,} values added or changed, "
            f"{push.removed:,} no longer pushed, {push.pending:,} to send at the next sync"
            + (f", {push.failed:,} failing" if push.failed else "")
        )
        for write in push.samples[:5]:
            was = "—" if write.saved is None else _sample(write.saved, 30)
            now = "not pushed" if write.edited is None else _sample(write.edited, 30)
            echo(f"    {write.account} {write.target}: {was} → {now}")
        for error in push.errors[:3]:
            echo(f"    failing: {error}")


def _report(
    result: EditResult,
    as_json: bool,
    dry_run: bool,
    impact: IdentityImpact | ValueImpact | None = None,
) -> None:
    if as_json:
        _emit({"ok": True, **result.as_dict(), "impact": impact.as_dict() if impact else None})
        return
    for warning in result.warnings:
        echo(f"warning: {_where(warning)}", err=True)
    where = result.path or "the configuration"
    if not result.changes:
        echo(f"{where} already says this; nothing was changed.")
        return
    for line in result.diff():
        echo(line)
    count = len(result.changes)
    noun = "change" if count == 1 else "changes"
    from engine.services.values import ValueImpact

    if isinstance(impact, ValueImpact):
        print_value_impact(impact)
    elif impact is not None:
        print_identity_impact(impact)
    if dry_run:
        echo(f"Dry run: would change {where} ({count} {noun}). Nothing was changed.")
    else:
        echo(f"Saved {where} ({count} {noun}).")


def _edit(op: str, path: str, *, value: Any = None, to_index: int | None = None,
          dry_run: bool = False, as_json: bool = False) -> None:  # fmt: skip
    from engine.services import ConfigEdit

    services = _services()
    try:
        result = services.config_edit(
            ConfigEdit(op, path, value, to_index),  # type: ignore[arg-type]
            dry_run=dry_run,
        )
    except ConfigInvalid as exc:
        _refused(exc, as_json)
        return
    # A dry run of a directory or ownership edit says what it would do to people, as the
    # console's editors do before saving (simulated against the saved configuration).
    impact: IdentityImpact | ValueImpact | None = None
    where = result.path or path
    if dry_run and result.changes and _shapes_people(where):
        impact = services.identity_impact(result.config)
    elif dry_run and result.changes and _shapes_values(where):
        impact = services.value_impact(result.config)
    _report(result, as_json, dry_run, impact)


def _edit_options(command: Any) -> Any:
    """--dry-run and --json, as every object-edit command takes them."""
    command = click.option("--json", "as_json", is_flag=True, help="Print JSON.")(command)
    return click.option("--dry-run", is_flag=True, help="Show the difference; change nothing.")(
        command
    )


@config.command("get")
@_store_options
@click.argument("path")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of YAML.")
@_guard
def config_get(path: str, as_json: bool) -> None:
    """Print the object at PATH (e.g. directories.hr) as YAML; a text field as it is."""
    from engine.config.export import value_yaml

    value = _services().config_get(path)
    if as_json:
        _emit(value)
    elif isinstance(value, str):
        echo(value)  # a text field as it is, so `config set PATH "$(config get PATH)"` holds
    else:
        echo(value_yaml(value), nl=False)


@config.command("set")
@_store_options
@click.argument("path")
@click.argument("value")
@_edit_options
@_guard
def config_set(path: str, value: str, dry_run: bool, as_json: bool) -> None:
    """Set the object at PATH to VALUE; a new name adds it. A text field (a CEL expression, a
    name) takes VALUE as it is ('"CREATE"' is the CEL text "CREATE"); anything else is YAML
    ('{preset: all_emails}', 500, false). Validated as an import; refused whole on a problem."""
    from engine.config.paths import value_from_text

    _edit("set", path, value=value_from_text(path, value), dry_run=dry_run, as_json=as_json)


@config.command("delete")
@_store_options
@click.argument("path")
@_edit_options
@_guard
def config_delete(path: str, dry_run: bool, as_json: bool) -> None:
    """Delete the object at PATH (a field goes back to its default)."""
    _edit("delete", path, dry_run=dry_run, as_json=as_json)


@config.command("move")
@_store_options
@click.argument("path")
@click.argument("index", type=int)
@_edit_options
@_guard
def config_move(path: str, index: int, dry_run: bool, as_json: bool) -> None:
    """Move the list item at PATH to position INDEX (0 = first), e.g. a directory's priority."""
    _edit("move", path, to_index=index, dry_run=dry_run, as_json=as_json)


@config.command("enable")
@_store_options
@click.argument("path")
@_edit_options
@_guard
def config_enable(path: str, dry_run: bool, as_json: bool) -> None:
    """Enable a directory or a push rule (directories.hr, push_rules.ad-core)."""
    _edit("enable", path, dry_run=dry_run, as_json=as_json)


@config.command("disable")
@_store_options
@click.argument("path")
@_edit_options
@_guard
def config_disable(path: str, dry_run: bool, as_json: bool) -> None:
    """Disable a directory (it ignores every account) or a push rule."""
    _edit("disable", path, dry_run=dry_run, as_json=as_json)


@config.command("edit")
@_store_options
@click.argument("path", required=False, default="")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_guard
def config_edit(path: str, as_json: bool) -> None:
    """Open the object at PATH (or the whole configuration) in $EDITOR ($VISUAL, else vi);
    validated on save, reopened with the errors as `# ERROR:` lines until it is valid. Leave it
    unchanged or empty it to change nothing."""
    services = _services()
    services.config_get(path)  # a wrong path is refused before the editor opens
    result = services.edit_in_editor(path)
    if result is None:
        if as_json:
            _emit({"ok": False, "error": "the edit was abandoned; nothing was changed"})
        else:
            echo("The edit was abandoned; nothing was changed.", err=True)
        sys.exit(1)
    _report(result, as_json, dry_run=False)


@main.command()
@_store_options
@click.option("--object", "path", help="Only this object path, what is under it and above it.")
@click.option("--limit", default=50, show_default=True, type=Number(min=1))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_guard
def audit(path: str | None, limit: int, as_json: bool) -> None:
    """Who changed what, when: configuration edits and imports, links and pins, newest first."""
    entries = _services().audit(path, limit)
    if as_json:
        _emit([entry.as_dict() for entry in entries])
        return
    if not entries:
        echo("No audit entries" + (f" about {path}." if path else "."))
        return
    for entry in entries:
        echo(f"{entry.when()}  {entry.actor}  {entry.action}  {entry.path or '(everything)'}")
        lines = entry.diff()
        for line in lines[:DIFF_LINES]:
            echo(f"    {line}")
        if len(lines) > DIFF_LINES:
            echo(f"    … {len(lines) - DIFF_LINES} more lines (--json shows everything)")
