"""Sync screen over the real sample store: plan, sync now with its confirmation, the lock,
the changes tree, the run history, and the dashboard's plan / sync-now keys."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Checkbox, DataTable, Static

from console.app import RosterApp
from engine.store.models import SyncLock
from engine.store.repo import set_meta
from screens.dashboard import DashboardScreen, format_when
from screens.modals.sync_confirm import SyncConfirmModal
from screens.sync import SyncScreen
from screens.widgets.change_detail import ChangeDetail, node_text
from screens.widgets.plan_tree import PlanTree
from tests.screens.helpers import palette_choose, screen_text, settle, shown, wait_until


def demo_folder(services: Any) -> Path:
    """Point the store at this test's own copy of the demo apps, so a test may edit them."""
    folder = Path(services.db.sqlite_path).with_name("r-demo")
    with services.db.session() as session:
        set_meta(session, "config_base_dir", str(folder))
        session.commit()
    return folder


def change_job_titles(services: Any, count: int = 3) -> None:
    hr = demo_folder(services) / "apps" / "hr.yaml"
    text = hr.read_text(encoding="utf-8")
    assert "job_title: Software Engineer" in text
    hr.write_text(
        text.replace("job_title: Software Engineer", "job_title: Roster Test Engineer", count),
        encoding="utf-8",
    )


def words(text: str) -> str:
    """`text` with every run of whitespace (a wrapped row's break and indent) one space."""
    return " ".join(text.split())


def tree_labels(tree: PlanTree) -> list[str]:
    labels: list[str] = []

    def walk(node: Any) -> None:
        labels.append(str(node.label))
        for child in node.children:
            walk(child)

    walk(tree.root)
    return labels


def hold_the_sync(
    services: Any, monkeypatch: pytest.MonkeyPatch, when: Any
) -> tuple[threading.Event, threading.Event]:
    """The real sync, held at the progress report after which WHEN(its arguments, the stages
    reported so far) is true, until the test sets the second event (the first says it is
    held)."""
    original = services.sync
    reached, release = threading.Event(), threading.Event()

    def held_sync(**kwargs: Any) -> Any:
        report, seen = kwargs["progress"], []

        def progress(name: str, done: int, total: int) -> None:
            report(name, done, total)
            seen.append(name)
            if not reached.is_set() and when(kwargs, seen):
                reached.set()
                release.wait(10)

        return original(**{**kwargs, "progress": progress})

    monkeypatch.setattr(services, "sync", held_sync)
    return reached, release


def stage_cells(screen: SyncScreen) -> dict[str, tuple[str, str]]:
    table = screen.query_one("#sync-stages", DataTable)
    return {
        str(table.get_row_at(i)[0]): (str(table.get_row_at(i)[1]), str(table.get_row_at(i)[2]))
        for i in range(table.row_count)
    }


async def open_from_history(pilot: Any, run_id: int) -> PlanTree:
    """The Sync screen's history (h), then RUN_ID's changes in the tree (enter)."""
    await pilot.press("h")
    await pilot.pause()
    history = pilot.app.screen.query_one("#sync-history", DataTable)
    history.move_cursor(row=history.get_row_index(str(run_id)))
    await pilot.press("enter")
    await settle(pilot)
    return pilot.app.screen.query_one("#sync-tree", PlanTree)


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_plan_shows_stage_counts_and_the_changes_tree(
    services: Any, size: tuple[int, int]
) -> None:
    change_job_titles(services)
    before = services.runs(limit=1)[0].id
    app = RosterApp(services, start="sync")
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SyncScreen)
        await pilot.press("p")
        await settle(pilot)

        run = services.runs(limit=1)[0]
        assert run.id > before and run.status == "planned" and run.dry_run
        cells = stage_cells(screen)
        for stage in ("import", "identify", "ownership", "attributes"):
            assert cells[stage][0] == "done", stage
        assert "changed 3" in cells["import"][1]
        assert "set 3" in cells["attributes"][1]
        assert "nothing is written" in cells["write"][1]
        status = shown(screen.query_one("#sync-status", Static))
        assert f"Run {run.id} planned: " in status and "s applies this plan" in status

        labels = tree_labels(screen.query_one("#sync-tree", PlanTree))
        assert any(label.startswith("attributes  3 changes in 3 objects") for label in labels)
        assert any(
            "job_title: Software Engineer → Roster Test Engineer" in label for label in labels
        )
        assert any("first source in order with a value" in label for label in labels)

        # Nothing was applied: the store still has the old title.
        assert "Roster Test Engineer" not in {
            u.attributes.get("job_title") for u in services.population().users
        }

        history = screen.query_one("#sync-history", DataTable)
        assert [str(cell) for cell in history.get_row_at(0)[:2]] == [str(run.id), "sync, dry run"]


async def test_sync_now_confirms_then_applies(services: Any) -> None:
    change_job_titles(services, 2)
    app = RosterApp(services, start="sync")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, SyncConfirmModal)
        summary = str(modal.summary())
        assert "7 changes to apply" in summary  # 2 imported, 2 attributes, 3 pushes
        # the plan's own changes per stage, not the stages' counters over the whole store
        assert "import     2 changes · 2 accounts changed (profile 2)" in summary
        assert "identify   no changes" in summary
        assert "attributes 2 changes · 2 users changed (job_title 2)" in summary
        assert "push       3 changes · 3 accounts changed (title 2, jobTitle 1)" in summary
        assert "No person, account or attribute value would be deleted" in summary
        assert services.runs(limit=1)[0].status == "planned"  # the dry run before applying
        # the dialog starts on Cancel; a applies (writing to the apps takes a key of its own)
        keys = shown(modal.query_one("#confirm-keys", Static))
        assert keys.startswith("a: Apply · enter: Cancel"), keys

        await pilot.press("a")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SyncScreen)
        latest = services.runs(limit=1)[0]
        assert latest.status == "applied" and not latest.dry_run
        status = shown(screen.query_one("#sync-status", Static))
        assert f"Run {latest.id} applied (the plan of run {latest.id - 1})" in status, status
        assert stage_cells(screen)["write"][0] == "done"
        history = screen.query_one("#sync-history", DataTable)
        row = history.get_row_at(0)
        assert [str(cell) for cell in row[:3]] == [str(latest.id), "sync", "applied"]
        titles = [u.attributes.get("job_title") for u in services.population().users]
        assert titles.count("Roster Test Engineer") == 2
        # opened again from the history, the run still says which plan it carried out
        await open_from_history(pilot, latest.id)
        status = shown(screen.query_one("#sync-status", Static))
        assert f"applied (the plan of run {latest.id - 1})" in status, status
        # and whether it settled the store, as `roster runs` says
        assert (", settled," if latest.settled else ", not settled,") in status, status
        # the dry run, opened from the history, names the run that applied its plan
        await open_from_history(pilot, latest.id - 1)
        status = shown(screen.query_one("#sync-status", Static))
        assert f"(applied by run {latest.id})" in status, status


async def test_cancelling_the_confirmation_applies_nothing(services: Any) -> None:
    change_job_titles(services, 1)
    app = RosterApp(services, start="sync")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        assert isinstance(app.screen, SyncConfirmModal)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, SyncScreen)
        assert services.runs(limit=1)[0].status == "planned"
        assert "Not applied" in shown(app.screen.query_one("#sync-status", Static))


