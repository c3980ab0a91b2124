"""The node highlighted in a plan tree, in full: a change's object, each field with old → new,
and its whole reason, wrapped where the tree's row cut them; a stage's counters; a problem's
whole text.

Values and reasons are data: drawn literally (`Text`, never markup), control characters
visible, each value bounded (`DETAIL_VALUE` characters, an ellipsis when cut), as everywhere
through `screens.text`. Each line of the detail wraps under itself (`Hanging`), on at most
`DETAIL_ROWS` rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.text import Text
from textual.widgets import Static
from textual.widgets.tree import TreeNode

from engine.services import change_differences
from screens.text import safe, value
from screens.widgets.hanging import Hanging
from screens.widgets.plan_tree import format_counts, plural

#: The most characters of a value, of a reason or problem, and of an object id the detail shows.
DETAIL_VALUE = 200
DETAIL_REASON = 1000
DETAIL_ID = 200
#: The most fields of one change listed (a new person's attributes are a dozen or more).
DETAIL_FIELDS = 6
#: The most rows one line of the detail wraps onto.
DETAIL_ROWS = 8


#: The bounds of the whole view (v): far past what a panel shows, still bounded (a value may
#: be megabytes).
WHOLE_VALUE = 5_000
WHOLE_REASON = 20_000
WHOLE_FIELDS = 500
#: The most characters of values the whole view lays out in all: 300 fields of 5,000 took
#: 2.5 s to open (hostile review); past it, the fields left are counted, not shown.
WHOLE_TOTAL = 100_000


def whole_in(run: int | None) -> str:
    """Where the whole of a run's changes is, for a view that shows a bounded part of them."""
    return f"roster runs {run if run is not None else 'RUN'} --json has them all"


def middle_cut(text: Any, limit: int, run: int | None = None) -> Any:
    """TEXT (a str) past LIMIT characters without its middle, saying how much was cut: a push
    problem quotes the value before its cause, and a plain cut at the end dropped the cause
    (hostile review). Anything else is returned as it is."""
    if not isinstance(text, str) or len(text) <= limit:
        return text
    half = limit // 2
    cut = len(text) - 2 * half
    return f"{text[:half]} … {cut:,} characters cut here ({whole_in(run)}) … {text[-half:]}"


def change_text(change: Mapping[str, Any], *, whole: bool = False, run: int | None = None) -> Text:
    """ "account hr:E10003 · import", then "field: old → new" for each field it changes, then
    "why: reason"; `whole`: within the whole view's bounds, not the panel's (of RUN's changes:
    the command that has them all names it)."""
    value_limit, reason_limit, fields = (
        (WHOLE_VALUE, WHOLE_REASON, WHOLE_FIELDS)
        if whole
        else (DETAIL_VALUE, DETAIL_REASON, DETAIL_FIELDS)
    )
    text = Text()
    text.append(safe(change.get("object_type") or "object"), style="dim")
    text.append(" ")
    text.append(safe(change.get("object_id") or "—", DETAIL_ID), style="bold")
    text.append(f" · {safe(change.get('stage') or 'other')}", style="dim")
    if change.get("applied") is False:
        text.append("  not applied", style="italic yellow")
    name = str(change.get("field") or "record")
    differences = change_differences(name, change.get("old"), change.get("new"))
    if not differences:
        differences = [(name, "(unchanged)", "(unchanged)")]
    if whole:  # cut in the middle, and the cut said, within the bound
        cut_value, shown_limit = (lambda v: middle_cut(v, WHOLE_VALUE, run)), WHOLE_VALUE + 200
    else:
        cut_value, shown_limit = (lambda v: v), value_limit
    listed = 0
    for path, old, new in differences[:fields]:
        if whole and len(text) > WHOLE_TOTAL:
            break
        text.append("\n")
        text.append(safe(path), style="cyan")
        text.append(": ")
        text.append_text(value(cut_value(old), shown_limit, "red"))
        text.append(" → ")
        text.append_text(value(cut_value(new), shown_limit, "green"))
        listed += 1
    more = len(differences) - listed
    if more > 0:
        where = whole_in(run) if whole else "v shows them all"
        text.append(f"\n… {plural(more, 'more field')} ({where})", style="dim")
    text.append("\nwhy: ", style="dim")
    reason = change.get("reason") or "no reason recorded"
    if whole:
        reason, reason_limit = middle_cut(reason, WHOLE_REASON, run), WHOLE_REASON + 200
    text.append(safe(reason, reason_limit))
    return text


