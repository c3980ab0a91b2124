"""Issue 12 §2, no silent failures: an app that fails to import, or a push the app refuses, makes
the run "applied with failures" (exit 5, README.md), its JSON and text name the apps and why,
and the dashboard shows a failed import until an import of that app succeeds."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from console.cli import main
from engine.errors import ConnectorError
from engine.services import open_services
from tests.engine.org import CONFIG, write_org


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def setup_store(tmp_path: Path, config: dict[str, Any] | None = None) -> tuple[Path, Path]:
    db = tmp_path / "roster.db"
    path = write_org(tmp_path / "org", config)
    assert cli("init", "--empty", "--db", str(db))[0] == 0
    code, out, err = cli("config", "import", str(path), "--db", str(db))
    assert code == 0, out + err
    return db, tmp_path / "org"


def _bad_encoding(org: Path) -> None:
    (org / "idp.yaml").write_bytes(
        "accounts:\n- id: u9\n  display_name: Jos\xe9\n".encode("latin-1")
    )


def _duplicate_id(org: Path) -> None:
    data = yaml.safe_load((org / "idp.yaml").read_text())
    data["accounts"].append(copy.deepcopy(data["accounts"][0]))
    (org / "idp.yaml").write_text(yaml.safe_dump(data))


def _bad_yaml(org: Path) -> None:
    (org / "idp.yaml").write_text("accounts: [ {id: broken\n")


def _missing(org: Path) -> None:
    (org / "idp.yaml").unlink()


def _a_folder(org: Path) -> None:  # the connector cannot read what the path names
    (org / "idp.yaml").unlink()
    (org / "idp.yaml").mkdir()


BREAKAGES: dict[str, Callable[[Path], None]] = {
    "bad encoding": _bad_encoding,
    "duplicate id": _duplicate_id,
    "bad YAML": _bad_yaml,
    "missing file": _missing,
    "connector error": _a_folder,
}


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_a_failed_import_exits_5_and_names_the_app(tmp_path: Path, breakage: str) -> None:
    db, org = setup_store(tmp_path)
    assert cli("sync", "--db", str(db))[0] == 0
    BREAKAGES[breakage](org)

    code, out, _ = cli("sync", "--json", "--db", str(db))
    assert code == 5, out
    data = json.loads(out)
    assert data["status"] == "applied-with-failures"
    (failure,) = data["failures"]
    assert failure["app"] == "idp" and failure["stage"] == "import"
    assert failure["reason"].startswith("failed to import")
    assert "idp" in data["error"]

    code, out, err = cli("sync", "--db", str(db))
    assert code == 5
    assert ": applied-with-failures" in out.splitlines()[0]
    assert "Applied with failures (exit 5)" in err
    assert "  idp (import): failed to import" in err

    code, out, _ = cli("runs", "--json", "--db", str(db))
    assert json.loads(out)[0]["status"] == "applied-with-failures"


def test_a_failed_csv_import_exits_5(tmp_path: Path) -> None:
    config = copy.deepcopy(CONFIG)
    config["apps"].append(
        {"id": "badge", "name": "Badge", "connector": "file", "settings": {"path": "badge.csv"}}
    )
    (tmp_path / "org").mkdir()
    (tmp_path / "org" / "badge.csv").write_text("id,display_name\nB1,Ann\n")
    db, org = setup_store(tmp_path, config)
    assert cli("sync", "--db", str(db))[0] == 0
    (org / "badge.csv").write_text("id,display_name\nB1,Ann,extra\n")
    code, out, _ = cli("sync", "--json", "--db", str(db))
    assert code == 5
    (failure,) = json.loads(out)["failures"]
    assert failure["app"] == "badge" and "row 1 has 3 values" in failure["reason"]


def test_a_failed_dry_run_import_exits_5(tmp_path: Path) -> None:
    db, org = setup_store(tmp_path)
    _bad_yaml(org)
    code, out, _ = cli("sync", "--dry-run", "--json", "--db", str(db))
    assert code == 5
    assert json.loads(out)["status"] == "planned-with-failures"


def test_the_dashboard_shows_a_failed_import_until_it_succeeds(tmp_path: Path) -> None:
    db, org = setup_store(tmp_path)
    good = (org / "idp.yaml").read_text()
    _bad_yaml(org)
    assert cli("sync", "--db", str(db))[0] == 5
    services = open_services(db_path=db)
    dashboard = services.dashboard()
    assert any(w.startswith("IdP: last import failed:") for w in dashboard.warnings)
    # another app changes and syncs cleanly while idp stays broken: still shown
    (org / "feed.yaml").write_text(yaml.safe_dump({"accounts": []}))
    assert cli("sync", "--db", str(db))[0] == 5
    assert any(w.startswith("IdP: last import failed:") for w in services.dashboard().warnings)
    (org / "idp.yaml").write_text(good)
    assert cli("sync", "--db", str(db))[0] == 0
    dashboard = services.dashboard()
    assert not [w for w in dashboard.warnings if "import failed" in w or "failures" in w]
    assert dashboard.errors == 0


def test_a_refused_push_exits_5(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.connectors.file.connector import FileConnector
    from tests.engine.test_push import AD, TITLE, ad_config

    (tmp_path / "org").mkdir()
    (tmp_path / "org" / "ad.yaml").write_text(yaml.safe_dump(AD, sort_keys=False))
    db, _ = setup_store(
        tmp_path, ad_config({"targeting": {"kind": "everyone"}, "mappings": [TITLE]})
    )
    (tmp_path / "org" / "ad.yaml").write_text(yaml.safe_dump(AD, sort_keys=False))
    original = FileConnector.update_accounts

    def refuse_alee(
        self: FileConnector, changes: Mapping[str, Mapping[str, Any]]
    ) -> dict[str, ConnectorError]:
        refused = original(self, {k: v for k, v in changes.items() if k != "alee"})
        if "alee" in changes:
            refused["alee"] = ConnectorError("App 'ad': the directory refused the change.")
        return refused

    monkeypatch.setattr(FileConnector, "update_accounts", refuse_alee)
    code, out, _ = cli("sync", "--json", "--db", str(db))
    assert code == 5, out
    data = json.loads(out)
    assert data["status"] == "applied-with-failures"
    (failure,) = data["failures"]
    assert failure == {
        "stage": "push",
        "app": "ad",
        "reason": "refused 1 push: alee: App 'ad': the directory refused the change.",
    }
    warnings = open_services(db_path=db).dashboard().warnings
    assert any(
        w.startswith(f"Run {data['run_id']} applied-with-failures: ad refused") for w in warnings
    )
    # the refused push's changes are not counted as applied (LDAP review: "3,000 changes
    # applied" after the server refused 2,562 of them)
    refused = [c for c in data["changes"] if c["stage"] == "push" and c["object_id"] == "ad:alee"]
    assert refused and data["changes_not_applied"] == len(refused)
    code, out, _ = cli("sync", "--db", str(db))  # refused again
    assert code == 5
    line = next(line for line in out.splitlines() if "refused by the apps" in line)
    total = int(line.split()[0])
    assert f"{total - len(refused)} applied, {len(refused)} refused by the apps" in line, out


def test_the_run_error_names_each_failed_app_in_one_readable_line() -> None:
    """Each reason ends in a full stop of its own: joined, they read "… folder; idp …", not
    "… folder.; idp …" (newcomer review)."""
    from engine.sync.pipeline import failures_summary

    failures = [
        {"app": "hr", "reason": "failed to import: the file does not exist. Check the path."},
        {"app": "idp", "reason": "failed to import: refused."},
        {"app": "ad", "reason": "failed to import: unreachable"},
        {"app": "slack", "reason": "failed to import: gone."},
    ]
    line = failures_summary(failures)
    assert ".;" not in line
    assert line == (
        "hr failed to import: the file does not exist. Check the path; "
        "idp failed to import: refused; ad failed to import: unreachable; and 1 more"
    )
