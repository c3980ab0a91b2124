"""Where the console finds its identity store: --db / ROSTER_DB, --database-url /
ROSTER_DATABASE_URL, else a SQLite file in the user's data directory.

Only that default store is created on first start; a store named explicitly must exist
(`roster init` creates it), so a mistyped path is an error instead of a new demo store."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from engine.store.location import default_db_path, sqlite_url


@dataclass
class Settings:
    db_path: Path | None = None
    database_url: str | None = None

    @property
    def explicit(self) -> bool:
        """Whether the store was named (--db, --database-url or their environment variables)
        rather than being the default one."""
        return self.db_path is not None or self.database_url is not None

    def init_command(self) -> str:
        """The command that creates this store."""
        if self.database_url:
            from engine.services.facade import store_url_option
            from engine.store.db import Database

            return f"roster init {store_url_option(Database(self.url))}"
        if self.db_path is not None:
            return f"roster init --db {shlex.quote(str(self.db_path))}"
        return "roster init"

    def url_hint(self) -> str:
        """What to know when a SQLite URL naming a missing store holds "?" or "%" (an admin
        who typed a path with either got a store that was not theirs)."""
        url = self.database_url or ""
        if url.startswith("sqlite") and ("?" in url or "%" in url):
            return (
                " In a URL the path ends at '?' and '%' starts an escape: give a path holding "
                "either with --db, or write them as %3F and %25."
            )
        return ""

    @property
    def url(self) -> str:
        return self.database_url or sqlite_url(self.db_path or default_db_path())

    def describe(self) -> str:
        from engine.store.db import Database

        return (
            Database(self.url).display_url
            if self.database_url
            else str((self.db_path or default_db_path()).expanduser())
        )

    def store_exists(self) -> bool:
        from engine.store.db import Database

        db = Database(self.url)
        try:
            return db.exists()
        finally:
            db.dispose()
