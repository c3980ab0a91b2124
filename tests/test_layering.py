"""The layering of docs/architecture.md and the engine's types, checked on every test run.

`lint-imports` reads the contracts in pyproject.toml (`[tool.importlinter]`): the engine never
imports the UI, screens never import the console, and screens reach the engine only through the
facade (`engine.services`), its errors and its records. mypy checks `engine/` strictly
(`[tool.mypy]`).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def test_import_contracts_are_kept() -> None:
    out = subprocess.run(
        [str(BIN / "lint-imports"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "3 kept, 0 broken" in out.stdout


def test_engine_type_checks() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr
    assert "Success: no issues found" in out.stdout
