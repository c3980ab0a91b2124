"""SVG snapshots of the CEL editor: colours, the completion list and a problem under the text.

The editor is shown alone (no store), so the picture never depends on data or timing.
Regenerate deliberately with `pytest tests/screens/test_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

from typing import Any

from engine.errors import Problem
from tests.screens.test_cel_editor import EditorApp


def test_editor_colours_and_problem(snap_compare: Any) -> None:
    async def run_before(pilot: Any) -> None:
        editor = pilot.app.query_one("CelEditor")
        editor.text = 'subject.departmnt == "Sales" && size(subject.emails) > 1 // note'
        editor.show_problem(
            Problem(
                "unknown field `departmnt` on a user",
                line=1,
                column=9,
                hint="did you mean `department`?",
            ),
            'subject.departmnt == "Sales"\n        ^',
        )
        await pilot.pause()

    assert snap_compare(EditorApp(), terminal_size=(80, 12), run_before=run_before)


def test_editor_completion_list(snap_compare: Any) -> None:
    assert snap_compare(EditorApp(), terminal_size=(60, 12), press=[*"subject.d"])