async def test_a_blocked_plan_needs_the_deletions_confirmed(services: Any) -> None:
    empty_hr(services)
    app = RosterApp(services, start="sync")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, SyncConfirmModal) and modal.blocked
        summary = str(modal.summary())
        assert "Deletions" in summary and "users:" in summary
        assert modal.query_one("#apply").disabled
        assert services.runs(limit=1)[0].status == "blocked-by-threshold"
        await pilot.press("a")  # the box is not ticked: a applies nothing
        await settle(pilot)
        assert app.screen is modal
        assert services.runs(limit=1)[0].status == "blocked-by-threshold"
        await pilot.press("space")  # the checkbox has the focus
        await pilot.pause()
        assert modal.query_one("#confirm-deletes", Checkbox).value
        # the key says what the button says
        assert shown(modal.query_one("#confirm-keys", Static)).startswith("a: Apply with deletions")
        assert not modal.query_one("#apply").disabled
        modal.query_one("#apply").focus()
        await pilot.press("enter")
        await settle(pilot)
        latest = services.runs(limit=1)[0]
        assert latest.status == "applied" and not latest.dry_run


async def test_a_blocked_plan_shows_its_deletions_without_scrolling_at_80x24(
    services: Any,
) -> None:
    """The box says "I reviewed the deletions above": at 80x24 they must be on screen."""
    empty_hr(services)
    app = RosterApp(services, start="sync")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, SyncConfirmModal) and modal.blocked
        scroll = modal.query_one("#confirm-scroll")
        assert scroll.scroll_y == 0
        lines = str(modal.summary()).splitlines()
        at = next(i for i, line in enumerate(lines) if line.startswith("Deletions ("))
        above = modal.query_one(".confirm--blocked").outer_size.height
        assert above + at + 2 <= scroll.size.height  # the heading and its first cause
        # and they come before the per-stage plan, which may run long (problems, many stages)
        assert at < lines.index("What the plan changes, by stage:")


async def test_a_locked_store_shows_who_holds_the_lock(services: Any) -> None:
    with services.db.session() as session:
        session.add(SyncLock(holder="carol", host=os.uname().nodename, pid=1))
        session.commit()
    before = services.runs(limit=1)[0].id
    app = RosterApp(services, start="sync")
    app.STORE_POLL_SECONDS = 0.1
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("p")
        await settle(pilot)
        status = shown(app.screen.query_one("#sync-status", Static))
        assert "Another sync is running" in status and "carol" in status
        assert services.runs(limit=1)[0].id == before
        # the screen is ready for another try
        assert app.screen.check_action("plan", ()) is True
        # while the lock is held the refusal stands; once it is gone the screen says so by
        # itself (it stayed for minutes until `r`: team review)
        await pilot.pause(0.5)
        assert "Another sync is running" in shown(app.screen.query_one("#sync-status", Static))
        with services.db.session() as session:
            session.query(SyncLock).delete()
            session.commit()
        await wait_until(
            pilot,
            lambda: "other sync has ended" in shown(app.screen.query_one("#sync-status", Static)),
        )
        assert "another sync holds the lock" not in screen_text(app)


async def test_history_enter_loads_a_run_into_the_tree(services: Any) -> None:
    first = services.runs(limit=20)[-1]  # the sample store's first, applied sync
    app = RosterApp(services, start="sync")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("h")
        await pilot.pause()
        history = app.screen.query_one("#sync-history", DataTable)
        assert history.has_focus
        history.move_cursor(row=history.get_row_index(str(first.id)))
        await pilot.press("enter")
        await settle(pilot)
        tree = app.screen.query_one("#sync-tree", PlanTree)
        assert tree.has_focus
        labels = tree_labels(tree)
        assert f"Run {first.id}" in labels[0]
        # big runs are paged: a "more" leaf instead of thousands of nodes
        more = [node for node in tree.root.children[0].children if node.data[0] == "more"]
        assert more and "more objects" in str(more[0].label)
        size_before = len(tree.root.children[0].children)
        tree.select_node(more[0])
        await settle(pilot)  # the next page is read from the journal in a worker
        assert len(tree.root.children[0].children) > size_before


async def test_a_runs_objects_are_read_from_its_journal_a_page_at_a_time(
    services: Any,
) -> None:
    """A stored run's tree reads its journal's first page of each stage, and the next when
    asked: a first sync of 100,000 people journals 1.3 million changes, which took half a
    minute and gigabytes to read whole. What the pages show is the whole journal, grouped."""
    first = services.runs(limit=20)[-1]
    _, journal = services.run_changes(first.id)
    objects = list(dict.fromkeys(c.object_id for c in journal if c.stage == "import"))
    assert len(objects) > 100  # more than two pages
    app = RosterApp(services, start="sync")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        tree = await open_from_history(pilot, first.id)
        stage = tree.root.children[0]
        assert stage.data[0] == "stage" and stage.data[1].name == "import"
        changes = sum(1 for c in journal if c.stage == "import")
        assert str(stage.label).startswith(
            f"import  {changes:,} changes in {len(objects):,} objects"
        )
        read = stage.data[1].objects
        assert [o.object_id for o in read] == objects[: tree.page]  # only the first page
        for page in (1, 2):
            more = stage.children[-1]
            assert more.data[0] == "more"
            left = len(objects) - page * tree.page
            assert str(more.label).startswith(f"… {left:,} more objects")
            tree.move_cursor(more)
            await pilot.pause()
            detail = app.screen.query_one("#sync-detail", ChangeDetail)
            assert detail.text.startswith(f"{left:,} more objects in import"), detail.text
            await pilot.press("enter")
            await settle(pilot)
            shown_ids = [n.data[2].object_id for n in stage.children if n.data[0] == "object"]
            assert shown_ids == objects[: (page + 1) * tree.page]
            # the cursor is on the new page's first object, and the detail says so
            assert tree.cursor_node is not None and tree.cursor_node.data[0] == "object"
            assert tree.cursor_node.data[2].object_id == objects[page * tree.page]
        # each object's changes are the journal's
        node = next(n for n in stage.children if n.data[0] == "object")
        mine = [c.to_json() for c in journal if c.object_id == node.data[2].object_id]
        assert [n.data[1] for n in node.children] == [c for c in mine if c["stage"] == "import"]


async def test_the_detail_follows_the_cursor_past_a_page_of_more_objects(services: Any) -> None:
    """Enter on "… more objects" then Down at once: in a terminal the detail described the
    page's first object while the cursor had moved on (hostile review; the pilot's keys are
    too far apart to show the race, so this guards only the outcome)."""
    first = services.runs(limit=20)[-1]
    app = RosterApp(services, start="sync")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        tree = await open_from_history(pilot, first.id)
        more = next(n for n in tree.root.children[0].children if n.data[0] == "more")
        tree.move_cursor(more)
        await pilot.pause()
        await pilot.press("enter", "down", "down")
        await settle(pilot)
        detail = app.screen.query_one("#sync-detail", ChangeDetail)
        assert tree.cursor_node is not None
        assert detail.text == str(node_text(tree.cursor_node))


async def test_minus_closes_every_stage_and_keeps_the_cursors_stage(services: Any) -> None:
    """The first sync's 4,000 changes, every stage opened: `-` brings back one screen of
    stages, the cursor on the stage it was in (newcomer review)."""
    first = services.runs(limit=20)[-1]
    app = RosterApp(services, start="sync")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        tree = await open_from_history(pilot, first.id)
        stages = list(tree.root.children)
        assert len(stages) >= 3
        for stage in stages:
            stage.expand()
        second = stages[1]
        tree.move_cursor(second.children[0])
        await pilot.pause()
        await pilot.press("minus")
        await settle(pilot)
        assert not any(stage.is_expanded for stage in tree.root.children)
        assert tree.cursor_node is second
        await pilot.press("shift+down")  # stage to stage
        await pilot.pause()
        assert tree.cursor_node is stages[2]


