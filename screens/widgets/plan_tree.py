"""A sync plan (or an applied run's journal) as a tree: stage → object → field, old → new, reason.

Big plans are paged: each stage shows its first `page` objects and a "show more" leaf that adds
the next page when chosen (enter), so a 100,000-change run never builds 100,000 nodes. A stored
run's stages hold only the objects read so far (`StageChanges.pages` reads the next ones from
the journal, in a worker): a first sync of 100,000 people journals 1.3 million changes, and
reading them all took half a minute and gigabytes.

A change is drawn to the tree's width: long values lose their middle ("Head of <b>Thi…company"),
so the old and the new value both show; a node's label keeps the values whole (up to
`VALUE_WIDTH`). The whole change, reason included, is for a `ChangeDetail` beside the tree: each
node's data says what it is (`("run", title)`, `("stage", StageChanges)`, `("object",
stage, ObjectChanges)`, `("change", change)`, `("problem", stage, text)`, `("note", stage,
text)`: why the stage did what it did, `("more", stage, start)`), and the tree posts
`NodeHighlighted` for its root whenever it shows something new.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from rich.style import Style
from rich.text import Text
from textual import work
from textual.widgets import Tree
from textual.widgets.tree import TreeNode, UnknownNodeID

from engine.services import (
    ChangeRow,
    JournalReading,
    JournalStage,
    RunSummary,
    changed_keys,
    describe_counts,
)
from engine.text import show_value
from screens.text import clip, middle, plain, safe, value

VALUE_WIDTH = 60
#: When a change is longer than the tree is wide, its reason is cut first (down to "(…)": the
#: old and new values matter more), then the values share what is left (each at least
#: FIT_VALUE_MIN).
FIT_REASON_MIN = 1
FIT_VALUE_MIN = 7
STAGE_ORDER = ("import", "identify", "ownership", "attributes", "push", "provision")


def plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def format_counts(counts: Mapping[str, Any] | None) -> str:
    """A stage's counters as the command line prints them (engine.changes.describe_counts)."""
    return describe_counts(counts)


@dataclass
class ObjectChanges:
    object_type: str
    object_id: str
    changes: list[dict[str, Any]] = field(default_factory=list)


class ObjectPages(Protocol):
    """Reads a stage's next objects (blocking: the tree calls it from a worker thread)."""

    def more(self, stage: StageChanges, count: int) -> list[ObjectChanges]: ...


@dataclass
class StageChanges:
    name: str
    counts: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    #: the objects read so far (all of them unless `pages` reads more), in the order written
    objects: list[ObjectChanges] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # why the stage did what it did
    change_count: int = 0  # all the stage's changes
    object_count: int = 0  # all the objects they change
    pages: ObjectPages | None = None


def group_changes(
    changes: Iterable[Mapping[str, Any]],
    stage_counts: Mapping[str, Mapping[str, Any]] | None = None,
    stage_problems: Mapping[str, Sequence[str]] | None = None,
    stage_notes: Mapping[str, Sequence[str]] | None = None,
) -> list[StageChanges]:
    """Group journal rows by stage then object, keeping the order the engine wrote them in."""
    stages: dict[str, StageChanges] = {}
    objects: dict[tuple[str, str, str], ObjectChanges] = {}
    for change in changes:
        stage = str(change.get("stage") or "other")
        group = stages.get(stage)
        if group is None:
            group = stages[stage] = StageChanges(stage)
        key = (stage, str(change.get("object_type", "")), str(change.get("object_id", "")))
        found = objects.get(key)
        if found is None:
            found = objects[key] = ObjectChanges(key[1], key[2])
            group.objects.append(found)
        found.changes.append(dict(change))
    for group in stages.values():
        group.change_count = sum(len(o.changes) for o in group.objects)
        group.object_count = len(group.objects)
    return arrange_stages(stages, stage_counts, stage_problems, stage_notes)


def arrange_stages(
    stages: Mapping[str, StageChanges],
    stage_counts: Mapping[str, Mapping[str, Any]] | None = None,
    stage_problems: Mapping[str, Sequence[str]] | None = None,
    stage_notes: Mapping[str, Sequence[str]] | None = None,
) -> list[StageChanges]:
    """STAGES (by name, in the order written) in the sync's order, each with its counters,
    problems and notes; a stage without changes is shown when it has any of those."""
    names = list(STAGE_ORDER)
    for name in [*(stage_counts or {}), *(stage_problems or {}), *stages]:
        if name not in names and name != "changes":
            names.append(name)
    result = []
    for name in names:
        counts = dict((stage_counts or {}).get(name) or {})
        problems = list((stage_problems or {}).get(name) or [])
        notes = [str(note) for note in (stage_notes or {}).get(name) or []]
        group = stages.get(name)
        if group is None:
            if name not in (stage_counts or {}) and not problems and not notes:
                continue
            group = StageChanges(name)
        group.counts = counts
        group.problems = problems
        group.notes = notes
        result.append(group)
    return result


