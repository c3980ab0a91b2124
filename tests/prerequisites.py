"""What a test needs from the machine (tmux, a PostgreSQL server). In CI a missing prerequisite
is a failure, never a skip: CI sets CI=true (and .ci/run also sets ROSTER_REQUIRE_POSTGRES=1).
The CEL conformance data is vendored in tests/cel_conformance/data, so it is never missing."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
# CI clones the repository into some folder with a copy of shared/ beside it
SHARED = REPOSITORY.parent / "shared"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def missing(reason: str, *, required: bool = False) -> NoReturn:
    """Fail in CI (or when `required`), else skip with `reason` on a developer's machine."""
    if in_ci() or required:
        pytest.fail(f"{reason} (a missing prerequisite is a failure in CI)", pytrace=False)
    pytest.skip(reason)
