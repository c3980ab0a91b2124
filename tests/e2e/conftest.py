"""The tmux tests share one xdist worker (`pytest -n 2 --dist loadgroup`): each drives a real
console whose screens are waited on, so two of them at once on a 2-core machine would only
make both slower; the other worker runs the rest of the suite beside them."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # (a conftest's hook sees every collected item, not only this folder's)
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.e2e)
            item.add_marker(pytest.mark.xdist_group("e2e"))
