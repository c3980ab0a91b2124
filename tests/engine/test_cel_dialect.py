"""ConductorOne's dialect, the rest of it (issue 12 §7), as an admin meets it in `preview`."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from console.cli import main
from tests.engine.test_cel_budget import make_store


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    return make_store(tmp_path_factory.mktemp("dialect"))


def preview(db: str, context: str, expression: str) -> tuple[int, dict[str, object]]:
    result = CliRunner().invoke(
        main,
        ["preview", "--db", db, "--context", context, "--user", "ann.lee@example.com", "--json",
         expression],
    )  # fmt: skip
    return result.exit_code, json.loads(result.stdout)


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("string(true)", "true"),
        ("string(false)", "false"),
        ('string(1 == 1) + "/" + string(true && false)', "true/false"),
    ],
)
def test_string_of_a_bool_is_lower_case(db: str, expression: str, value: str) -> None:
    code, data = preview(db, "push_mapping", expression)
    assert code == 0 and data["value"] == value


def test_fully_qualified_enums_compile_and_compare(db: str) -> None:
    code, data = preview(db, "push_condition", "subject.status == c1.user.v1.UserStatus.ENABLED")
    assert code == 0 and data["value"] is True
    code, data = preview(db, "push_condition", "subject.status == c1.user.v1.UserStatus.DISABLED")
    assert code == 0 and data["value"] is False
    code, data = preview(db, "push_mapping", "c1.user.v1.UserType.HUMAN")
    assert code == 0 and data["value"] == "HUMAN"


def test_user_type_has_conductorones_kinds(db: str) -> None:
    code, data = preview(
        db, "push_mapping", "[UserType.HUMAN, UserType.AGENT, UserType.SERVICE, UserType.SYSTEM]"
    )
    assert code == 0 and data["value"] == ["HUMAN", "AGENT", "SERVICE", "SYSTEM"]
    code, data = preview(db, "push_condition", '"USER_TYPE_AGENT" == UserType.AGENT')
    assert code == 0 and data["value"] is True


def test_has_with_an_index_reads_as_in_with_a_warning(db: str) -> None:
    code, data = preview(db, "push_condition", 'has(subject.profile["department"])')
    assert code == 0 and data["value"] is True
    warning = data["warnings"][0]
    assert '`"department" in subject.profile`' in warning["message"]
    assert warning["column"] == 1
    code, data = preview(db, "push_condition", 'has(subject.profile["no_such_key"])')
    assert code == 0 and data["value"] is False


def test_has_with_an_index_is_a_warning_not_an_error_on_save(db: str) -> None:
    result = CliRunner().invoke(
        main,
        ["config", "set", "--db", db, "attributes.in_dept", "{name: in_dept, custom: true, "
         "sources: [{cel: 'has(subject.profile[\"department\"]) ? \"y\" : \"n\"'}]}",
         "--dry-run"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert 'read as `"department" in subject.profile`' in result.output + result.stderr


def test_a_human_is_a_user_the_way_conductorone_means_it(db: str) -> None:
    # ConductorOne's user types name what its app-user types (Roster's) call USER,
    # SERVICE_ACCOUNT and SYSTEM_ACCOUNT: an expression pasted from it must hold for a person
    code, data = preview(db, "push_condition", "subject.type == UserType.HUMAN")
    assert code == 0 and data["value"] is True
    code, data = preview(
        db, "push_condition", "subject.type == c1.user.v1.UserType.USER_TYPE_HUMAN"
    )
    assert code == 0 and data["value"] is True
    code, data = preview(db, "push_condition", "subject.type == UserType.AGENT")
    assert code == 0 and data["value"] is False  # no counterpart: equals only itself
    for same in (
        "UserType.SERVICE == AppUserType.SERVICE_ACCOUNT",
        'UserType.SYSTEM == "SYSTEM_ACCOUNT"',
        'UserType.HUMAN == "user"',
    ):
        code, data = preview(db, "push_condition", same)
        assert code == 0 and data["value"] is True, same
    code, data = preview(db, "push_condition", "UserType.HUMAN == AppUserType.SERVICE_ACCOUNT")
    assert code == 0 and data["value"] is False
