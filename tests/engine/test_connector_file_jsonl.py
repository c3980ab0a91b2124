"""The file connector's JSON Lines format: listing, write-back, batched creation, and bad lines
located by file and line (docs/connectors.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine.connectors.base import ConnectorSpec
from engine.connectors.file import FileConnector, jsonl_store
from engine.connectors.limits import MAX_VALUE_CHARS
from engine.connectors.registry import make_connector
from engine.errors import ConnectorError

ANN = {
    "id": "ann.lee",
    "display_name": "Ann Lee",
    "given_name": "Ann",
    "family_name": "Lee",
    "email": "ann.lee@example.com",
    "emails": ["ann.lee+it@example.com"],
    "username": "ann.lee",
    "employee_ids": ["E10001"],
    "status": "enabled",
    "type": "USER",
    "manager": "boss@example.com",
    "profile": {"department": "IT", "title": "Engineer", "start": "2020-01-02"},
}
SVC = {"id": "svc-backup", "display_name": "Backup", "type": "service_account", "profile": {}}


def lines(*records: Any) -> str:
    return "".join(
        (r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in records
    )


def jsonl_app(tmp_path: Path, text: str, name: str = "ad.jsonl", **settings: Any) -> FileConnector:
    (tmp_path / name).write_text(text, encoding="utf-8")
    spec = ConnectorSpec(
        app_id="ad", kind="file", settings={"path": name, **settings}, base_dir=tmp_path
    )
    made = make_connector(spec)
    assert isinstance(made, FileConnector)
    return made


def records_checked(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The records the JSON Lines store checks from now on (`account_from_item`), in order."""
    checked: list[Any] = []
    original = jsonl_store.account_from_item
    monkeypatch.setattr(
        jsonl_store,
        "account_from_item",
        lambda item, *a, **k: checked.append(item) or original(item, *a, **k),
    )
    return checked


def test_jsonl_listing_reads_every_field_and_the_sidecars(tmp_path: Path) -> None:
    (tmp_path / "ad.entitlements.jsonl").write_text(
        lines({"id": "grp-all", "name": "All Staff"}, {"id": "grp-vpn", "name": "VPN"})
    )
    (tmp_path / "ad.grants.jsonl").write_text(
        lines({"account": "ann.lee", "entitlement": "grp-vpn"})
    )
    conn = jsonl_app(tmp_path, lines(ANN, "", SVC))  # a blank line is skipped
    listing = conn.list_all()
    ann, svc = listing.accounts
    assert ann.external_id == "ann.lee" and ann.status == "ENABLED"
    assert ann.emails == ["ann.lee@example.com", "ann.lee+it@example.com"]
    assert ann.profile == {"department": "IT", "title": "Engineer", "start": "2020-01-02"}
    assert svc.type == "SERVICE_ACCOUNT"
    assert [e.external_id for e in listing.entitlements] == ["grp-all", "grp-vpn"]
    assert [(g.account_external_id, g.entitlement_external_id) for g in listing.grants] == [
        ("ann.lee", "grp-vpn")
    ]
    # the format follows the extension (.jsonl, .ndjson) or `format: jsonl`
    assert jsonl_app(tmp_path, lines(SVC), "x.ndjson").list_all().accounts == [svc]
    assert jsonl_app(tmp_path, lines(SVC), "x.txt", format="jsonl").list_all().accounts == [svc]


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_a_read_back_lists_the_accounts_without_reading_the_sidecars(
    tmp_path: Path, fmt: str
) -> None:
    """A read-back after a push takes only the accounts' values: the grants sidecar (the
    largest file of an export) is not read again, nor is a broken one a reason to fail."""
    if fmt == "jsonl":
        conn = jsonl_app(tmp_path, lines(ANN, SVC))
    else:
        (tmp_path / "ad.csv").write_text("id,display_name\nann.lee,Ann Lee\nsvc-backup,Backup\n")
        made = make_connector(
            ConnectorSpec(app_id="ad", kind="file", settings={"path": "ad.csv"}, base_dir=tmp_path)
        )
        assert isinstance(made, FileConnector)
        conn = made
    (tmp_path / f"ad.entitlements.{fmt}").write_text(
        lines({"id": "grp-vpn", "name": "VPN"}) if fmt == "jsonl" else "id,name\ngrp-vpn,VPN\n"
    )
    grants = tmp_path / f"ad.grants.{fmt}"
    grants.write_text(
        lines({"account": "ann.lee", "entitlement": "grp-vpn"})
        if fmt == "jsonl"
        else "account,entitlement\nann.lee,grp-vpn\n"
    )
    full = conn.list_changed({})
    assert [g.account_external_id for g in full.grants] == ["ann.lee"]
    grants.write_text("this is not a grant\n")  # whoever reads it fails
    with pytest.raises(ConnectorError):
        conn.list_changed({})
    known = {full.digests["svc-backup"]: "svc-backup"}
    accounts = conn.list_changed(known, accounts_only=True)
    assert [a.external_id for a in accounts.accounts] == ["ann.lee"]
    assert accounts.accounts[0] == full.accounts[0]
    assert accounts.unchanged == ["svc-backup"]
    assert accounts.grants == [] and accounts.entitlements == []


