"""Importing a configuration from another folder: relative connector paths follow the file's
folder, so the import's diff shows every app whose files are re-pointed, and validation warns
when a file a connector reads does not exist."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from console.cli import main
from engine.services import open_services
from engine.setup import demo_folder_for


@pytest.fixture
def demo(tmp_path: Path) -> tuple[Path, Path]:
    db = tmp_path / "r.db"
    services = open_services(db_path=db, init="sample")
    folder = demo_folder_for(services.db)
    services.db.dispose()
    return db, folder


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_an_export_imported_from_another_folder_shows_the_re_pointed_files(
    demo: tuple[Path, Path], tmp_path: Path
) -> None:
    """A configuration written for one folder (`apps/hr.yaml` from the demo's) and copied to
    another names other files there: the dry run shows each, and warns of the missing."""
    db, folder = demo
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    exported = elsewhere / "roster.yaml"
    beside = folder / "roster.yaml"
    assert run("config", "export", str(beside), "--db", str(db))[0] == 0
    assert "path: apps/hr.yaml" in beside.read_text()  # from its own folder, as stored
    exported.write_text(beside.read_text())
    app_ids = [line.split(": ")[1] for line in exported.read_text().splitlines()
               if line.startswith("  - id: ")]  # fmt: skip
    assert "hr" in app_ids

    code, out, err = run("config", "import", str(exported), "--dry-run", "--db", str(db))
    assert code == 1, err  # as the import would be refused (below)
    lines = out.splitlines()
    hr_old = folder / "apps" / "hr.yaml"
    hr_new = elsewhere / "apps" / "hr.yaml"
    repointed = [line for line in lines if "(resolved)" in line]

    def shows(setting: str, old: Path, new: Path) -> bool:
        # a long path keeps its start and its end (the file's name) around an ellipsis
        return any(
            line.startswith(f'  ~ {setting} (resolved): "{str(old)[:20]}')
            and f'{old.name}" → "' in line
            and line.endswith(f'{new.parent.parent.name}/apps/{new.name}"')
            for line in repointed
        )

    assert shows("apps.hr.settings.path", hr_old, hr_new)
    # every app of the demo reads a relative file, and so does the access requests setting
    requests_old = folder / "apps" / "access_requests.yaml"
    requests_new = elsewhere / "apps" / "access_requests.yaml"
    assert shows("settings.access_requests", requests_old, requests_new)
    assert len(repointed) == len(app_ids) + 1
    assert "No differences" not in out
    # every missing file is a warning naming the app and where it was looked for
    assert "warning: apps[0].settings.path: line " in err
    assert f"app `hr` reads {hr_new}, which does not exist" in err
    assert f"relative to the configuration file's folder ({elsewhere})" in err
    # files that exist re-pointed at files that do not: the import would be refused
    assert "Dry run: the import would be refused: " in err
    assert f"the import would point {len(app_ids) + 1} file settings from files that exist" in err

    code, out, err = run("config", "import", str(exported), "--dry-run", "--json", "--db", str(db))
    data = json.loads(out)
    assert code == 1 and data["ok"] is False and "--allow-missing-files" in data["refused"]
    changed = {c["path"]: (c["before"], c["after"]) for c in data["changes"]}
    assert changed["apps.hr.settings.path (resolved)"] == (str(hr_old), str(hr_new))
    assert any("app `hr` reads" in w["message"] for w in data["warnings"])

    code, out, err = run("config", "validate", str(exported))
    assert code == 0  # warnings, not errors

    assert f"warning: {exported}: apps[0].settings.path: line" in err
    assert f"the access requests file {requests_new} does not exist" in err
    assert out.strip().endswith(f"valid, {len(app_ids) + 1} warnings")

    # the same file imported from the demo's own folder re-points nothing and warns of nothing
    (folder / "again.yaml").write_text(exported.read_text())
    code, out, err = run(
        "config", "import", str(folder / "again.yaml"), "--dry-run", "--db", str(db)
    )
    assert code == 0 and "(resolved)" not in out and "does not exist" not in err
    assert "No differences against the current configuration." in out

    # imported for real it is refused (exported to standard output and imported from another
    # folder, every app read a missing file at the next sync: day-two review) ...
    code, out, err = run("config", "import", str(exported), "--db", str(db))
    assert code == 1 and "Nothing was imported." in err and "--allow-missing-files" in err
    # ... unless the files really moved: the text is the same but the files are not, and
    # that is audited
    allowed = ("config", "import", str(exported), "--allow-missing-files", "--db", str(db))
    assert run(*allowed)[0] == 0
    services = open_services(db_path=db)
    try:
        entry = next(e for e in services.audit(None, 20) if e.action == "config.import")
        assert entry.path == "apps"
        assert entry.after["apps.hr.settings.path (resolved)"] == str(hr_new), entry.after
    finally:
        services.db.dispose()


def test_an_export_written_elsewhere_names_the_same_files_and_imports_back_as_it_was(
    demo: tuple[Path, Path], tmp_path: Path
) -> None:
    """Exported to another folder and imported back unchanged, `path: apps/hr.yaml` was read
    from that folder: every app pointed at a file that did not exist, the next sync failed
    to read all eight, and the audit said nothing (newcomer review). The export writes its
    paths from its own folder; the import changes the text only, is audited, and the sync
    reads the same files."""
    db, folder = demo
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    exported = elsewhere / "roster.yaml"
    assert run("config", "export", str(exported), "--db", str(db))[0] == 0
    code, out, err = run("config", "import", str(exported), "--dry-run", "--db", str(db))
    assert code == 0, err
    assert "(resolved)" not in out and "does not exist" not in err, out + err
    code, out, err = run("config", "import", str(exported), "--db", str(db))
    assert code == 0, err
    code, out, err = run("sync", "--dry-run", "--json", "--db", str(db))
    assert code == 0, out + err
    assert json.loads(out)["failures"] == []
    code, out, _ = run("audit", "--db", str(db))
    assert "config.import" in out and "apps" in out
    # and again from there: nothing changes
    again = elsewhere / "again.yaml"
    assert run("config", "export", str(again), "--db", str(db))[0] == 0
    code, out, _ = run("config", "import", str(again), "--dry-run", "--db", str(db))
    assert code == 0 and "(0 changes)" in out, out


def test_an_export_into_a_symlinked_folder_names_the_files_the_system_reaches(
    demo: tuple[Path, Path], tmp_path: Path
) -> None:
    """`..` out of a symlinked folder leads from where the link points: an export into one
    wrote paths that named missing files, and its import said "Imported" while every app then
    failed (hostile pass). The export's paths now reach the same files, and an import whose
    paths do not is refused."""
    db, folder = demo
    deep = tmp_path / "deep" / "a" / "b"
    deep.mkdir(parents=True)
    link = tmp_path / "link"
    link.symlink_to(deep)
    exported = link / "roster.yaml"
    assert run("config", "export", str(exported), "--db", str(db))[0] == 0
    code, out, err = run("config", "import", str(exported), "--dry-run", "--json", "--db", str(db))
    data = json.loads(out)
    assert code == 0 and data["refused"] is None, err
    assert not [c for c in data["changes"] if c["path"].endswith("(resolved)")]
    # the same paths written as the text reads them (../ from the link's own folder)
    textual = exported.read_text().replace("../../../", "../")
    (link / "textual.yaml").write_text(textual)
    code, out, err = run("config", "import", str(link / "textual.yaml"), "--db", str(db))
    assert code == 1 and "from files that exist at files that do not" in err, err
