"""Time helpers: now(), time.parse / try_parse / format with TimeFormat and Go layouts, and
CEL's own timestamp and duration functions."""

from __future__ import annotations

import datetime

import pytest

from engine.cel import CelEngine, CelEvalError, to_python, type_name
from engine.records import UserRecord


@pytest.fixture(scope="module")
def engine() -> CelEngine:
    return CelEngine()


def run(engine: CelEngine, expression: str, **attributes: object) -> object:
    user = UserRecord(1, email="ann@example.com", attributes=dict(attributes))
    program = engine.compile("push_mapping", expression)
    return engine.evaluate(program, engine.activation_for("push_mapping", user))


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('time.parse("2024-03-05T10:20:30Z", TimeFormat.RFC3339)', "2024-03-05T10:20:30Z"),
        (
            'time.parse("2024-03-05T10:20:30.25+02:00", TimeFormat.RFC3339)',
            "2024-03-05T08:20:30.25Z",
        ),
        ('time.parse("2024-03-05", TimeFormat.DATE)', "2024-03-05T00:00:00Z"),
        ('time.parse("2024-03-05 10:20:30", TimeFormat.DATETIME)', "2024-03-05T10:20:30Z"),
        (
            'time.parse("2024-03-05 10:20:30", TimeFormat.DATETIME, "America/New_York")',
            "2024-03-05T15:20:30Z",
        ),
        ('time.parse("03/05/24", "01/02/06")', "2024-03-05T00:00:00Z"),
        ('time.parse("5 Mar 2024", "2 Jan 2006")', "2024-03-05T00:00:00Z"),
        ('time.parse("March 5, 2024 3:04 PM", "January 2, 2006 3:04 PM")', "2024-03-05T15:04:00Z"),
        ('time.parse("20240305", "20060102")', "2024-03-05T00:00:00Z"),
        ('time.parse("2024-03-05", "DATE")', "2024-03-05T00:00:00Z"),
        ('time.parse("2024/03/05", "%Y/%m/%d")', "2024-03-05T00:00:00Z"),
    ],
)
def test_parse(engine: CelEngine, expression: str, expected: str) -> None:
    value = run(engine, expression)
    assert type_name(value) == "timestamp"
    assert to_python(value) == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('time.format(timestamp("2024-03-05T10:20:30Z"), "15")', "10"),
        ('time.format(timestamp("2024-03-05T10:20:30Z"), "15", "Europe/Paris")', "11"),
        ('time.format(timestamp("2024-03-05T10:20:30Z"), TimeFormat.DATE)', "2024-03-05"),
        ('time.format(timestamp("2024-03-05T10:20:30Z"), TimeFormat.TIME)', "10:20:30"),
        (
            'time.format(timestamp("2024-03-05T10:20:30Z"), TimeFormat.DATETIME)',
            "2024-03-05 10:20:30",
        ),
        (
            'time.format(timestamp("2024-03-05T10:20:30Z"), TimeFormat.RFC3339)',
            "2024-03-05T10:20:30Z",
        ),
        (
            'time.format(timestamp("2024-03-05T10:20:30Z"), TimeFormat.RFC3339, "+05:30")',
            "2024-03-05T15:50:30+05:30",
        ),
        (
            'time.format(timestamp("2024-03-05T15:04:05.123Z"), "Mon Jan _2 03:04:05.000 PM 2006")',
            "Tue Mar  5 03:04:05.123 PM 2024",
        ),
        ('time.format(timestamp("2024-03-05T10:20:30Z"), "%Y/%m/%d")', "2024/03/05"),
        ('time.format(time.parse("2024-03-05", TimeFormat.DATE), "Jan 2, 2006")', "Mar 5, 2024"),
    ],
)
def test_format(engine: CelEngine, expression: str, expected: str) -> None:
    assert to_python(run(engine, expression)) == expected