@pytest.mark.parametrize(
    ("record", "line", "words"),
    [
        ('{"id": "x", "display_name": "Ann', 2, "not valid JSON: unexpected end of data at column"),
        ("[1, 2]", 2, "must be a JSON object, not a list"),
        ('{"id": "x", "display_name": "Ann\\u001b[31m"}', 2, "control character \\x1b"),
        ('{"id": "x", "display_name": "Ann\\u0000"}', 2, "control character \\x00"),
        ('{"id": "x", "profile": {"note": "a\\bb"}}', 2, "control character \\x08"),
        ('{"id": "x", "display_name": "\\ud800"}', 2, "not valid JSON"),
        ('{"id": "x", "colour": "red"}', 2, "unknown account field 'colour'"),
        ('{"id": "ann.lee"}', 2, "duplicate id 'ann.lee' (first used on line 1)"),
        ('{"display_name": "No Id"}', 2, "account has no 'id'"),
        (json.dumps({"id": "x", "display_name": "a" * (MAX_VALUE_CHARS + 1)}), 2, "longer than"),
    ],
)
def test_a_bad_line_is_named_with_its_file_and_line(
    tmp_path: Path, record: str, line: int, words: str
) -> None:
    conn = jsonl_app(tmp_path, lines(ANN, record, SVC))
    with pytest.raises(ConnectorError) as caught:
        conn.list_all()
    message = caught.value.message
    assert "ad.jsonl" in message and f"line {line}" in message, message
    assert words in message, message
    assert "its accounts stay as they were" in message
    assert "line 1 column" not in message  # the decoder's own line, within this one
    assert "\x1b" not in message and "\x00" not in message
    problem = caught.value.problems[0]
    assert problem.line == line and problem.path.endswith("ad.jsonl")


def test_a_bad_grant_line_is_named(tmp_path: Path) -> None:
    (tmp_path / "ad.grants.jsonl").write_text(
        lines({"account": "nobody", "entitlement": "grp-all"})
    )
    with pytest.raises(ConnectorError, match=r"ad\.grants\.jsonl, line 1: grant on line 1"):
        jsonl_app(tmp_path, lines(ANN)).list_all()


