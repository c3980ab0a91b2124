"""The CEL engine: contexts, objects and aliases, statuses, c1.* functions, missing keys,
errors for people, check() warnings, thread safety. Real cel-python, no mocks."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

import pytest

from engine.cel import (
    CONTEXTS,
    CelCompileError,
    CelEngine,
    CelEvalError,
    check_result,
    field_names,
    function_names,
    normalize_filter_result,
    to_python,
    type_name,
)
from engine.errors import Problem
from engine.records import AccountRecord, Population, UserRecord


def make_population() -> Population:
    ann = UserRecord(
        1,
        email="ann@example.com",
        emails=["ann.lee@example.com"],
        username="ann",
        display_name="Ann Lee",
        given_name="Ann",
        family_name="Lee",
        employee_id="E1",
        status="ENABLED",
        type="USER",
        attributes={
            "department": "Engineering",
            "job_title": "Developer",
            "employment_type": "FULL_TIME",
            "employment_status": "ACTIVE",
            "directory_status": "ACTIVE",
            "manager_email": ["bob@example.com"],
            "additional_email": ["ann+tag@example.com"],
            "cost_center": "CC-100",
        },
    )
    bob = UserRecord(
        2,
        email="bob@example.com",
        display_name="Bob Boss",
        attributes={"department": "Executive", "cost_center": "CC-1"},
    )
    carol = UserRecord(
        3,
        email="carol@example.com",
        display_name="Carol",
        status="DISABLED",
        type="SERVICE_ACCOUNT",
        attributes={"manager_email": ["bob@example.com"]},
    )
    accounts = [
        AccountRecord(
            10,
            "github",
            "ann-gh",
            display_name="Ann Lee",
            given_name="Ann",
            family_name="Lee",
            email="ann@example.com",
            username="annl",
            employee_ids=["E1"],
            profile={"team": "core", "two_factor": True},
            entitlements=["admins", "devs"],
            manager="bob-gh",
            owner_id=1,
        ),
        AccountRecord(11, "okta", "00u1", email="ann@example.com", status="DISABLED", owner_id=1),
        AccountRecord(
            12, "github", "bob-gh", email="bob@example.com", entitlements=["admins"], owner_id=2
        ),
        AccountRecord(
            13, "github", "svc-bot", email="", type="SERVICE_ACCOUNT", profile={"team": "ops"}
        ),
    ]
    return Population([ann, bob, carol], accounts, {("github", "admins"): "GitHub Admins"})


@pytest.fixture(scope="module")
def population() -> Population:
    return make_population()


@pytest.fixture(scope="module")
def engine(population: Population) -> CelEngine:
    return CelEngine(population)


def user_value(
    engine: CelEngine, expression: str, user_id: int = 1, context: str = "push_mapping"
) -> object:
    assert engine.population is not None
    record = engine.population.user_by_id(user_id)
    assert record is not None
    program = engine.compile(context, expression)
    return to_python(engine.evaluate(program, engine.activation_for(context, record)))


def account_value(
    engine: CelEngine, expression: str, account_id: int = 10, context: str = "directory_filter"
) -> object:
    assert engine.population is not None
    record = next(a for a in engine.population.accounts if a.id == account_id)
    program = engine.compile(context, expression)
    return to_python(engine.evaluate(program, engine.activation_for(context, record)))


# ---- contexts ---------------------------------------------------------------------------

EXPECTED_VARIABLES = {
    "directory_filter": ("account", "subject"),
    "account_key": ("account",),
    "user_key": ("user", "subject"),
    "attribute_source": ("subject", "accounts"),
    "push_condition": ("subject", "user"),
    "push_mapping": ("subject", "user"),
    "provisioning_field": ("subject", "entitlement"),
    "cel": (),  # no record: the language alone
}


def test_the_seven_contexts_and_cel() -> None:
    assert set(CONTEXTS) == set(EXPECTED_VARIABLES)
    for name, spec in CONTEXTS.items():
        assert spec.name == name
        assert set(spec.variables) == set(EXPECTED_VARIABLES[name])
        assert spec.returns
        kind = {"directory_filter": "account", "account_key": "account", "cel": "none"}
        assert spec.subject_kind == kind.get(name, "user")
    assert "MATCH_ONLY" in CONTEXTS["directory_filter"].returns


@pytest.mark.parametrize(
    ("context", "expression", "expected"),
    [
        ("directory_filter", 'account.email.endsWith("@example.com")', True),
        ("directory_filter", 'subject.appId == "github" ? "CREATE" : "IGNORE"', "CREATE"),
        ("account_key", "account.emails", ["ann@example.com"]),
        ("user_key", "[user.email, subject.employeeId]", ["ann@example.com", "E1"]),
        ("attribute_source", "accounts.github.profile.team", "core"),
        ("attribute_source", 'accounts["okta"].externalId', "00u1"),
        ("attribute_source", "subject.department", "Engineering"),
        ("push_condition", 'subject.department == "Engineering" && user.id == "1"', True),
        ("push_mapping", "user.displayName", "Ann Lee"),
        ("provisioning_field", 'subject.email.split("@")[0]', "ann"),
    ],
)
def test_each_context_evaluates(
    engine: CelEngine, context: str, expression: str, expected: object
) -> None:
    assert engine.population is not None
    spec = CONTEXTS[context]
    record: UserRecord | AccountRecord
    if spec.subject_kind == "account":
        record = engine.population.accounts[0]
    else:
        record = engine.population.users[0]
    variables = engine.activation_for(context, record)
    value = engine.evaluate(engine.compile(context, expression), variables)
    assert to_python(value) == expected
    assert check_result(context, value) is None


def test_activation_variables(engine: CelEngine, population: Population) -> None:
    ann, account = population.users[0], population.accounts[0]
    for context, spec in CONTEXTS.items():
        record = account if spec.subject_kind == "account" else ann
        variables = engine.activation_for(context, record)
        expected = set(spec.variables) - {"entitlement"}
        assert set(variables) == expected
    with_entitlement = engine.activation_for(
        "provisioning_field", ann, entitlement={"id": "admins", "app_id": "github"}
    )
    program = engine.compile("provisioning_field", 'entitlement.id + "@" + entitlement.app_id')
    assert to_python(engine.evaluate(program, with_entitlement)) == "admins@github"
    with pytest.raises(TypeError):
        engine.activation_for("push_condition", account)
    with pytest.raises(TypeError):
        engine.activation_for("directory_filter", ann)


@pytest.mark.parametrize(
    ("expression", "read"),
    [
        ('subject.given_name + " " + subject.family_name', {"subject"}),
        ("has(accounts.github)", {"accounts"}),
        ("accounts.?github.username.orValue(subject.email)", {"subject", "accounts"}),
        # a macro's variable may shadow a context variable: named, so still given
        ('[subject.email].exists(accounts, accounts != "")', {"subject", "accounts"}),
        ('"accounts" + subject.profile.?accounts.orValue("")', {"subject"}),
    ],
)
def test_an_activation_for_a_program_holds_only_what_it_reads(
    engine: CelEngine, population: Population, expression: str, read: set[str]
) -> None:
    """`accounts` (every account of the person, converted) is built only for an expression
    that names it; the value is the same either way."""
    ann = population.users[0]
    program = engine.compile("attribute_source", expression)
    assert program.variables == read
    variables = engine.activation_for("attribute_source", ann, program=program)
    assert set(variables) == read
    everything = engine.activation_for("attribute_source", ann)
    assert to_python(engine.evaluate(program, variables)) == to_python(
        engine.evaluate(program, everything)
    )


def test_entitlement_absent_is_an_evaluation_error(
    engine: CelEngine, population: Population
) -> None:
    program = engine.compile("provisioning_field", "entitlement.id")
    with pytest.raises(CelEvalError) as error:
        engine.evaluate(program, engine.activation_for("provisioning_field", population.users[0]))
    assert "entitlement" in error.value.message


def test_user_and_account_values_are_cached(engine: CelEngine, population: Population) -> None:
    ann = population.users[0]
    assert engine.user(ann) is engine.user(ann)
    assert engine.account(population.accounts[0]) is engine.account(population.accounts[0])
    before = engine.user(ann)
    engine.clear_cache()
    assert engine.user(ann) is not before


def test_compile_is_cached(engine: CelEngine) -> None:
    first = engine.compile("push_condition", 'subject.department == "Engineering"')
    assert engine.compile("push_condition", 'subject.department == "Engineering"') is first
    assert engine.compile("push_mapping", 'subject.department == "Engineering"') is not first


# ---- objects and aliases ------------------------------------------------------------------

USER_FIELDS = {
    "id": "1",
    "email": "ann@example.com",
    "emails": ["ann@example.com", "ann.lee@example.com", "ann+tag@example.com"],
    "username": "ann",
    "usernames": ["ann"],
    "displayName": "Ann Lee",
    "givenName": "Ann",
    "familyName": "Lee",
    "department": "Engineering",
    "jobTitle": "Developer",
    "employmentType": "FULL_TIME",
    "employmentStatus": "ACTIVE",
    "employeeId": "E1",
    "employeeIds": ["E1"],
    "directoryStatus": "ACTIVE",
    "status": "ENABLED",
    "type": "USER",
    "manager": "bob@example.com",
    "managerId": "2",
}

USER_ALIASES = {
    "display_name": "displayName",
    "given_name": "givenName",
    "first_name": "givenName",
    "family_name": "familyName",
    "last_name": "familyName",
    "job_title": "jobTitle",
    "employment_type": "employmentType",
    "employment_status": "employmentStatus",
    "employee_id": "employeeId",
    "employee_ids": "employeeIds",
    "directory_status": "directoryStatus",
    "manager_id": "managerId",
    "manager_email": "manager",
}


@pytest.mark.parametrize(("field", "expected"), list(USER_FIELDS.items()))
def test_user_fields(engine: CelEngine, field: str, expected: object) -> None:
    assert user_value(engine, f"subject.{field}") == expected
    assert user_value(engine, f'subject["{field}"]') == expected


@pytest.mark.parametrize(("alias", "field"), list(USER_ALIASES.items()))
def test_user_snake_case_aliases(engine: CelEngine, alias: str, field: str) -> None:
    assert user_value(engine, f"subject.{alias}") == USER_FIELDS[field]
    assert alias in field_names("user")


def test_user_profile_and_attributes(engine: CelEngine) -> None:
    profile = user_value(engine, "subject.profile")
    assert isinstance(profile, dict)
    assert profile["department"] == "Engineering"
    assert profile["cost_center"] == "CC-100"
    assert profile["displayName"] == "Ann Lee"
    assert profile["manager_email"] == ["bob@example.com"]
    assert user_value(engine, "subject.attributes") == {"cost_center": "CC-100"}
    assert user_value(engine, "subject.attributes.cost_center") == "CC-100"


def test_manager_id_unknown_is_empty(engine: CelEngine) -> None:
    assert user_value(engine, "subject.managerId", user_id=2) == ""
    assert user_value(engine, "subject.manager", user_id=2) == ""


ACCOUNT_FIELDS = {
    "id": "10",
    "appId": "github",
    "externalId": "ann-gh",
    "displayName": "Ann Lee",
    "givenName": "Ann",
    "familyName": "Lee",
    "email": "ann@example.com",
    "emails": ["ann@example.com"],
    "username": "annl",
    "usernames": ["annl"],
    "employeeIds": ["E1"],
    "status": "ENABLED",
    "type": "USER",
    "profile": {"team": "core", "two_factor": True},
    "entitlements": ["admins", "devs"],
    "manager": "bob-gh",
}

ACCOUNT_ALIASES = {
    "app_id": "appId",
    "external_id": "externalId",
    "display_name": "displayName",
    "given_name": "givenName",
    "first_name": "givenName",
    "family_name": "familyName",
    "last_name": "familyName",
    "employee_ids": "employeeIds",
    "app_user_type": "type",
}


@pytest.mark.parametrize(("field", "expected"), list(ACCOUNT_FIELDS.items()))
def test_account_fields(engine: CelEngine, field: str, expected: object) -> None:
    assert account_value(engine, f"account.{field}") == expected


@pytest.mark.parametrize(("alias", "field"), list(ACCOUNT_ALIASES.items()))
def test_account_snake_case_aliases(engine: CelEngine, alias: str, field: str) -> None:
    assert account_value(engine, f"account.{alias}") == ACCOUNT_FIELDS[field]
    assert alias in field_names("account")


def test_account_status_status(engine: CelEngine) -> None:
    assert account_value(engine, 'account.status.status == "ENABLED"') is True
    assert account_value(engine, "account.status.status == UserStatus.DISABLED", 11) is True


# ---- statuses and types -------------------------------------------------------------------

STATUS_SPELLINGS = [
    "UserStatus.{s}",
    "UserStatus.USER_STATUS_{s}",
    "USER_STATUS_{s}",
    "Status.{s}",
    '"{s}"',
    '"{lower}"',
    '"user_status_{lower}"',
]


@pytest.mark.parametrize("spelling", STATUS_SPELLINGS)
@pytest.mark.parametrize(("status", "user_id"), [("ENABLED", 1), ("DISABLED", 3)])
def test_status_spellings(engine: CelEngine, spelling: str, status: str, user_id: int) -> None:
    constant = spelling.format(s=status, lower=status.lower())
    assert user_value(engine, f"subject.status == {constant}", user_id) is True
    assert user_value(engine, f"{constant} == subject.status", user_id) is True
    assert user_value(engine, f"subject.status != {constant}", user_id) is False
    other = "DELETED"
    assert user_value(engine, f"subject.status == UserStatus.{other}", user_id) is False
    assert user_value(engine, f"subject.status in [{constant}]", user_id) is True


@pytest.mark.parametrize(
    "spelling",
    [
        "UserType.{t}",
        "AppUserType.{t}",
        "AppUserType.APP_USER_TYPE_{t}",
        "APP_USER_TYPE_{t}",
        "UserType.APP_USER_TYPE_{t}",
        '"{t}"',
        '"{lower}"',
    ],
)
@pytest.mark.parametrize(("kind", "user_id"), [("USER", 1), ("SERVICE_ACCOUNT", 3)])
def test_type_spellings(engine: CelEngine, spelling: str, kind: str, user_id: int) -> None:
    constant = spelling.format(t=kind, lower=kind.lower())
    assert user_value(engine, f"subject.type == {constant}", user_id) is True
    assert user_value(engine, "subject.type == AppUserType.SYSTEM_ACCOUNT", user_id) is False


def test_account_type_spellings(engine: CelEngine) -> None:
    assert (
        account_value(
            engine, "account.app_user_type == AppUserType.APP_USER_TYPE_SERVICE_ACCOUNT", 13
        )
        is True
    )
    assert account_value(engine, 'account.type == "service_account"', 13) is True


def test_status_is_a_string(engine: CelEngine) -> None:
    assert user_value(engine, "subject.status") == "ENABLED"
    assert user_value(engine, 'subject.status.startsWith("EN")') is True
    assert user_value(engine, "subject.status.lowerAscii()") == "enabled"
    assert user_value(engine, 'subject.status + "!"') == "ENABLED!"


# ---- c1.* functions -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "user_id", "expected"),
    [
        ('c1.user.v1.HasApp(subject, "github")', 1, True),
        ('c1.user.v1.HasApp(subject, "GitHub")', 1, True),
        ('c1.user.v1.HasApp(subject, "slack")', 1, False),
        ('c1.user.v1.HasApp(subject, "github")', 3, False),
        ('c1.user.v1.HasEntitlement(subject, "github", "admins")', 1, True),
        ('c1.user.v1.HasEntitlement(subject, "github", "GitHub Admins")', 1, True),
        ('c1.user.v1.HasEntitlement(subject, "github", "owners")', 1, False),
        ('c1.user.v1.GetAppUserStatus(subject, "github")', 1, "USER_STATUS_ENABLED"),
        ('c1.user.v1.GetAppUserStatus(subject, "okta")', 1, "USER_STATUS_DISABLED"),
        ('c1.user.v1.GetAppUserStatus(subject, "slack")', 1, "USER_STATUS_UNSPECIFIED"),
        ('c1.user.v1.GetAppUserStatus(subject, "okta") == UserStatus.DISABLED', 1, True),
        ('c1.user.v1.ListAppUsersForUser(subject, "github").map(a, a.username)', 1, ["annl"]),
        ('c1.user.v1.GetAppUsersForUser(subject, "github").map(a, a.externalId)', 1, ["ann-gh"]),
        ('c1.user.v1.ListAppUsersForUser(subject, "slack")', 1, []),
        ('c1.directory.users.v1.FindByEmail("BOB@example.com").displayName', 1, "Bob Boss"),
        ('c1.directory.users.v1.FindByName("bob boss").email', 1, "bob@example.com"),
        ('c1.directory.users.v1.GetByID("2").email', 1, "bob@example.com"),
        ("c1.directory.users.v1.GetByID(subject.managerId).department", 1, "Executive"),
        ("c1.directory.users.v1.GetManagers(subject).map(m, m.email)", 1, ["bob@example.com"]),
        ("c1.directory.users.v1.GetManagers(subject)", 2, []),
        (
            "c1.directory.users.v1.DirectReports(subject).map(r, r.email)",
            2,
            ["ann@example.com", "carol@example.com"],
        ),
        (
            'c1.directory.apps.v1.GetEntitlementMembers("github", "admins").map(u, u.email)',
            1,
            ["ann@example.com", "bob@example.com"],
        ),
        ('c1.directory.apps.v1.GetEntitlementMembers("github", "devs").size()', 1, 1),
        ('c1.directory.apps.v1.GetEntitlementMembers("github", "GitHub Admins").size()', 1, 2),
    ],
)
def test_directory_functions(
    engine: CelEngine, expression: str, user_id: int, expected: object
) -> None:
    assert user_value(engine, expression, user_id) == expected


def test_directory_function_not_found_is_an_evaluation_error(engine: CelEngine) -> None:
    with pytest.raises(CelEvalError) as error:
        user_value(engine, 'c1.directory.users.v1.FindByEmail("nobody@example.com").email')
    assert "FindByEmail" in error.value.message
    assert "nobody@example.com" not in error.value.message


def test_directory_functions_follow_a_swapped_population() -> None:
    engine = CelEngine()
    ann = UserRecord(1, email="ann@example.com")
    program = engine.compile("push_condition", 'c1.user.v1.HasApp(subject, "github")')
    with pytest.raises(CelEvalError, match="no directory"):
        engine.evaluate(program, engine.activation_for("push_condition", ann))
    engine.population = Population([ann], [AccountRecord(1, "github", "x", owner_id=1)])
    assert to_python(engine.evaluate(program, engine.activation_for("push_condition", ann))) is True


# ---- missing keys and has() -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("subject.profile.nickname", ""),
        ('subject.profile["no such key"]', ""),
        ("subject.attributes.nickname", ""),
        ("has(subject.profile.nickname)", False),
        ("has(subject.profile.cost_center)", True),
        ("has(subject.attributes.cost_center)", True),
        ("has(subject.attributes.department)", False),  # standard, not custom
        ("has(subject.department)", True),
        ("has(subject.jobTitle)", True),
        ("!has(subject.profile.nickname) && true", True),
        ("has(accounts.github)", True),
        ("has(accounts.slack)", False),
        ("has(accounts.slack.email)", False),
        ('subject.profile.nickname == ""', True),
        ('has(accounts.slack) ? accounts.slack.email : "none"', "none"),
    ],
)
def test_missing_keys_and_has(engine: CelEngine, expression: str, expected: object) -> None:
    assert user_value(engine, expression, context="attribute_source") == expected


def test_has_on_an_empty_field_is_false(engine: CelEngine) -> None:
    assert user_value(engine, "has(subject.jobTitle)", 2) is False
    assert account_value(engine, "has(account.profile.team)", 13) is True
    assert account_value(engine, "has(account.profile.nope)", 13) is False


@pytest.mark.parametrize("context", ["attribute_source", "push_mapping", "push_condition"])
def test_optional_profile_key_reads_a_default_for_records_that_lack_it(
    engine: CelEngine, context: str
) -> None:
    expression = 'subject.profile.?cost_center.orValue("none")'
    assert user_value(engine, expression, 1, context) == "CC-100"  # Ann has the key
    assert user_value(engine, expression, 3, context) == "none"  # Carol does not
    assert user_value(engine, "subject.profile.?cost_center.hasValue()", 3, context) is False
    assert user_value(engine, 'subject.profile[?"cost_center"].value()', 1, context) == "CC-100"
    program = engine.compile(context, expression)
    assert [use.key for use in program.keys] == ["cost_center"]


def test_optional_values_in_account_contexts(engine: CelEngine) -> None:
    expression = 'account.profile.?team.orValue("nobody")'
    assert account_value(engine, expression, 13) == "ops"
    assert account_value(engine, expression, 11) == "nobody"
    assert account_value(engine, "optional.of(account.email).hasValue()", 10) is True
    with pytest.raises(CelEvalError, match="no value"):
        account_value(engine, "account.profile.?nope.value()", 13)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("[subject.email, ?subject.profile.?nickname]", ["ann@example.com"]),
        ("[?subject.profile.?cost_center]", ["CC-100"]),
        ('{"cc": "x", ?"nick": subject.profile.?nickname}', {"cc": "x"}),
        ('subject.profile.?cost_center.optMap(c, c.lowerAscii()).orValue("")', "cc-100"),
        ('subject.profile.?nickname.or(optional.of("n")).value()', "n"),
        ("optional.ofNonZeroValue(subject.profile.nickname).hasValue()", False),
        ("has(subject.profile.?nickname.first)", False),
    ],
)
def test_optional_values_in_literals_and_methods(
    engine: CelEngine, expression: str, expected: object
) -> None:
    assert user_value(engine, expression, context="attribute_source") == expected


def test_optional_errors_are_for_people(engine: CelEngine) -> None:
    with pytest.raises(CelEvalError, match="needs an optional value"):
        user_value(engine, "[?subject.email]", context="attribute_source")
    with pytest.raises(CelEvalError, match="needs an optional value"):
        user_value(engine, 'subject.email.orValue("x")', context="attribute_source")


def test_missing_app_in_accounts_is_an_error(engine: CelEngine) -> None:
    with pytest.raises(CelEvalError) as error:
        user_value(engine, "accounts.slack.email", context="attribute_source")
    assert "slack" in error.value.message


# ---- errors ---------------------------------------------------------------------------------


def compile_error(engine: CelEngine, text: str, context: str = "push_condition") -> CelCompileError:
    with pytest.raises(CelCompileError) as error:
        engine.compile(context, text)
    assert isinstance(error.value.problem, Problem)
    return error.value


def test_syntax_error_has_line_column_and_caret(engine: CelEngine) -> None:
    error = compile_error(engine, 'subject.department == "x" &&\n  subject.email == ')
    assert error.problem.line == 2
    assert error.problem.column == 19
    assert error.caret == "  subject.email == \n" + " " * 18 + "^"
    assert "ends too early" in error.problem.message
    error = compile_error(engine, "subject.email $ 1")
    assert (error.problem.line, error.problem.column) == (1, 15)
    assert "`$`" in error.problem.message
    error = compile_error(engine, 'subject.email == "x')
    assert "not closed" in error.problem.message
    error = compile_error(engine, 'subject.email == "x")')
    assert (error.problem.line, error.problem.column) == (1, 21)


def test_unknown_field_suggests_the_nearest(engine: CelEngine) -> None:
    error = compile_error(engine, 'subject.departmnt == "Engineering"')
    assert error.problem.message == "unknown field `departmnt`"
    assert error.problem.hint == "did you mean `department`?"
    assert (error.problem.line, error.problem.column) == (1, 9)
    assert "unknown field `departmnt` — did you mean `department`?" in str(error)
    assert error.caret.splitlines()[1] == " " * 8 + "^"
    error = compile_error(engine, "account.extrnalId", "account_key")
    assert error.problem.hint == "did you mean `externalId`?"
    error = compile_error(engine, "subject.cost_center")
    assert "subject.profile.cost_center" in error.problem.hint


def test_wrong_variable_for_the_context(engine: CelEngine) -> None:
    error = compile_error(engine, "user.email", "attribute_source")
    assert (
        error.problem.message == "this context has no variable `user`; use `subject` or `accounts`"
    )
    error = compile_error(engine, "subject.email", "account_key")
    assert error.problem.message == "this context has no variable `subject`; use `account`"
    error = compile_error(engine, "account.email", "push_condition")
    assert "use `subject` or `user`" in error.problem.message
    error = compile_error(engine, "subjct.email")
    assert error.problem.hint == "did you mean `subject`?"


def test_unknown_functions(engine: CelEngine) -> None:
    error = compile_error(engine, "lowerAsci(subject.email)")
    assert error.problem.message == "unknown function `lowerAsci`"
    assert error.problem.hint == "did you mean `lowerAscii`?"
    error = compile_error(engine, 'subject.email.toLower() == "x"')
    assert (error.problem.line, error.problem.column) == (1, 15)
    error = compile_error(engine, 'c1.user.v1.HasAp(subject, "github")')
    assert error.problem.hint == "did you mean `c1.user.v1.HasApp`?"
    error = compile_error(engine, "UserStatus.ENABLD == subject.status")
    assert error.problem.hint == "did you mean `UserStatus.ENABLED`?"
    error = compile_error(engine, "subject.department()")
    assert "drop the parentheses" in error.problem.hint


def test_unknown_context(engine: CelEngine) -> None:
    error = compile_error(engine, "true", "push_conditions")
    assert "push_condition" in error.problem.hint
    assert "directory_filter" in error.problem.hint


def test_bounds(engine: CelEngine) -> None:
    error = compile_error(engine, "true || " * 600 + "true")
    assert "too long" in error.problem.message
    error = compile_error(engine, "(" * 40 + "true" + ")" * 40)
    assert "nested too deeply" in error.problem.message
    error = compile_error(engine, " && ".join(["true"] * 450))
    assert "too complex" in error.problem.message
    error = compile_error(engine, "[[[1]]].all(a, a.all(b, b.all(c, c > 0)))")
    assert "the limit is 2" in error.problem.message
    assert engine.compile("push_condition", "[[1]].all(a, a.all(b, b > 0))")
    error = compile_error(engine, "   ")
    assert "empty" in error.problem.message


INTEGER_RANGE = (
    "integer literal out of range: int is 64-bit (-9223372036854775808 to 9223372036854775807), "
    "uint 0 to 18446744073709551615"
)


@pytest.mark.parametrize(
    ("expression", "column"),
    [
        ("12345678901234567890123456", 1),
        ("9223372036854775808", 1),
        ("-9223372036854775809", 1),
        ("18446744073709551616u", 1),
        ("0x1FFFFFFFFFFFFFFFF", 1),
        ("0x8000000000000000", 1),
        ("-0x8000000000000001", 1),
        ("-1u", 1),
        ("- 9223372036854775808", 3),  # the sign is the literal's only when written next to it
        ("[1, subject.email.size() + 99999999999999999999] == []", 28),
        ('{"a": -9223372036854775809}.size() == 1', 7),
        ("[1, 2].all(x, x < 18446744073709551616u)", 19),
        ("has(subject.email) && 1 == 12345678901234567890123456", 28),
    ],
)
def test_integer_literals_out_of_range_are_compile_errors(
    engine: CelEngine, expression: str, column: int
) -> None:
    error = compile_error(engine, expression, "push_mapping")
    assert error.problem.message == INTEGER_RANGE
    assert (error.problem.line, error.problem.column) == (1, column)
    assert error.caret == expression + "\n" + " " * (column - 1) + "^"
    assert error.problem.hint
    problems = engine.check("push_mapping", expression)
    assert [(p.message, p.column, p.severity) for p in problems] == [
        (INTEGER_RANGE, column, "error")
    ]


def test_integer_literal_hints(engine: CelEngine) -> None:
    hint = compile_error(engine, "9223372036854775808").problem.hint
    assert "`9223372036854775808u`" in hint and "`-9223372036854775808`" in hint
    assert "cannot be negative" in compile_error(engine, "-1u").problem.hint
    assert "double" in compile_error(engine, "12345678901234567890123456").problem.hint
    error = compile_error(engine, 'subject.email == "x" ||\n  0x1FFFFFFFFFFFFFFFF == 1')
    assert (error.problem.line, error.problem.column) == (2, 3)


@pytest.mark.parametrize(
    ("expression", "expected", "kind"),
    [
        ("-9223372036854775808", -9223372036854775808, "int"),
        ("9223372036854775807", 9223372036854775807, "int"),
        ("-0x8000000000000000", -9223372036854775808, "int"),
        ("0x7fffffffffffffff", 9223372036854775807, "int"),
        ("18446744073709551615u", 18446744073709551615, "uint"),
        ("0xFFFFFFFFFFFFFFFFu", 18446744073709551615, "uint"),
        ("0u", 0, "uint"),
        ("-0", 0, "int"),
        ("007", 7, "int"),  # leading zeros are decimal, as in cel-go (not a Python SyntaxError)
        ("010u", 10, "uint"),
        ("1-2", -1, "int"),
    ],
)
def test_integer_literals_at_the_limits(
    engine: CelEngine, expression: str, expected: int, kind: str
) -> None:
    program = engine.compile("push_mapping", expression)
    value = engine.evaluate(program, {})
    assert to_python(value) == expected and type_name(value) == kind


def test_wrong_result_type() -> None:
    assert (
        check_result("push_condition", "yes") == 'push_condition must return bool; got string "yes"'
    )
    message = check_result("directory_filter", "MAYBE")
    assert message == (
        'directory_filter must return bool or one of "CREATE", "MATCH_ONLY", "IGNORE"; '
        'got string "MAYBE"'
    )
    engine = CelEngine()
    value = engine.evaluate(engine.compile("user_key", "42"), {})
    assert (
        check_result("user_key", value)
        == "user_key must return a string or a list of strings; got int 42"
    )
    assert check_result("attribute_source", ["a", "b"]) is None
    assert check_result("directory_filter", "match_only") is None
    assert check_result("push_mapping", {"a": 1}) == (
        "push_mapping must return a string, number, bool, timestamp, null or a list of them; "
        "got map"
    )


def test_evaluation_errors_are_short_and_private(engine: CelEngine) -> None:
    for expression in (
        "1 / 0",
        'int("not a number")',
        "subject.email + 1",
        "subject.emails[10]",
        "subject.email.substring(99)",
    ):
        with pytest.raises(CelEvalError) as error:
            user_value(engine, expression)
        assert "ann@example.com" not in error.value.message, expression
        assert len(error.value.message) < 200


def test_one_bad_record_does_not_stop_a_loop(engine: CelEngine, population: Population) -> None:
    program = engine.compile(
        "push_mapping", "c1.directory.users.v1.GetByID(subject.managerId).email"
    )
    results: dict[int, object] = {}
    for user in population.users:
        try:
            results[user.id] = to_python(
                engine.evaluate(program, engine.activation_for("push_mapping", user))
            )
        except CelEvalError as error:
            results[user.id] = error.message
    assert results[1] == "bob@example.com"
    assert results[3] == "bob@example.com"
    assert "GetByID" in str(results[2])


def test_errors_are_absorbed_by_or(engine: CelEngine) -> None:
    assert user_value(engine, "1 / 0 == 1 || true") is True
    assert user_value(engine, "false && 1 / 0 == 1") is False


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("1 / 0 == 1 || true", True),
        ("true || 1 / 0 == 1", True),
        ("false && 1 / 0 == 1", False),
        ("1 / 0 == 1 && false", False),
        ("true ? 1 : 1 / 0", 1),
        ("false ? 1 / 0 : 2", 2),
        ("[1, 0].exists(x, 1 / x == 1)", True),
        ("[1, 0].all(x, 1 / x > 5)", False),
        ("[1, 2, 3].exists_one(x, x > 2)", True),
        ("[1, 2, 3].filter(x, x > 1)", [2, 3]),
        ("[1, 2, 3].map(x, x * 2)", [2, 4, 6]),
        ('{"a": 1, "b": 2}.all(k, k.size() == 1)', True),
        ('subject.profile.exists(k, k.contains("cost"))', True),
        ('"a" in {"a": 1}', True),
        ('"Engineering" in ["Sales", subject.department]', True),
        ("!(1 > 2)", True),
        ("2 >= 2 && 1 < 2 && 3 > 2 && 1 <= 1 && 1 != 2", True),
        # two-variable comprehensions: (index, item) of a list, (key, value) of a map
        ('subject.profile.exists(k, v, k == "cost_center" && v == "CC-100")', True),
        ('subject.profile.all(k, v, k != "cost_center" || v.startsWith("CC-"))', True),
        ("[1, 2].all(i, v, v == i + 1)", True),
        ('["a", "b", "b"].existsOne(i, v, v == "b")', False),
        ('["a", "b"].existsOne(x, x == "b")', True),
        ('[subject.email, "B@X"].transformList(i, e, i > 0, e.lowerAscii())', ["b@x"]),
        (
            'subject.profile.transformMap(k, v, k == "department", v.upperAscii())',
            {"department": "ENGINEERING"},
        ),
        ('["x", "y"].transformMap(i, v, v + "!")', {"0": "x!", "1": "y!"}),
        ('{"a": "x", "b": "y"}.transformMapEntry(k, v, {v: k})', {"x": "a", "y": "b"}),
        ('{"a": "x", "b": "y"}.transformMapEntry(k, v, k == "b", {v: k})', {"y": "b"}),
    ],
)
def test_cel_logic_and_macros(engine: CelEngine, expression: str, expected: object) -> None:
    assert user_value(engine, expression) == expected


@pytest.mark.parametrize(
    "expression",
    [
        "1 / 0 == 1 && true",
        "false || 1 / 0 == 1",
        '"x" ? 1 : 2',
        "[0].exists(x, 1 / x == 1)",
        "[1, 0].map(x, 1 / x)",
        '"a" && true',
        "[1, 0].transformList(i, v, 1 / v)",
        '{"a": 1, "b": 1}.transformMapEntry(k, v, {v: k})',
        "[1].transformMap(i, v, v, v)",
    ],
)
def test_cel_errors_that_reach_the_top(engine: CelEngine, expression: str) -> None:
    with pytest.raises(CelEvalError):
        user_value(engine, expression)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("[1].all(i, i, true)", "the two variables of `all` need different names"),
        ("[1].transformList(i, v)", "`transformList` needs two variable names"),
        ("[1].transformMap(i, v, 1, 2, 3)", "`transformMap` needs two variable names"),
        ("[1].exists(i, v + 1, true)", "`exists` needs a variable name and an expression"),
        ("[1].all(i, int, true)", "`int` is the name of a type"),
    ],
)
def test_comprehension_forms_are_checked(engine: CelEngine, expression: str, message: str) -> None:
    with pytest.raises(CelCompileError) as error:
        engine.compile("push_mapping", expression)
    assert message in error.value.problem.message


def test_nothing_is_printed_on_failure(
    engine: CelEngine, capfd: pytest.CaptureFixture[str]
) -> None:
    for expression in ("1 / 0", "[1, 2].all(x, x / 0 > 1)", 'int("x")'):
        with pytest.raises(CelEvalError):
            user_value(engine, expression)
    captured = capfd.readouterr()
    assert captured.err == ""
    assert captured.out == ""


# ---- check() --------------------------------------------------------------------------------


def test_check_returns_compile_errors(engine: CelEngine) -> None:
    problems = engine.check("push_condition", "subject.departmnt")
    assert len(problems) == 1
    assert problems[0].severity == "error"
    assert problems[0].hint == "did you mean `department`?"
    assert engine.check("nope", "true")[0].severity == "error"
    assert engine.check("push_condition", 'subject.department == "x"') == []


def test_check_warns_about_keys_no_record_has(engine: CelEngine) -> None:
    problems = engine.check(
        "push_mapping", 'subject.profile.cost_centre + "/" + subject.profile.cost_center'
    )
    assert len(problems) == 1
    warning = problems[0]
    assert warning.severity == "warning"
    assert "cost_centre" in warning.message
    assert warning.hint == "did you mean `cost_center`?"
    assert (warning.line, warning.column) == (1, 17)
    problems = engine.check("push_mapping", "subject.attributes.costcenter")
    assert problems[0].hint == "did you mean `cost_center`?"
    problems = engine.check("directory_filter", 'account.profile["tema"] == "core"')
    assert problems[0].hint == "did you mean `team`?"
    problems = engine.check("attribute_source", "accounts.githb.email")
    assert problems[0].hint == "did you mean `github`?"
    assert engine.check("push_mapping", "has(subject.profile.displayName)") == []


def test_check_without_population_has_no_warnings() -> None:
    assert CelEngine().check("push_mapping", "subject.profile.anything") == []


# ---- threads -------------------------------------------------------------------------------


def test_two_threads_evaluating_different_programs(population: Population) -> None:
    engine = CelEngine(population)
    department = engine.compile("push_mapping", "subject.department")
    email = engine.compile(
        "push_mapping", 'subject.emails.exists(e, e.startsWith("x")) ? "x" : subject.email'
    )
    variables = [engine.activation_for("push_mapping", u) for u in population.users]
    expected_department = [to_python(engine.evaluate(department, v)) for v in variables]
    expected_email = [to_python(engine.evaluate(email, v)) for v in variables]
    engine.clear_cache()  # both threads convert the same records at the same time
    variables = [engine.activation_for("push_mapping", u) for u in population.users]
    failures: list[str] = []

    def worker(program: object, expected: list[object]) -> None:
        for _ in range(3000):
            for index, values in enumerate(variables):
                got = to_python(engine.evaluate(program, values))  # type: ignore[arg-type]
                if got != expected[index]:
                    failures.append(f"{got!r} != {expected[index]!r}")
                    return

    threads = [
        threading.Thread(target=worker, args=(department, expected_department)),
        threading.Thread(target=worker, args=(email, expected_email)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


# ---- helpers -------------------------------------------------------------------------------


def test_type_names(engine: CelEngine) -> None:
    cases = {
        "true": "bool",
        '"x"': "string",
        "1": "int",
        "1.5": "double",
        '["a", "b"]': "list(string)",
        '[1, "a"]': "list",
        "[]": "list",
        '{"a": 1}': "map",
        'timestamp("2024-01-01T00:00:00Z")': "timestamp",
        'duration("1h")': "duration",
        "null": "null",
        "subject.status": "string",
        'subject.email + "x"': "string",
    }
    for expression, expected in cases.items():
        program = engine.compile("push_mapping", expression)
        value = engine.evaluate(
            program, engine.activation_for("push_mapping", make_population().users[0])
        )
        assert type_name(value) == expected, expression


def test_normalize_filter_result() -> None:
    from celpy import celtypes

    assert normalize_filter_result(celtypes.BoolType(True)) == "CREATE"
    assert normalize_filter_result(celtypes.BoolType(False)) == "IGNORE"
    assert normalize_filter_result(celtypes.StringType("match_only")) == "MATCH_ONLY"
    assert normalize_filter_result("Ignore") == "IGNORE"
    assert normalize_filter_result("MAYBE") is None
    assert normalize_filter_result(celtypes.IntType(1)) is None


def test_completion_lists() -> None:
    user_fields = field_names("user")
    assert user_fields[0] == "id"
    for name in ("department", "jobTitle", "job_title", "first_name", "managerId", "profile"):
        assert name in user_fields
    assert "app_user_type" in field_names("account")
    names = function_names()
    for name in (
        "has",
        "size",
        "lowerAscii",
        "ifEmpty",
        "now",
        "time.parse",
        "exists",
        "c1.user.v1.HasApp",
        "c1.directory.apps.v1.GetEntitlementMembers",
        "UserStatus.ENABLED",
        "USER_STATUS_ENABLED",
        "TimeFormat.RFC3339",
        "AppUserType.APP_USER_TYPE_SERVICE_ACCOUNT",
    ):
        assert name in names


def test_to_python_of_records(engine: CelEngine, population: Population) -> None:
    plain = to_python(engine.user(population.users[0]))
    assert plain["email"] == "ann@example.com"
    assert plain["status"] == "ENABLED"
    import json

    json.dumps(plain)


def test_engine_never_imports_the_ui() -> None:
    code = textwrap.dedent(
        """
        import sys
        import engine.cel
        engine.cel.CelEngine().compile("push_condition", "true")
        bad = [m for m in ("textual", "rich", "click") if m in sys.modules]
        assert not bad, bad
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_works_when_an_interpreted_environment_came_first() -> None:
    code = textwrap.dedent(
        """
        import celpy
        env = celpy.Environment()  # interpreted runner: the parser singleton gets lark.Tree
        assert env.program(env.compile("1 + 1")).evaluate({}) == 2
        from engine.cel import CelEngine, to_python
        from engine.records import UserRecord
        engine = CelEngine()
        program = engine.compile("push_mapping", "subject.email.upperAscii()")
        user = UserRecord(1, email="a@b.c")
        value = engine.evaluate(program, engine.activation_for("push_mapping", user))
        assert to_python(value) == "A@B.C", value
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_deleted_account_is_not_having_the_app() -> None:
    # issue 12 §6: an account gone from the app (kept as DELETED for the record)
    # does not make its person "have" the app; its status still reads DELETED.
    ann = UserRecord(1, email="ann@example.com")
    gone = AccountRecord(1, "github", "x", owner_id=1, status="DELETED", entitlements=["admins"])
    engine = CelEngine(Population([ann], [gone]))
    assert user_value(engine, 'c1.user.v1.HasApp(subject, "github")') is False
    assert user_value(engine, 'c1.user.v1.HasEntitlement(subject, "github", "admins")') is False
    assert user_value(engine, 'c1.user.v1.ListAppUsersForUser(subject, "github")') == []
    assert (
        user_value(engine, 'c1.user.v1.GetAppUserStatus(subject, "github")')
        == "USER_STATUS_DELETED"
    )


@pytest.mark.parametrize(
    "profile",
    [
        {"b": "2", "a": "1", "<b>[red]x": "\x00" + "y" * 100_000},  # every value text
        {"b": "2", "n": None, "a": 1, "l": ["x"], "m": {"k": True}, "c": "3"},  # mixed
        {},
    ],
)
def test_account_profile_keeps_every_key_in_order_and_drops_none(profile: dict) -> None:
    """profile_map's all-text fast path and its general path give the same map: keys in the
    record's order, None missing (it reads as ""), text kept literally."""
    engine = CelEngine()
    account = AccountRecord(1, "app", "x", profile=profile)
    value = engine.evaluate(
        engine.compile("account_key", "account.profile"),
        engine.activation_for("account_key", account),
    )
    expected = {k: v for k, v in profile.items() if v is not None}
    assert list(value) == list(expected)
    assert to_python(value) == expected
    for key in expected:
        assert type(value[key]).__module__.startswith("celpy")
    if "n" in profile:
        has_n = engine.compile("account_key", "has(account.profile.n)")
        assert not engine.evaluate(has_n, engine.activation_for("account_key", account))


def test_a_cache_limit_bounds_the_converted_records_and_not_the_answers() -> None:
    population = make_population()
    unbounded, bounded = CelEngine(population), CelEngine(population)
    bounded.cache_limit = 1
    text = 'subject.email + " " + ("github" in accounts ? accounts.github.username : "-")'
    program = unbounded.compile("attribute_source", text)
    for _ in range(2):  # the second round reads records the bound has let go of
        for user in population.users:
            want = unbounded.evaluate(program, unbounded.activation_for("attribute_source", user))
            got = bounded.evaluate(program, bounded.activation_for("attribute_source", user))
            assert got == want
    assert len(unbounded._users) == len(population.users)
    assert len(bounded._users) == len(bounded._accounts_maps) == 1


def test_a_person_changed_in_place_is_read_afresh_once_forgotten() -> None:
    """The attributes stage changes a person's record as it decides each value; it then forgets
    their converted record, so an expression read before the change (here: their manager's,
    over the reports) does not leave the old value for the expressions after it."""
    population = make_population()
    engine = CelEngine(population)
    bob = next(u for u in population.users if u.email == "bob@example.com")
    ann = next(u for u in population.users if u.email == "ann@example.com")
    reports = engine.compile(
        "attribute_source", "c1.directory.users.v1.DirectReports(subject).map(r, r.department)"
    )
    own = engine.compile("attribute_source", "subject.department")
    before = engine.evaluate(own, engine.activation_for("attribute_source", ann))
    assert before in list(engine.evaluate(reports, engine.activation_for("attribute_source", bob)))
    ann.attributes["department"] = "Somewhere else"
    engine.forget_user(ann.id)
    assert engine.evaluate(own, engine.activation_for("attribute_source", ann)) == "Somewhere else"
    found = list(engine.evaluate(reports, engine.activation_for("attribute_source", bob)))
    assert "Somewhere else" in found and before not in found


@pytest.mark.parametrize(
    ("text", "reads"),
    [
        ("account.email", {"email"}),
        ("account.emails.map(e, e.lowerAscii())", {"email", "emails"}),
        ("account.user_name", {"username"}),  # an alias reads its field
        ('account.profile.login.trim() + account.profile["uid"]', {"login", "uid"}),
        (
            "has(account.profile.login) ? account.profile.login : account.username",
            {"login", "username"},
        ),
        ("dyn(account.profile).login", {"login"}),
        ("account.profile.address.city", {"address"}),
        ('"fixed"', set()),
    ],
)
def test_what_an_expression_reads_of_its_account_is_told_field_by_field(
    text: str, reads: set[str]
) -> None:
    program = CelEngine().compile("account_key", text)
    assert program.account_reads is not None
    fields = {name for name in program.account_reads if not name.startswith("profile:")}
    keys = {name[8:] for name in program.account_reads if name.startswith("profile:")}
    assert fields | (keys - {"*"}) == reads
    assert ("*" in keys) == bool(keys - {"*"})  # any profile key read: the wildcard too


@pytest.mark.parametrize(
    ("text", "whole"),
    [
        ("size(account.profile) > 0", "profile"),
        ('account.profile.exists(k, k == "login")', "profile"),
        ('"login" in account.profile', "profile"),
        ("account.profile[account.email]", "profile"),  # a key known only at run time
        ("account.?profile.login", "profile"),
        ('account.profile.ifEmpty({"login": "x"}).login', "profile"),  # whether it is empty
        ('dyn(account.profile).ifEmpty({"login": "x"})["login"]', "profile"),
        ('account.email.ifEmpty("x")', "email"),
        ("[account].map(a, a.email)", None),  # the account itself, passed on
        ("account == account", None),
        ("c1.directory.users.v1.FindByEmail(account.email).email", None),  # the directory
    ],
)
def test_an_account_or_profile_used_whole_is_read_whole(text: str, whole: str | None) -> None:
    reads = CelEngine().compile("account_key", text).account_reads
    assert reads is None if whole is None else whole in reads


@pytest.mark.parametrize(
    ("text", "reads"),
    [
        ('"ad" in accounts', set()),  # which apps the person has accounts in
        ("size(accounts) > 1", set()),
        ("accounts.size() > 1", set()),
        ('accounts.exists(app, app == "ad")', set()),
        ('"ad" in accounts ? accounts.ad.profile.sAMAccountName : ""', {"profile:sAMAccountName"}),
        ('accounts["github"].emails.map(e, e.lowerAscii())', {"email", "emails"}),
        ("accounts.map(app, accounts[app].status)", {"status"}),
        ('c1.user.v1.HasApp(subject, "ad")', set()),
        ("subject.email", set()),
        # a person's accounts map used whole, or an account taken from it unselected
        ("accounts", None),
        ("accounts == {}", None),
        ("string(accounts)", None),
        ('accounts.all(app, account, account.email != "")', None),  # a value bound from it
        ("accounts.ad", None),
        ('accounts.ad == accounts["ad"]', None),
        ('accounts.?slack.profile.tz.orValue("")', None),  # an account in an optional
        ('accounts[?"slack"].value().profile.tz', None),
    ],
)
def test_what_a_person_side_expression_reads_of_the_persons_accounts(
    text: str, reads: set[str] | None
) -> None:
    """`attribute_source` sees the person's accounts by app (`accounts`): what it selects of
    them is told as of an account's (engine.sync.attributes narrows by it)."""
    found = CelEngine().compile("attribute_source", text).account_reads
    if reads is None:
        assert found is None
    else:
        assert found is not None
        assert {name for name in found if name != "profile:*"} == reads


@pytest.mark.parametrize(
    ("text", "whole"),
    [
        ("subject.jobTitle", False),
        ("subject.attributes.cost_center", False),
        ("has(subject.attributes.cost_center)", False),
        ('c1.user.v1.HasApp(subject, "ad")', False),  # its id
        ('subject.profile.exists(k, v, v == "x")', True),
        ('subject.attributes.exists(k, v, v == "x")', True),
        ('"%s".format([subject.attributes])', True),
        ("string(subject)", True),
        ("c1.directory.users.v1.GetManagers(subject).map(m, m.email)", True),
    ],
)
def test_what_reads_a_persons_attributes_without_naming_them(text: str, whole: bool) -> None:
    """engine.sync.attributes computes such an attribute with any of the person's it computes."""
    assert CelEngine().compile("attribute_source", text).reads_person_whole is whole


@pytest.mark.parametrize(
    "text",
    [
        "subject.attributes.job_title",
        'subject.attributes["department"]',
        'subject.attributes.?manager_email.orValue("")',
    ],
)
def test_a_standard_attribute_read_from_the_custom_ones_is_warned_of(text: str) -> None:
    """`attributes` holds the custom attributes only: a standard one read there is "", which
    an admin would not see until the values came out empty."""
    (warning,) = CelEngine().compile("attribute_source", text).warnings
    assert "is a standard attribute" in warning.message
    assert "subject.profile." in warning.hint


def test_a_custom_attribute_or_the_profile_is_not_warned_of() -> None:
    for text in ("subject.attributes.cost_center", "subject.profile.job_title"):
        assert CelEngine().compile("attribute_source", text).warnings == ()


@pytest.mark.parametrize(
    ("context", "text", "hint"),
    [
        ("directory_filter", 'account.id == "E10001" ? "CREATE" : "IGNORE"', "externalId"),
        ("directory_filter", "'svc' != subject.accountId", "externalId"),
        ("push_condition", 'subject.id == "ann"', "email"),
    ],
)
def test_an_id_compared_with_text_is_warned_of(context: str, text: str, hint: str) -> None:
    """A record's `id` is Roster's own number: `account.id == "E10001"` never holds, and a
    filter written so sent every account to its other branch (hostile review)."""
    (warning,) = CelEngine().compile(context, text).warnings
    assert "is Roster's own number for the" in warning.message
    assert hint in warning.hint


def test_an_id_compared_with_a_number_or_the_app_s_id_is_not_warned_of() -> None:
    for text in ('account.id == "892"', 'account.externalId == "E10001"', 'account.id != ""'):
        assert CelEngine().compile("directory_filter", text).warnings == (), text
    # a comprehension's own variable named like the context's is not the context's record
    assert (
        CelEngine().compile("push_condition", '["a"].exists(subject, subject == "a")').warnings
        == ()
    )