class JournalPages:
    """A stored run's stage, read from its journal a page of objects at a time."""

    def __init__(self, services: Any, run_id: int, stage: JournalStage, quiet: bool) -> None:
        """QUIET: a change not applied does not say so (see `journal_tree`)."""
        self.services = services
        self.run_id = run_id
        self.reading = JournalReading(stage)
        self.quiet = quiet

    def more(self, stage: StageChanges, count: int) -> list[ObjectChanges]:
        objects = self.services.journal_objects(self.run_id, self.reading, count)
        return [
            ObjectChanges(o.object_type, o.object_id, [self._shown(c) for c in o.changes])
            for o in objects
        ]

    def _shown(self, change: ChangeRow) -> dict[str, Any]:
        row = change.to_json()
        if self.quiet:
            # a run that applied nothing (a dry run, a blocked one) says so in its title:
            # "not applied" on each row only took the room of the values and the reason
            row.pop("applied", None)
        return row


def journal_tree(
    services: Any,
    run_id: int,
    first_page: int,
    unapplied: bool | None = None,
    result: Any = None,
) -> tuple[RunSummary, list[JournalStage], list[StageChanges]]:
    """Run RUN_ID, its journal's stages as the store counts them, and those stages as the
    tree shows them, each with its first FIRST_PAGE objects read (blocking: a first sync's
    outline takes a second or two; call it from a worker). UNAPPLIED: whether a change not
    applied says so (None: when the run applied some of its changes, not a dry run or a run
    that applied nothing, whose title says so already). RESULT: the run's SyncResult, when
    the screen has it: its stages' counters, problems and notes (the store keeps the first
    200 problems, and a run that found nothing changed only its import's counters)."""
    summary, outline = services.journal_stages(run_id)
    if unapplied is None:
        unapplied = not summary.dry_run and any(stage.applied for stage in outline)
    quiet = not unapplied
    stages: dict[str, StageChanges] = {}
    for counted in outline:
        pages = JournalPages(services, run_id, counted, quiet)
        stage = StageChanges(
            counted.name, change_count=counted.changes, object_count=counted.objects, pages=pages
        )
        stage.objects = pages.more(stage, first_page)
        stages[counted.name] = stage
    if result is None:
        counts, problems, notes = summary.stage_counts, summary.problems, summary.notes
    else:
        counts = {stage.name: stage.counts for stage in result.stages}
        problems = {stage.name: stage.problems for stage in result.stages}
        notes = {stage.name: stage.notes for stage in result.stages}
    return summary, outline, arrange_stages(stages, counts, problems, notes)