def test_push_rewrites_only_its_line_and_create_appends_in_one_batch(tmp_path: Path) -> None:
    (tmp_path / "ad.entitlements.jsonl").write_text(lines({"id": "grp-vpn", "name": "VPN"}))
    untouched = '{"id":"svc-backup",   "type":"service_account"}'  # spacing kept as written
    conn = jsonl_app(tmp_path, lines(ANN, untouched), flavour="active_directory")
    assert conn.update_accounts({"ann.lee": {"title": "Lead"}}) == {}
    text = (tmp_path / "ad.jsonl").read_text(encoding="utf-8")
    assert text.splitlines()[1] == untouched
    assert json.loads(text.splitlines()[0])["profile"]["title"] == "Lead"
    new = {"userPrincipalName": "zoe@example.com", "displayName": "Zoë Ødegård"}
    outcomes = conn.create_accounts(
        [
            {**new, "sAMAccountName": "zoe", "groups": ["grp-vpn"]},
            {**new, "sAMAccountName": "ANN.LEE"},  # taken: refused alone
            {
                **new,
                "sAMAccountName": "bo",
                "userPrincipalName": "bo@example.com",
                "displayName": "Bo",
            },
            {**new, "sAMAccountName": "Zoe"},  # taken by the first of this very batch
        ]
    )
    created = [o.external_id for o in outcomes if not isinstance(o, ConnectorError)]
    refused = [o.message for o in outcomes if isinstance(o, ConnectorError)]
    assert created == ["zoe", "bo"]
    assert "'ann.lee' already exists (line 1 of" in refused[0]
    assert "'zoe' already exists (created just before, in the same write to" in refused[1]
    listing = conn.list_all()
    assert [a.external_id for a in listing.accounts] == ["ann.lee", "svc-backup", "zoe", "bo"]
    assert [(g.account_external_id, g.entitlement_external_id) for g in listing.grants] == [
        ("zoe", "grp-vpn")
    ]
    assert "Zoë Ødegård" in (tmp_path / "ad.jsonl").read_text(encoding="utf-8")  # UTF-8 as is


def test_a_creation_refuses_clashes_however_the_ids_are_written(tmp_path: Path) -> None:
    (tmp_path / "ad.entitlements.jsonl").write_text(lines({"id": "grp-vpn", "name": "VPN"}))
    numbered = '{"id": 7, "username": " zed ", "display_name": "Seven"}'
    conn = jsonl_app(tmp_path, lines(ANN, numbered), flavour="active_directory")
    new = {"userPrincipalName": "zoe@example.com", "displayName": "Zoë"}
    outcomes = conn.create_accounts(
        [
            {**new, "sAMAccountName": "7"},  # the id written as a number
            {**new, "sAMAccountName": "ZED"},  # the username written with spaces
            {**new, "sAMAccountName": "vi", "groups": ["grp-nope"]},
        ]
    )
    refused = [o.message for o in outcomes if isinstance(o, ConnectorError)]
    assert len(refused) == 3
    assert "id '7' already exists (line 2 of" in refused[0]
    assert "username 'zed' already exists (line 2 of" in refused[1]
    assert "no group or entitlement 'grp-nope' (known: grp-vpn)" in refused[2]


@pytest.mark.parametrize(
    ("accounts", "grants", "located"),
    [
        # a grant left naming an account the file does not hold: the new account would
        # inherit it (an admin group nobody asked for)
        (lines(ANN), lines({"account": "zoe", "entitlement": "grp-admins"}), "ad.grants.jsonl"),
        (lines(ANN, ANN), "", "duplicate"),  # the import refuses the file: so does a creation
        (lines(ANN, {**SVC, "status": "WEIRD"}), "", "line 2"),
    ],
)
def test_a_creation_never_writes_into_a_file_the_import_refuses(
    tmp_path: Path, accounts: str, grants: str, located: str
) -> None:
    (tmp_path / "ad.entitlements.jsonl").write_text(
        lines({"id": "grp-vpn", "name": "VPN"}, {"id": "grp-admins", "name": "Admins"})
    )
    (tmp_path / "ad.grants.jsonl").write_text(grants)
    conn = jsonl_app(tmp_path, accounts, flavour="active_directory")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    new = {"userPrincipalName": "zoe@example.com", "displayName": "Zoë", "sAMAccountName": "zoe"}
    with pytest.raises(ConnectorError, match=located):
        conn.create_accounts([new])
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_a_push_reaches_an_account_whose_id_is_written_as_a_number(tmp_path: Path) -> None:
    """The import reads `"id": 7` as the account "7"; a push to "7" found no such account."""
    conn = jsonl_app(
        tmp_path, lines(ANN, {"id": 7, "display_name": "Seven"}), flavour="active_directory"
    )
    assert [a.external_id for a in conn.list_all().accounts] == ["ann.lee", "7"]
    assert conn.update_accounts({"7": {"title": "Lead"}}) == {}
    assert json.loads((tmp_path / "ad.jsonl").read_text().splitlines()[1])["profile"] == {
        "title": "Lead"
    }


