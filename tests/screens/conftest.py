"""Fixtures for console tests: the real engine facade over a temporary sample store."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def sample_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the demo organisation once; each test gets its own copy of the folder."""
    from engine.services import open_services

    folder = tmp_path_factory.mktemp("sample-store")
    services = open_services(db_path=folder / "r.db", init="sample")
    services.db.dispose()
    return folder


@pytest.fixture
def services(sample_store: Path, tmp_path: Path) -> Any:
    from engine.services import open_services

    folder = tmp_path / "store"
    shutil.copytree(sample_store, folder)
    services = open_services(db_path=folder / "r.db")
    yield services
    services.db.dispose()
