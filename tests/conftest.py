"""Every test runs isolated from the machine it runs on: no store named by the environment, and a
data directory of its own, so no test reads or creates the real default store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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
