"""The file connector: listing, push and create write-back, and bad input (docs/connectors.md)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from engine.connectors.base import ConnectorSpec
from engine.connectors.file import FileConnector
from engine.connectors.registry import make_connector
from engine.errors import ConnectorError

AD_FILE = """\
# Active Directory test file
accounts:
- id: ann.lee
  display_name: Ann Lee
  given_name: Ann
  family_name: Lee
  email: ann.lee@example.com
  emails:
  - ann.lee+it@example.com
  username: ann.lee
  employee_ids:
  - E10001
  status: enabled
  type: USER
  manager: boss@example.com
  profile:
    c: NO
    department: IT
    employeeID: '0042'
    start: 2020-01-02
    title: Engineer
- id: svc-backup
  display_name: Backup Service
  email: ann.lee+backup@example.com
  status: ENABLED
  type: service_account
  profile:
    description: Nightly backup
entitlements:
- id: grp-all
  name: All Staff
  description: Everyone
- id: grp-vpn
  name: VPN
grants:
- account: ann.lee
  entitlement: grp-all
- account: ann.lee
  entitlement: grp-all
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def connector(tmp_path: Path, name: str, app: str = "app", **settings: Any) -> FileConnector:
    spec = ConnectorSpec(
        app_id=app, kind="file", settings={"path": name, **settings}, base_dir=tmp_path
    )
    made = make_connector(spec)
    assert isinstance(made, FileConnector)
    return made


def ad(tmp_path: Path, text: str = AD_FILE) -> FileConnector:
    write(tmp_path / "apps" / "ad.yaml", text)
    return connector(tmp_path, "apps/ad.yaml", app="ad", flavour="active_directory")


def no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


# --- listing ----------------------------------------------------------------------------------


def test_yaml_listing_reads_every_field(tmp_path: Path) -> None:
    listing = ad(tmp_path).list_all()
    ann, svc = listing.accounts
    assert ann.external_id == "ann.lee"
    assert (ann.display_name, ann.given_name, ann.family_name) == ("Ann Lee", "Ann", "Lee")
    assert ann.email == "ann.lee@example.com"
    assert ann.emails == ["ann.lee@example.com", "ann.lee+it@example.com"]  # primary first
    assert ann.username == "ann.lee"
    assert ann.employee_ids == ["E10001"]
    assert ann.status == "ENABLED"  # case-insensitive
    assert ann.manager == "boss@example.com"
    # YAML 1.1 traps are off: NO stays Norway, 0042 keeps its zeros; dates become ISO text.
    assert ann.profile == {
        "c": "NO",
        "department": "IT",
        "employeeID": "0042",
        "start": "2020-01-02",
        "title": "Engineer",
    }
    assert svc.type == "SERVICE_ACCOUNT"
    assert svc.emails == ["ann.lee+backup@example.com"]
    assert svc.username == "" and svc.employee_ids == []


def test_yaml_entitlements_and_grants(tmp_path: Path) -> None:
    listing = ad(tmp_path).list_all()
    assert [(e.external_id, e.name, e.description) for e in listing.entitlements] == [
        ("grp-all", "All Staff", "Everyone"),
        ("grp-vpn", "VPN", ""),
    ]
    # the duplicate grant is listed once
    assert [(g.account_external_id, g.entitlement_external_id) for g in listing.grants] == [
        ("ann.lee", "grp-all")
    ]


def test_defaults_and_flow_style(tmp_path: Path) -> None:
    write(
        tmp_path / "a.yaml",
        """\
        accounts:
        - {id: 12345, display_name: Bot}
        - id: b
          emails: [b@x.com, b2@x.com]
          profile: {site: LON-1}
        """,
    )
    first, second = connector(tmp_path, "a.yaml").list_all().accounts
    assert first.external_id == "12345"
    assert (first.status, first.type, first.profile) == ("ENABLED", "USER", {})
    assert second.emails == ["b@x.com", "b2@x.com"] and second.email == ""
    assert second.profile == {"site": "LON-1"}


