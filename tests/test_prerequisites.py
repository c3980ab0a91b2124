"""A missing prerequisite skips only on a developer's machine; in CI it fails."""

from __future__ import annotations

import pytest

from tests.prerequisites import REPOSITORY, SHARED, missing


@pytest.mark.parametrize("value", ["true", "1", "TRUE"])
def test_a_missing_prerequisite_fails_in_ci(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.fail.Exception, match="no tmux.*failure in CI"):
        missing("no tmux")


def test_a_missing_prerequisite_skips_elsewhere_unless_required(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no tmux"):
        missing("no tmux")
    with pytest.raises(pytest.fail.Exception, match="no PostgreSQL"):
        missing("no PostgreSQL", required=True)


def test_shared_data_is_looked_for_beside_the_repository() -> None:
    assert (REPOSITORY / "pyproject.toml").is_file()
    assert SHARED == REPOSITORY.parent / "shared"
