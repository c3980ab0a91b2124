"""The engine is a library: importing it loads no UI and creates nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_importing_the_engine_loads_no_ui_module(tmp_path: Path) -> None:
    code = (
        "import sys, engine, engine.services, engine.sync.pipeline, engine.preview, engine.cel, "
        "engine.config, engine.connectors.registry, engine.store.models\n"
        "ui = ('textual', 'rich', 'click', 'console', 'screens')\n"
        "bad = [m for m in ui if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    env = {"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data"), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=True,
    )
    assert out.stdout.strip() == ""
    assert list(tmp_path.iterdir()) == [], "importing the engine created files"
