"""How the provisioning screens show a creation field: its mapping, one person's value (a plan
or a test), and the check of a mapping over everyone. Shared by the Provisioning screen and the
field editor, so a value, a type and a reason read the same in both."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text

from engine.text import value_text
from screens.text import clip, literal, one_line, safe, value

if TYPE_CHECKING:
    from engine.services import FieldCheck, FieldResult

SAMPLES_SHOWN = 3  # people named per outcome of a check


def is_unset(default: Any) -> bool:
    return default is None or default == "" or default == [] or default == {}


def mapping_text(field: dict[str, Any], expression: str | None, width: int = 200) -> Text:
    """A field's mapping in a cell: its CEL on one line, its default, or "not mapped"."""
    if expression:
        return one_line(expression, width, style="magenta")
    default = field.get("default")
    if not is_unset(default):
        return clip(f"default {value_text(default)}", width, style="cyan")
    return Text("not mapped", style="dim")


#: How much of a refused field's reason a cell holds (its column cuts it further)
REASON_WIDTH = 160


def field_outcome(result: FieldResult, width: int = 200, *, typed: bool = True) -> Text:
    """A field of a plan or a test, as one cell: value (type), or ✗ reason; without the
    (type) unless `typed`, for a narrow column."""
    if not result.ok:
        # the reason is what the admin needs: cut by the column, not to a value's width
        return clip(f"✗ {result.reason}", max(width, REASON_WIDTH), style="bold red")
    text = value(result.value, width, "bold", empty_style="dim")
    if typed:
        text.append(f" ({safe(result.type)})", style="dim")
    return text


def field_about(field: dict[str, Any]) -> Text:
    """What the schema says of a field: name, type, required, limit, description, placeholder
    and default (each from the connector, so each shown literally)."""
    text = Text()
    text.append(safe(field["key"]), style="bold")
    if field.get("display_name"):
        text.append(f" ({safe(field['display_name'])})")
    text.append(f" · {safe(field.get('type') or 'string')}", style="cyan")
    if field.get("required"):
        text.append(" · required", style="bold yellow")
    if field.get("max_length"):
        text.append(f" · max {safe(field['max_length'])} chars", style="dim")
    if field.get("description"):
        text.append(f"\n{safe(field['description'])}", style="dim")
    extras = Text()
    if field.get("placeholder"):
        extras.append("e.g. ", style="dim")
        extras.append_text(clip(field["placeholder"], 60))
    default = field.get("default")
    if extras:
        extras.append(" · ", style="dim")
    if is_unset(default):
        extras.append("no default", style="dim")
    else:
        extras.append("default ", style="dim")
        extras.append_text(literal(default, 60, "cyan"))
    text.append("\n")
    text.append_text(extras)
    return text


def clear_message(app_id: str, field: dict[str, Any], expression: str) -> Text:
    """What clearing a mapping does, for its confirmation: the mapping that goes and what new
    accounts get instead."""
    message = Text()
    message.append("Clear the mapping of ")
    message.append(safe(f"{app_id}.{field['key']}", 80), style="bold")
    message.append("?\n\nIt maps now: ")
    message.append_text(literal(expression, 200, "magenta"))
    message.append("\n\n")
    default = field.get("default")
    if not is_unset(default):
        message.append("New accounts then take the default ")
        message.append_text(literal(default, 80, "cyan"))
        message.append(".")
    elif field.get("required"):
        message.append(
            "The field is required and has no default: every account creation in "
            f"{safe(app_id)} would then fail.",
            style="bold red",
        )
    else:
        message.append("New accounts then leave the field empty.")
    return message


def result_text(result: FieldResult, who: str, *, verb: str = "Test") -> Text:
    """One person's value of a field: "Test for Ann: "ann" type string (from cel)", or why it
    fails. A compile error's place is shown under the expression by the editor itself."""
    text = Text()
    text.append(f"{verb} for ", style="dim")
    text.append(safe(who, 60), style="bold")
    text.append(": ", style="dim")
    if result.ok:
        text.append_text(literal(result.value, 120, "bold green") if result.value is not None
                         else Text("— (empty)", style="dim"))  # fmt: skip
        text.append("  type ", style="dim")
        text.append(safe(result.type), style="bold cyan")
        text.append(f"  (from {safe(result.source)})", style="dim")
        if result.note:
            text.append(f"\n{safe(result.note)}", style="dim")
        return text
    text.append("✗ ", style="bold red")
    text.append(safe(result.reason, lines=True), style="red")
    if result.problem == "compile":
        text.append(" (shown under the expression)", style="dim")
    elif result.hint:
        text.append(f"\nHint: {safe(result.hint)}", style="dim")
    return text


OUTCOME_STYLES = {"ok": "green", "empty": "yellow", "invalid": "bold red", "error": "bold red"}


def check_text(check: FieldCheck) -> Text:
    """A mapping over everyone: the counts, who gets no account, and a few people of each
    outcome that is not ok."""
    text = Text()
    if check.compile_error is not None:
        text.append("Not checked: the expression does not compile ", style="red")
        text.append("(see under it).", style="dim")
        return text
    partial = check.cancelled or check.timed_out
    done = f"{check.checked:,} of {check.total:,}" if partial else f"{check.total:,}"
    text.append(f"{done} people · ", style="dim")
    for index, outcome in enumerate(("ok", "empty", "invalid", "error")):
        if index:
            text.append(" · ", style="dim")
        count = check.counts.get(outcome, 0)
        text.append(f"{outcome} ", style="dim")
        text.append(f"{count:,}", style=OUTCOME_STYLES[outcome] if count else "bold")
    if check.defaulted:
        text.append(f" ({check.defaulted:,} take the default)", style="dim")
    text.append("\n")
    blocked = check.blocked
    if blocked:
        text.append(
            f"{blocked:,} {'person' if blocked == 1 else 'people'} would get no account",
            style="bold red",
        )
        text.append(
            f" (this field would be refused for them; {check.blocked_without_account:,} of "
            "them have no account there yet)",
            style="dim",
        )
    elif check.shared or check.taken:  # each value fits, and yet the app takes it once
        text.append("Every value fits the field, but the app takes each value once:", "yellow")
    elif check.counts.get("empty") and not check.required:
        text.append("Every value fits; empty values leave the field out.", style="green")
    else:
        text.append("Every value fits.", style="green")
    for outcome in ("error", "invalid", "empty"):
        samples = check.samples.get(outcome) or []
        if not samples or (outcome == "empty" and not check.required):
            continue
        text.append(f"\n{outcome}: ", style=OUTCOME_STYLES[outcome])
        for index, sample in enumerate(samples[:SAMPLES_SHOWN]):
            if index:
                text.append("; ", style="dim")
            text.append(safe(sample["person"], 40), style="bold")
            if outcome != "empty" and sample.get("reason"):
                text.append(f" {safe(sample['reason'], 70)}", style="dim")
        more = check.counts.get(outcome, 0) - min(len(samples), SAMPLES_SHOWN)
        if more > 0:
            text.append(f" … and {more:,} more", style="dim")
    # a unique field (an account's id): the app refuses all but one of a value
    for count, samples, what in (
        (check.shared, check.shared_samples, "get a value someone else gets too"),
        (check.taken, check.taken_samples, "get a value an account of the app already has"),
    ):
        if count:
            text.append(f"\n{count:,} without an account there would {what}: ", style="yellow")
            text.append(safe(samples[0], 120) if samples else "", style="dim")
    if check.note:
        text.append("\nStopped: ", style="bold yellow")
        text.append(safe(check.note, 300), style="dim")
    return text
