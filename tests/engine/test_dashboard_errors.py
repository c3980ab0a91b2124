"""What the dashboard counts as an error of the store, and what it does not."""

from __future__ import annotations

from typing import Any

from click.testing import CliRunner

from console.cli import main


def _cli(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


def test_a_refused_provisioning_dry_run_is_no_error_of_the_store(demo: Any) -> None:
    """A newcomer's `provision ad --user 22 --dry-run` (Mei Tanaka, no email) raised the
    dashboard's Errors card and led its warnings: a dry run for one person changes nothing."""
    db = str(demo.db.sqlite_path)
    mei = next(p for p in demo.population().users if p.display_name == "Mei Tanaka")
    result = _cli("provision", "ad", "--user", str(mei.id), "--dry-run", "--db", db)
    assert result.exit_code != 0
    assert demo.runs(limit=1)[0].kind == "provision"
    board = demo.dashboard()
    assert board.errors == 0 and not any(w.startswith("Run ") for w in board.warnings)
