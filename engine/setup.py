"""Creating a store: empty, or loaded with the demo organisation through the same paths an admin
uses (configuration import, then a sync)."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

from engine.errors import StoreError
from engine.store.db import Database


def sample_dir() -> Path:
    """The demo organisation shipped with Roster (read-only: it is copied before use)."""
    return Path(str(resources.files("sample_data")))


def demo_folder_for(db: Database) -> Path:
    """Where the demo's app files live for this store: beside the database, so pushes and new
    accounts write there and never into the installed package."""
    path = db.sqlite_path
    if path is not None:
        return path.with_name(path.stem + "-demo")
    from platformdirs import user_data_path

    return user_data_path("roster") / "demo"


def copy_demo_files(target: Path) -> Path:
    source = sample_dir() / "apps"
    if not source.is_dir():
        raise StoreError(f"The demo organisation is missing from this installation ({source}).")
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target / "apps")
    shutil.copy2(sample_dir() / "roster.yaml", target / "roster.yaml")
    return target