def test_csv_listing_with_sidecars(tmp_path: Path) -> None:
    write(
        tmp_path / "badge.csv",
        """\
        id,display_name,email,emails,employee_ids,status,site,badge_number
        B1,Ann Lee,ann.lee@example.com,ann@x.com; ann2@x.com,E1;E2,disabled,LON-1,000123
        B2,"Visitor, Guest",,,,,LON-1,
        """,
    )
    write(
        tmp_path / "badge.entitlements.csv",
        """\
        id,name,description
        lobby,Lobby,"Front door, ground floor"
        """,
    )
    write(
        tmp_path / "badge.grants.csv",
        """\
        account,entitlement
        B1,lobby
        """,
    )
    listing = connector(tmp_path, "badge.csv", app="badge").list_all()
    one, two = listing.accounts
    assert one.emails == ["ann.lee@example.com", "ann@x.com", "ann2@x.com"]
    assert one.employee_ids == ["E1", "E2"]
    assert one.status == "DISABLED"
    assert one.profile == {"site": "LON-1", "badge_number": "000123"}
    assert two.display_name == "Visitor, Guest" and two.email == "" and two.status == "ENABLED"
    assert two.profile == {"site": "LON-1"}  # an empty cell is no value
    assert [(e.external_id, e.description) for e in listing.entitlements] == [
        ("lobby", "Front door, ground floor")
    ]
    assert [(g.account_external_id, g.entitlement_external_id) for g in listing.grants] == [
        ("B1", "lobby")
    ]


def test_connector_rereads_the_file_each_time(tmp_path: Path) -> None:
    conn = ad(tmp_path)
    assert len(conn.list_all().accounts) == 2
    path = tmp_path / "apps" / "ad.yaml"
    path.write_text(AD_FILE.replace("- id: svc-backup", "- id: svc-other"), encoding="utf-8")
    assert conn.list_all().accounts[1].external_id == "svc-other"


# --- push -------------------------------------------------------------------------------------


def test_push_writes_profile_and_mirrors_core_fields(tmp_path: Path) -> None:
    conn = ad(tmp_path)
    path = tmp_path / "apps" / "ad.yaml"
    conn.update_account(
        "ann.lee",
        {"Title": "Staff Engineer", "displayName": "Ann B. Lee", "extensionAttribute3": "Employee"},
    )
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Active Directory test file\naccounts:\n- id: ann.lee\n")
    ann = conn.list_all().accounts[0]
    assert ann.profile["title"] == "Staff Engineer"  # the existing key, not "Title"
    assert ann.profile["displayName"] == "Ann B. Lee"
    assert ann.display_name == "Ann B. Lee"  # AD displayName also sets the display name
    assert ann.profile["extensionAttribute3"] == "Employee"
    # everything else is kept as it was, in the same order
    assert list(ann.profile) == [
        "c",
        "department",
        "displayName",
        "employeeID",
        "extensionAttribute3",
        "start",
        "title",
    ]
    assert ann.profile["c"] == "NO" and ann.profile["employeeID"] == "0042"
    assert text.index("- id: ann.lee") < text.index("- id: svc-backup")
    assert "entitlements:\n- id: grp-all\n" in text
    assert no_temp_files(path.parent)


def test_push_empty_value_clears(tmp_path: Path) -> None:
    conn = ad(tmp_path)
    conn.update_account("ann.lee", {"department": "", "title": None})
    profile = conn.list_all().accounts[0].profile
    assert "department" not in profile and "title" not in profile
    conn.update_account("svc-backup", {"description": ""})
    text = (tmp_path / "apps" / "ad.yaml").read_text(encoding="utf-8")
    assert "Nightly backup" not in text


def test_push_refusals_write_nothing(tmp_path: Path) -> None:
    conn = ad(tmp_path)
    path = tmp_path / "apps" / "ad.yaml"
    before = path.read_bytes()
    with pytest.raises(ConnectorError, match="c: 4 characters long; at most 3"):
        conn.update_account("ann.lee", {"c": "NORW", "title": "fine"})
    with pytest.raises(ConnectorError, match="no account with id 'nobody'"):
        conn.update_account("nobody", {"title": "x"})
    assert path.read_bytes() == before


def test_push_batch_reports_refused_accounts(tmp_path: Path) -> None:
    conn = ad(tmp_path)
    failures = conn.update_accounts(
        {"ann.lee": {"title": "A"}, "svc-backup": {"c": "LONG"}, "gone": {"title": "B"}}
    )
    assert set(failures) == {"svc-backup", "gone"}
    assert conn.list_all().accounts[0].profile["title"] == "A"


def test_entra_push_checks_schema(tmp_path: Path) -> None:
    write(
        tmp_path / "entra.yaml",
        """\
        accounts:
        - id: ann.lee@example.com
          status: ENABLED
          profile:
            accountEnabled: true
            jobTitle: Engineer
        """,
    )
    conn = connector(tmp_path, "entra.yaml", app="entra", flavour="entra_id")
    with pytest.raises(ConnectorError, match="'favouriteColour' is not an attribute"):
        conn.update_account("ann.lee@example.com", {"favouriteColour": "blue"})
    with pytest.raises(ConnectorError, match="expected true or false"):
        conn.update_account("ann.lee@example.com", {"accountEnabled": "maybe"})
    conn.update_account("ann.lee@example.com", {"accountEnabled": "false", "usageLocation": "GB"})
    account = conn.list_all().accounts[0]
    assert account.profile["accountEnabled"] is False
    assert account.status == "DISABLED"  # accountEnabled mirrors the status