def test_try_parse_gives_the_default(engine: CelEngine) -> None:
    fallback = 'timestamp("1970-01-01T00:00:00Z")'
    assert (
        to_python(run(engine, f'time.try_parse("garbage", TimeFormat.DATE, {fallback})'))
        == "1970-01-01T00:00:00Z"
    )
    assert (
        to_python(run(engine, f'time.try_parse("2024-01-02", TimeFormat.DATE, {fallback})'))
        == "2024-01-02T00:00:00Z"
    )
    assert to_python(run(engine, 'time.try_parse(subject.profile.hired, "2006", "")')) == ""


def test_parse_error_is_short_and_leaves_the_value_out(engine: CelEngine) -> None:
    with pytest.raises(CelEvalError) as error:
        run(engine, "time.parse(subject.profile.birthday, TimeFormat.DATE)", birthday="31/12/1980")
    assert "31/12/1980" not in error.value.message
    assert "layout" in error.value.message


def test_now(engine: CelEngine) -> None:
    value = run(engine, "now()")
    assert isinstance(value, datetime.datetime)
    assert abs(value - datetime.datetime.now(datetime.UTC)) < datetime.timedelta(seconds=5)
    assert to_python(run(engine, 'now() - duration("1h") < now()')) is True


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('timestamp("2024-03-05T10:20:30Z").getHours("America/New_York")', 5),
        ('timestamp("2024-03-05T10:20:30Z").getFullYear()', 2024),
        ('timestamp("2024-03-05T10:20:30Z") + duration("24h")', "2024-03-06T10:20:30Z"),
        (
            'timestamp("2024-03-05T10:20:30Z") - timestamp("2024-03-04T10:20:30Z") '
            '== duration("24h")',
            True,
        ),
        ('duration("90m")', "5400s"),
        (
            "time.parse(subject.profile.hired, TimeFormat.DATE) "
            '< timestamp("2024-01-01T00:00:00Z")',
            True,
        ),
    ],
)
def test_cel_timestamps_and_durations(engine: CelEngine, expression: str, expected: object) -> None:
    assert to_python(run(engine, expression, hired="2020-06-01")) == expected


def test_now_reads_the_engines_clock() -> None:
    moment = [datetime.datetime(2030, 1, 1, 8, 30, tzinfo=datetime.UTC)]
    engine = CelEngine(clock=lambda: moment[0])
    assert to_python(run(engine, 'now() == timestamp("2030-01-01T08:30:00Z")')) is True
    assert to_python(run(engine, 'time.now() == timestamp("2030-01-01T08:30:00Z")')) is True
    moment[0] = datetime.datetime(2031, 6, 1, tzinfo=datetime.UTC)
    # the same compiled program reads the clock at each evaluation
    assert to_python(run(engine, 'now() == timestamp("2031-06-01T00:00:00Z")')) is True
    assert to_python(run(engine, 'now() > timestamp("2030-01-01T08:30:00Z")')) is True


@pytest.mark.parametrize(
    ("context", "expression", "directory", "clock"),
    [
        ("push_mapping", "subject.email", False, False),
        ("push_mapping", 'subject.profile.now == "x"', False, False),  # a key, not the clock
        ("push_mapping", '"now()" + subject.email', False, False),  # text, not a call
        ("push_mapping", 'string(now()) + "c1.user"', False, True),
        ("push_mapping", 'time.format(time.now(), "2006")', False, True),
        # about its own person's accounts: nothing beyond its record and accounts
        ("push_mapping", 'c1.user.v1.HasApp(subject, "slack") ? "y" : "n"', False, False),
        (
            "push_mapping",
            'c1.user.v1.HasApp(c1.directory.users.v1.GetByID("1"), "ad")',
            True,
            False,
        ),
        # a macro's `subject` is someone else (a manager), whatever it is called
        (
            "push_condition",
            "c1.directory.users.v1.GetManagers(subject)"
            '.exists(subject, c1.user.v1.HasApp(subject, "ad"))',
            True,
            False,
        ),
        ("push_condition", '[subject].exists(m, c1.user.v1.HasApp(m, "ad"))', True, False),
        (
            "attribute_source",
            "c1.directory.users.v1.FindByEmail(subject.email).email",
            True,
            False,
        ),
        (
            "directory_filter",
            '[1].exists(x, timestamp("2030-01-01T00:00:00Z") < now()) ? "CREATE" : "IGNORE"',
            False,
            True,
        ),
    ],
)
def test_a_program_records_what_it_reads_beyond_its_record(
    context: str, expression: str, directory: bool, clock: bool
) -> None:
    program = CelEngine().compile(context, expression)
    assert (program.reads_directory, program.reads_clock) == (directory, clock)
    assert program.reads_beyond_its_record is (directory or clock)


