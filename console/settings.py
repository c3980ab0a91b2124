"""Where the console finds its identity store: --db / ROSTER_DB, --database-url /
ROSTER_DATABASE_URL, else a SQLite file in the user's data directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.services import default_db_path
from engine.store.db import Database, sqlite_url


@dataclass
class Settings:
    db_path: Path | None = None
    database_url: str | None = None

    @property
    def url(self) -> str:
        return self.database_url or sqlite_url(self.db_path or default_db_path())

    def describe(self) -> str:
        return (
            Database(self.url).display_url
            if self.database_url
            else str((self.db_path or default_db_path()).expanduser())
        )

    def store_exists(self) -> bool:
        db = Database(self.url)
        try:
            return db.exists()
        finally:
            db.dispose()
