"""Dashboard over the real sample store: the counts, apps, runs and warnings it shows."""

from __future__ import annotations

import asyncio
import csv
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
import yaml
from textual.widgets import DataTable, Static

from console.app import RosterApp
from screens.dashboard import DashboardScreen
from tests.screens.helpers import screen_text, settle, shown

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"


def demo_files() -> tuple[dict[str, str], dict[str, int], set[str]]:
    """Straight from sample_data/: each app's name and number of rows, and the directories.
    The demo's first sync also creates one Entra account per APPROVED access request
    (proactive provisioning), so those count too."""
    config = yaml.safe_load((SAMPLE / "roster.yaml").read_text(encoding="utf-8"))
    names = {app["id"]: app.get("name") or app["id"] for app in config["apps"]}
    rows: dict[str, int] = {}
    for app in config["apps"]:
        path = SAMPLE / app["settings"]["path"]
        if path.suffix == ".csv":
            with path.open(encoding="utf-8", newline="") as handle:
                rows[app["id"]] = sum(1 for _ in csv.DictReader(handle))
        else:
            rows[app["id"]] = len(yaml.safe_load(path.read_text(encoding="utf-8"))["accounts"])
    requests = yaml.safe_load((SAMPLE / "apps" / "access_requests.yaml").read_text())["requests"]
    for request in requests:
        if request["status"] == "APPROVED":
            rows[request["app"]] += 1
    return names, rows, {d["app"] for d in config["directories"]}


def counted_in_sql(services: Any, directories: set[str]) -> dict[str, int]:
    """The cards' counts, asked of the store's tables directly (not through the facade)."""
    marks = ", ".join("?" * len(directories))
    queries = {
        "people": ("SELECT count(*) FROM person WHERE status != 'DELETED'", ()),
        "unowned": (
            "SELECT count(*) FROM account WHERE owner_id IS NULL AND status != 'DELETED' "
            f"AND app_id NOT IN ({marks})",
            tuple(directories),
        ),
        "unmerged": (
            "SELECT count(*) FROM account WHERE owner_id IS NULL AND status != 'DELETED' "
            f"AND app_id IN ({marks}) AND filter_result = 'MATCH_ONLY'",
            tuple(directories),
        ),
    }
    with closing(sqlite3.connect(services.db.sqlite_path)) as connection:
        return {
            name: connection.execute(sql, args).fetchone()[0]
            for name, (sql, args) in queries.items()
        }


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_dashboard_shows_the_store(services: Any, size: tuple[int, int]) -> None:
    names, rows, directories = demo_files()
    expected = {
        **counted_in_sql(services, directories),
        "accounts": sum(rows.values()),
        "errors": 0,  # every demo app imports cleanly and its one run applied
    }
    # sample_data/README.md: the contractor feed rows of Victor Hale, Lena Novak and Marco
    # Bianchi match nobody and stay unmerged; the guest Pat Guest is owned by nobody
    assert expected["unmerged"] >= 3 and expected["unowned"] >= 1
    assert expected["people"] > 0 and expected["accounts"] > expected["people"]
    app = RosterApp(services)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        for name in ("people", "accounts", "unowned", "unmerged", "errors"):
            card = screen.query_one(f"#count-{name}", Static)
            assert shown(card) == f"{expected[name]:,}", name
            assert card.region.width >= 10 and card.region.y < size[1]

        apps = screen.query_one("#apps-table", DataTable)
        assert apps.row_count == len(names)
        for app_id, name in names.items():
            row = apps.get_row(app_id)
            assert str(row[0]) == name
            assert str(row[2]) == f"{rows[app_id]:,}", app_id

        runs = screen.query_one("#runs-table", DataTable)
        assert runs.row_count == 1  # `roster init --sample` ran one sync
        warnings = shown(screen.query_one("#warnings", Static))
        assert f"{expected['unowned']} accounts have no owner." in warnings
        assert "import failed" not in warnings


async def test_the_unmerged_card_is_explained_under_the_cards(services: Any) -> None:
    """ "Unmerged" is Roster's own word: at 80x24 the line under the cards says what it counts
    (docs/impact-and-matrix.md: the unmatched MATCH_ONLY directory accounts), and the help
    says where to list them."""
    app = RosterApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        rows = screen_text(app).splitlines()
        cards = next(i for i, row in enumerate(rows) if "─ Unmerged ─" in row)
        note = "Unmerged: accounts a directory filter set to MATCH_ONLY that joined nobody"
        # right under the cards (their top border, count and bottom border), whole
        assert note in rows[cards + 3], rows
        await pilot.press("question_mark")
        await pilot.pause()
        notes = [what for key, what in app.screen.rows if not key]
        assert f"{note} (screen 3, then n)" in notes
        assert any(what.startswith("MATCH_ONLY: a directory filter's answer") for what in notes)


@pytest.mark.parametrize("back", ["home", "pageup", "up"])
async def test_back_at_the_first_app_the_counts_show_again(services: Any, back: str) -> None:
    """At 80x24, PgDn in the apps list scrolled the counts out of sight and no key brought
    them back (newcomer review)."""
    app = RosterApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#apps-table", DataTable)
        table.focus()
        await pilot.press("pagedown")
        await settle(pilot)
        body = app.screen.query_one("#dashboard-body")
        assert body.scroll_y > 0 and "─ People ─" not in screen_text(app)
        if back == "up":
            await pilot.press(*["up"] * table.cursor_row)
        else:
            await pilot.press(back)
        await settle(pilot)
        assert table.cursor_row == 0
        assert body.scroll_y == 0 and "─ People ─" in screen_text(app)