def test_the_engine_knows_whether_anything_it_compiled_reads_the_clock() -> None:
    engine = CelEngine()
    engine.compile("push_mapping", "subject.email")
    assert not engine.compiled_reads_clock and not engine.compiled_reads_directory
    engine.compile("push_mapping", 'c1.user.v1.HasApp(subject, "slack") ? "y" : "n"')
    assert not engine.compiled_reads_directory  # only its own person's accounts
    engine.compile("push_mapping", 'c1.directory.users.v1.GetByID("1").email')
    assert engine.compiled_reads_directory and not engine.compiled_reads_clock
    engine.compile("push_mapping", "string(now())")
    assert engine.compiled_reads_clock


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # the fraction of a second is part of the text (it used to be dropped)
        ('string(timestamp("2023-02-03T23:31:20.5Z"))', "2023-02-03T23:31:20.5Z"),
        ('string(timestamp("2023-02-03T23:31:20.000001Z"))', "2023-02-03T23:31:20.000001Z"),
        ('string(duration("1.5s"))', "1.5s"),
        ('string(duration("-1h0.000001s"))', "-3600.000001s"),
        ('string(duration("123456789.123456s"))', "123456789.123456s"),
        ('string(duration("2us")) + " " + string(duration("1500us"))', "0.000002s 0.0015s"),
        ("timestamp(0) == timestamp('1970-01-01T00:00:00Z')", True),
        ("timestamp(timestamp(1)) == timestamp(1)", True),
        ("duration(duration('1m')) == duration('60s')", True),
        # trailing zeros past the microsecond are not nanoseconds
        (
            'timestamp("2023-02-03T23:31:20.123456000Z") == '
            'timestamp("2023-02-03T23:31:20.123456Z")',
            True,
        ),
    ],
)
def test_timestamp_and_duration_text(engine: CelEngine, expression: str, expected: object) -> None:
    assert to_python(run(engine, expression)) == expected


@pytest.mark.parametrize(
    "expression",
    [
        'timestamp("2023-02-03T23:31:20.123456789Z")',
        'timestamp("0001-01-01T00:00:00Z") + duration("-1ns")',
        'duration("0.000000010s")',
        'duration("1500ns") + duration("1ns")',
    ],
)
def test_nanoseconds_are_an_error_never_a_rounded_value(engine: CelEngine, expression: str) -> None:
    with pytest.raises(CelEvalError) as error:
        run(engine, expression)
    assert "has nanoseconds; Roster keeps times to the microsecond" in error.value.message


@pytest.mark.parametrize(
    "expression",
    [
        'subject.managerId != "" ? "managed" : "no manager"',
        "subject.manager_id",
        "[subject][0].managerId",  # a person reached through a list is not typed here
        'subject["managerId"]',
        'subject.?managerId.orValue("")',
    ],
)
def test_a_manager_id_is_found_among_everyone_so_it_reads_other_people(expression: str) -> None:
    """`managerId` is looked up by the manager's email among all people: an incremental run
    must reconsider everyone for it (a new manager changes it with no change to the person)."""
    assert CelEngine().compile("push_mapping", expression).reads_directory
    assert not CelEngine().compile("push_mapping", "subject.profile.email").reads_directory
