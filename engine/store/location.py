"""Where a store lives, without loading the database layer (the CLI's --help and argument
checks need these, and importing SQLAlchemy costs most of a command's start-up)."""

from __future__ import annotations

from pathlib import Path


def sqlite_url(path: Path | str) -> str:
    return f"sqlite:///{Path(path).expanduser().resolve()}"


def default_db_path() -> Path:
    """The store a console opens when no --db or URL is given (the user's data directory)."""
    from platformdirs import user_data_path

    return user_data_path("roster") / "roster.db"