async def test_after_a_resize_the_highlighted_row_is_in_view(services: Any) -> None:
    change_job_titles(services)
    app = RosterApp(services, start="sync")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("p")
        await settle(pilot)
        tree = app.screen.query_one("#sync-tree", PlanTree)
        tree.focus()
        await pilot.press("end")
        await settle(pilot)
        for size in ((200, 60), (80, 24)):
            await pilot.resize_terminal(*size)
            await settle(pilot)
        top = tree.scroll_offset.y
        assert top <= tree.cursor_line < top + tree.scrollable_content_region.height


async def test_dashboard_keys_plan_and_sync_now(services: Any) -> None:
    app = RosterApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)
        before = services.runs(limit=1)[0].id
        await pilot.press("p")
        await settle(pilot)
        assert isinstance(app.screen, SyncScreen)
        planned = services.runs(limit=1)[0]
        assert planned.id == before + 1 and planned.status == "planned"

        await pilot.press("1")
        await settle(pilot)
        runs = app.screen.query_one("#runs-table", DataTable)
        assert str(runs.get_row_at(0)[0]) == str(planned.id)  # refreshed after the run

        await pilot.press("s")
        await settle(pilot)
        assert isinstance(app.screen, SyncConfirmModal)
        await pilot.press("a")
        await settle(pilot)
        assert services.runs(limit=1)[0].status == "applied"


async def test_help_lists_the_sync_keys(services: Any) -> None:
    app = RosterApp(services, start="sync")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        rows = dict(app.screen.rows)
        assert "dry run" in rows["p"] and "confirmation" in rows["s"]
        assert "history" in rows["h"].lower()


async def test_palette_plans_a_sync_from_another_screen(services: Any) -> None:
    from textual.command import CommandPalette

    before = services.runs(limit=1)[0].id
    app = RosterApp(services, start="users")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert isinstance(app.screen, CommandPalette)
        await palette_choose(pilot, "plan a sync")
        await settle(pilot)
        assert isinstance(app.screen, SyncScreen)
        latest = services.runs(limit=1)[0]
        assert latest.id == before + 1 and latest.status == "planned"


def empty_hr(services: Any) -> None:
    """Empty the demo's HR and IdP files: every person would be removed, over the deletion
    threshold. (HR alone would not do: the IdP keeps its people, and the blanks that only the
    vanished HR records cause are held, not deleted.)"""
    for app in ("hr", "idp"):
        (demo_folder(services) / "apps" / f"{app}.yaml").write_text(
            "accounts: []\n", encoding="utf-8"
        )


def move_william_to_finance(services: Any) -> None:
    """One HR department change on the demo: William Weiß (E10005), Marketing → Finance."""
    hr = demo_folder(services) / "apps" / "hr.yaml"
    text = hr.read_text(encoding="utf-8")
    start = text.index("- id: E10005\n")
    at = text.index("department: Marketing", start)
    assert at < text.index("- id: E10006\n")
    hr.write_text(text[:at] + "department: Finance" + text[at + 21 :], encoding="utf-8")


def drop_first_slack_account(services: Any) -> str:
    """Remove Margaret Okafor's Slack account from the demo's Slack file: one deletion."""
    slack = demo_folder(services) / "apps" / "slack.yaml"
    text = slack.read_text(encoding="utf-8")
    first = text.index("- id: U0EZQC5FKUJ\n")
    second = text.index("\n- id: ", first + 1) + 1
    text = text[:first] + text[second:]
    grants = [line for line in text.split("\n") if line.startswith("- account: U0EZQC5FKUJ")]
    assert grants
    for line in grants:  # a grant of an account the app no longer lists is an error
        at = text.index(line + "\n")
        end = text.index("\n- ", at + 1) + 1
        text = text[:at] + text[end:]
    slack.write_text(text, encoding="utf-8")
    return "slack:U0EZQC5FKUJ"


async def test_a_confirmation_with_deletions_starts_on_cancel(services: Any) -> None:
    gone = drop_first_slack_account(services)
    app = RosterApp(services, start="sync")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, SyncConfirmModal) and not modal.blocked
        summary = str(modal.summary())
        assert "Deletions (1), by cause" in summary and gone in summary
        assert modal.query_one("#cancel").has_focus
        assert "enter: Cancel ·" in shown(modal.query_one("#confirm-keys", Static))
        await pilot.press("enter")  # on Cancel: nothing is applied
        await settle(pilot)
        assert isinstance(app.screen, SyncScreen)
        assert services.runs(limit=1)[0].status == "planned"
        assert services.account_by_key(gone).status == "ENABLED"


async def test_at_80x24_the_confirmation_says_what_is_below_and_scrolls_to_it(
    services: Any,
) -> None:
    """At 80x24 the deletions filled the dialog and the plan's changes by stage (the pushes)
    were cut off below them, with no sign and no way to scroll from the buttons."""
    drop_first_slack_account(services)
    change_job_titles(services)
    # a leaver, as the newcomer made one: the HR record's values go, cause by cause
    hr = demo_folder(services) / "apps" / "hr.yaml"
    text = hr.read_text(encoding="utf-8")
    start = text.index("- id: E10024\n")
    record = text[start : text.index("- id: E10025\n")]
    hr.write_text(
        text.replace(
            record,
            record.replace("status: ENABLED", "status: DISABLED").replace(
                "employment_status: ACTIVE", "employment_status: TERMINATED"
            ),
        ),
        encoding="utf-8",
    )
    app = RosterApp(services, start="sync")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, SyncConfirmModal)
        assert modal.query_one("#cancel").has_focus
        scroll = modal.query_one("#confirm-scroll")
        more = modal.query_one("#confirm-more", Static)
        assert scroll.max_scroll_y > 0
        assert more.display and "more line" in shown(more) and "below" in shown(more)
        for _ in range(scroll.max_scroll_y):
            await pilot.press("down")
        await settle(pilot)
        assert scroll.scroll_y == scroll.max_scroll_y
        assert not more.display
        assert "What the plan changes, by stage:" in screen_text(app)
        assert modal.query_one("#cancel").has_focus  # scrolling kept the focus
        await pilot.press("pageup")
        await settle(pilot)
        assert scroll.scroll_y == 0 and more.display


async def test_a_destructive_confirm_modal_starts_on_cancel(services: Any) -> None:
    from screens.modals.confirm import ConfirmModal

    answers: list[bool | None] = []
    app = RosterApp(services, start="users")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.push_screen(
            ConfirmModal("Delete", "x would be deleted", destructive=True), answers.append
        )
        await pilot.pause()
        assert app.screen.query_one("#cancel").has_focus
        keys = app.screen.query_one("#confirm-keys", Static)
        assert shown(keys).startswith("enter: Cancel ·")  # said, not guessed
        await pilot.press("tab")
        await pilot.pause()
        assert shown(keys).startswith("enter: Confirm ·")
        await pilot.press("shift+tab")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        app.push_screen(ConfirmModal("Link", "nothing is deleted"), answers.append)
        await pilot.pause()
        assert app.screen.query_one("#confirm").has_focus
        assert shown(app.screen.query_one("#confirm-keys", Static)).startswith("enter: Confirm")
        await pilot.press("enter")
        await pilot.pause()
    assert answers == [False, True]


