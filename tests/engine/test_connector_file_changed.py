"""The file connector recognises an unchanged YAML record by the digest of its text before
parsing it (`list_changed`), and reads the file whole whenever that could be wrong."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from engine.connectors.base import ConnectorSpec
from engine.connectors.file import FileConnector, chunks, yaml_store
from engine.connectors.file.chunks import split_accounts
from engine.connectors.file.connector import STAMP_SETTLED_NS
from engine.errors import ConnectorError
from engine.services import Services
from engine.setup import sample_dir

FILE = """\
# an app
accounts:
- id: a1
  display_name: Ann
  email: ann@example.com
  emails:
  - ann+x@example.com
  profile:
    title: Engineer
# a comment between records
- id: a2
  display_name: Bo
  email: bo@example.com
- id: a3
  display_name: Cy
entitlements:
- id: g1
  name: Group one
grants:
- {account: a1, entitlement: g1}
- {account: a3, entitlement: g1}
"""


def connector(tmp_path: Path, text: str) -> FileConnector:
    (tmp_path / "app.yaml").write_text(text, encoding="utf-8")
    spec = ConnectorSpec(
        app_id="app", kind="file", settings={"path": "app.yaml"}, base_dir=tmp_path
    )
    return FileConnector(spec)


def known_of(c: FileConnector) -> dict[str, str]:
    listing = c.list_all()
    assert {a.external_id for a in listing.accounts} == set(listing.digests)
    return {digest: external_id for external_id, digest in listing.digests.items()}


def test_the_split_keeps_every_character(tmp_path: Path) -> None:
    split = split_accounts(FILE)
    assert split is not None and len(split.items) == 3
    assert split.before + "".join(split.items) + split.after == FILE
    assert split.items[0].endswith("# a comment between records\n")


@pytest.mark.parametrize(
    "text",
    [
        "accounts: [{id: a1}]\n",  # flow style
        "accounts:\n- &x {id: a1}\n- *x\n",  # anchors and aliases
        "---\naccounts:\n- id: a1\n",  # document markers
        "accounts:\n- id: a1\n\r\n",  # another line break
        "accounts:\n  - id: a1\n - id: a2\n",  # odd indentation
    ],
)
def test_a_file_not_in_the_plain_shape_is_not_split(text: str) -> None:
    assert split_accounts(text) is None


def test_unchanged_records_are_only_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    c = connector(tmp_path, FILE)
    known = known_of(c)
    (tmp_path / "app.yaml").write_text(
        FILE.replace("display_name: Bo", "display_name: Bo Chen"),
        encoding="utf-8",
    )
    built: list[str] = []
    original = yaml_store.account_from_item

    def counting(item, report):  # type: ignore[no-untyped-def]
        built.append(item.get("id"))
        return original(item, report)

    monkeypatch.setattr(yaml_store, "account_from_item", counting)
    listing = c.list_changed(known)
    assert built == ["a2"]  # only the changed record was built
    assert [a.external_id for a in listing.accounts] == ["a2"]
    assert listing.accounts[0].display_name == "Bo Chen"
    assert sorted(listing.unchanged) == ["a1", "a3"]
    # grants of unchanged accounts are listed as before; the new digest is the one listed
    assert {(g.account_external_id, g.entitlement_external_id) for g in listing.grants} == {
        ("a1", "g1"),
        ("a3", "g1"),
    }
    assert listing.digests["a2"] not in known
    # the same record read whole has the same digest
    assert c.list_all().digests["a2"] == listing.digests["a2"]


def test_a_new_record_reusing_an_unchanged_id_is_reported_with_the_files_line(
    tmp_path: Path,
) -> None:
    c = connector(tmp_path, FILE)
    known = known_of(c)
    (tmp_path / "app.yaml").write_text(
        FILE.replace("- id: a3\n", "- id: a1\n  username: again\n- id: a3\n"), encoding="utf-8"
    )
    with pytest.raises(ConnectorError) as caught:
        c.list_changed(known)
    assert "duplicate id 'a1'" in caught.value.message
    assert "line 14" in caught.value.message  # the file's own line, not the reduced text's


def test_a_broken_changed_record_names_its_line_in_the_file(tmp_path: Path) -> None:
    c = connector(tmp_path, FILE)
    known = known_of(c)
    (tmp_path / "app.yaml").write_text(
        FILE.replace("  display_name: Cy\n", "  display_name: Cy\n  status: SLEEPING\n"),
        encoding="utf-8",
    )
    with pytest.raises(ConnectorError) as caught:
        c.list_changed(known)
    assert "line 16: account #3" in caught.value.message, caught.value.message


def test_a_grant_to_a_gone_account_is_still_refused(tmp_path: Path) -> None:
    c = connector(tmp_path, FILE)
    known = known_of(c)
    (tmp_path / "app.yaml").write_text(
        FILE.replace("- id: a3\n  display_name: Cy\n", ""), encoding="utf-8"
    )
    with pytest.raises(ConnectorError) as caught:
        c.list_changed(known)
    assert "no account with id 'a3'" in caught.value.message


def test_a_stamp_is_given_only_for_files_settled_on_disk(tmp_path: Path) -> None:
    c = connector(tmp_path, FILE)
    path = tmp_path / "app.yaml"
    assert c.source_stamp() is None  # just written: a write in the same clock tick could hide
    old = time.time() - 10
    os.utime(path, (old, old))
    time.sleep(STAMP_SETTLED_NS / 1e9 + 0.1)  # the change time (of utime itself) settles
    stamp = c.source_stamp()
    assert stamp is not None and stamp == c.source_stamp()
    # same size, new content, the modification time put back (`touch -r`): the change time
    # still tells
    path.write_text(FILE.replace("Ann", "Anh"), encoding="utf-8")
    os.utime(path, (old, old))
    assert c.source_stamp() is None
    time.sleep(STAMP_SETTLED_NS / 1e9 + 0.1)
    assert c.source_stamp() not in (None, stamp)


def test_a_settled_sync_reads_no_file_whose_stamp_is_unchanged(
    demo: Services, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    old = time.time() - 10
    for path in (tmp_path / "r-demo").rglob("*"):
        os.utime(path, (old, old))
    time.sleep(STAMP_SETTLED_NS / 1e9 + 0.1)  # the change time (of utime itself) settles
    assert demo.sync().changes == []  # records the stamps
    read: list[str] = []
    original = FileConnector.source_version

    def counting(self: FileConnector) -> str | None:
        read.append(self.app_id)
        return original(self)

    monkeypatch.setattr(FileConnector, "source_version", counting)
    again = demo.sync()
    assert again.changes == [] and "apps_unchanged" in again.stages[0].counts
    assert read == []
    # a changed file is read (and its new data imported)
    hr = tmp_path / "r-demo" / "apps" / "hr.yaml"
    hr.write_text(hr.read_text(encoding="utf-8").replace("Head of Engineering", "Head of Eng"))
    moved = demo.sync()
    assert "hr" in read and any(c["new"] == "Head of Eng" for c in moved.changes)


@pytest.mark.parametrize("app", ["hr", "ad", "entra", "idp", "slack", "github"])
def test_the_quick_split_agrees_with_the_careful_one(app: str) -> None:
    text = (sample_dir() / "apps" / f"{app}.yaml").read_text(encoding="utf-8")
    for variant in (text, FILE, text.replace("\ngrants:", "\n# the grants\n\ngrants:")):
        quick, careful = split_accounts(variant), chunks._split_lines(variant)
        assert quick is not None and careful is not None
        assert (quick.before, quick.items, quick.after) == (
            careful.before,
            careful.items,
            careful.after,
        )


def count_builds(monkeypatch: pytest.MonkeyPatch, module: Any) -> list[str]:
    """The ids of the account records MODULE builds from now on (its account_from_item)."""
    built: list[str] = []
    original = module.account_from_item

    def counting(item, report, **kwargs):  # type: ignore[no-untyped-def]
        built.append(item.get("id"))
        return original(item, report, **kwargs)

    monkeypatch.setattr(module, "account_from_item", counting)
    return built


# --- JSON Lines: the same, a line a record ----------------------------------------------------

JSONL = (
    '{"id": "a1", "display_name": "Ann", "email": "ann@example.com"}\n'
    '{"id": "a2", "display_name": "Bo"}\n'
    "\n"
    '{"id": "a3", "display_name": "Cy"}\n'
)


def jsonl_connector(tmp_path: Path, text: str) -> FileConnector:
    (tmp_path / "app.jsonl").write_text(text, encoding="utf-8")
    (tmp_path / "app.entitlements.jsonl").write_text('{"id": "g1", "name": "G"}\n')
    (tmp_path / "app.grants.jsonl").write_text(
        '{"account": "a1", "entitlement": "g1"}\n{"account": "a3", "entitlement": "g1"}\n'
    )
    spec = ConnectorSpec(
        app_id="app", kind="file", settings={"path": "app.jsonl"}, base_dir=tmp_path
    )
    return FileConnector(spec)


def test_unchanged_json_lines_are_only_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 1 % change re-read and re-validated every line of every JSON Lines export (issue 11):
    a line whose text is known is named, never parsed."""
    from engine.connectors.file import jsonl_store

    c = jsonl_connector(tmp_path, JSONL)
    known = known_of(c)
    assert len(known) == 3
    (tmp_path / "app.jsonl").write_text(JSONL.replace('"Bo"', '"Bo Chen"'), encoding="utf-8")
    built = count_builds(monkeypatch, jsonl_store)
    listing = c.list_changed(known)
    assert built == ["a2"]
    assert [a.external_id for a in listing.accounts] == ["a2"]
    assert listing.accounts[0].display_name == "Bo Chen"
    assert sorted(listing.unchanged) == ["a1", "a3"]
    assert {(g.account_external_id, g.entitlement_external_id) for g in listing.grants} == {
        ("a1", "g1"),
        ("a3", "g1"),
    }
    monkeypatch.undo()
    assert c.list_all().digests["a2"] == listing.digests["a2"] not in known