def test_a_broken_file_is_never_written(tmp_path: Path) -> None:
    conn = jsonl_app(tmp_path, lines(ANN, "{oops"), flavour="active_directory")
    before = (tmp_path / "ad.jsonl").read_bytes()
    with pytest.raises(ConnectorError, match="line 2"):
        conn.update_accounts({"ann.lee": {"title": "Lead"}})
    assert (tmp_path / "ad.jsonl").read_bytes() == before


def test_a_push_checks_only_the_lines_it_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A push to a few accounts of a large export validated every record (issue 11): the
    lines not pushed to are kept byte for byte, unchecked; the pushed one is written."""
    other = '{"id": "bo",  "display_name": "Bo",   "status": "ENABLED"}'  # odd spacing kept
    conn = jsonl_app(tmp_path, lines(ANN, other), flavour="active_directory")
    checked = records_checked(monkeypatch)
    assert conn.update_accounts({"ann.lee": {"title": "Lead"}}) == {}
    assert checked == []
    written = (tmp_path / "ad.jsonl").read_text(encoding="utf-8").splitlines()
    assert written[1] == other
    assert json.loads(written[0])["profile"]["title"] == "Lead"


def test_a_push_parses_only_the_lines_it_writes_when_the_store_knows_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the store's digests (FileConnector.recognise), a line the last import listed is
    known by its text: its id is known without parsing it, and it is parsed only when the
    push writes to it. A line the store does not know is read as before, and a broken one
    still refuses the write."""
    other = '{"id": "bo",  "display_name": "Bo",   "status": "ENABLED"}'
    conn = jsonl_app(tmp_path, lines(ANN, other), flavour="active_directory")
    known = {digest: external_id for external_id, digest in conn.list_all().digests.items()}
    conn.recognise(known)
    parsed: list[bytes] = []  # the lines are handled as bytes
    original = jsonl_store._parse_line
    monkeypatch.setattr(
        jsonl_store,
        "_parse_line",
        lambda number, line, *a: parsed.append(line) or original(number, line, *a),
    )
    assert conn.update_accounts({"bo": {"title": "Lead"}}) == {}
    assert parsed == []  # both lines known; bo's parsed only to be written
    written = (tmp_path / "ad.jsonl").read_text(encoding="utf-8").splitlines()
    assert written[0] == lines(ANN).strip()
    assert json.loads(written[1])["profile"]["title"] == "Lead"

    # bo's line changed (the push wrote it): unknown now, parsed; ann's is still known
    assert conn.update_accounts({"ann.lee": {"title": "Chief"}}) == {}
    assert parsed == [written[1].encode()]
    assert (
        json.loads((tmp_path / "ad.jsonl").read_text(encoding="utf-8").splitlines()[0])["profile"][
            "title"
        ]
        == "Chief"
    )

    with (tmp_path / "ad.jsonl").open("a", encoding="utf-8") as fh:
        fh.write("{oops\n")
    before = (tmp_path / "ad.jsonl").read_bytes()
    with pytest.raises(ConnectorError, match="line 3"):
        conn.update_accounts({"ann.lee": {"title": "Lead"}})
    assert (tmp_path / "ad.jsonl").read_bytes() == before


