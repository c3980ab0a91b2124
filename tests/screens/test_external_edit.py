"""Editing a configuration object in $EDITOR from the console: the palette asks for the path,
the app hands the terminal over (App.suspend) and the engine's round trip validates and saves.

Headless tests cannot suspend a terminal: one test checks what the admin is told then, the
others stand in for `App.suspend` with a plain context (the real hand-over is covered in tmux by
tests/e2e/test_tmux_external_edit.py)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from console.app import RosterApp
from screens.external_edit import edit_externally
from screens.modals.error import ErrorModal
from screens.modals.object_path import ObjectPathModal
from tests.engine.test_cli_config_edit import EDITOR
from tests.screens.helpers import palette_choose, settle, wait_until


@pytest.fixture
def editor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "editor"
    folder.mkdir()
    script = folder / "edit.py"
    script.write_text(EDITOR)
    script.chmod(0o755)
    monkeypatch.setenv("EDITOR", str(script))
    monkeypatch.setenv("EDIT_PLAN", str(folder / "plan.json"))
    return folder


def plan(folder: Path, *steps: dict[str, object]) -> None:
    (folder / "plan.json").write_text(json.dumps(list(steps)))


@contextlib.contextmanager
def handed_over() -> Iterator[None]:
    yield


def notes(app: Any) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def test_the_palette_opens_an_object_in_the_editor_until_it_is_valid(
    services: Any, editor: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan(
        editor,
        {"replace": [': "MATCH_ONLY"', ": MATCH_ONLYX"]},
        {"replace": [": MATCH_ONLYX", ': "IGNORE"']},
    )
    app = RosterApp(services)
    monkeypatch.setattr(app, "suspend", handed_over)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await palette_choose(pilot, "edit configuration object editor")
        await wait_until(pilot, lambda: isinstance(app.screen, ObjectPathModal), "the path box")
        await pilot.press(*"directories.hr.filter", "enter")
        await wait_until(
            pilot, lambda: any("Saved" in n for n in notes(app)), "the edit to be saved"
        )
        await settle(pilot)
    assert "Saved directories.hr.filter (1 change)." in notes(app)
    # a text field is edited as the text itself; the error sits above its line in the expression
    first = (editor / "seen.1").read_text().splitlines()
    assert first[3] == (
        'account.profile.employment_status == "TERMINATED" || account.status == UserStatus.DISABLED'
    )
    second = (editor / "seen.2").read_text().splitlines()
    error = second.index("    : MATCH_ONLYX") - 1
    assert second[error] == (
        "    # ERROR: unknown name `MATCH_ONLYX` (the variables here are account, subject)"
    )
    assert services.config_get("directories.hr.filter").endswith(': "IGNORE"\n')
    entry = services.last_change("directories.hr")
    assert entry is not None and entry.action == "config.edit"
    assert entry.path == "directories.hr.filter"
    assert entry.diff()[-2:] == ['-    : "MATCH_ONLY"', '+    : "IGNORE"']


async def test_an_abandoned_edit_and_a_wrong_path_change_nothing(
    services: Any, editor: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exported = services.export_config()
    plan(editor, {"keep": True})
    app = RosterApp(services)
    monkeypatch.setattr(app, "suspend", handed_over)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert await edit_externally(app.screen, "directories.hr") is None
        await pilot.pause()
        assert "directories.hr: the edit was abandoned; nothing was changed." in notes(app)
        assert await edit_externally(app.screen, "directories.nope") is None
        await wait_until(pilot, lambda: isinstance(app.screen, ErrorModal), "the error dialog")
        assert "there is no directory `nope`" in str(app.screen.message)
    assert services.export_config() == exported
    assert not (editor / "seen.2").exists()


async def test_a_terminal_that_cannot_be_handed_over_says_so(services: Any) -> None:
    app = RosterApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert await edit_externally(app.screen, "settings") is None
        await pilot.pause()
    assert any("cannot be handed to an editor" in n for n in notes(app))


async def test_an_editor_that_fails_gives_the_console_back_with_the_error(
    services: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Textual's suspend() resumes the screen only when its block ends without an exception
    # (no try/finally): this stand-in behaves the same, so an error escaping the block would
    # leave `resumed` False (in a real terminal: a blank screen in line mode).
    resumed: list[bool] = []

    @contextlib.contextmanager
    def like_textual() -> Iterator[None]:
        yield
        resumed.append(True)

    monkeypatch.setenv("EDITOR", "/nonexistent/editor")
    exported = services.export_config()
    app = RosterApp(services)
    monkeypatch.setattr(app, "suspend", like_textual)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert await edit_externally(app.screen, "directories.hr") is None
        await wait_until(pilot, lambda: isinstance(app.screen, ErrorModal), "the error dialog")
        assert "/nonexistent/editor" in str(app.screen.message)
    assert resumed == [True]
    assert services.export_config() == exported