def test_a_changed_json_line_that_is_wrong_names_its_line(tmp_path: Path) -> None:
    c = jsonl_connector(tmp_path, JSONL)
    known = known_of(c)
    (tmp_path / "app.jsonl").write_text(
        JSONL.replace('"Cy"}', '"Cy", "status": "SLEEPING"}') + '{"id": "a1"}\n',
        encoding="utf-8",
    )
    with pytest.raises(ConnectorError) as caught:
        c.list_changed(known)
    message = caught.value.message
    assert "line 4" in message and "SLEEPING" in message, message
    assert "duplicate id 'a1'" in message  # found by the whole read, with the first line


def test_grants_known_unchanged_are_not_parsed_again(tmp_path: Path) -> None:
    """The grants file is the largest of an export and rarely the one that changed: with the
    digest of the sidecars the store last merged, an unchanged one is not parsed (the store's
    grants stand); a changed one, or an account gone that a grant may name, is read."""
    c = jsonl_connector(tmp_path, JSONL)
    first = c.list_changed({})
    assert first.sidecars and not first.grants_unchanged and len(first.grants) == 2
    known = known_of(c)
    (tmp_path / "app.jsonl").write_text(JSONL.replace('"Bo"', '"Bo Chen"'), encoding="utf-8")
    same = c.list_changed(known, sidecars=first.sidecars)
    assert same.grants_unchanged and same.grants == [] and same.sidecars == first.sidecars
    assert [e.external_id for e in same.entitlements] == ["g1"]  # the small file still is read
    assert [a.external_id for a in same.accounts] == ["a2"]
    # without the digest, or with another one, they are read
    assert len(c.list_changed(known).grants) == 2
    assert len(c.list_changed(known, sidecars="other").grants) == 2
    grants = tmp_path / "app.grants.jsonl"
    grants.write_text('{"account": "a1", "entitlement": "g1"}\n')
    changed = c.list_changed(known, sidecars=first.sidecars)
    assert not changed.grants_unchanged and len(changed.grants) == 1
    assert changed.sidecars != first.sidecars
    # a3 is gone from the accounts while the grants (unchanged) still name it: refused
    grants.write_text(
        '{"account": "a1", "entitlement": "g1"}\n{"account": "a3", "entitlement": "g1"}\n'
    )
    (tmp_path / "app.jsonl").write_text(JSONL.replace('{"id": "a3", "display_name": "Cy"}\n', ""))
    with pytest.raises(ConnectorError) as caught:
        c.list_changed(known, sidecars=first.sidecars)
    assert "no account with id 'a3'" in caught.value.message