async def test_a_long_confirmation_scrolls_and_keeps_its_buttons(services: Any) -> None:
    """A link's or an unlink's impact can be longer than an 80x24 screen: the dialog's top
    (what it does) and its buttons stay on screen, ↑↓ scroll the message from the buttons,
    and tab goes between the buttons only."""
    from screens.modals.confirm import ConfirmModal

    message = "Unlink hr:E1 from Ann.\n" + "\n".join(f"value {n} → —" for n in range(60))
    answers: list[bool | None] = []
    app = RosterApp(services, start="users")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.push_screen(ConfirmModal("Unlink", message, "Unlink", destructive=True), answers.append)
        await settle(pilot)
        text = screen_text(app)
        assert "Unlink hr:E1 from Ann." in text and "Cancel (esc)" in text
        assert "value 59" not in text
        scroll = app.screen.query_one("#confirm-scroll")
        await pilot.press("pagedown", "down")
        await settle(pilot)
        assert scroll.scroll_y > 0 and app.screen.query_one("#cancel").has_focus
        await pilot.press("tab")
        await pilot.pause()
        assert app.screen.query_one("#confirm").has_focus
        await pilot.press("tab")
        await pilot.pause()
        assert app.screen.query_one("#cancel").has_focus
        await pilot.press("enter")
        await pilot.pause()
    assert answers == [False]


async def test_the_confirmation_counts_the_plans_own_changes(services: Any) -> None:
    move_william_to_finance(services)
    app = RosterApp(services, start="sync")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, SyncConfirmModal)
        summary = str(modal.summary())
        assert "4 changes to apply" in summary
        assert "import     1 change · 1 account changed (profile 1)" in summary
        assert "identify   no changes" in summary
        assert "ownership  no changes" in summary
        assert "attributes 1 change · 1 user changed (department 1)" in summary
        assert "push       2 changes · 2 accounts changed (department 2)" in summary
        assert "556" not in summary  # the identify stage's counter over the whole store


async def test_the_tree_shows_only_the_changed_keys_of_a_profile(services: Any) -> None:
    move_william_to_finance(services)
    app = RosterApp(services, start="sync")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("p")
        await settle(pilot)
        labels = tree_labels(app.screen.query_one("#sync-tree", PlanTree))
        profile = [label for label in labels if label.startswith("profile")]
        assert profile == ["profile.department: Marketing → Finance  (changed in the app)"]
        assert not any("cost_center" in label for label in labels)


def cancel_when(services: Any, monkeypatch: pytest.MonkeyPatch, stage: str, writing: bool) -> None:
    """Make the console's next sync cancel itself at `stage`: while planning, or (writing)
    after the plan, while the applying run writes stage by stage."""
    original = services.sync

    def sync(**kwargs: Any) -> Any:
        seen: list[str] = []
        report = kwargs["progress"]

        def progress(name: str, done: int, total: int) -> None:
            seen.append(name)
            report(name, done, total)

        def cancelled() -> bool:
            return bool(seen) and seen[-1] == stage and (("done" in seen) == writing)

        kwargs["progress"], kwargs["cancelled"] = progress, cancelled
        return original(**kwargs)

    monkeypatch.setattr(services, "sync", sync)


async def test_a_sync_cancelled_while_writing_says_what_was_applied(
    services: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    move_william_to_finance(services)
    app = RosterApp(services, start="sync")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        assert isinstance(app.screen, SyncConfirmModal)
        # the accounts and people are written (one transaction), then the run is cancelled
        # before the attributes stage's writes
        cancel_when(services, monkeypatch, "attributes", writing=True)
        await pilot.press("a")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SyncScreen)
        run = services.runs(limit=1)[0]
        assert run.status == "cancelled" and not run.dry_run
        status = shown(screen.query_one("#sync-status", Static))
        assert f"Run {run.id} cancelled" in status
        assert "Applied before the cancel: import 1 change" in status
        assert "the other 3 planned changes were not applied" in status
        assert "Stages already written" not in status
        labels = tree_labels(screen.query_one("#sync-tree", PlanTree))
        assert not any(label.startswith("No changes") for label in labels)
        assert "profile.department: Marketing → Finance  (changed in the app)" in labels
        assert any(
            "department: Marketing → Finance" in label and "not applied" in label
            for label in labels
        )
        assert stage_cells(screen)["write"] == ("cancelled", "written: import")
    # the store agrees: the HR account was imported, the person's attribute was not computed
    account = services.account_by_key("hr:E10005")
    assert account.profile["department"] == "Finance"
    william = services.find_records("user", "william.weiss@example.com", limit=1)[0]
    assert services.user_detail(william.id).user.attributes["department"] == "Marketing"


async def test_a_sync_cancelled_while_planning_says_nothing_was_applied(
    services: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    move_william_to_finance(services)
    cancel_when(services, monkeypatch, "attributes", writing=False)
    app = RosterApp(services, start="sync")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("p")
        await settle(pilot)
        screen = app.screen
        run = services.runs(limit=1)[0]
        assert run.status == "cancelled"
        status = shown(screen.query_one("#sync-status", Static))
        assert status == f"Run {run.id} cancelled before the attributes stage. Nothing was applied."
        labels = tree_labels(screen.query_one("#sync-tree", PlanTree))
        # the import computed before the cancel is shown, marked as not applied
        assert any("profile.department" in label and "not applied" in label for label in labels)
        assert not any(label.startswith("No changes") for label in labels)


async def test_the_confirmation_applies_the_plan_it_showed_or_nothing(services: Any) -> None:
    """The data changes while the dialog is open: Apply applies nothing and says why,
    instead of applying a plan nobody saw (hostile review M1)."""
    change_job_titles(services, 2)
    app = RosterApp(services, start="sync")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        assert isinstance(app.screen, SyncConfirmModal)
        change_job_titles(services, 3)  # the HR file changes behind the dialog
        await pilot.press("a")  # Apply
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SyncScreen)
        latest = services.runs(limit=1)[0]
        assert latest.status == "plan-changed" and not latest.dry_run
        status = shown(screen.query_one("#sync-status", Static))
        assert "not applied" in status and "Plan again" in status
        labels = tree_labels(screen.query_one(PlanTree))
        assert "not applied; the plan as the data stands now" in labels[0], labels[0]
        # the rows say so too: the stages' counts of the plan as it stands, nothing written
        cells = stage_cells(screen)
        assert cells["write"] == ("—", "nothing was written"), cells["write"]
        assert cells["import"][0] == "done" and "changed" in cells["import"][1]
    titles = [u.attributes.get("job_title") for u in services.population().users]
    assert titles.count("Roster Test Engineer") == 0  # nothing of either plan was applied

    # planned again and confirmed with nothing changed in between: applied as shown
    app = RosterApp(services, start="sync")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        assert isinstance(app.screen, SyncConfirmModal)
        summary = str(app.screen.summary())
        await pilot.press("a")
        await settle(pilot)
    latest = services.runs(limit=1)[0]
    assert latest.status == "applied"
    assert f"{latest.counts['changes']} changes to apply" in summary
    services.invalidate()
    titles = [u.attributes.get("job_title") for u in services.population().users]
    assert titles.count("Roster Test Engineer") > 2  # the second plan's changes too