def test_a_file_is_clean_exactly_when_no_control_character_or_escape_is_in_it() -> None:
    """text_is_clean deletes every byte that is not a control character instead of searching
    with the regex: the two agree on every text, across its slices too."""
    import random

    from engine.connectors.file.records import _CONTROL, _SLICE, text_is_clean

    def by_regex(text: str, escapes: bool) -> bool:
        return not (escapes and "\\" in text) and _CONTROL.search(text) is None

    rng = random.Random(7)
    alphabet = [chr(c) for c in range(0xA0)] + ["é", "\u2028", "\ud800", "😀", "\\", "\ufeff"]
    for _ in range(5_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))
        for escapes in (True, False):
            assert text_is_clean(text, escapes) == by_regex(text, escapes), repr(text)
    long = "é" * _SLICE
    assert text_is_clean(long + "a")
    assert not text_is_clean(long + "\x1b[31m")  # in the second slice
    assert not text_is_clean("\x00" + long)


def test_bytes_that_are_not_utf8_are_located_in_a_full_and_in_a_changed_read(
    tmp_path: Path,
) -> None:
    """The file is read as bytes and only new lines are decoded: a line that is not UTF-8
    still refuses the import, naming the line and the byte, whether the file is read whole or
    only its changed lines are."""
    conn = jsonl_app(tmp_path, lines(ANN, {"id": "bo", "display_name": "Bo"}))
    known = {digest: external_id for external_id, digest in conn.list_all().digests.items()}
    path = tmp_path / "ad.jsonl"
    body = path.read_bytes().replace(b'"Bo"', b'"B\xe9o"')  # Latin-1, not UTF-8
    path.write_bytes(body)
    for listing in (conn.list_all, lambda: conn.list_changed(known)):
        with pytest.raises(ConnectorError) as error:
            listing()
        assert "is not UTF-8 text (line 2, byte" in error.value.message
        assert error.value.problems[0].line == 2


def test_a_byte_order_mark_and_crlf_line_ends_read_as_plain_lines(tmp_path: Path) -> None:
    """A file saved by a Windows tool: the BOM and the carriage returns are not part of any
    record, and the digests are those of the same lines without them."""
    plain = lines(ANN, {"id": "bo", "display_name": "Bo"})
    conn = jsonl_app(tmp_path, plain)
    expected = conn.list_all().digests
    path = tmp_path / "ad.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + plain.replace("\n", "\r\n").encode("utf-8"))
    assert path.read_bytes().count(b"\r\n") == 2
    assert conn.list_all().digests == expected
    changed = conn.list_changed({expected["ann.lee"]: "ann.lee"})
    assert changed.unchanged == ["ann.lee"]
    assert [a.external_id for a in changed.accounts] == ["bo"]


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
@pytest.mark.parametrize("newline", [b"\n", b"\r\n"])
def test_a_write_keeps_the_files_byte_order_mark_and_line_ends(
    tmp_path: Path, bom: bytes, newline: bytes
) -> None:
    """A Windows tool's export stays one: a push and a creation write the file back with the
    BOM and the line ends it had, and the version after the read-back is that of the file."""
    plain = lines(ANN, {"id": "bo", "display_name": "Bo"})
    conn = jsonl_app(tmp_path, "", flavour="active_directory")
    path = tmp_path / "ad.jsonl"
    path.write_bytes(bom + plain.encode("utf-8").replace(b"\n", newline))
    assert conn.update_accounts({"ann.lee": {"title": "Lead"}}) == {}
    outcome = conn.create_accounts(
        [{"sAMAccountName": "zoe", "userPrincipalName": "zoe@example.com", "displayName": "Zoe"}]
    )
    assert not isinstance(outcome[0], ConnectorError)
    written = path.read_bytes()
    assert written.startswith(bom + b"{") and written.endswith(b"}" + newline)
    assert written[len(bom) :].count(newline) == 3 and written.count(b"\n") == 3
    assert json.loads(written[len(bom) :].split(newline)[0])["profile"]["title"] == "Lead"
    conn.list_changed({}, accounts_only=True)  # the read-back: the lines just written
    fresh = make_connector(
        ConnectorSpec(app_id="ad", kind="file", settings={"path": "ad.jsonl"}, base_dir=tmp_path)
    )
    assert conn.source_version() == fresh.source_version()  # the file's own digest