def share(wanted: list[int], room: int) -> list[int]:
    """Widths for values that want `wanted` cells in `room` cells: short values keep all they
    want, the long ones share the rest evenly; none gets less than FIT_VALUE_MIN."""
    widths = list(wanted)
    left = sorted(range(len(wanted)), key=lambda i: wanted[i])
    while left:
        fair = max(room // len(left), FIT_VALUE_MIN)
        index = left.pop(0)
        widths[index] = min(wanted[index], fair)
        room -= widths[index]
    return widths


class PlanTree(Tree[Any]):
    """Shows grouped changes; enter on "show more" adds the next page of objects."""

    DEFAULT_CSS = """
    PlanTree { height: 1fr; }
    """

    def __init__(self, page: int = 50, **kwargs: Any) -> None:
        super().__init__("No run shown yet", **kwargs)
        self.run_id: int | None = None  # whose changes are shown
        self.page = page
        self.expand_up_to = 20  # a stage with this many objects or fewer opens them all
        self.show_root = True
        self.guide_depth = 3

    def show_message(self, message: str | Text) -> None:
        self.clear()
        self.root.data = None
        self.root.set_label(message if isinstance(message, Text) else plain(message))
        self._announce_root()

    def _announce_root(self) -> None:
        """Say that the root is highlighted: the cursor stays on line 0 when the tree is
        filled again, so Tree itself says nothing, and a detail beside it would go stale."""
        self.post_message(self.NodeHighlighted(self.root))

    def show_plan(
        self,
        title: str | Text,
        stages: list[StageChanges],
        empty: Text | None = None,
        run_id: int | None = None,
    ) -> None:
        """Show grouped changes (of run RUN_ID); `empty` is the leaf shown when there are none."""
        self.clear()
        self.run_id = run_id
        shown = title if isinstance(title, Text) else plain(title)
        self.root.data = ("run", shown)
        self.root.set_label(shown)
        total = sum(s.change_count for s in stages)
        for stage in stages:
            label = Text.assemble(
                (safe(stage.name), "bold"),
                (f"  {stage.change_count:,} change{'s' if stage.change_count != 1 else ''}", ""),
                (f" in {plural(stage.object_count, 'object')}", "") if stage.object_count else "",
                # the stage's counts are the stage table's, above the tree: here they only
                # pushed the problems past the right edge
            )
            if stage.problems:
                label.append(f"  {plural(len(stage.problems), 'problem')}", style="bold yellow")
            node = self.root.add(
                label,
                data=("stage", stage),
                expand=bool(stage.object_count or stage.problems or stage.notes),
            )
            for note in stage.notes:
                node.add_leaf(plain(note, style="cyan"), data=("note", stage, note))
            if stage.problems:
                problems = node.add(
                    Text(f"Problems ({len(stage.problems):,})", style="bold yellow"),
                    data=("stage", stage),
                    expand=True,
                )
                for problem in stage.problems[: self.page]:
                    problems.add_leaf(
                        plain(problem, style="yellow"), data=("problem", stage, problem)
                    )
                if len(stage.problems) > self.page:
                    problems.add_leaf(
                        Text(f"… {len(stage.problems) - self.page:,} more problems", style="dim")
                    )
            self._add_objects(node, stage, 0)
        if total == 0:
            troubled = any(stage.problems for stage in stages)
            self.root.add_leaf(
                empty
                or (
                    # an app that did not import was not compared: "matches" would be a guess
                    Text("No changes, with the problems above: fix them and plan again.", "yellow")
                    if troubled
                    else Text("No changes: the store already matches the apps.", "green")
                )
            )
        self.root.expand()
        self.cursor_line = 0
        self._announce_root()

    def _add_objects(self, node: TreeNode[Any], stage: StageChanges, start: int) -> None:
        """The page of STAGE's objects from START, and a leaf for the rest; read first (in a
        worker) when the stage has not read them yet."""
        wanted = min(start + self.page, stage.object_count)
        if len(stage.objects) < wanted and stage.pages is not None:
            reading = node.add_leaf(Text("reading the journal…", style="italic dim"))
            self._read_page(node, reading, stage, start, wanted - len(stage.objects))
            return
        end = min(start + self.page, len(stage.objects))
        for obj in stage.objects[start:end]:
            label = Text.assemble(
                (safe(obj.object_id or "—", 200), "bold"),
                (f"  {safe(obj.object_type)}", "dim"),
                (f"  {len(obj.changes)} change{'s' if len(obj.changes) != 1 else ''}", "dim"),
            )
            child = node.add(
                label, data=("object", stage, obj), expand=stage.object_count <= self.expand_up_to
            )
            for change in obj.changes:
                child.add_leaf(self.change_label(change), data=("change", change))
        left = max(stage.object_count, len(stage.objects)) - end
        if left > 0:
            node.add_leaf(
                Text(
                    f"… {left:,} more objects — enter shows the next {min(left, self.page)}",
                    style="italic cyan",
                ),
                data=("more", stage, end),
            )

    @work(thread=True, group="plan-pages", exit_on_error=False, name="Reading the journal")
    def _read_page(
        self,
        node: TreeNode[Any],
        reading: TreeNode[Any],
        stage: StageChanges,
        start: int,
        count: int,
    ) -> None:
        assert stage.pages is not None
        try:
            read = stage.pages.more(stage, count)
        except Exception as exc:  # noqa: BLE001 - shown in the tree, where it was asked for
            self.app.call_from_thread(self._page_failed, reading, stage, exc)
            return
        self.app.call_from_thread(self._page_read, node, reading, stage, start, read)

    def _page_read(
        self,
        node: TreeNode[Any],
        reading: TreeNode[Any],
        stage: StageChanges,
        start: int,
        read: list[ObjectChanges],
    ) -> None:
        if not self._shows(reading):
            return  # the tree shows something else now
        reading.remove()
        stage.objects.extend(read)
        if not read:
            # the journal holds fewer objects than it counted when the run was opened
            counted, stage.object_count = stage.object_count, len(stage.objects)
            why = (
                f"The journal holds {len(stage.objects):,} of the {counted:,} objects it "
                "counted: it changed since the run was opened. Open the run again (h, enter)."
            )
            node.add_leaf(plain(why, "yellow"), data=("problem", stage, why))
        self._add_objects(node, stage, start)
        line = self.cursor_line
        self.call_after_refresh(self._highlight_line, line)

    def _page_failed(self, reading: TreeNode[Any], stage: StageChanges, exc: Exception) -> None:
        if self._shows(reading):
            why = (
                f"The next objects could not be read from the journal: {str(exc).rstrip('.')}. "
                "Open the run again (h, enter)."
            )
            # the label is short; the detail under the tree, and v, show why
            reading.set_label(plain("The journal could not be read (the detail says why)", "red"))
            reading.data = ("problem", stage, why)
            if self.cursor_node is reading:
                self.post_message(self.NodeHighlighted(reading))

    def _shows(self, node: TreeNode[Any]) -> bool:
        try:
            return self.get_node_by_id(node.id) is node
        except UnknownNodeID:  # removed, or the tree was cleared since
            return False

    @staticmethod
    def change_label(change: Mapping[str, Any], width: int | None = None) -> Text:
        """ "path: old → new  (reason)"; in at most `width` cells when given, as far as the
        values' least (FIT_VALUE_MIN each) allows: the reason is cut first, then the longest
        values lose their middle."""
        name = str(change.get("field") or "record")
        old, new = change.get("old"), change.get("new")
        if isinstance(old, Mapping) and isinstance(new, Mapping):
            # two whole maps (an account's profile): only the keys that changed
            differences = changed_keys(old, new, name) or [(name, "(unchanged)", "(unchanged)")]
        else:
            differences = [(name, old, new)]
        reason = safe(change["reason"]) if change.get("reason") else ""
        if width is None:
            values = [value(v, VALUE_WIDTH) for _, *pair in differences for v in pair]
        else:
            shown = [show_value(v) for _, *pair in differences for v in pair]
            fixed = sum(len(safe(path)) + 5 for path, _, _ in differences)  # ": ", " → "
            fixed += 2 * (len(differences) - 1)  # "; "
            fixed += len("  not applied") if change.get("applied") is False else 0
            wanted = [min(len(v), VALUE_WIDTH) for v in shown]
            over = fixed + sum(wanted) + (len(reason) + 4 if reason else 0) - width
            if reason and over > 0:
                reason = clip(reason, max(FIT_REASON_MIN, len(reason) - over)).plain
            room = width - fixed - (len(reason) + 4 if reason else 0)
            values = [middle(v, n) for v, n in zip(shown, share(wanted, room), strict=True)]
        text = Text()
        for index, (path, _, _) in enumerate(differences):
            if index:
                text.append("; ")
            text.append(safe(path), style="cyan")
            text.append(": ")
            text.append(values[2 * index].plain, style="red")
            text.append(" → ")
            text.append(values[2 * index + 1].plain, style="green")
        if reason:
            text.append(f"  ({reason})", style="dim")
        if change.get("applied") is False:
            text.append("  not applied", style="italic yellow")
        return text

    def render_label(self, node: TreeNode[Any], base_style: Style, style: Style) -> Text:
        """A change drawn to the width the tree has beside its guides."""
        data = node.data
        room = self._label_room(node)
        if room is None or not (isinstance(data, tuple) and data and data[0] == "change"):
            return super().render_label(node, base_style, style)
        label = self.change_label(data[1], room)
        label.stylize(style)
        return label

    def _label_room(self, node: TreeNode[Any]) -> int | None:
        """The cells a node's label has: the tree's width less its guides and a scrollbar."""
        if not self.size.width:
            return None
        depth = 0
        parent = node.parent
        while parent is not None:
            depth += 1
            parent = parent.parent
        if not self.show_root:
            depth -= 1
        guides = max(depth, 0) * self.guide_depth
        return max(self.size.width - self.styles.scrollbar_size_vertical - guides, 20)

    def _on_tree_node_selected(self, event: Tree.NodeSelected[Any]) -> None:
        data = event.node.data
        if isinstance(data, tuple) and data and data[0] == "more":
            event.stop()
            _, stage, start = data
            if not self._shows(event.node):
                return  # chosen twice at once (enter enter): the first read its page
            parent = event.node.parent
            line = self.cursor_line
            event.node.remove()
            if parent is not None:
                self._add_objects(parent, stage, start)
                # the cursor stays on its line, now the page's first object: say so
                self.call_after_refresh(self._highlight_line, line)

    def _highlight_line(self, line: int) -> None:
        node = self.get_node_at_line(line)
        # keys pressed meanwhile may have moved the cursor on: then its own message stands
        if node is not None and self.cursor_line == line:
            self.post_message(self.NodeHighlighted(node))