async def test_s_after_p_applies_the_plan_shown_without_planning_again(services: Any) -> None:
    """`p` then `s` used to plan a second time (a second run number for the same plan); the
    plan on screen is the one confirmed, and the apply still checks that it stands."""
    change_job_titles(services, 2)
    app = RosterApp(services, start="sync")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SyncScreen)
        # before any run, the write row promises nothing
        assert stage_cells(screen)["write"] == ("—", "")
        await pilot.press("p")
        await settle(pilot)
        plan = services.runs(limit=1)[0]
        title = tree_labels(screen.query_one(PlanTree))[0]
        # when and by whom, as the same run opened from the history says
        when = f"{format_when(plan.started_at)}, {plan.started_by}"
        assert title.startswith(f"Run {plan.id} ({when}): planned, nothing written"), title
        await pilot.press("s")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, SyncConfirmModal)
        assert services.runs(limit=1)[0].id == plan.id  # no second plan
        assert modal.result.run_id == plan.id
        await pilot.press("a")
        await settle(pilot)
        latest = services.runs(limit=1)[0]
        assert latest.id == plan.id + 1 and latest.status == "applied"
        title = tree_labels(screen.query_one(PlanTree))[0]
        when = f"{format_when(latest.started_at)}, {latest.started_by}"
        assert title.startswith(f"Run {latest.id} ({when}): applied"), title
        # applied: the next s plans afresh
        await pilot.press("s")
        await settle(pilot)
        assert services.runs(limit=1)[0].id == latest.id + 1
        await pilot.press("escape")  # not applied
        await settle(pilot)

        # a plan, then another run viewed from the history: s no longer means that plan
        await pilot.press("p")
        await settle(pilot)
        plan = services.runs(limit=1)[0]
        await pilot.press("h")
        history = screen.query_one("#sync-history", DataTable)
        history.move_cursor(row=history.get_row_index(str(latest.id)))
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        assert isinstance(app.screen, SyncConfirmModal)
        assert app.screen.result.run_id == plan.id + 1  # planned again


async def test_the_history_counts_the_changes_of_runs_other_than_syncs(services: Any) -> None:
    """An account created from the provisioning queue is a run of its own, journalled; it
    did not count its changes as a sync does, and the history showed "—" (newcomer review)."""
    from tests.engine.test_provision import without_account

    assert services.provision("entra", without_account(services, "entra").email).ok
    created = services.runs(limit=1)[0]
    assert created.kind == "provision" and created.counts["changes"] >= 1
    app = RosterApp(services, start="sync")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("h")
        await settle(pilot)
        history = app.screen.query_one("#sync-history", DataTable)
        row = [str(cell) for cell in history.get_row_at(0)]
        assert row[:2] == [str(created.id), created.kind]
        assert row[3] == f"{created.counts['changes']:,}"
        # every column, "By" the last, fits 80 columns (a Mode column pushed it off)
        assert history.virtual_size.width <= history.size.width


async def test_the_history_cursor_stays_on_its_run_as_runs_come_in(services: Any) -> None:
    app = RosterApp(services, start="sync")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("p")  # a second run: the oldest is not the newest
        await settle(pilot)
        await pilot.press("h")
        await pilot.pause()
        history = app.screen.query_one("#sync-history", DataTable)
        oldest = services.runs(limit=20)[-1].id
        assert history.get_row_index(str(oldest)) > 0
        history.move_cursor(row=history.get_row_index(str(oldest)))
        await pilot.press("p")
        await settle(pilot)
        assert history.ordered_rows[history.cursor_row].key.value == str(oldest)


async def test_the_import_row_says_the_store_is_being_read(services: Any) -> None:
    """Before the first stage a sync reads the store (seconds at 100,000 people); every row
    said "pending" meanwhile, and the screen looked stuck (newcomer review)."""
    app = RosterApp(services, start="sync")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SyncScreen)
        screen.running = "plan"  # as while a plan runs
        screen.reset_stages(dry_run=True)
        screen.post_message(SyncScreen.Progress("load", 0, 6))
        await pilot.pause()
        assert stage_cells(screen)["import"] == ("running", "reading the store…")
        screen.post_message(SyncScreen.Progress("import", 0, 6))
        await pilot.pause()
        assert stage_cells(screen)["import"] == ("running", "computing…")
        screen.running = None


async def test_the_history_cursor_on_the_newest_run_follows_the_newest(services: Any) -> None:
    """Kept on its run, the newest run's cursor left the runs that came in scrolled out of
    sight above it, and they looked lost (newcomer review)."""
    app = RosterApp(services, start="sync")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("h")
        await pilot.pause()
        history = app.screen.query_one("#sync-history", DataTable)
        assert history.cursor_row == 0
        for _ in range(2):
            await pilot.press("p")
            await settle(pilot)
        await pilot.press("h")
        await settle(pilot)
        newest = services.runs(limit=1)[0].id
        assert history.ordered_rows[history.cursor_row].key.value == str(newest)
        assert history.scroll_y == 0


@pytest.mark.parametrize("width", [80, 120])
async def test_stage_counts_wrap_to_the_width_and_lose_nothing(services: Any, width: int) -> None:
    """At 80 columns the counts went past the right edge with nothing to say so: "unmerged 2"
    of 20, "unchanged 807 ·" without "owned 1,055"."""
    from screens.widgets.plan_tree import format_counts

    change_job_titles(services)
    app = RosterApp(services)  # opened from the dashboard, as an admin does
    async with app.run_test(size=(width, 24 if width == 80 else 40)) as pilot:
        await settle(pilot)
        await pilot.press("8")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SyncScreen)
        await pilot.press("p")
        await settle(pilot)
        table = screen.query_one("#sync-stages", DataTable)
        assert table.virtual_size.width <= width - 2  # nothing past the right edge
        run = services.runs(limit=1)[0]
        cells = stage_cells(screen)
        wrapped = 0
        for stage, counts in (run.counts or {}).items():
            if stage not in cells or not isinstance(counts, dict):
                continue
            text = cells[stage][1]
            wrapped += text.count("\n")
            assert text.replace("\n", " · ") == format_counts(counts), stage
        # the demo's ownership and push counts do not fit on one line at 80 columns; at 120
        # only what does not fit wraps (the table's own width once wrapped them all narrow)
        assert wrapped > 0 if width == 80 else wrapped <= 1


def test_wrap_counts_breaks_between_counts_and_cuts_only_a_count_too_wide() -> None:
    from rich.text import Text

    from screens.sync import wrap_counts

    assert wrap_counts(Text("a 1 · b 2 · c 3"), 20).plain == "a 1 · b 2 · c 3"
    assert wrap_counts(Text("a 1 · b 2 · c 3"), 9).plain == "a 1 · b 2\nc 3"
    assert wrap_counts(Text("unchanged 1,773 · x 1"), 8).plain == "unchang…\nx 1"


# At 80x24: the tree's rows, the highlighted change in full ---------------------------------

LONG_TITLE = "Head of <b>Things</b> [bold]and more[/bold] for the whole company"


def give_john_a_title(services: Any, title_yaml: str) -> None:
    """John Bjork's (hr:E10003) title in HR as TITLE_YAML, a YAML scalar as written."""
    hr = demo_folder(services) / "apps" / "hr.yaml"
    text = hr.read_text(encoding="utf-8")
    assert text.count("job_title: Head of Product\n") == 1
    hr.write_text(
        text.replace("job_title: Head of Product\n", f"job_title: {title_yaml}\n"),
        encoding="utf-8",
    )


def give_john_a_long_title(services: Any) -> None:
    give_john_a_title(services, f"'{LONG_TITLE}'")


async def cursor_to(pilot: Any, tree: PlanTree, wanted: Any, what: str) -> None:
    """Press ↓ until the tree's cursor is on a node `wanted(node)` accepts."""
    for _ in range(100):
        node = tree.cursor_node
        if node is not None and wanted(node):
            return
        await pilot.press("down")
        await pilot.pause()
    raise AssertionError(f"↓ never reached {what}")