def test_plain_app_without_schema_refuses_push_and_create(tmp_path: Path) -> None:
    write(tmp_path / "slack.yaml", "accounts:\n- id: U1\n")
    conn = connector(tmp_path, "slack.yaml", app="slack")
    with pytest.raises(ConnectorError, match="'slack' does not accept pushes"):
        conn.update_account("U1", {"title": "x"})
    with pytest.raises(ConnectorError, match="'slack' cannot create accounts"):
        conn.create_account({"id": "U2"})


def test_csv_push_with_declared_schema_adds_a_column(tmp_path: Path) -> None:
    path = write(
        tmp_path / "badge.csv",
        """\
        id,display_name,site
        B1,Ann Lee,LON-1
        B2,"Lee, Bob",BER-1
        """,
    )
    conn = connector(
        tmp_path,
        "badge.csv",
        app="badge",
        push_schema=[{"key": "site", "max_length": 5}, "floor", "display_name"],
    )
    conn.update_account("B1", {"floor": "3", "display_name": "Ann Lee-Smith"})
    conn.update_account("B2", {"site": ""})
    assert path.read_text(encoding="utf-8") == (
        'id,display_name,site,floor\nB1,Ann Lee-Smith,LON-1,3\nB2,"Lee, Bob",,\n'
    )
    with pytest.raises(ConnectorError, match="at most 5"):
        conn.update_account("B1", {"site": "LONDON"})


# --- create -----------------------------------------------------------------------------------


def test_create_ad_account(tmp_path: Path) -> None:
    conn = ad(tmp_path)
    listed = conn.create_account(
        {
            "sAMAccountName": "zoe.odegard",
            "userPrincipalName": "zoe.odegard@example.com",
            "displayName": "Zoë Ødegård",
            "givenName": "Zoë",
            "sn": "Ødegård",
            "mail": "zoe.odegard@example.com",
            "employeeID": "E10016",
            "groups": ["grp-vpn"],
        }
    )
    assert listed.external_id == "zoe.odegard" and listed.username == "zoe.odegard"
    assert listed.email == "zoe.odegard@example.com" and listed.employee_ids == ["E10016"]
    assert listed.status == "ENABLED"  # enabled defaults to true
    assert listed.profile["distinguishedName"] == "CN=Zoë Ødegård,OU=Users,DC=example,DC=com"
    assert "groups" not in listed.profile and "enabled" not in listed.profile
    listing = conn.list_all()
    assert [a.external_id for a in listing.accounts] == ["ann.lee", "svc-backup", "zoe.odegard"]
    assert listing.accounts[2] == listed
    assert ("zoe.odegard", "grp-vpn") in [
        (g.account_external_id, g.entitlement_external_id) for g in listing.grants
    ]
    text = (tmp_path / "apps" / "ad.yaml").read_text(encoding="utf-8")
    assert "Zoë Ødegård" in text  # written as UTF-8, not escaped
    assert no_temp_files(tmp_path / "apps")


def test_create_refuses_existing_id_or_username(tmp_path: Path) -> None:
    conn = ad(tmp_path)
    path = tmp_path / "apps" / "ad.yaml"
    before = path.read_bytes()
    with pytest.raises(ConnectorError) as caught:
        conn.create_account(
            {
                "sAMAccountName": "Ann.Lee",
                "userPrincipalName": "x@example.com",
                "displayName": "Another Ann",
            }
        )
    assert "'ad'" in caught.value.message and "'ann.lee' already exists" in caught.value.message
    assert "line 3" in caught.value.message
    with pytest.raises(ConnectorError, match="sAMAccountName is required"):
        conn.create_account({"userPrincipalName": "x@example.com", "displayName": "X"})
    with pytest.raises(ConnectorError, match="no group or entitlement 'grp-nope'"):
        conn.create_account(
            {
                "sAMAccountName": "x",
                "userPrincipalName": "x@example.com",
                "displayName": "X",
                "groups": ["grp-nope"],
            }
        )
    with pytest.raises(ConnectorError, match="at most 20"):
        conn.create_account(
            {"sAMAccountName": "x" * 21, "userPrincipalName": "x@example.com", "displayName": "X"}
        )
    assert path.read_bytes() == before