async def test_refresh_reloads(services: Any) -> None:
    app = RosterApp(services)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        card = app.screen.query_one("#count-people", Static)
        card.update("stale")
        await pilot.press("r")
        await settle(pilot)
        people = counted_in_sql(services, demo_files()[2])["people"]
        assert shown(card) == f"{people:,}"


async def test_the_counts_show_before_the_care_lists_read_everyone(services: Any) -> None:
    """The first screen does not wait for the care lists, which load every person and
    account (seconds on a large store): the counts are up while they are checked."""
    import threading

    from tests.screens.helpers import wait_until

    release = threading.Event()
    real_care = services.care

    def slow_care(stop: Any = None) -> Any:
        release.wait(timeout=30)
        return real_care(stop)

    services.care = slow_care
    app = RosterApp(services, start="dashboard")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        people = screen.query_one("#count-people", Static)
        await wait_until(pilot, lambda: shown(people) not in ("", "…"), "the counts")
        assert shown(screen.query_one("#care", Static)) == "Checking people and managers…"
        assert services.ctx._population is None  # nobody loaded for the first screen
        release.set()
        await settle(pilot)
        assert "Checking" not in shown(screen.query_one("#care", Static))
        # the care lists read everyone's identity fields for the check and keep nothing
        assert services.ctx._population is None


async def test_quitting_while_the_care_lists_are_checked_does_not_wait_for_them(
    services: Any,
) -> None:
    """On a large store the check reads every person and account (seconds): the console
    quits at once, and the check stops where it is instead of running to its end."""
    import threading
    import time

    from engine.errors import Stopped

    reading = threading.Event()
    stopped: list[float] = []
    real_population = services.ctx.identity_population

    def endless_population(stop: Any = None) -> Any:
        reading.set()
        started = time.monotonic()
        while time.monotonic() - started < 30:  # a store that takes 30 s to read
            if stop is not None and stop():
                stopped.append(time.monotonic() - started)
                raise Stopped()
            time.sleep(0.01)
        return real_population(stop)

    services.ctx.identity_population = endless_population
    app = RosterApp(services, start="dashboard")
    started = time.monotonic()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert await asyncio.to_thread(reading.wait, 10)
        await pilot.press("ctrl+q")
    for _ in range(1000):  # the check's thread sees the console gone at its next question
        if stopped:
            break
        await asyncio.sleep(0.01)
    assert stopped and stopped[0] < 10, "the check ran on after the console quit"
    assert time.monotonic() - started < 20


def test_care_stops_when_asked_and_reads_everyone_without_profiles(services: Any) -> None:
    from engine.errors import Stopped
    from engine.services.care import care_lists

    assert services.sync().status.startswith("applied")
    with pytest.raises(Stopped):
        services.care(stop=lambda: True)
    asked = []

    def after_a_while() -> bool:  # the loads ask before their first row: let them read
        asked.append(1)
        return len(asked) > 3

    with pytest.raises(Stopped):
        services.care(stop=after_a_while)
    narrow = services.ctx.identity_population()
    assert narrow.accounts and all(not a.profile and not a.entitlements for a in narrow.accounts)
    lists, problems = services.care()
    full = care_lists(services.ctx.population(), services.ctx.config())
    assert problems == [] and lists == full


async def test_a_shows_every_item_that_needs_attention(services: Any) -> None:
    """The dashboard names three leavers of 21 and pointed to `roster status --all` for the
    rest: the console itself could not list them (newcomer review). `a` shows every item."""
    from screens.modals.text_view import TextViewModal

    lists, _ = services.care()
    leavers = next(care for care in lists if care.key == "leavers_still_enabled")
    assert leavers.total > 3
    app = RosterApp(services, start="dashboard")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert f"… and {leavers.total - 3} more (a shows them all)" in shown(
            screen.query_one("#care", Static)
        )
        await pilot.press("a")
        await pilot.pause()
        assert isinstance(app.screen, TextViewModal)
        body = shown(app.screen.query_one("#text-view-body", Static))
        # the warnings above the lists are items too (they were left out: newcomer review)
        unowned = next(w for w in services.dashboard().warnings if "have no owner" in w)
        assert body.startswith(f"! {unowned}")
        assert f"{leavers.title}: {leavers.total}" in body
        for item in leavers.every:  # each one, its end too (wrapped under itself, not cut)
            assert item.split(":")[0] in body
        assert "more (" not in body
        text = screen_text(app)
        assert "esc closes" in text  # the keys line stays on screen at 80x24
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen


def test_the_whole_care_view_is_bounded_and_shows_items_literally() -> None:
    """A broken store's 5,000 leavers: the whole view lists CARE_ALL of them and says where
    the rest are; an item's markup and escapes are text."""
    from engine.services.care import CareList
    from screens.dashboard import CARE_ALL, care_text

    items = [f"[bold red]p{n}[/] \x1b[2J@example.com: disabled in hr" for n in range(5000)]
    care = CareList("leavers_still_enabled", "Leavers", items[:10], 5000, items)
    text = care_text([care], [], whole=True).plain
    assert text.count("disabled in hr") == CARE_ALL
    assert text.endswith(f"… and {5000 - CARE_ALL:,} more (roster status --all lists them)")
    assert "[bold red]p0[/] \\x1b[2J@example.com" in text