def is_change_of(object_id: str) -> Any:
    def wanted(node: Any) -> bool:
        data = node.data
        return isinstance(data, tuple) and data[0] == "change" and data[1]["object_id"] == object_id

    return wanted


def detail_rows(app: Any) -> list[str]:
    """The rows the change detail takes on screen (under its rule, above the footer)."""
    rows = screen_text(app).splitlines()
    start = max(i for i, row in enumerate(rows) if row.strip().startswith("──────"))
    return [row.strip() for row in rows[start + 1 : -1] if row.strip()]


async def test_at_80x24_the_tree_has_the_rows_and_the_highlighted_change_shows_whole(
    services: Any,
) -> None:
    give_john_a_long_title(services)
    app = RosterApp(services, start="sync")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("p")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SyncScreen)
        tree = screen.query_one("#sync-tree", PlanTree)
        # no run under way: the stage table (12 rows at 80 columns) leaves the tree its rows;
        # the header, the status (2), the tabs (2), the detail (4) and the footer take 10
        assert tree.size.height >= 13, tree.size
        assert not screen.query_one("#sync-stages", DataTable).display
        detail = screen.query_one("#sync-detail", ChangeDetail)
        assert "↑↓ move through the plan" in detail.text  # on the run's title

        await cursor_to(pilot, tree, is_change_of("hr:E10003"), "John's imported title")
        await pilot.pause()
        # the tree's row cuts the new value and the reason at the edge ...
        row = next(r for r in screen_text(app).splitlines() if "profile.job_title:" in r)
        assert LONG_TITLE not in row and "changed in the app" not in row, row
        # ... the detail under it has them whole, literally (markup as typed)
        whole = (
            "account hr:E10003 · import\n"
            f"profile.job_title: Head of Product → {LONG_TITLE}\n"
            "why: changed in the app"
        )
        assert detail.text == whole
        assert words("\n".join(detail_rows(app))) == words(whole), detail_rows(app)
        # the highlighted row stays in view above the detail
        assert tree.scroll_y <= tree.cursor_line < tree.scroll_y + tree.size.height

        # it follows the cursor: on the next stage, its counters (the stage table's, hidden)
        await pilot.press("down")
        await pilot.pause()
        assert detail.text.startswith("identify: 0 changes\nlooked at: filter create 543 · ")
        # (the table wraps them at its width, between two counts)
        counts = stage_cells(screen)["identify"][1].replace("\n", " · ")
        assert f"looked at: {counts}" in detail.text
        # back up on the change's object
        await pilot.press("up", "up")
        await pilot.pause()
        assert detail.text.startswith("account hr:E10003 · import: 1 change"), detail.text


async def test_v_shows_the_highlighted_change_whole_where_the_detail_cuts_it(
    services: Any,
) -> None:
    """At 80x24 the detail under the tree is bounded (a value to 200 characters, half the
    screen): a long value hid what came after it (hostile review). v shows it whole, in a
    dialog that scrolls."""
    from screens.modals.text_view import TextViewModal

    title = "x" * 3000 + " THE END"
    give_john_a_title(services, f"'{title}'")
    app = RosterApp(services, start="sync")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("p")
        await settle(pilot)
        tree = app.screen.query_one("#sync-tree", PlanTree)
        await cursor_to(pilot, tree, is_change_of("hr:E10003"), "John's imported title")
        detail = app.screen.query_one("#sync-detail", ChangeDetail)
        assert "THE END" not in detail.text and "why: changed in the app" in detail.text
        await pilot.press("v")
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, TextViewModal)
        assert f"→ {title}\nwhy: changed in the app" in modal.text.plain
        assert "esc closes" in screen_text(app)  # the keys' line, under text taller than 24
        await pilot.press("end")
        await pilot.pause()
        assert "why: changed in the app" in screen_text(app)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, SyncScreen)
        # on a stage the detail is whole already: v says what it shows
        await cursor_to(pilot, tree, lambda node: node.data and node.data[0] == "stage", "stage")
        await pilot.press("v")
        await pilot.pause()
        assert isinstance(app.screen, SyncScreen)


def test_the_whole_view_cuts_the_middle_of_a_long_text_and_keeps_its_end() -> None:
    """A push problem quotes the value before its cause: a 65,536-character value pushed the
    cause past the cut (hostile review)."""
    from screens.widgets.change_detail import WHOLE_REASON, change_text

    reason = "AD refused department " + "D" * 65_536 + ": at most 64 characters"
    change = {"stage": "push", "object_type": "account", "object_id": "ad:b", "field": "x",
              "old": "a", "new": "E" * 9_000, "reason": reason}  # fmt: skip
    text = change_text(change, whole=True).plain
    assert text.endswith(": at most 64 characters")
    assert text.startswith("account ad:b · push")
    assert f"… {65_536 + 22 + 23 - WHOLE_REASON:,} characters cut here" in text
    assert "… 4,000 characters cut here (roster runs RUN --json has them all) …" in text
    assert len(text) < WHOLE_REASON + 6_000


async def test_a_plan_whose_app_did_not_import_does_not_say_the_store_matches(
    services: Any,
) -> None:
    """HR refused (a control character in a title): nothing changed because nothing was
    compared, and the tree said "the store already matches the apps" (walk)."""
    from screens.modals.text_view import TextViewModal

    give_john_a_title(services, '"Head\\e[31m"')
    app = RosterApp(services, start="sync")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("p")
        await settle(pilot)
        shown_text = screen_text(app)
        assert "already matches" not in shown_text
        assert "No changes, with the problems above: fix them and plan again." in shown_text
        tree = app.screen.query_one("#sync-tree", PlanTree)
        await cursor_to(
            pilot, tree, lambda node: node.data and node.data[0] == "problem", "the problem"
        )
        await pilot.press("v")
        await pilot.pause()
        assert isinstance(app.screen, TextViewModal)
        assert app.screen.title_text == "The highlighted problem, whole"
        assert "control character" in app.screen.text.plain
        await pilot.press("escape")

        # read again from the history: its problem, not a stage called "problems"
        run = services.runs(limit=1)[0]
        await pilot.press("h")
        await settle(pilot)
        history = app.screen.query_one("#sync-history", DataTable)
        history.move_cursor(row=history.get_row_index(str(run.id)))
        await pilot.press("enter")
        await settle(pilot)
        labels = [str(node.label) for node in tree.root.children]
        assert not any(label.startswith("problems") for label in labels), labels
        import_stage = next(n for n in tree.root.children if str(n.label).startswith("import"))
        assert "1 problem" in str(import_stage.label)
    from tests.engine.test_identity_decisions import cli

    code, out, _ = cli("runs", str(run.id), "--db", str(services.db.sqlite_path))
    assert code == 0 and "  [import problem] hr: cannot read " in out
    assert "  problems " not in out


async def test_at_80x24_the_stage_table_shows_while_a_run_is_under_way_and_on_t(
    services: Any, monkeypatch: pytest.MonkeyPatch
) -> None:

    change_job_titles(services, 1)
    # hold the run at its attributes stage until the test has looked
    reached, release = hold_the_sync(services, monkeypatch, lambda run, seen: "attributes" in seen)
    app = RosterApp(services, start="sync")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SyncScreen)
        stages = screen.query_one("#sync-stages", DataTable)
        assert not stages.display
        await pilot.press("p")
        await wait_until(pilot, reached.is_set, "the run to reach the attributes stage")
        await wait_until(pilot, lambda: stage_cells(screen)["attributes"][0] == "running")
        assert stages.display and stages.size.height > 0  # the progress per stage, live
        assert "attributes   running" in screen_text(app)
        release.set()
        await settle(pilot)
        assert services.runs(limit=1)[0].status == "planned"
        assert not stages.display  # the plan's tree gets the rows back

        await pilot.press("t")  # the admin asks for the stage counters
        await pilot.pause()
        assert stages.display and "changed 1" in screen_text(app)
        await pilot.press("t")
        await pilot.pause()
        assert not stages.display

    # a tall terminal always shows it: t is not offered there
    app = RosterApp(services, start="sync")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert screen.query_one("#sync-stages", DataTable).display
        assert "t" not in {key for key, active in screen.active_bindings.items()}


