"""Inputs that must not crash or hang (issue 12 §4): configuration files and app files that are
devices, FIFOs, too large, nested too deeply or hold control characters each get a located
error from the command line, in well under the time a hang would take."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from console.cli import main
from tests.engine.org import HR, write_org
from tests.engine.test_cel_budget import make_store


def validate(path: Path, **env: str) -> tuple[int, str]:
    started = time.perf_counter()
    result = CliRunner(env=env).invoke(main, ["config", "validate", str(path)])
    assert time.perf_counter() - started < 20
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("content", "message", "line"),
    [
        ("version: 1\nsettings: " + "[" * 20_000 + "]" * 20_000 + "\n", "more than 100 levels", 2),
        ("version: 1\nsettings:\n  " + "- " * 20_000 + "a\n", "too deeply to read", 3),
        ("version: 1\napps: []\n# a\x00b\n", "control character (\\x00)", 3),
        (
            "version: 1\nsettings:\n  deletion_threshold:\n"
            "    max_objects: 123456789012345678901234567890\n",
            "it must be between 0 and 9223372036854775807",
            4,
        ),
    ],
)
def test_a_hostile_configuration_is_a_located_error(
    tmp_path: Path, content: str, message: str, line: int
) -> None:
    path = tmp_path / "roster.yaml"
    path.write_text(content)
    code, output = validate(path)
    assert code != 0 and message in output and f"line {line}" in output
    assert "Traceback" not in output


def test_a_device_a_fifo_and_an_oversized_configuration_are_refused_before_reading(
    tmp_path: Path,
) -> None:
    zero = tmp_path / "zero.yaml"
    zero.symlink_to("/dev/zero")
    code, output = validate(zero)
    assert code != 0 and "it is a device, not a regular file" in output and "line 1" in output

    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    code, output = validate(fifo)  # would block for ever if opened for reading
    assert code != 0 and "a named pipe (FIFO)" in output

    big = write_org(tmp_path / "org")
    code, output = validate(big, ROSTER_MAX_CONFIG_MB="0.001")
    assert code != 0 and "over the limit of 1,048 bytes" in output
    assert "ROSTER_MAX_CONFIG_MB" in output
    code, output = validate(big)
    assert code == 0, output


def _sync_failure(db: str) -> str:
    result = CliRunner().invoke(main, ["sync", "--db", db, "--json"])
    data = json.loads(result.stdout)
    assert result.exit_code == 5 and data["status"] == "applied-with-failures"
    return " ".join(f"{f['app']}: {f['reason']}" for f in data["failures"])


@pytest.mark.parametrize(
    ("display_name", "message"),
    [
        ("Ann\x00Lee", "holds the control character \\x00"),
        ("Ann\x1b[31mLee", "holds the control character \\x1b"),
        ("A" * 1_000_000, "characters; at most 65,536 are read"),
    ],
    ids=["nul", "escape", "megabyte"],
)
def test_app_values_with_control_characters_or_a_megabyte_are_refused_in_yaml_and_csv(
    tmp_path: Path, display_name: str, message: str
) -> None:
    db = make_store(tmp_path)
    hr = tmp_path / "org" / "hr.yaml"
    data = yaml.safe_load(hr.read_text())
    data["accounts"][0]["display_name"] = display_name
    hr.write_text(yaml.safe_dump(data, sort_keys=False))
    failure = _sync_failure(db)
    assert "hr: " in failure and message in failure and "line " in failure

    # the same value in a CSV app file
    config = yaml.safe_load((tmp_path / "org" / "roster.yaml").read_text())
    config["apps"].append(
        {"id": "badge", "connector": "file", "settings": {"path": "badge.csv", "format": "csv"}}
    )
    db2 = make_store(tmp_path / "csv", config, sync=False)
    (tmp_path / "csv" / "org" / "badge.csv").write_text(
        f'id,display_name,email\nB1,"{display_name}",ann.lee@example.com\n'
    )
    failure = _sync_failure(db2)
    assert "badge: " in failure and message in failure and "line 2" in failure


def test_app_files_that_are_devices_fifos_or_too_large_are_refused(tmp_path: Path) -> None:
    db = make_store(tmp_path)
    hr = tmp_path / "org" / "hr.yaml"
    hr.unlink()
    hr.symlink_to("/dev/zero")
    started = time.perf_counter()
    assert "it is a device, not a regular file" in _sync_failure(db)
    hr.unlink()
    os.mkfifo(hr)
    assert "a named pipe (FIFO)" in _sync_failure(db)
    assert time.perf_counter() - started < 30
    hr.unlink()
    hr.write_text(yaml.safe_dump(HR, sort_keys=False))
    result = CliRunner(env={"ROSTER_MAX_APP_FILE_MB": "0.001"}).invoke(
        main, ["sync", "--db", db, "--json"]
    )
    assert "over the limit of 1,048 bytes" in result.stdout
    assert "ROSTER_MAX_APP_FILE_MB" in result.stdout
