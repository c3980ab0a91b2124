"""The engine is a library: importing it loads no UI and creates nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_importing_the_engine_loads_no_ui_module(tmp_path: Path) -> None:
    code = (
        "import sys, engine, engine.services, engine.sync.pipeline, engine.preview, engine.cel, "
        "engine.config, engine.connectors.registry, engine.store.models\n"
        "ui = ('textual', 'rich', 'click', 'console', 'screens')\n"
        "bad = [m for m in ui if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    env = {"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data"), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=True,
    )
    assert out.stdout.strip() == ""
    assert list(tmp_path.iterdir()) == [], "importing the engine created files"


def _loaded_after(code: str, modules: tuple[str, ...], tmp_path: Path) -> list[str]:
    """Which of MODULES a fresh interpreter has imported after running CODE."""
    probe = f"{code}\nimport sys\nprint(','.join(m for m in {modules!r} if m in sys.modules))\n"
    env = {"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data"), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=True,
    )
    return [m for m in out.stdout.strip().split(",") if m]


def test_the_cli_imports_no_ui_store_or_cel_until_a_command_needs_them(tmp_path: Path) -> None:
    # `roster --help` and every command start here: Textual only when the console opens,
    # SQLAlchemy/SQLModel when a store is opened, cel-python when an expression is compiled
    heavy = ("textual", "rich", "sqlalchemy", "sqlmodel", "pydantic", "celpy", "lark", "yaml")
    assert _loaded_after("import console.cli", heavy, tmp_path) == []


def test_opening_the_store_imports_neither_cel_nor_the_sync_stages(tmp_path: Path) -> None:
    # the facade builds each area when first used; a one-record preview needs none of these
    code = (
        "from engine.services import open_services\n"
        f"services = open_services(db_path={str(tmp_path / 'r.db')!r}, init='empty')\n"
        "services.find_records('user', 'ann')\n"
    )
    later = (
        "textual",
        "celpy",
        "engine.sync.pipeline",
        "engine.connectors.registry",
        "engine.config.validate",
        "engine.services.editing",
    )
    assert _loaded_after(code, later, tmp_path) == []


def test_the_dashboard_reads_its_figures_without_cel_or_the_connectors(tmp_path: Path) -> None:
    # the console's first screen: importing cel-python in its worker, beside Textual starting
    # up, cost it half a second at 100,000 people (engine/sync/run_notes.py)
    code = (
        "from engine.services import open_services\n"
        f"services = open_services(db_path={str(tmp_path / 'r.db')!r}, init='empty')\n"
        "services.dashboard(with_care=False)\n"
    )
    later = ("celpy", "lark", "engine.connectors.registry", "engine.sync.incremental")
    assert _loaded_after(code, later, tmp_path) == []


def test_every_lazily_exported_name_resolves_to_its_home() -> None:
    import importlib

    import engine.config
    import engine.services

    for package in (engine.services, engine.config):
        exports = package._EXPORTS
        assert sorted(exports) == sorted(package.__all__), package.__name__
        for name, where in exports.items():
            module, _, attribute = where.partition(":")
            home = getattr(importlib.import_module(module), attribute or name)
            assert getattr(package, name) is home, f"{package.__name__}.{name}"
            assert name in dir(package)
        try:
            package.NoSuchName  # type: ignore[attr-defined]  # noqa: B018
        except AttributeError as exc:
            assert "NoSuchName" in str(exc)
        else:
            raise AssertionError("an unknown name must raise AttributeError")


def test_a_one_record_preview_of_a_sqlite_store_imports_no_store_layer(tmp_path: Path) -> None:
    # engine/services/one_record.py: the record and the settings come through sqlite3
    db = tmp_path / "r.db"
    subprocess.run(
        [sys.executable, "-m", "console.cli", "init", "--db", str(db)],
        capture_output=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    code = (
        "import contextlib, io, sys\n"
        "from console.cli import main\n"
        f"sys.argv = ['roster', '--db', {str(db)!r}, 'preview', '--context', 'attribute_source',"
        " '--user', 'ann.lee@example.com', 'subject.email']\n"
        "try:\n"
        "    with contextlib.redirect_stdout(io.StringIO()):\n"
        "        main()\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code\n"
    )
    heavy = ("sqlalchemy", "sqlmodel", "pydantic", "alembic", "textual", "yaml")
    assert _loaded_after(code, heavy, tmp_path) == []