async def test_a_table_hidden_at_80x24_fits_its_rows_when_shown_at_120x40(services: Any) -> None:
    """Rows drawn while the table was hidden (wrapped for 80 columns) must not leave it their
    height once the terminal grows: no blank rows between the table and the tabs."""
    app = RosterApp(services, start="sync")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SyncScreen)
        screen.load_run(1)
        await settle(pilot)
        stages = screen.query_one("#sync-stages", DataTable)
        await pilot.resize_terminal(120, 40)
        await settle(pilot)
        await pilot.pause()
        assert stages.display
        assert stages.size.height == stages.virtual_size.height
        rows = screen_text(app).splitlines()
        write = next(i for i, row in enumerate(rows) if row.strip().startswith("write "))
        assert "Changes (c)" in rows[write + 1], rows[write : write + 3]


def test_the_change_detail_lists_a_maps_keys_and_bounds_values_and_reasons() -> None:
    from screens.widgets.change_detail import (
        DETAIL_FIELDS,
        DETAIL_REASON,
        DETAIL_VALUE,
        change_text,
    )

    new = {f"key{n:02}": f"value {n}" for n in range(DETAIL_FIELDS + 3)}
    new["key00"] = "x" * 5000 + "[b]"
    change = {
        "stage": "attributes",
        "object_type": "user",
        "object_id": "ann@example.com",
        "field": "attributes",
        "old": None,
        "new": new,
        "reason": "because \x1b[2J [b]" + "r" * 3000,
        "applied": False,
    }
    lines = change_text(change).plain.split("\n")
    assert lines[0] == "user ann@example.com · attributes  not applied"
    # a map from nothing: one line a key (the first DETAIL_FIELDS), each value bounded
    assert lines[1] == f"attributes.key00: — → {'x' * (DETAIL_VALUE - 1)}…"
    assert lines[2] == "attributes.key01: — → value 1"
    assert len(lines) == 1 + DETAIL_FIELDS + 2
    assert lines[-2] == "… 3 more fields (v shows them all)"
    assert lines[-1].startswith("why: because \\x1b[2J [b]rrr")
    assert len(lines[-1]) == len("why: ") + DETAIL_REASON and lines[-1].endswith("…")


def test_the_whole_view_of_a_huge_change_is_bounded_and_says_where_the_rest_is() -> None:
    """300 fields of 5,000 characters took 2.5 s to open with v (hostile review): the whole
    view lays out up to WHOLE_TOTAL characters of values and counts the fields left."""
    from screens.widgets.change_detail import WHOLE_TOTAL, WHOLE_VALUE, change_text

    new = {f"key{n:03}": "v" * 5000 for n in range(300)}
    change = {"stage": "attributes", "object_type": "user", "object_id": "ann@example.com"}
    text = change_text({**change, "field": "attributes", "new": new}, whole=True, run=7).plain
    assert len(text) < WHOLE_TOTAL + 2 * WHOLE_VALUE + 1000
    shown = text.count("attributes.key")
    assert 10 < shown < 300
    # the run's own number, not a placeholder (hostile review)
    assert f"… {300 - shown} more fields (roster runs 7 --json has them all)" in text
    assert text.rstrip().split("\n")[-1].startswith("why: ")


async def test_s_after_a_plan_of_no_changes_plans_afresh(services: Any) -> None:
    """A plan of no changes has nothing to apply: `s` plans again instead of offering it (the
    apps' data had changed since, and the apply was refused as plan-changed; newcomer
    review)."""
    app = RosterApp(services, start="sync")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("p")
        await settle(pilot)
        plan = services.runs(limit=1)[0]
        assert plan.counts.get("changes") == 0
        assert "The store already matches the apps." in shown(
            app.screen.query_one("#sync-status", Static)
        )
        change_job_titles(services, 2)
        await pilot.press("s")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, SyncConfirmModal)
        assert modal.result.run_id == plan.id + 1 and len(modal.result.changes) > 0
        assert "changes to apply" in words(str(modal.summary()))
        await pilot.press("escape")
        await settle(pilot)


async def test_the_confirmation_names_an_app_that_could_not_be_read(services: Any) -> None:
    """An app that fails to import leaves its accounts as they were: the dialog says which
    and why before "0 changes", and starts on Cancel (newcomer review: it read as if all was
    well, Apply focused)."""
    give_john_a_title(services, '"Head\\e[31m"')
    app = RosterApp(services, start="sync")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, SyncConfirmModal)
        summary = words(str(modal.summary()))
        assert "1 app could not be read; its accounts stay as they were: hr: App 'hr'" in summary
        assert "\\n" not in summary
        assert app.focused is not None and app.focused.id == "cancel"
        await pilot.press("enter")  # Cancel: nothing applied
        await settle(pilot)
        assert services.runs(limit=1)[0].dry_run


async def test_the_tree_shows_why_a_stage_did_what_it_did(services: Any) -> None:
    """A stage's notes (here: nothing changed since the last settled run) are in the tree
    under their stage, live and when the run is opened from the history, and the detail says
    what they are; they were only in `roster sync`'s output (newcomer review)."""
    app = RosterApp(services, start="sync")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("p")
        await settle(pilot)
        plan = services.runs(limit=1)[0]
        tree = app.screen.query_one("#sync-tree", PlanTree)
        import_node = tree.root.children[0]
        notes = [node for node in import_node.children if node.data[0] == "note"]
        assert notes and str(notes[0].label).startswith("nothing changed since run ")
        text = node_text(notes[0])
        assert text is not None and text.plain.startswith("A note from import:")
        # every stage is there, as the run counted them, though its journal is empty and
        # the store keeps only the import's counters for such a run (hostile review)
        stages = [str(node.label).split()[0] for node in tree.root.children[:6]]
        assert stages == ["import", "identify", "ownership", "attributes", "push", "provision"]
        tree = await open_from_history(pilot, plan.id)
        labels = tree_labels(tree)
        assert any(label.startswith("nothing changed since run ") for label in labels)


async def first_runs_import(pilot: Any, services: Any) -> tuple[PlanTree, Any]:
    """The demo's first sync opened from the history, the cursor on its import stage's "…
    more objects"; the tree and that stage's node."""
    await settle(pilot)
    tree = await open_from_history(pilot, services.runs(limit=20)[-1].id)
    stage = tree.root.children[0]
    tree.move_cursor(stage.children[-1])
    await pilot.pause()
    return tree, stage


async def test_enter_twice_at_once_on_more_objects_reads_one_page(services: Any) -> None:
    """Two enters reaching the console together (key repeat, a paste, a slow link) chose the
    "more" leaf twice: the second removed it again and the console stopped (hostile review)."""
    app = RosterApp(services, start="sync")
    async with app.run_test(size=(80, 24)) as pilot:
        tree, stage = await first_runs_import(pilot, services)
        tree.action_select_cursor()
        tree.action_select_cursor()
        await settle(pilot)
        objects = [n for n in stage.children if n.data[0] == "object"]
        assert len(objects) == 2 * tree.page
        assert len({n.data[2].object_id for n in objects}) == len(objects)
        assert stage.children[-1].data[0] == "more"