def test_a_creation_keeps_the_grants_files_own_byte_order_mark_and_line_ends(
    tmp_path: Path,
) -> None:
    """The grants file was rewritten plain (no BOM, \\n) whatever the style it had."""
    (tmp_path / "ad.entitlements.jsonl").write_text(lines({"id": "grp-vpn", "name": "VPN"}))
    grants = tmp_path / "ad.grants.jsonl"
    grants.write_bytes(b"\xef\xbb\xbf" + b'{"account": "ann.lee", "entitlement": "grp-vpn"}\r\n')
    conn = jsonl_app(tmp_path, lines(ANN), flavour="active_directory")
    new = {"userPrincipalName": "zoe@example.com", "displayName": "Zoe", "sAMAccountName": "zoe"}
    outcome = conn.create_accounts([{**new, "groups": ["grp-vpn"]}])
    assert not isinstance(outcome[0], ConnectorError)
    written = grants.read_bytes()
    assert written.startswith(b"\xef\xbb\xbf{") and written.count(b"\r\n") == 2
    assert written.count(b"\n") == 2
    assert len(conn.list_all().grants) == 2


def test_a_read_back_after_a_push_lists_the_lines_written_while_the_file_is_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The read-back after a push (`list_changed(accounts_only=True)`) takes the lines the
    push wrote instead of reading and digesting the export again, and lists exactly what a
    fresh read lists. Once anything else writes the file, it is read again."""
    conn = jsonl_app(
        tmp_path, lines(ANN, {"id": "bo", "display_name": "Bo"}), flavour="active_directory"
    )
    known = {digest: external_id for external_id, digest in conn.list_all().digests.items()}
    conn.recognise(known)
    assert conn.update_accounts({"bo": {"title": "Lead"}}) == {}
    reads: list[Path] = []
    original = jsonl_store.read_bytes
    monkeypatch.setattr(
        jsonl_store, "read_bytes", lambda app, path: reads.append(path) or original(app, path)
    )
    relisted = conn.list_changed(known, accounts_only=True)
    assert reads == []
    again = make_connector(conn.spec)
    assert isinstance(again, FileConnector)
    expected = again.list_changed(known, accounts_only=True)
    assert reads == [tmp_path / "ad.jsonl"]
    assert relisted.unchanged == expected.unchanged == ["ann.lee"]
    assert relisted.accounts == expected.accounts
    assert relisted.accounts[0].profile["title"] == "Lead"
    assert relisted.digests == expected.digests

    # another program rewrites the file (its size tells, whatever the clock's resolution):
    # the connector reads it again
    path = tmp_path / "ad.jsonl"
    path.write_text(path.read_text(encoding="utf-8").replace("Lead", "Chief"), encoding="utf-8")
    reads.clear()
    assert conn.list_changed(known, accounts_only=True).accounts[0].profile["title"] == "Chief"
    assert reads == [path]


def test_the_source_version_after_a_read_back_is_that_of_the_lines_listed(
    tmp_path: Path,
) -> None:
    """After a read-back from the lines written, the source version is theirs: equal to the
    file's while nobody else wrote it, and different once someone did, so that the next
    import reads the file again instead of taking the other write as already imported."""
    conn = jsonl_app(tmp_path, lines(ANN, {"id": "bo"}), flavour="active_directory")
    known = {digest: external_id for external_id, digest in conn.list_all().digests.items()}
    assert conn.update_accounts({"bo": {"title": "Lead"}}) == {}
    conn.list_changed(known, accounts_only=True)
    after_push = conn.source_version()
    assert after_push == make_connector(conn.spec).source_version()
    path = tmp_path / "ad.jsonl"
    path.write_bytes(path.read_bytes() + b'{"id": "cy"}\n')  # written by someone else
    assert conn.source_version() == after_push  # what the store took in
    assert make_connector(conn.spec).source_version() != after_push


@pytest.mark.parametrize("many", [1, 4095, 4096, 4097, 9000])
def test_the_version_of_the_lines_written_is_the_files_whatever_their_number(
    tmp_path: Path, many: int
) -> None:
    """The written lines are hashed a few thousand at a time: the version is still the
    digest of the file's bytes, on either side of a batch's edge."""
    text = lines(*({"id": f"u{i}"} for i in range(many)))
    conn = jsonl_app(tmp_path, text, flavour="active_directory")
    assert conn.update_accounts({"u0": {"title": "Lead"}}) == {}
    assert conn.written_version() == make_connector(conn.spec).source_version()


def test_lines_blank_as_text_are_skipped_in_the_file_and_its_sidecars(tmp_path: Path) -> None:
    """A line of Unicode spaces (U+3000, a no-break space, NEL, U+2028, a file separator) is
    blank, as it was when files were read as text: skipped in the accounts, the entitlements
    and the grants alike."""
    blank = "\u3000\n\u00a0 \n\u0085\n\u2028\n\x1c\n \t\n"
    conn = jsonl_app(tmp_path, lines(ANN) + blank + lines({"id": "bo"}))
    write_sidecars = {
        "ad.entitlements.jsonl": '{"id": "g1", "name": "G1"}\n' + blank,
        "ad.grants.jsonl": blank + '{"account": "bo", "entitlement": "g1"}\n',
    }
    for name, text in write_sidecars.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    for listing in (conn.list_all(), conn.list_changed({})):
        assert [a.external_id for a in listing.accounts] == ["ann.lee", "bo"]
        assert [e.external_id for e in listing.entitlements] == ["g1"]
        assert [(g.account_external_id, g.entitlement_external_id) for g in listing.grants] == [
            ("bo", "g1")
        ]


def test_a_number_too_large_to_read_exactly_is_refused_where_it_is(tmp_path: Path) -> None:
    """orjson reads a whole number past 64 bits as a float: the id 123456789012345678901
    became "1.2345678901234568e+20", another account's id (hostile review). It is refused,
    located, with what to write instead; 64-bit numbers are read exactly."""
    exact = {"id": 18446744073709551615, "display_name": "Max", "profile": {"n": -(2**63)}}
    assert jsonl_app(tmp_path, lines(exact)).list_all().accounts[0].external_id == str(2**64 - 1)
    for record in (
        '{"id": 123456789012345678901, "display_name": "Big"}',
        '{"id": "ok", "profile": {"badge": 123456789012345678901234567890}}',
        '{"id": "ok2", "employee_ids": ["E1"], "username": 99999999999999999999999}',
    ):
        with pytest.raises(ConnectorError) as caught:
            jsonl_app(tmp_path, lines(SVC, record)).list_all()
        message = caught.value.message
        assert "line 2" in message and "too large to be read exactly" in message, message
        assert "write it in quotes" in message


@pytest.mark.parametrize("name", ["x.jsonl", "x.ndjson", "x.JSONL"])
def test_the_source_version_covers_the_sidecars_the_store_reads(tmp_path: Path, name: str) -> None:
    """`x.ndjson`'s grants are `x.grants.jsonl`, as the store reads them; the version looked
    at `x.grants.ndjson`, so an edit to the grants changed no version, and neither an
    incremental nor a full sync read it (hostile review)."""
    app = jsonl_app(tmp_path, lines(SVC), name)
    grants = tmp_path / "x.grants.jsonl"
    grants.write_text('{"account": "svc-backup", "entitlement": "admins"}\n', encoding="utf-8")
    before = app.source_version()
    grants.write_text("", encoding="utf-8")
    assert app.source_version() != before
    entitlements = tmp_path / "x.entitlements.jsonl"
    entitlements.write_text('{"id": "admins", "name": "Admins"}\n', encoding="utf-8")
    assert app.source_version() not in (before, None)


def test_a_line_that_does_not_parse_is_one_problem_not_one_per_grant(tmp_path: Path) -> None:
    """A control character in one account's line made its grants "no account with id …"
    problems too: three problems for one bad line, the grants file looking broken as well
    (newcomer review). The line's id, as its text shows it, silences its grants."""
    (tmp_path / "ad.entitlements.jsonl").write_text(lines({"id": "grp-vpn", "name": "VPN"}))
    (tmp_path / "ad.grants.jsonl").write_text(
        lines(
            {"account": "bo", "entitlement": "grp-vpn"},
            {"account": "bo", "entitlement": "grp-vpn"},
            {"account": "nobody", "entitlement": "grp-vpn"},  # a real problem: still said
        )
    )
    broken = '{"id": "bo", "display_name": "B\x07o"}'  # a raw control character: not JSON
    with pytest.raises(ConnectorError) as caught:
        jsonl_app(tmp_path, lines(ANN, broken)).list_all()
    messages = [problem.message for problem in caught.value.problems]
    assert len(messages) == 2, messages
    assert "not valid JSON" in messages[0]
    assert "no account with id 'nobody'" in messages[1]
    assert not any("'bo'" in message for message in messages)


