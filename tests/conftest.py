"""Every test runs isolated from the machine it runs on: no store named by the environment, and a
data directory of its own, so no test reads or creates the real default store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

STORE_VARIABLES = ("ROSTER_DB", "ROSTER_DATABASE_URL")


@pytest.fixture(scope="session", autouse=True)
def _no_store_from_the_environment() -> Iterator[None]:
    """Cleared for the whole session, so session-scoped fixtures are isolated too: an exported
    ROSTER_DATABASE_URL would otherwise send the CLI tests to that database."""
    with pytest.MonkeyPatch.context() as patch:
        for name in STORE_VARIABLES:
            patch.delenv(name, raising=False)
        yield


@pytest.fixture(autouse=True)
def isolated_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A fresh HOME and XDG folders for each test: platformdirs puts the default store (and the
    demo's files) under XDG_DATA_HOME, so the default store lives in a temporary folder."""
    for name in STORE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    for variable, folder in (
        ("XDG_DATA_HOME", ".local/share"),
        ("XDG_CONFIG_HOME", ".config"),
        ("XDG_CACHE_HOME", ".cache"),
        ("XDG_STATE_HOME", ".local/state"),
    ):
        monkeypatch.setenv(variable, str(home / folder))
    return home


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo organisation, imported and synced once per run (`r.db` and its `r-demo`
    folder of app files); tests get copies through `demo`."""
    from engine.services import open_services

    folder = tmp_path_factory.mktemp("demo-template")
    services = open_services(db_path=folder / "r.db", init="sample")
    services.db.dispose()
    return folder


def demo_copy(template: Path, folder: Path) -> Any:
    """A copy of the demo store and its app files in FOLDER, pointed at its own files (the
    store records the absolute folder its configuration came from: a plain copy would sync
    into the template's files)."""
    import shutil
    import sqlite3
    from contextlib import closing

    from engine.services import open_services
    from engine.store.repo import set_meta

    with closing(sqlite3.connect(template / "r.db")) as source:
        with closing(sqlite3.connect(folder / "r.db")) as target:
            source.backup(target)
    shutil.copytree(template / "r-demo", folder / "r-demo")
    services = open_services(db_path=folder / "r.db")
    with services.db.session() as session, session.begin():
        set_meta(session, "config_base_dir", str((folder / "r-demo").resolve()))
    return services


@pytest.fixture
def demo(demo_template: Path, tmp_path: Path) -> Iterator[Any]:
    """A fresh copy of the synced demo organisation (Services) for one test."""
    services = demo_copy(demo_template, tmp_path)
    yield services
    services.db.dispose()