# --- CSV: the same, a row a record ------------------------------------------------------------

CSV = "id,display_name,email\na1,Ann,ann@example.com\na2,Bo,\na3,Cy,\n"


def csv_connector(tmp_path: Path, text: str) -> FileConnector:
    (tmp_path / "app.csv").write_text(text, encoding="utf-8")
    (tmp_path / "app.entitlements.csv").write_text("id,name\ng1,G\n")
    (tmp_path / "app.grants.csv").write_text("account,entitlement\na1,g1\na3,g1\n")
    spec = ConnectorSpec(app_id="app", kind="file", settings={"path": "app.csv"}, base_dir=tmp_path)
    return FileConnector(spec)


def test_unchanged_csv_rows_are_only_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.connectors.file import csv_store

    c = csv_connector(tmp_path, CSV)
    known = known_of(c)
    (tmp_path / "app.csv").write_text(CSV.replace("a2,Bo,", "a2,Bo Chen,"), encoding="utf-8")
    built = count_builds(monkeypatch, csv_store)
    listing = c.list_changed(known)
    assert built == ["a2"]
    assert [(a.external_id, a.display_name) for a in listing.accounts] == [("a2", "Bo Chen")]
    assert sorted(listing.unchanged) == ["a1", "a3"]
    assert {(g.account_external_id, g.entitlement_external_id) for g in listing.grants} == {
        ("a1", "g1"),
        ("a3", "g1"),
    }
    # a renamed column changes what every row means: nothing is taken as unchanged
    (tmp_path / "app.csv").write_text(CSV.replace("display_name", "username"), encoding="utf-8")
    built.clear()
    assert c.list_changed(known).unchanged == [] and built == ["a1", "a2", "a3"]


