"""The migrations build exactly the schema the models declare, and 0002 keeps old rows."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlmodel import SQLModel

from engine.store.db import MIGRATIONS, Database, sqlite_url


def upgrade(db: Database, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def test_the_migrated_schema_is_the_models_schema(tmp_path: Path) -> None:
    db = Database(sqlite_url(tmp_path / "r.db"))
    db.migrate()
    with db.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), SQLModel.metadata) == []


def test_0002_keeps_the_access_requests_of_a_0001_store(tmp_path: Path) -> None:
    db = Database(sqlite_url(tmp_path / "r.db"))
    upgrade(db, "0001")
    with db.engine.begin() as connection:  # a request as 0001 could hold it (no person row:
        connection.execute(text("PRAGMA foreign_keys=OFF"))  # only the columns matter here)
        connection.execute(
            text(
                "INSERT INTO access_request (id, user_id, app_id, status, created_at) "
                "VALUES (7, 1, 'entra', 'APPROVED', '2026-01-01')"
            )
        )
    db.migrate()
    with db.engine.connect() as connection:
        row = connection.execute(
            text(
                "SELECT id, user_id, app_id, status, request_id, user_email, account, "
                "fulfilled_run_id FROM access_request"
            )
        ).one()
    assert tuple(row) == (7, 1, "entra", "APPROVED", "request-7", "", "", None)


def test_a_store_from_another_roster_is_refused_in_a_sentence(tmp_path: Path) -> None:
    """A schema revision this Roster does not know (a newer Roster wrote the store) ended in
    Alembic's 89-line traceback (day-two review); it is refused, naming both revisions, and
    the store is left as it was."""
    from click.testing import CliRunner

    from console.cli import main
    from engine.store.location import head_revision

    path = tmp_path / "r.db"
    db = Database(sqlite_url(path))
    db.migrate()
    with db.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'zz99_future'"))
    db.dispose()
    before = path.read_bytes()
    result = CliRunner().invoke(main, ["status", "--db", str(path)])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert (
        "was written by another version of Roster (its schema is at zz99_future; this Roster "
        f"knows up to {head_revision()}). Nothing was changed"
    ) in result.output
    assert path.read_bytes() == before