def test_create_refuses_a_unique_field_another_account_holds(tmp_path: Path) -> None:
    """AD takes a userPrincipalName once, as it does a sAMAccountName: a second account with
    the UPN of one the file holds (or of one created in the same batch) is refused, naming
    the field to change; the file created it (hostile review)."""
    conn = ad(tmp_path)
    conn.create_account(
        {"sAMAccountName": "zoe", "userPrincipalName": "zoe@example.com", "displayName": "Zoe"}
    )
    path = tmp_path / "apps" / "ad.yaml"
    before = path.read_bytes()
    with pytest.raises(ConnectorError) as caught:
        conn.create_account(
            {"sAMAccountName": "zoe2", "userPrincipalName": "ZOE@example.com", "displayName": "Z"}
        )
    message = caught.value.message
    assert "userPrincipalName 'zoe@example.com' already exists" in message
    assert "Choose another userPrincipalName" in message
    assert path.read_bytes() == before
    both = conn.create_accounts(
        [
            {"sAMAccountName": "max", "userPrincipalName": "max@example.com", "displayName": "M"},
            {"sAMAccountName": "max2", "userPrincipalName": "max@example.com", "displayName": "M"},
        ]
    )
    assert not isinstance(both[0], ConnectorError) and both[0].external_id == "max"
    assert isinstance(both[1], ConnectorError) and "'max@example.com'" in both[1].message
    assert [a.external_id for a in conn.list_all().accounts][-2:] == ["zoe", "max"]


def test_a_unique_field_clash_names_the_field_to_change_and_reads_core_fields(
    tmp_path: Path,
) -> None:
    """A unique value equal to another account's id is that field's to change (an AD UPN
    equal to an id named the sAMAccountName); a declared unique `email` is compared with the
    accounts' own emails (it read only profiles: a second account took Margaret's email); an
    account the file marks DELETED holds its id, not its values (as the check counts them).
    Second hostile review."""
    path = write(
        tmp_path / "badge.csv",
        "id,display_name,email,status,nick\nB1,Ann,ann@x.com,,\nB2,Old,,DELETED,old\n",
    )
    conn = connector(
        tmp_path,
        "badge.csv",
        app="badge",
        creation_schema=[
            {"key": "id", "required": True},
            {"key": "email", "unique": True},
            {"key": "nick", "unique": True},
        ],
    )
    before = path.read_bytes()
    with pytest.raises(ConnectorError, match="so its email 'ANN@x.com' is taken"):
        conn.create_account({"id": "B3", "email": "ANN@x.com"})
    assert path.read_bytes() == before
    conn.create_account({"id": "B4", "email": "bob@x.com", "nick": "old"})  # B2 is DELETED
    with pytest.raises(ConnectorError, match="so its id 'b2' is taken"):
        conn.create_account({"id": "b2", "email": "c@x.com"})  # ids stay taken
    with pytest.raises(ConnectorError) as caught:  # a value equal to another account's id
        conn.create_account({"id": "B5", "nick": "b1"})
    assert "an account with id 'B1' already exists" in caught.value.message
    assert "so its nick 'b1' is taken. Choose another nick" in caught.value.message


def test_a_second_account_with_the_same_distinguished_name_is_refused(tmp_path: Path) -> None:
    """AD names an entry CN=displayName in its OU and refuses a second one (two John Smiths in
    OU=Users); the file app created both (second review)."""
    conn = ad(tmp_path)
    john = {"userPrincipalName": "js@example.com", "displayName": "John Smith"}
    conn.create_account({"sAMAccountName": "jsmith", **john, "ou": "OU=Users,DC=x"})
    with pytest.raises(ConnectorError) as caught:
        conn.create_account(
            {
                "sAMAccountName": "jsmith2",
                "userPrincipalName": "js2@example.com",
                "displayName": "JOHN SMITH",
                "ou": "OU=Users,DC=x",
            }
        )
    assert "an account with distinguishedName 'CN=John Smith,OU=Users,DC=x'" in (
        caught.value.message
    )
    assert "Choose another displayName or ou" in caught.value.message
    made = conn.create_account(
        {"sAMAccountName": "jsmith3", "userPrincipalName": "js3@example.com",
         "displayName": "John Smith", "ou": "OU=Sales,DC=x"}
    )  # fmt: skip
    assert made.profile["distinguishedName"] == "CN=John Smith,OU=Sales,DC=x"