def node_text(
    node: TreeNode[Any] | None, *, whole: bool = False, run: int | None = None
) -> Text | None:
    """What the detail says about NODE (None: nothing to say, the tree shows a message);
    `whole`: a change or a problem within the whole view's bounds (v)."""
    if node is None:
        return None
    data = node.data
    if data is None and not node.is_root:
        # a leaf that is only words ("No changes: …", "… more problems"): the run's title
        return node_text(node.tree.root)
    if not isinstance(data, tuple) or not data:
        return None  # the tree shows a message, not a run
    kind = data[0]
    if kind == "change":
        return change_text(data[1], whole=whole, run=run)
    if kind == "run":
        text = Text()
        text.append_text(data[1])
        text.append(
            "\n↑↓ move through the plan: the highlighted change shows here in full.",
            style="dim",
        )
        return text
    if kind == "stage":
        stage = data[1]
        text = Text(safe(stage.name), style="bold")
        text.append(f": {plural(stage.change_count, 'change')}")
        if stage.object_count:
            text.append(f" in {plural(stage.object_count, 'object')}")
        if stage.problems:
            text.append(f"  {plural(len(stage.problems), 'problem')}", style="bold yellow")
        text.append("\nlooked at: ", style="dim")
        text.append(safe(format_counts(stage.counts)))
        return text
    if kind == "object":
        stage, obj = data[1], data[2]
        text = Text(safe(obj.object_type or "object"), style="dim")
        text.append(" ")
        text.append(safe(obj.object_id or "—", DETAIL_ID), style="bold")
        text.append(f" · {safe(stage.name)}: {plural(len(obj.changes), 'change')}", style="dim")
        text.append("\nenter opens or closes it; ↓ reads its changes", style="dim")
        return text
    if kind == "problem":
        text = Text(f"A problem in {safe(data[1].name)}:", style="bold yellow")
        text.append("\n")
        # a file's problems come one a line ("also line 17: …"): kept on their lines
        if whole:
            text.append(
                safe(middle_cut(data[2], WHOLE_REASON, run), WHOLE_REASON + 200, lines=True)
            )
        else:
            text.append(safe(data[2], DETAIL_REASON, lines=True))
        return text
    if kind == "note":
        text = Text(f"A note from {safe(data[1].name)}:", style="bold cyan")
        text.append("\n")
        text.append(safe(data[2], DETAIL_REASON, lines=True))
        return text
    if kind == "more":
        stage, start = data[1], data[2]
        left = max(stage.object_count, len(stage.objects)) - start
        return Text(
            f"{plural(left, 'more object')} in {safe(stage.name)}: enter shows the next "
            f"{min(left, getattr(node.tree, 'page', left)):,}.",
            style="dim",
        )
    return None


class ChangeDetail(Static):
    """Shows `node_text` of the node given to `show`; hidden when there is nothing to say."""

    DEFAULT_CSS = """
    ChangeDetail {
        height: auto;
        min-height: 4;
        max-height: 50%;
        border-top: solid $primary;
        padding: 0 1;
    }
    """

    shown: TreeNode[Any] | None = None  # the node whose text is shown

    def show(self, node: TreeNode[Any] | None) -> None:
        self.shown = node
        text = node_text(node)
        self.display = text is not None
        self.update(Hanging(text, rows=DETAIL_ROWS) if text is not None else "")

    @property
    def text(self) -> str:
        """The text shown (whole, however it wraps)."""
        return str(self.content)
