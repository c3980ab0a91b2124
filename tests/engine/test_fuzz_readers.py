"""Fuzzing the readers of untrusted text (issue 12 §4): the configuration reader, the file
connector's YAML and CSV readers and the CEL compiler. Whatever the text, nothing escapes but
Roster's own errors, and every problem says where it is. Bounded examples, no stored database:
the whole file runs in a few seconds."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.cel import CONTEXTS, CelCompileError, CelEngine
from engine.config.validate import validate_text
from engine.connectors.base import ConnectorSpec
from engine.connectors.file import FileConnector
from engine.errors import ConnectorError

FUZZ = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,  # the same examples on every run: a failure is reproducible in CI
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

# Pieces that make the readers take their interesting paths, mixed with arbitrary text.
YAML_PIECES = st.sampled_from(
    ["version: 1\n", "apps:\n", "  - id: hr\n", "    connector: file\n", "settings: ", "[", "]",
     "{", "}", ": ", "- ", "\n", "  ", "'", '"', "\\0", "\x00", "\x1b", "&a ", "*a", "!!str ",
     "99999999999999999999999", "directories:\n", "  - app: hr\n    filter: ", "accounts:\n",
     "  - id: E1\n", "    display_name: ", "    profile: {a: ", "#", "\ud800", "\ufeff"]
)  # fmt: skip
CSV_PIECES = st.sampled_from(
    ["id,display_name,email\n", "E1,", "Ann", ",", '"', '""', "\n", "\r\n", "\x00", "\x1b",
     "a;b", "ann@example.com", "status", ",ENABLED", "\ufeff"]
)  # fmt: skip
CEL_PIECES = st.sampled_from(
    ["subject", ".", "email", "profile", "[", "]", "(", ")", '"', "'", "a", "1", "0x",
     "99999999999999999999999999", "u", "+", "==", "&&", "||", "?", ":", "has(", "map(x, ",
     "x", "replace(", "c1.user.v1.", "UserStatus.ENABLED", "`", "\\", "\x00", " ", "\n",
     "{", "}", ",", "-", "!", "in ", "size()", "1.0e999", "b'", "r\"", '"""']
)  # fmt: skip


def _texts(pieces: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.lists(pieces, max_size=40).map("".join),
        st.text(max_size=200),
        st.lists(st.one_of(pieces, st.text(max_size=5)), max_size=30).map("".join),
    )


@FUZZ
@given(_texts(YAML_PIECES))
def test_the_configuration_reader_reports_located_problems(text: str) -> None:
    result = validate_text(text, describe=lambda spec: FileConnector(spec).describe(), cel=None)
    for problem in result.problems:
        assert problem.message
        assert problem.line is not None or problem.path, problem


def _read(name: str, data: bytes, fmt: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        spec = ConnectorSpec("fuzz", "file", {"path": name, "format": fmt}, Path(folder))
        try:
            FileConnector(spec).list_all()
        except ConnectorError as error:
            assert error.message and error.problems
            for problem in error.problems:
                assert problem.path, problem  # the file, and the line when there is one


@FUZZ
@given(_texts(YAML_PIECES))
def test_the_yaml_reader_fails_only_with_located_connector_errors(text: str) -> None:
    _read("app.yaml", text.encode("utf-8", "surrogatepass"), "yaml")


@FUZZ
@given(_texts(CSV_PIECES))
def test_the_csv_reader_fails_only_with_located_connector_errors(text: str) -> None:
    _read("app.csv", text.encode("utf-8", "surrogatepass"), "csv")


ENGINE = CelEngine()


@FUZZ
@given(_texts(CEL_PIECES), st.sampled_from(sorted(CONTEXTS)))
def test_the_cel_compiler_fails_only_with_located_compile_errors(text: str, context: str) -> None:
    try:
        ENGINE.compile(context, text)
    except CelCompileError as error:
        assert error.problem.line is not None and error.problem.column is not None
        assert error.problem.message


CSV_TEXT_PIECES = st.sampled_from(
    ["a", "b c", ",", '"', '""', '"x,y"', "\n", "\r\n", "\r", "\x00", " ", "é", "\u2028",
     "\x0b", ";", "'", "\t"]
)  # fmt: skip


@FUZZ
@given(st.lists(CSV_TEXT_PIECES, max_size=40).map("".join))
def test_the_fast_csv_reading_reads_what_the_csv_module_reads(text: str) -> None:
    """`csv_records_fast` (a comma split where a line holds no quote) gives exactly the csv
    module's records, or None whenever it cannot be sure (the csv module then reads)."""
    import csv

    from engine.connectors.fileio import csv_records, csv_records_fast

    fast = csv_records_fast(text)
    try:
        slow = list(csv_records(text))
    except csv.Error:
        assert fast is None
        return
    assert fast is None or fast == slow


def test_the_fast_csv_reading_reads_a_plain_export_itself() -> None:
    from engine.connectors.fileio import csv_records, csv_records_fast

    text = 'id,name\r\nE1,"Lee, Ann"\r\n\r\nE2,Bo "B" Chen\r\nE3,\x00\r\n'
    assert csv_records_fast(text) == list(csv_records(text))  # quoted lines: by the module
    assert csv_records_fast('id,name\nE1,"Ann" x\n') is None  # not CSV: the module says where
    text = 'id,name\r\nE1,"Lee, Ann"\r\n\r\nE2,Bo\r\n""\r\nE3, é \u2028\r\n'
    assert csv_records_fast(text) == list(csv_records(text)) == [
        (1, ["id", "name"]), (2, ["E1", "Lee, Ann"]), (4, ["E2", "Bo"]), (6, ["E3", " é \u2028"])
    ]  # fmt: skip
    assert csv_records_fast('id,name\nE1,"two\nlines"\n') is None  # a record spanning lines


LINE_PIECES = st.sampled_from(
    [b"\n", b"\r", b"\r\n", b" ", b"\t", b'{"id": "a"}', b"x", "\u3000".encode(),
     "\xa0".encode(), "\x85".encode(), b"\xff", b"\xe3\x80", b"\x1c", b"\x00", b""]
)  # fmt: skip


def _lines_one_by_one(data: bytes) -> list[tuple[int, bytes]]:
    """The JSON Lines reader's line split as it was written first (a loop over each line)."""
    out = []
    for number, line in enumerate(data.split(b"\n"), start=1):
        line = line.rstrip(b"\r")
        if not line:
            continue
        try:
            if line.decode("utf-8").isspace():
                continue
        except UnicodeDecodeError:
            pass
        out.append((number, line))
    return out


@FUZZ
@given(st.lists(LINE_PIECES, max_size=40))
def test_the_json_lines_split_keeps_every_line_that_is_not_blank(pieces: list[bytes]) -> None:
    from engine.connectors.file.jsonl_store import _lines

    data = b"".join(pieces)
    assert _lines(data) == _lines_one_by_one(data)