def test_create_entra_account(tmp_path: Path) -> None:
    write(
        tmp_path / "entra.yaml",
        """\
        accounts: []
        entitlements:
        - id: lic-e5
          name: Microsoft 365 E5
        """,
    )
    conn = connector(tmp_path, "entra.yaml", app="entra", flavour="entra_id")
    listed = conn.create_account(
        {
            "displayName": "Ann Lee",
            "mailNickname": "ann.lee",
            "userPrincipalName": "ann.lee@example.com",
            "usageLocation": "GB",
            "groups": ["lic-e5"],
        }
    )
    assert listed.external_id == listed.username == listed.email == "ann.lee@example.com"
    assert listed.profile["accountEnabled"] is True
    assert "passwordProfile" not in listed.profile
    listing = conn.list_all()
    assert len(listing.accounts) == 1 and len(listing.grants) == 1


def test_create_in_csv_app_with_declared_schema(tmp_path: Path) -> None:
    path = write(tmp_path / "badge.csv", "id,display_name,email\nB1,Ann,ann@x.com\n")
    write(tmp_path / "badge.entitlements.csv", "id,name,description\nlobby,Lobby,\n")
    conn = connector(
        tmp_path,
        "badge.csv",
        app="badge",
        creation_schema=[
            {"key": "id", "required": True},
            "display_name",
            "email",
            "site",
            {"key": "groups", "type": "string_list"},
        ],
    )
    conn.create_account({"id": "B2", "display_name": "Bob", "site": "BER-1", "groups": ["lobby"]})
    assert path.read_text(encoding="utf-8") == (
        "id,display_name,email,status,type,site\nB1,Ann,ann@x.com,,,\nB2,Bob,,ENABLED,USER,BER-1\n"
    )
    assert (tmp_path / "badge.grants.csv").read_text(encoding="utf-8") == (
        "account,entitlement\nB2,lobby\n"
    )
    with pytest.raises(ConnectorError, match="already exists"):
        conn.create_account({"id": "b1"})


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_a_csv_creation_keeps_each_files_byte_order_mark_and_line_ends(
    tmp_path: Path, bom: bytes, newline: bytes
) -> None:
    """A Windows tool's export (a BOM, CRLF) stays one when a creation writes it back, the
    grants file too, each in its own style (both were rewritten plain); so does an old Mac
    tool's (CR alone)."""
    path = tmp_path / "badge.csv"
    path.write_bytes(bom + b"id,display_name\nB1,Ann\n".replace(b"\n", newline))
    write(tmp_path / "badge.entitlements.csv", "id,name,description\nlobby,Lobby,\n")
    grants = tmp_path / "badge.grants.csv"
    grants.write_bytes(b"\xef\xbb\xbfaccount,entitlement\r\nB1,lobby\r\n")
    conn = connector(
        tmp_path,
        "badge.csv",
        app="badge",
        creation_schema=[{"key": "id", "required": True}, {"key": "groups", "type": "string_list"}],
    )
    conn.create_account({"id": "B2", "groups": ["lobby"]})
    written = path.read_bytes()
    assert written.startswith(bom + b"id,")  # one BOM, if the file had one
    assert written[len(bom) :].count(newline) == 3
    assert written.count(b"\n") == (0 if newline == b"\r" else 3)
    assert grants.read_bytes() == b"\xef\xbb\xbfaccount,entitlement\r\nB1,lobby\r\nB2,lobby\r\n"
    listing = conn.list_all()
    assert [a.external_id for a in listing.accounts] == ["B1", "B2"]
    assert len(listing.grants) == 2


# --- bad input --------------------------------------------------------------------------------


def problem_of(conn: FileConnector) -> ConnectorError:
    with pytest.raises(ConnectorError) as caught:
        conn.list_all()
    return caught.value


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("accounts:\n- id: a\n  display_name: [unclosed\n", 3, "not valid YAML"),
        ("accounts:\n- id: a\n   bad: indent\n", 3, "not valid YAML"),
        ("accounts:\n- id: a\n- display_name: No Id\n", 3, "account #2: account has no 'id'"),
        ("accounts:\n- id: a\n- id: b\n- id: a\n", 4, "duplicate id 'a' (first used on line 2)"),
        ("accounts:\n- id: a\n  profile: {}\n  emails: a@x.com\n", 4, "'emails' must be a list"),
        ("accounts:\n- id: a\n  status: ACTIVE\n", 3, "unknown status 'ACTIVE'"),
        ("accounts:\n- id: a\n  type: robot\n", 3, "unknown account type"),
        ("accounts:\n- id: a\n  emial: a@x.com\n", 3, "unknown account field 'emial'"),
        ("accounts:\n- id: a\n  profile: text\n", 3, "'profile' must be a mapping"),
        ("accounts:\n- id: a\n  display_name: {a: 1}\n", 3, "'display_name' must be text"),
        ("accounts:\n- id: a\nusers: []\n", 3, "unknown top-level key 'users'"),
        ("- id: a\n", 1, "must be a mapping with 'accounts:'"),
        ("entitlements: []\n", 1, "no 'accounts:' list"),
        ("", 1, "the file is empty"),
        ("accounts: {id: a}\n", 1, "'accounts' must be a list"),
        (
            "accounts:\n- id: a\ngrants:\n- account: b\n  entitlement: e\n",
            4,
            "no account with id 'b'",
        ),
        ("accounts:\n- id: a\nentitlements:\n- name: x\n", 4, "entitlement has no 'id'"),
    ],
)
def test_malformed_yaml_names_file_and_line(
    tmp_path: Path, text: str, line: int, words: str
) -> None:
    (tmp_path / "app.yaml").write_text(text, encoding="utf-8")
    error = problem_of(connector(tmp_path, "app.yaml"))
    assert "App 'app'" in error.message
    assert str(tmp_path / "app.yaml") in error.message
    assert f"line {line}" in error.message, error.message
    assert words in error.message
    assert "its accounts stay as they were" in error.message
    assert error.problems and error.problems[0].line == line
    assert error.problems[0].path == str(tmp_path / "app.yaml")