def test_a_creation_keeps_the_grants_another_program_wrote_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A creation with groups rewrites the grants file beside the accounts: lines another
    program appended to it between Roster's read and write were lost (176 of 2,957 in the
    hostile pass). The write sees the grants changed, writes nothing, and is made again."""
    import os

    (tmp_path / "ad.entitlements.jsonl").write_text(
        lines({"id": "grp-vpn", "name": "VPN"}, {"id": "grp-legal", "name": "Legal"})
    )
    grants = tmp_path / "ad.grants.jsonl"
    grants.write_text(lines({"account": "ann.lee", "entitlement": "grp-vpn"}))
    conn = jsonl_app(tmp_path, lines(ANN, SVC), flavour="active_directory")
    appended: list[int] = []
    load = jsonl_store.JsonlStore.load

    def load_then_grant(self: Any, *args: Any, **kwargs: Any) -> Any:
        loaded = load(self, *args, **kwargs)
        if not appended:  # the other program appends a grant, as an access tool would
            appended.append(1)
            with open(grants, "a", encoding="utf-8") as other:
                other.write(json.dumps({"account": "svc-backup", "entitlement": "grp-legal"}))
                other.write("\n")
            os.utime(grants, ns=(1, 1))  # written in the same instant: its time moves anyway
        return loaded

    monkeypatch.setattr(jsonl_store.JsonlStore, "load", load_then_grant)
    new = {"sAMAccountName": "zoe", "userPrincipalName": "zoe@example.com", "displayName": "Zoe"}
    (outcome,) = conn.create_accounts([{**new, "groups": ["grp-vpn"]}])
    assert not isinstance(outcome, ConnectorError), outcome
    held = {(g.account_external_id, g.entitlement_external_id) for g in conn.list_all().grants}
    assert held == {("ann.lee", "grp-vpn"), ("svc-backup", "grp-legal"), ("zoe", "grp-vpn")}


def test_a_push_to_an_id_written_on_two_lines_goes_to_the_first_of_them(tmp_path: Path) -> None:
    """Known by digest or parsed, the first line of an id is the account (as the store's
    index was before the lines were taken a pass at a time); a line without an id is kept."""
    first, second = {**SVC, "display_name": "First"}, {**SVC, "display_name": "Second"}
    text = lines(first, {"display_name": "No id"}, second)
    conn = jsonl_app(tmp_path, text, flavour="active_directory")
    assert conn.update_accounts({"svc-backup": {"title": "Lead"}}) == {}
    written = [json.loads(line) for line in (tmp_path / "ad.jsonl").read_text().splitlines()]
    assert [w.get("profile", {}).get("title") for w in written] == ["Lead", None, None]
    assert [w["display_name"] for w in written] == ["First", "No id", "Second"]
    # again, with the first line known by its digest (as after an import)
    store = conn._file()
    assert isinstance(store, jsonl_store.JsonlStore)
    raw = (tmp_path / "ad.jsonl").read_bytes().splitlines()
    loaded = store.load_for_push({jsonl_store.item_digest(raw[0]): "svc-backup"})
    assert loaded.index == {"svc-backup": 0}
    assert loaded.items[0] is None and loaded.items[2] is not None