@pytest.mark.parametrize("trouble", ["fails", "shrank"])
async def test_a_page_the_journal_cannot_give_says_why(
    services: Any, monkeypatch: pytest.MonkeyPatch, trouble: str
) -> None:
    """The store fails while the next page is read, or the journal holds fewer objects than
    it counted: the tree says so where the page would be, and the detail says why (it showed
    a cut message, or nothing at all: hostile review)."""
    from engine.errors import StoreError

    def trouble_reading(*args: Any) -> list[Any]:
        if trouble == "fails":
            raise StoreError("The identity store is not readable: disk I/O error.")
        return []

    app = RosterApp(services, start="sync")
    async with app.run_test(size=(80, 24)) as pilot:
        tree, stage = await first_runs_import(pilot, services)
        monkeypatch.setattr(services, "journal_objects", trouble_reading)
        await pilot.press("enter")
        await settle(pilot)
        problem = next(n for n in stage.children if n.data[0] == "problem")
        tree.move_cursor(problem)
        await pilot.pause()
        detail = app.screen.query_one("#sync-detail", ChangeDetail)
        if trouble == "fails":
            assert str(problem.label) == "The journal could not be read (the detail says why)"
            assert "disk I/O error. Open the run again (h, enter)." in words(detail.text)
        else:
            counted = stage.data[1]
            assert counted.object_count == tree.page
            assert "The journal holds 50 of the" in str(problem.label)
            assert "it changed since the run was opened" in words(detail.text)
            assert stage.children[-1] is problem  # no "more" leaf for what is not there


async def test_the_detail_ends_on_the_row_the_cursor_is_on(services: Any) -> None:
    """Keys typed while a stage opens move the cursor over the lines laid out before it
    opened, and the tree says a node was highlighted that the row no longer holds (newcomer
    review: the detail described a push while a person's attributes row was highlighted)."""
    from textual.widgets import Tree

    app = RosterApp(services, start="sync")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        tree = await open_from_history(pilot, services.runs(limit=20)[-1].id)
        stages = list(tree.root.children)
        tree.move_cursor(stages[1])
        await settle(pilot)
        tree.post_message(Tree.NodeHighlighted(stages[0]))  # as a stale line would
        await settle(pilot)
        detail = app.screen.query_one("#sync-detail", ChangeDetail)
        assert tree.cursor_node is stages[1]
        assert detail.text == str(node_text(stages[1]))


async def test_a_stage_shows_its_counts_and_an_unread_app_while_the_run_goes_on(
    services: Any,
) -> None:
    """Each stage's counters show as soon as it is planned, and an app that could not be read
    is said then, not only when the run ends (a minute later at 100,000 people: newcomer
    review). The real run is held after its import stage until the screen has been read."""
    import threading

    give_john_a_title(services, '"Head\\e[31m"')  # HR refuses the file: a control character
    held, release = threading.Event(), threading.Event()
    sync = services.sync

    def holding_sync(**kwargs: Any) -> Any:
        told = kwargs["stage_done"]

        def stage_done(report: Any) -> None:
            told(report)
            if report.name == "import":
                held.set()
                release.wait(30)

        return sync(**{**kwargs, "stage_done": stage_done})

    services.sync = holding_sync
    app = RosterApp(services, start="sync")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("p")
        try:
            await wait_until(pilot, held.is_set, "the import stage planned")
            screen = app.screen
            assert isinstance(screen, SyncScreen)
            await wait_until(pilot, lambda: stage_cells(screen)["import"][0] == "done", "import")
            state, counts = stage_cells(screen)["import"]
            assert "1 problem" in counts and "…" not in counts
            status = words(str(screen.query_one("#sync-status", Static).render()))
            assert "hr could not be read" in status and "esc cancels" in status
        finally:
            release.set()
        await settle(pilot)
        # the next stages' rows did not overwrite it with "…", and the run's end agrees
        assert "1 problem" in stage_cells(app.screen)["import"][1]


async def test_at_80x24_the_row_being_written_is_in_view(
    services: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The counts' wrapped lines pushed the write row below the table's height: every row in
    view said "done" while the run wrote (newcomer review). The real apply is held while it
    writes its attributes."""

    change_job_titles(services, 3)
    reached, release = hold_the_sync(  # the second time: writing it
        services,
        monkeypatch,
        lambda run, seen: not run.get("dry_run") and seen.count("attributes") == 2,
    )
    app = RosterApp(services, start="sync")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await wait_until(pilot, lambda: isinstance(app.screen, SyncConfirmModal), "the dialog")
        await pilot.press("a")
        try:
            await wait_until(pilot, reached.is_set, "the apply writing its attributes")
            screen = app.screen
            assert isinstance(screen, SyncScreen)
            await wait_until(pilot, lambda: stage_cells(screen)["write"][0] == "running")
            # a large store's counters: the identify row alone wraps to several lines
            many = " · ".join(f"counter number {i} 123,456" for i in range(12))
            screen.set_stage("identify", "done", many)
            screen.set_stage("write", "running", "writing the attributes changes…")
            await pilot.pause(0.2)
            assert "write        running" in screen_text(app), screen_text(app)
        finally:
            release.set()
        await settle(pilot)


async def test_a_plan_with_an_unread_app_is_the_plan_s_applies(services: Any) -> None:
    """p with an app that could not be read, then s: the plan on screen is confirmed and
    applied, not planned again (newcomer review: two identical dry runs), and the status says
    which app failed in a line that is not cut mid-sentence."""
    give_john_a_title(services, '"Head\\e[31m"')  # HR refuses its file
    ad = demo_folder(services) / "apps" / "ad.yaml"
    ad.write_text(
        ad.read_text(encoding="utf-8").replace(
            "title: Head of Engineering", "title: Head of Platform", 1
        ),
        encoding="utf-8",
    )
    app = RosterApp(services, start="sync")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("p")
        await settle(pilot)
        planned = services.runs(limit=1)[0]
        assert planned.status == "planned-with-failures"
        status = words(str(app.screen.query_one("#sync-status", Static).render()))
        assert status.startswith(f"Run {planned.id} planned with failures: hr could not be read.")
        assert "s applies this plan" in status
        await pilot.press("s")
        await wait_until(pilot, lambda: isinstance(app.screen, SyncConfirmModal), "the dialog")
        assert services.runs(limit=1)[0].id == planned.id  # no second dry run
        assert f"Run {planned.id} (a dry run)" in app.screen.summary().plain
        await pilot.press("a")
        await settle(pilot)
        applied = services.runs(limit=1)[0]
        assert applied.status == "applied-with-failures"
        status = words(str(app.screen.query_one("#sync-status", Static).render()))
        assert "hr could not be read" in status and "written" in status


def test_the_failures_read_as_what_failed_where() -> None:
    """A push fails when the app refuses it, when its expression fails or when the app cannot
    be read back: "refused pushes" said the first for all three (last look). Names with
    braces stay text."""
    from screens.sync import failed_apps

    assert failed_apps(
        [
            {"stage": "import", "app": "slack"},
            {"stage": "push", "app": "ad"},
            {"stage": "push", "app": "ad"},
            {"stage": "push", "app": "entra"},
            {"stage": "provision", "app": "github"},
            {"stage": "odd{x}", "app": "q{apps}"},
        ]
    ) == (
        "slack could not be read; pushes to ad and entra failed; github refused accounts; "
        "q{apps} failed (odd{x})"
    )