def test_several_problems_are_collected(tmp_path: Path) -> None:
    (tmp_path / "app.yaml").write_text(
        "accounts:\n- id: a\n  status: x\n- display_name: b\n- id: c\n  emails: c\n",
        encoding="utf-8",
    )
    error = problem_of(connector(tmp_path, "app.yaml"))
    assert [p.line for p in error.problems] == [3, 4, 6]
    assert "3 problems in all" in error.message


SEVEN_BAD = [("a", "x"), ("b", "y"), ("c", "z"), ("d", "w"), ("e", "v"), ("f", "u"), ("g", "t")]


@pytest.mark.parametrize(
    ("name", "text", "first_line"),
    [
        (
            "app.yaml",
            "accounts:\n" + "".join(f"- id: {i}\n  status: {s}\n" for i, s in SEVEN_BAD),
            3,
        ),
        ("app.csv", "id,status\n" + "".join(f"{i},{s}\n" for i, s in SEVEN_BAD), 2),
        (
            "app.jsonl",
            "".join(f'{{"id": "{i}", "status": "{s}"}}\n' for i, s in SEVEN_BAD),
            1,
        ),
    ],
)
def test_the_message_lists_the_first_few_problems_in_every_format(
    tmp_path: Path, name: str, text: str, first_line: int
) -> None:
    """'(7 problems in all)' with only the first shown left the admin fixing one line per
    sync: the message lists the first five, each with its line, and says how many more."""
    (tmp_path / name).write_text(text, encoding="utf-8")
    error = problem_of(connector(tmp_path, name))
    assert len(error.problems) == 7
    assert "7 problems in all" in error.message
    for status in ("x", "y", "z", "w", "v"):
        assert f"unknown status {status!r}" in error.message, error.message
    assert "'u'" not in error.message and "… and 2 more" in error.message
    step = 2 if name.endswith(".yaml") else 1
    for k in range(1, 5):
        assert f"also line {first_line + k * step}: " in error.message, error.message
    assert len(error.message.splitlines()) == 6


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ('id,display_name\nB1,"unclosed\n', 2, "not valid CSV"),
        ("id,display_name\nB1,Ann,extra\n", 2, "row 1 has 3 values but the header has 2"),
        ("display_name,email\nAnn,a@x.com\n", 1, "no 'id' column"),
        ("id,display_name\nB1,Ann\nB2,Bob\nB1,Again\n", 4, "row 3, column 'id': duplicate id"),
        ("id,status\nB1,maybe\n", 2, "unknown status 'maybe'"),
        ("id,id\nB1,B2\n", 1, "the column 'id' appears twice"),
        ("id,display_name\n,Nobody\n", 2, "row 1, column 'id': account has no 'id'"),
        ("", 1, "the file is empty"),
    ],
)
def test_malformed_csv_names_file_and_row(tmp_path: Path, text: str, line: int, words: str) -> None:
    (tmp_path / "app.csv").write_text(text, encoding="utf-8")
    error = problem_of(connector(tmp_path, "app.csv"))
    assert str(tmp_path / "app.csv") in error.message
    assert f"line {line}" in error.message, error.message
    assert words in error.message, error.message


def test_bad_grant_sidecar_is_named(tmp_path: Path) -> None:
    write(tmp_path / "app.csv", "id\nB1\n")
    write(tmp_path / "app.grants.csv", "account,entitlement\nB1,nope\n")
    error = problem_of(connector(tmp_path, "app.csv"))
    assert str(tmp_path / "app.grants.csv") in error.message
    assert "line 2" in error.message and "no entitlement with id 'nope'" in error.message


