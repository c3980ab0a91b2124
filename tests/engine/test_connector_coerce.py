"""Value coercion and the push and creation checks every connector shares
(engine/connectors/coerce.py), without any app behind them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from engine.connectors.base import Capabilities, ConnectorDescription, SchemaField
from engine.connectors.coerce import check_creation, coerce, is_empty, resolve_push
from engine.errors import ConnectorError

TITLE = SchemaField("title", max_length=8)
ENABLED = SchemaField("accountEnabled", type="bool")
FLOOR = SchemaField("floor", type="int")
GROUPS = SchemaField("groups", type="string_list", max_length=5)
EXTRA = SchemaField("extra", type="map")


@pytest.mark.parametrize(
    ("schema_field", "value", "expected"),
    [
        (TITLE, "Engineer", ("Engineer", "")),
        (TITLE, 42, ("42", "")),
        (TITLE, "Principal", (None, "9 characters long; at most 8 are allowed")),
        (TITLE, True, (None, "expected text, got True")),
        (ENABLED, " False ", (False, "")),
        (ENABLED, "maybe", (None, "expected true or false, got 'maybe'")),
        (FLOOR, "-3", (-3, "")),
        (FLOOR, "3.5", (None, "expected a whole number, got '3.5'")),
        (FLOOR, True, (None, "expected a whole number, got True")),
        (GROUPS, "eng", (["eng"], "")),
        (
            GROUPS,
            ["eng", "toolong"],
            (None, "'toolong' is 7 characters long; at most 5 are allowed"),
        ),
        (GROUPS, ["eng", 3], (None, "expected a list of text values, got ['eng', 3]")),
        (EXTRA, {"a": 1}, ({"a": 1}, "")),
        (EXTRA, "a=1", (None, "expected a mapping, got 'a=1'")),
        (None, ["kept", "as", "computed"], (["kept", "as", "computed"], "")),  # custom attribute
        (None, 7, (7, "")),
    ],
)
def test_coerce(schema_field: SchemaField | None, value: object, expected: tuple) -> None:
    assert coerce(schema_field, value) == expected


def test_empty_values() -> None:
    assert [is_empty(v) for v in (None, "", [], {}, 0, False, " ")] == [
        True, True, True, True, False, False, False,
    ]  # fmt: skip


def _description(custom: bool = False) -> ConnectorDescription:
    return ConnectorDescription(
        kind="ldap",
        capabilities=Capabilities(push=True, custom_push_attributes=custom),
        push_schema=(SchemaField("displayName"), ENABLED, TITLE),
    )


def test_a_push_is_matched_to_the_schema_case_insensitively_and_coerced() -> None:
    pairs = resolve_push(
        "ad",
        _description(),
        "alee",
        {"displayname": "Ann Lee", "ACCOUNTENABLED": "true", "title": ""},
    )
    assert pairs == [("displayName", "Ann Lee"), ("accountEnabled", True), ("title", None)]


def test_a_push_names_every_refused_attribute() -> None:
    with pytest.raises(ConnectorError) as refused:
        resolve_push("ad", _description(), "alee", {"colour": "blue", "accountEnabled": "maybe"})
    assert refused.value.message == (
        "App 'ad' refused the push to 'alee': 'colour' is not an attribute this app accepts "
        "(known attributes: displayName, accountEnabled, title); accountEnabled: expected true "
        "or false, got 'maybe'. Nothing was written for this account."
    )
    assert [p.path for p in refused.value.problems] == ["colour", "accountEnabled"]


def test_custom_attributes_pass_when_the_app_accepts_them() -> None:
    pairs = resolve_push("ad", _description(custom=True), "alee", {"colour": "blue"})
    assert pairs == [("colour", "blue")]


CREATION = (
    SchemaField("userPrincipalName", required=True, order=1),
    SchemaField("accountEnabled", type="bool", default=True, order=3),
    SchemaField("displayName", order=2),
    SchemaField("usageLocation", default="GB", order=4),
)


def test_creation_fills_defaults_and_coerces_in_schema_order() -> None:
    values = check_creation(
        "entra", CREATION, {"userPrincipalName": "ann@x.test", "accountEnabled": "false"}
    )
    assert list(values.items()) == [
        ("userPrincipalName", "ann@x.test"),
        ("accountEnabled", False),
        ("usageLocation", "GB"),
    ]


def test_creation_names_every_problem() -> None:
    with pytest.raises(ConnectorError) as refused:
        check_creation("entra", CREATION, {"displayName": "Ann", "shoeSize": 9})
    assert refused.value.message == (
        "App 'entra' cannot create the account: 'shoeSize' is not a creation field (fields: "
        "userPrincipalName, accountEnabled, displayName, usageLocation); userPrincipalName is "
        "required. Nothing was created."
    )


def test_the_shared_checks_do_not_load_the_file_connector(tmp_path: Path) -> None:
    code = (
        "import sys, engine.connectors.coerce\n"
        "print(sorted(m for m in sys.modules if m.startswith('engine.connectors.file')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert out.stdout.strip() == "[]"
