"""Connector kinds, descriptions per flavour, declared schemas, and the fingerprint helper."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from engine.connectors.base import ConnectorSpec, ListedAccount
from engine.connectors.fingerprint import fingerprint
from engine.connectors.registry import KNOWN_KINDS, describe, make_connector
from engine.errors import ConnectorError


def spec(settings: dict[str, Any], kind: str = "file", app: str = "app") -> ConnectorSpec:
    return ConnectorSpec(app_id=app, kind=kind, settings=settings, base_dir=Path("/nowhere"))


def test_unknown_kind_names_app_and_known_kinds() -> None:
    assert "file" in KNOWN_KINDS
    for call in (make_connector, describe):
        with pytest.raises(ConnectorError) as caught:
            call(spec({"path": "x.yaml"}, kind="ftp", app="legacy"))
        assert "'legacy'" in caught.value.message and "'ftp'" in caught.value.message
        assert "file" in caught.value.message


def test_describe_reads_settings_only() -> None:
    # the file does not exist: describe must not care
    description = describe(spec({"path": "apps/missing.yaml", "flavour": "active_directory"}))
    assert description.kind == "file" and description.flavour == "active_directory"


def test_active_directory_description() -> None:
    description = describe(spec({"path": "ad.yaml", "flavour": "active_directory"}))
    caps = description.capabilities
    assert (caps.directory, caps.push, caps.custom_push_attributes, caps.provisioning) == (
        True,
        True,
        True,
        True,
    )
    keys = [f.key for f in description.push_schema]
    for key in (
        "givenName",
        "sn",
        "displayName",
        "mail",
        "title",
        "department",
        "employeeID",
        "company",
        "c",
        "co",
        "l",
        "physicalDeliveryOfficeName",
        "telephoneNumber",
        "mobile",
        "manager",
        "description",
    ):
        assert key in keys
    assert [k for k in keys if k.startswith("extensionAttribute")] == [
        f"extensionAttribute{n}" for n in range(1, 16)
    ]
    field = description.push_field("C")  # case-insensitive, as AD is
    assert field is not None and field.key == "c" and field.max_length == 3
    assert description.push_field("employeeID").max_length == 16  # type: ignore[union-attr]
    assert description.push_field("extensionAttribute7").max_length == 1024  # type: ignore[union-attr]
    creation = {f.key: f for f in description.creation_schema}
    assert creation["sAMAccountName"].required and creation["sAMAccountName"].max_length == 20
    assert creation["userPrincipalName"].required and creation["displayName"].required
    assert creation["ou"].default == "OU=Users,DC=example,DC=com"
    assert creation["enabled"].type == "bool" and creation["enabled"].default is True
    assert creation["groups"].type == "string_list"
    assert [f.order for f in description.creation_schema] == sorted(
        f.order for f in description.creation_schema
    )


def test_entra_description() -> None:
    description = describe(spec({"path": "entra.yaml", "flavour": "entra_id"}))
    caps = description.capabilities
    assert caps.push and caps.provisioning and not caps.custom_push_attributes
    keys = {f.key for f in description.push_schema}
    assert {
        "displayName",
        "givenName",
        "surname",
        "mailNickname",
        "userPrincipalName",
        "jobTitle",
        "department",
        "employeeId",
        "companyName",
        "country",
        "usageLocation",
        "city",
        "officeLocation",
        "mobilePhone",
        "accountEnabled",
        "employeeType",
        "extensionAttribute15",
    } <= keys
    assert description.push_field("accountEnabled").type == "bool"  # type: ignore[union-attr]
    creation = {f.key: f for f in description.creation_schema}
    assert all(creation[k].required for k in ("displayName", "mailNickname", "userPrincipalName"))
    assert creation["accountEnabled"].default is True
    assert creation["passwordProfile"].type == "map"
    assert creation["passwordProfile"].default == {"forceChangePasswordNextSignIn": True}
    assert "employeeHireDate" in creation and creation["groups"].type == "string_list"


def test_plain_app_and_declared_schemas() -> None:
    plain = describe(spec({"path": "slack.yaml"}))
    assert plain.flavour == "" and plain.push_schema == () and plain.creation_schema == ()
    caps = plain.capabilities
    assert caps.directory and not caps.push and not caps.provisioning
    assert "display_name" in plain.account_fields and "profile" in plain.account_fields
    declared = describe(
        spec(
            {
                "path": "badge.csv",
                "push_schema": ["site", {"key": "floor", "type": "int", "max_length": 3}],
                "creation_schema": [{"key": "id", "required": True, "placeholder": "B-1"}],
            }
        )
    )
    assert declared.capabilities.push and declared.capabilities.provisioning
    assert [f.key for f in declared.push_schema] == ["site", "floor"]
    assert declared.push_field("floor").type == "int"  # type: ignore[union-attr]
    assert declared.creation_schema[0].placeholder == "B-1"
    # a flavour's schema can be extended with declared fields
    extended = describe(
        spec(
            {
                "path": "ad.yaml",
                "flavour": "active_directory",
                "push_schema": [{"key": "title", "max_length": 64}, "pager"],
            }
        )
    )
    assert extended.push_field("title").max_length == 64  # type: ignore[union-attr]
    pager = extended.push_field("pager")
    assert pager is not None and (pager.key, pager.type, pager.max_length) == (
        "pager",
        "string",
        None,
    )
    assert extended.push_field("title") in extended.push_schema  # the flavour's field, extended
    assert extended.push_field("nosuchfield") is None


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({}, "'path' is missing"),
        ({"path": "x.txt"}, "cannot tell the format"),
        ({"path": "x.yaml", "format": "xml"}, "unknown format 'xml'"),
        ({"path": "x.yaml", "flavour": "openldap"}, "unknown flavour 'openldap'"),
        ({"path": "x.yaml", "pathh": "y"}, "unknown setting 'pathh'"),
        ({"path": "x.yaml", "push_schema": "title"}, "must be a list of fields"),
        ({"path": "x.yaml", "push_schema": [{"key": "a", "type": "date"}]}, "unknown type"),
        ({"path": "x.yaml", "push_schema": ["a", "A"]}, "declared twice"),
        ({"path": "x.yaml", "creation_schema": [{"name": "a"}]}, "unknown field setting"),
    ],
)
def test_bad_settings(settings: dict[str, Any], words: str) -> None:
    with pytest.raises(ConnectorError) as caught:
        describe(spec(settings, app="crm"))
    assert "'crm'" in caught.value.message and words in caught.value.message
    assert caught.value.problems and caught.value.problems[0].path.startswith("apps.crm.settings")


def test_format_from_setting_overrides_extension(tmp_path: Path) -> None:
    (tmp_path / "people.txt").write_text("id,display_name\nP1,Ann\n", encoding="utf-8")
    conn = make_connector(
        ConnectorSpec("people", "file", {"path": "people.txt", "format": "csv"}, tmp_path)
    )
    assert [a.display_name for a in conn.list_all().accounts] == ["Ann"]


def test_fingerprint_is_stable_and_sensitive() -> None:
    account = ListedAccount(
        external_id="a",
        display_name="Ann",
        emails=["a@x.com"],
        profile={"b": 1, "a": ["x", "y"], "c": {"z": True}},
    )
    same = ListedAccount(
        external_id="a",
        display_name="Ann",
        emails=["a@x.com"],
        profile={"c": {"z": True}, "a": ["x", "y"], "b": 1},
    )
    assert fingerprint(account) == fingerprint(same)  # profile key order does not matter
    assert len(fingerprint(account)) == 40
    changes = [
        {"display_name": "Anne"},
        {"email": "a@x.com"},
        {"emails": []},
        {"status": "DISABLED"},
        {"type": "SERVICE_ACCOUNT"},
        {"manager": "m"},
        {"usernames": ["a"]},
        {"employee_ids": ["1"]},
        {"given_name": "A"},
        {"family_name": "B"},
        {"username": "u"},
        {"external_id": "b"},
        {"profile": {"b": 1, "a": ["y", "x"], "c": {"z": True}}},
        {"profile": {"b": "1", "a": ["x", "y"], "c": {"z": True}}},
    ]
    digests = {fingerprint(replace(account, **change)) for change in changes}
    assert len(digests) == len(changes) and fingerprint(account) not in digests


def test_connectors_do_not_import_the_ui() -> None:
    code = (
        "import sys, engine.connectors.registry, engine.connectors.fingerprint;"
        "bad = [m for m in ('textual', 'rich', 'click') if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