def test_missing_file_and_bad_encoding(tmp_path: Path) -> None:
    error = problem_of(connector(tmp_path, "apps/none.yaml"))
    assert "does not exist" in error.message and "apps/none.yaml" in error.message
    assert "'path' setting" in error.message
    (tmp_path / "latin.csv").write_bytes("id,name\nB1,Jos\xe9\n".encode("latin-1"))
    error = problem_of(connector(tmp_path, "latin.csv"))
    assert "not UTF-8" in error.message and "line 2" in error.message


def test_broken_file_is_never_overwritten(tmp_path: Path) -> None:
    conn = ad(tmp_path, AD_FILE + "- account: nobody\n  entitlement: grp-all\n")
    path = tmp_path / "apps" / "ad.yaml"
    before = path.read_bytes()
    with pytest.raises(ConnectorError, match="no account with id 'nobody'"):
        conn.update_account("ann.lee", {"title": "x"})
    with pytest.raises(ConnectorError, match="no account with id 'nobody'"):
        conn.create_account(
            {"sAMAccountName": "x", "userPrincipalName": "x@example.com", "displayName": "X"}
        )
    assert path.read_bytes() == before
    assert no_temp_files(path.parent)


def test_unwritable_folder_is_a_connector_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = ad(tmp_path)
    path = tmp_path / "apps" / "ad.yaml"
    before = path.read_bytes()

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("engine.connectors.fileio.os.replace", refuse)
    with pytest.raises(ConnectorError, match="could not write .*Permission denied"):
        conn.update_account("ann.lee", {"title": "x"})
    assert path.read_bytes() == before
    assert no_temp_files(path.parent)


@pytest.mark.parametrize("fmt", ["yaml", "jsonl", "csv"])
def test_a_refused_accounts_grants_are_not_reported_again(tmp_path: Path, fmt: str) -> None:
    """One bad account read as four problems: its own and one "no account with id" per grant
    of it (hostile review). Its own is reported; a grant naming no account at all still is."""
    if fmt == "yaml":
        (tmp_path / "app.yaml").write_text(
            "accounts:\n- id: a\n  status: ACTIVE\n- id: b\nentitlements:\n- id: e\n"
            "grants:\n- {account: a, entitlement: e}\n- {account: zz, entitlement: e}\n",
            encoding="utf-8",
        )
    elif fmt == "jsonl":
        (tmp_path / "app.jsonl").write_text(
            '{"id": "a", "status": "ACTIVE"}\n{"id": "b"}\n', encoding="utf-8"
        )
        (tmp_path / "app.entitlements.jsonl").write_text('{"id": "e"}\n', encoding="utf-8")
        (tmp_path / "app.grants.jsonl").write_text(
            '{"account": "a", "entitlement": "e"}\n{"account": "zz", "entitlement": "e"}\n',
            encoding="utf-8",
        )
    else:
        (tmp_path / "app.csv").write_text("id,status\na,ACTIVE\nb,ENABLED\n", encoding="utf-8")
        (tmp_path / "app.entitlements.csv").write_text("id\ne\n", encoding="utf-8")
        (tmp_path / "app.grants.csv").write_text(
            "account,entitlement\na,e\nzz,e\n", encoding="utf-8"
        )
    error = problem_of(connector(tmp_path, f"app.{fmt}"))
    assert "unknown status 'ACTIVE'" in error.message
    assert "no account with id 'a'" not in error.message
    assert "no account with id 'zz'" in error.message
    assert len(error.problems) == 2, error.message


def _another_program_writes_during_reads(
    monkeypatch: pytest.MonkeyPatch, path: Path, times: int, name: str = "zz-other"
) -> list[str]:
    """Each of the first TIMES reads of PATH is followed, before Roster writes, by another
    program replacing the file with one more account (as an export job does). Returns the
    ids it added."""
    import os

    from engine.connectors.file.yaml_store import YamlStore

    added: list[str] = []
    load = YamlStore.load

    def load_then_other_writes(self: Any, *args: Any, **kwargs: Any) -> Any:
        loaded = load(self, *args, **kwargs)
        if len(added) < times:
            added.append(f"{name}-{len(added)}")
            text = path.read_text(encoding="utf-8").replace(
                "entitlements:", f"- id: {added[-1]}\n  display_name: Other\nentitlements:", 1
            )
            other = path.with_name("other.tmp")
            other.write_text(text, encoding="utf-8")
            os.replace(other, path)
        return loaded

    monkeypatch.setattr(YamlStore, "load", load_then_other_writes)
    return added