def test_a_changed_csv_row_reusing_an_unchanged_id_is_reported(tmp_path: Path) -> None:
    c = csv_connector(tmp_path, CSV)
    known = known_of(c)
    (tmp_path / "app.csv").write_text(CSV + "a1,Again,\n", encoding="utf-8")
    with pytest.raises(ConnectorError) as caught:
        c.list_changed(known)
    assert "duplicate id 'a1'" in caught.value.message and "line 5" in caught.value.message


def test_a_sync_keeps_the_grants_it_did_not_parse_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """End to end, with GitHub exported as JSON Lines: a sync after a change to an account
    (not to the grants) keeps every account's entitlements without parsing the grants; a
    change to the grants is imported."""
    import copy
    import json

    from engine.connectors.file import jsonl_store
    from tests.engine.org import CONFIG, GITHUB, open_org

    config = copy.deepcopy(CONFIG)
    github = next(app for app in config["apps"] if app["id"] == "github")
    github["settings"] = {"path": "github.jsonl"}
    services = open_org(tmp_path, config)
    folder = tmp_path / "org"
    lines = [json.dumps(a) for a in GITHUB["accounts"]]
    (folder / "github.jsonl").write_text("\n".join(lines) + "\n")
    (folder / "github.entitlements.jsonl").write_text(
        '{"id": "admins", "name": "Admins"}\n{"id": "devs", "name": "Devs"}\n'
    )
    grants = folder / "github.grants.jsonl"
    grants.write_text(
        '{"account": "g1", "entitlement": "admins"}\n{"account": "g2", "entitlement": "devs"}\n'
    )

    def entitlements() -> dict[str, list[str]]:
        services.invalidate()
        return {
            a.external_id: a.entitlements
            for a in services.population().accounts
            if a.app_id == "github"
        }

    assert services.sync().status == "applied"
    assert entitlements() == {"g1": ["admins"], "g2": ["devs"]}
    parsed: list[int] = []
    original = jsonl_store.collect_grants

    def counting(raw, *args, **kwargs):  # type: ignore[no-untyped-def]
        parsed.append(len(raw))
        return original(raw, *args, **kwargs)

    monkeypatch.setattr(jsonl_store, "collect_grants", counting)
    (folder / "github.jsonl").write_text(
        "\n".join(lines).replace('"Sam Park"', '"Sam Park-Lee"') + "\n"
    )
    result = services.sync()
    assert result.status == "applied", result.error
    assert any(c["new"] == "Sam Park-Lee" for c in result.changes)
    assert parsed == []  # the grants file was not parsed ...
    assert entitlements() == {"g1": ["admins"], "g2": ["devs"]}  # ... and nothing was lost
    grants.write_text('{"account": "g1", "entitlement": "devs"}\n')
    result = services.sync()
    assert result.status == "applied", result.error
    assert parsed == [1]
    assert entitlements() == {"g1": ["devs"], "g2": []}


def test_a_csv_row_keeps_the_digest_it_had(tmp_path: Path) -> None:
    """A row's digest is of `[header, values]` as JSON text: made faster, it must not move
    (every stored HR account would be taken as changed once)."""
    import orjson

    from engine.connectors.file.chunks import item_digest

    header = ["id", "display_name", "department"]
    rows = [
        ["e1", 'Ann "the" Lee', "Sales, EMEA"],
        ["e2", "Zoë 北 \u2028 [bold]x[/]", ""],
        ["e3", "Bo\\Chen", "R&D\t{}"],
    ]
    lines = [",".join(f'"{v.replace(chr(34), chr(34) * 2)}"' for v in r) for r in [header, *rows]]
    (tmp_path / "app.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    spec = ConnectorSpec(app_id="app", kind="file", settings={"path": "app.csv"}, base_dir=tmp_path)
    listing = FileConnector(spec).list_all()
    assert listing.digests == {
        values[0]: item_digest(orjson.dumps([header, values]).decode()) for values in rows
    }