def test_a_push_keeps_what_another_program_wrote_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A push reads the file, changes it and writes it back: seconds for an 80 MB export. An
    account another program added in between was written over and lost for good, the run
    "applied" (day-two review). The write sees the file changed, and is made again on it."""
    conn = ad(tmp_path)
    path = tmp_path / "apps" / "ad.yaml"
    added = _another_program_writes_during_reads(monkeypatch, path, times=2)
    conn.update_account("ann.lee", {"title": "Staff Engineer"})
    ids = [a.external_id for a in conn.list_all().accounts]
    assert added == ["zz-other-0", "zz-other-1"] and set(added) <= set(ids), ids
    ann = next(a for a in conn.list_all().accounts if a.external_id == "ann.lee")
    assert ann.profile["title"] == "Staff Engineer"
    assert no_temp_files(path.parent)

    # a creation alike
    more = _another_program_writes_during_reads(monkeypatch, path, times=1, name="zz-again")
    created = conn.create_account(
        {"sAMAccountName": "bo.chen", "userPrincipalName": "bo@example.com", "displayName": "Bo"}
    )
    ids = [a.external_id for a in conn.list_all().accounts]
    assert created.external_id == "bo.chen" and {"bo.chen", *added, *more} <= set(ids), ids


def test_a_file_written_at_every_try_is_left_as_the_other_program_wrote_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.connectors.file.connector import REWRITE_ATTEMPTS

    conn = ad(tmp_path)
    path = tmp_path / "apps" / "ad.yaml"
    added = _another_program_writes_during_reads(monkeypatch, path, times=REWRITE_ATTEMPTS)
    with pytest.raises(ConnectorError, match="another program wrote .* each time Roster was"):
        conn.update_account("ann.lee", {"title": "Staff Engineer"})
    accounts = {a.external_id: a for a in conn.list_all().accounts}
    assert set(added) <= set(accounts) and accounts["ann.lee"].profile["title"] == "Engineer"
    assert no_temp_files(path.parent)


def test_a_change_of_mode_alone_is_no_write_of_another_program(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chmod (or a backup tool's hard link) moves the file's change time, not its data: a
    chmod loop made every push give up after five tries (hostile pass)."""
    import os

    from engine.connectors.file.yaml_store import YamlStore

    conn = ad(tmp_path)
    path = tmp_path / "apps" / "ad.yaml"
    load = YamlStore.load
    reads: list[int] = []

    def load_then_chmod(self: Any, *args: Any, **kwargs: Any) -> Any:
        reads.append(1)
        loaded = load(self, *args, **kwargs)
        os.chmod(path, 0o640)
        return loaded

    monkeypatch.setattr(YamlStore, "load", load_then_chmod)
    conn.update_account("ann.lee", {"title": "Staff Engineer"})
    assert len(reads) == 1  # written at the first try


def test_a_file_reached_through_a_symlink_is_written_where_it_points(tmp_path: Path) -> None:
    """Replacing the link made it a file of its own: the real export never saw a push, and
    the next writes went to the copy (hostile pass)."""
    conn = ad(tmp_path)
    link = tmp_path / "apps" / "ad.yaml"
    real = tmp_path / "real" / "ad.yaml"
    real.parent.mkdir()
    link.rename(real)
    link.symlink_to(real)
    conn.update_account("ann.lee", {"title": "Staff Engineer"})
    assert link.is_symlink() and "Staff Engineer" in real.read_text(encoding="utf-8")
    assert no_temp_files(real.parent) and no_temp_files(link.parent)


def test_a_symlink_repointed_between_the_read_and_the_write_is_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file read was the link's old target; writing its copy over the new one lost what
    only the new one held (hostile pass). The write sees another file, and reads it again."""
    import shutil

    from engine.connectors.file.yaml_store import YamlStore

    conn = ad(tmp_path)
    link = tmp_path / "apps" / "ad.yaml"
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    shutil.copy(link, old)
    link.unlink()
    link.symlink_to(old)
    new.write_text(
        old.read_text().replace("entitlements:", "- id: zz-new\n  display_name: New\nentitlements:")
    )
    load = YamlStore.load
    swapped: list[int] = []

    def load_then_repoint(self: Any, *args: Any, **kwargs: Any) -> Any:
        loaded = load(self, *args, **kwargs)
        if not swapped:
            swapped.append(1)
            link.unlink()
            link.symlink_to(new)
        return loaded

    monkeypatch.setattr(YamlStore, "load", load_then_repoint)
    conn.update_account("ann.lee", {"title": "Staff Engineer"})
    text = new.read_text()
    assert "zz-new" in text and "Staff Engineer" in text
    assert "Staff Engineer" not in old.read_text()
