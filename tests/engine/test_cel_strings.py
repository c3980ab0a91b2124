"""The strings extension against the CEL specification's own conformance cases.

CASES is copied from google/cel-spec `tests/simple/testdata/string_ext.textproto` (commit
508bd98, Apache License 2.0; vendored in tests/cel_conformance/data):
sections char_at, index_of, last_index_of, ascii_casing, replace, split, substring, trim, join,
reverse, value_errors and type_errors. Each case is (section, name, expression, "value" or
"error", expected value or error message); a case with value True expects `true`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine.cel import CelEngine, CelEvalError, to_python, type_name
from engine.records import UserRecord

CONFORMANCE_FILE = (
    Path(__file__).resolve().parents[1] / "cel_conformance" / "data" / "string_ext.textproto"
)

# fmt: off
CASES = [('char_at', 'middle_index', "'tacocat'.charAt(3)", 'value', 'o'),
 ('char_at', 'end_index', "'tacocat'.charAt(7)", 'value', ''),
 ('char_at',
  'multiple',
  "'©αT'.charAt(0) == '©' && '©αT'.charAt(1) == 'α' && '©αT'.charAt(2) == 'T'",
  'value',
  True),
 ('index_of', 'empty_index', "'tacocat'.indexOf('')", 'value', 0),
 ('index_of', 'string_index', "'tacocat'.indexOf('ac')", 'value', 1),
 ('index_of', 'nomatch', "'tacocat'.indexOf('none') == -1", 'value', True),
 ('index_of', 'empty_index', "'tacocat'.indexOf('', 3) == 3", 'value', True),
 ('index_of', 'char_index', "'tacocat'.indexOf('a', 3) == 5", 'value', True),
 ('index_of', 'string_index', "'tacocat'.indexOf('at', 3) == 5", 'value', True),
 ('index_of', 'unicode_char', "'ta©o©αT'.indexOf('©') == 2", 'value', True),
 ('index_of', 'unicode_char_index', "'ta©o©αT'.indexOf('©', 3) == 4", 'value', True),
 ('index_of', 'unicode_string_index', "'ta©o©αT'.indexOf('©αT', 3) == 4", 'value', True),
 ('index_of',
  'unicode_string_nomatch_index',
  "'ta©o©αT'.indexOf('©α', 5) == -1",
  'value',
  True),
 ('index_of', 'char_index', "'ijk'.indexOf('k') == 2", 'value', True),
 ('index_of',
  'string_with_space_fullmatch',
  "'hello wello'.indexOf('hello wello') == 0",
  'value',
  True),
 ('index_of',
  'string_with_space_index',
  "'hello wello'.indexOf('ello', 6) == 7",
  'value',
  True),
 ('index_of',
  'string_nomatch_index',
  "'hello wello'.indexOf('elbo room!!') == -1",
  'value',
  True),
 ('last_index_of', 'empty_string', "''.lastIndexOf('@@') == -1", 'value', True),
 ('last_index_of', 'empty_argument', "'tacocat'.lastIndexOf('') == 7", 'value', True),
 ('last_index_of', 'string', "'tacocat'.lastIndexOf('at') == 5", 'value', True),
 ('last_index_of', 'string_nomatch', "'tacocat'.lastIndexOf('none') == -1", 'value', True),
 ('last_index_of', 'empty_index', "'tacocat'.lastIndexOf('', 3) == 3", 'value', True),
 ('last_index_of', 'char_index', "'tacocat'.lastIndexOf('a', 3) == 1", 'value', True),
 ('last_index_of', 'unicode_char', "'ta©o©αT'.lastIndexOf('©') == 4", 'value', True),
 ('last_index_of', 'unicode_char_index', "'ta©o©αT'.lastIndexOf('©', 3) == 2", 'value', True),
 ('last_index_of',
  'unicode_string_index',
  "'ta©o©αT'.lastIndexOf('©α', 4) == 4",
  'value',
  True),
 ('last_index_of',
  'string_with_space_string_index',
  "'hello wello'.lastIndexOf('ello', 6) == 1",
  'value',
  True),
 ('last_index_of',
  'string_with_space_string_nomatch',
  "'hello wello'.lastIndexOf('low') == -1",
  'value',
  True),
 ('last_index_of',
  'string_with_space_string_with_space_nomatch',
  "'hello wello'.lastIndexOf('elbo room!!') == -1",
  'value',
  True),
 ('last_index_of',
  'string_with_space_fullmatch',
  "'hello wello'.lastIndexOf('hello wello') == 0",
  'value',
  True),
 ('last_index_of',
  'repeated_string',
  "'bananananana'.lastIndexOf('nana', 7) == 6",
  'value',
  True),
 ('ascii_casing', 'lowerascii', "'TacoCat'.lowerAscii() == 'tacocat'", 'value', True),
 ('ascii_casing', 'lowerascii_unicode', "'TacoCÆt'.lowerAscii() == 'tacocÆt'", 'value', True),
 ('ascii_casing',
  'lowerascii_unicode_with_space',
  "'TacoCÆt Xii'.lowerAscii() == 'tacocÆt xii'",
  'value',
  True),
 ('ascii_casing', 'upperascii', "'tacoCat'.upperAscii() == 'TACOCAT'", 'value', True),
 ('ascii_casing', 'upperascii_unicode', "'tacoCαt'.upperAscii() == 'TACOCαT'", 'value', True),
 ('ascii_casing',
  'upperascii_unicode_with_space',
  "'TacoCÆt Xii'.upperAscii() == 'TACOCÆT XII'",
  'value',
  True),
 ('replace',
  'no_placeholder',
  "'12 days 12 hours'.replace('{0}', '2') == '12 days 12 hours'",
  'value',
  True),
 ('replace',
  'basic',
  "'{0} days {0} hours'.replace('{0}', '2') == '2 days 2 hours'",
  'value',
  True),
 ('replace',
  'chained',
  "'{0} days {0} hours'.replace('{0}', '2', 1).replace('{0}', '23') == '2 days 23 hours'",
  'value',
  True),
 ('replace', 'unicode', "'1 ©αT taco'.replace('αT', 'o©α') == '1 ©o©α taco'", 'value', True),
 ('split', 'empty', "'hello world'.split(' ') == ['hello', 'world']", 'value', True),
 ('split', 'zero_limit', "'hello world events!'.split(' ', 0) == []", 'value', True),
 ('split',
  'one_limit',
  "'hello world events!'.split(' ', 1) == ['hello world events!']",
  'value',
  True),
 ('split',
  'unicode_negative_limit',
  "'o©o©o©o'.split('©', -1) == ['o', 'o', 'o', 'o']",
  'value',
  True),
 ('substring', 'start', "'tacocat'.substring(4) == 'cat'", 'value', True),
 ('substring', 'start_with_max_length', "'tacocat'.substring(7) == ''", 'value', True),
 ('substring', 'start_and_end', "'tacocat'.substring(0, 4) == 'taco'", 'value', True),
 ('substring', 'start_and_end_equal_value', "'tacocat'.substring(4, 4) == ''", 'value', True),
 ('substring', 'unicode_start_and_end', "'ta©o©αT'.substring(2, 6) == '©o©α'", 'value', True),
 ('substring',
  'unicode_start_and_end_equal_value',
  "'ta©o©αT'.substring(7, 7) == ''",
  'value',
  True),
 ('trim',
  'blank_spaces_escaped_chars',
  "' \\f\\n\\r\\t\\vtext  '.trim() == 'text'",
  'value',
  True),
 ('trim',
  'unicode_space_chars_1',
  "'\\u0085\\u00a0\\u1680text'.trim() == 'text'",
  'value',
  True),
 ('trim',
  'unicode_space_chars_2',
  "'text\\u2000\\u2001\\u2002\\u2003\\u2004\\u2004\\u2006\\u2007\\u2008\\u2009'.trim() == "
  "'text'",
  'value',
  True),
 ('trim',
  'unicode_space_chars_3',
  "'\\u200atext\\u2028\\u2029\\u202F\\u205F\\u3000'.trim() == 'text'",
  'value',
  True),
 ('trim',
  'unicode_no_trim',
  "'\\u180etext\\u200b\\u200c\\u200d\\u2060\\ufeff'.trim() == "
  "'\\u180etext\\u200b\\u200c\\u200d\\u2060\\ufeff'",
  'value',
  True),
 ('join', 'empty_separator', "['x', 'y'].join() == 'xy'", 'value', True),
 ('join', 'dash_separator', "['x', 'y'].join('-') == 'x-y'", 'value', True),
 ('join', 'empty_string_empty_separator', "[].join() == ''", 'value', True),
 ('join', 'empty_string_dash_separator', "[].join('-') == ''", 'value', True),
 ('value_errors',
  'charat_out_of_range',
  "'tacocat'.charAt(30) == ''",
  'error',
  'index out of range: 30'),
 ('value_errors',
  'indexof_out_of_range',
  "'tacocat'.indexOf('a', 30) == -1",
  'error',
  'index out of range: 30'),
 ('value_errors',
  'lastindexof_negative_index',
  "'tacocat'.lastIndexOf('a', -1) == -1",
  'error',
  'index out of range: -1'),
 ('value_errors',
  'lastindexof_out_of_range',
  "'tacocat'.lastIndexOf('a', 30) == -1",
  'error',
  'index out of range: 30'),
 ('value_errors',
  'substring_out_of_range',
  "'tacocat'.substring(40) == 'cat'",
  'error',
  'index out of range: 40'),
 ('value_errors',
  'substring_negative_index',
  "'tacocat'.substring(-1) == 'cat'",
  'error',
  'index out of range: -1'),
 ('value_errors',
  'substring_end_index_out_of_range',
  "'tacocat'.substring(1, 50) == 'cat'",
  'error',
  'index out of range: 50'),
 ('value_errors',
  'substring_begin_index_out_of_range',
  "'tacocat'.substring(49, 50) == 'cat'",
  'error',
  'index out of range: 49'),
 ('value_errors',
  'substring_end_index_greater_than_begin_index',
  "'tacocat'.substring(4, 3) == ''",
  'error',
  'invalid substring range. start: 4, end: 3'),
 ('type_errors', 'charat_invalid_type', "42.charAt(2) == ''", 'error', 'no such overload'),
 ('type_errors',
  'charat_invalid_argument',
  "'hello'.charAt(true) == ''",
  'error',
  'no such overload'),
 ('type_errors',
  'indexof_unary_invalid_type',
  "24.indexOf('2') == 0",
  'error',
  'no such overload'),
 ('type_errors',
  'indexof_unary_invalid_argument',
  "'hello'.indexOf(true) == 1",
  'error',
  'no such overload'),
 ('type_errors',
  'indexof_binary_invalid_argument',
  "42.indexOf('4', 0) == 0",
  'error',
  'no such overload'),
 ('type_errors',
  'indexof_binary_invalid_argument_2',
  "'42'.indexOf(4, 0) == 0",
  'error',
  'no such overload'),
 ('type_errors',
  'indexof_binary_both_invalid_arguments',
  "'42'.indexOf('4', '0') == 0",
  'error',
  'no such overload'),
 ('type_errors',
  'indexof_ternary_invalid_arguments',
  "'42'.indexOf('4', 0, 1) == 0",
  'error',
  'no such overload'),
 ('type_errors', 'split_invalid_type', "42.split('2') == ['4']", 'error', 'no such overload'),
 ('type_errors',
  'replace_invalid_type',
  "42.replace(2, 1) == '41'",
  'error',
  'no such overload'),
 ('type_errors',
  'replace_binary_invalid_argument',
  "'42'.replace(2, 1) == '41'",
  'error',
  'no such overload'),
 ('type_errors',
  'replace_binary_invalid_argument_2',
  "'42'.replace('2', 1) == '41'",
  'error',
  'no such overload'),
 ('type_errors',
  'replace_ternary_invalid_argument',
  "42.replace('2', '1', 1) == '41'",
  'error',
  'no such overload'),
 ('type_errors',
  'replace_ternary_invalid_argument_2',
  "'42'.replace(2, '1', 1) == '41'",
  'error',
  'no such overload'),
 ('type_errors',
  'replace_ternary_invalid_argument_3',
  "'42'.replace('2', 1, 1) == '41'",
  'error',
  'no such overload'),
 ('type_errors',
  'replace_ternary_invalid_argument_4',
  "'42'.replace('2', '1', '1') == '41'",
  'error',
  'no such overload'),
 ('type_errors',
  'replace_quaternary_invalid_argument',
  "'42'.replace('2', '1', 1, false) == '41'",
  'error',
  'no such overload'),
 ('type_errors',
  'split_invalid_type_empty_arg',
  "42.split('') == ['4', '2']",
  'error',
  'no such overload'),
 ('type_errors',
  'split_invalid_argument',
  "'42'.split(2) == ['4']",
  'error',
  'no such overload'),
 ('type_errors',
  'split_binary_invalid_type',
  "42.split('2', '1') == ['4']",
  'error',
  'no such overload'),
 ('type_errors',
  'split_binary_invalid_argument',
  "'42'.split(2, 1) == ['4']",
  'error',
  'no such overload'),
 ('type_errors',
  'split_binary_invalid_argument_2',
  "'42'.split('2', '1') == ['4']",
  'error',
  'no such overload'),
 ('type_errors',
  'split_ternary_invalid_argument',
  "'42'.split('2', 1, 1) == ['4']",
  'error',
  'no such overload'),
 ('type_errors',
  'substring_ternary_invalid_argument',
  "'hello'.substring(1, 2, 3) == ''",
  'error',
  'no such overload'),
 ('type_errors',
  'substring_binary_invalid_type',
  "30.substring(true, 3) == ''",
  'error',
  'no such overload'),
 ('type_errors',
  'substring_binary_invalid_argument',
  "'tacocat'.substring(true, 3) == ''",
  'error',
  'no such overload'),
 ('type_errors',
  'substring_binary_invalid_argument_2',
  "'tacocat'.substring(0, false) == ''",
  'error',
  'no such overload'),
 ('reverse', 'empty', "''.reverse() == ''", 'value', True),
 ('reverse', 'single_character', "'☺'.reverse() == '☺'", 'value', True),
 ('reverse', 'multiple', "'Ta©oCαt'.reverse() == 'tαCo©aT'", 'value', True)]
# fmt: on


@pytest.fixture(scope="module")
def engine() -> CelEngine:
    return CelEngine()


def _run(engine: CelEngine, expression: str) -> object:
    # cel-python's lexer reads `42.charAt` as the float `42.` followed by a name (cel-go does
    # not); the conformance cases that call a method on an int literal get parentheses.
    expression = re.sub(r"^(\d+)\.(?=[a-z])", r"(\1).", expression)
    program = engine.compile("push_mapping", expression)
    variables = engine.activation_for("push_mapping", UserRecord(1, email="a@example.com"))
    return engine.evaluate(program, variables)


@pytest.mark.parametrize(
    ("section", "name", "expression", "outcome", "expected"),
    CASES,
    ids=[f"{c[0]}-{c[1]}-{i}" for i, c in enumerate(CASES)],
)
def test_conformance(
    engine: CelEngine, section: str, name: str, expression: str, outcome: str, expected: object
) -> None:
    if outcome == "error":
        with pytest.raises(CelEvalError) as error:
            _run(engine, expression)
        if expected != "no such overload":
            assert expected in error.value.message
        return
    value = _run(engine, expression)
    assert to_python(value) == expected
    if isinstance(expected, bool):
        assert type_name(value) == "bool"


def test_cases_are_still_in_the_conformance_file() -> None:
    text = CONFORMANCE_FILE.read_text(encoding="utf-8")
    for section, _name, _expression, _outcome, _expected in CASES:
        assert f'name: "{section}"' in text


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('lowerAscii("ÀB")', "Àb"),
        ('upperAscii("straße")', "STRAßE"),
        ('trim("  x ")', "x"),
        ('replace("a.b.c", ".", "-")', "a-b-c"),
        ('split("a,b", ",")', ["a", "b"]),
        ('join(["a", "b"], "/")', "a/b"),
        ('"".ifEmpty("n/a")', "n/a"),
        ('"x".ifEmpty("n/a")', "x"),
        ('[].ifEmpty(["n/a"])', ["n/a"]),
        ('null.ifEmpty("n/a")', "n/a"),
        ('subject.profile.missing.ifEmpty("none")', "none"),
        ('subject.email.split("@")[1]', "example.com"),
        ('"Ann Lee".split(" ").map(p, p.lowerAscii()).join(".")', "ann.lee"),
    ],
)
def test_function_syntax_and_helpers(engine: CelEngine, expression: str, expected: object) -> None:
    assert to_python(_run(engine, expression)) == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('"%s <%s>".format(["Ann Lee", subject.email])', "Ann Lee <a@example.com>"),
        ('"%s".format([subject.profile.missing])', ""),
        ('"%d%% of %d".format([25, 8u])', "25% of 8"),
        ('"%.2f / %e".format([2, 1234.5])', "2.00 / 1.234500e+03"),
        ('"%s %s %s".format([1e6, 0.00001, -0.5])', "1e+06 1e-05 -0.5"),
        ('"%x %X %o %b".format([-255, 255u, 8, false])', "-ff FF 10 0"),
        ('"%s".format([{"b": [1, null], "a": b"\\xc3\\xa9"}])', "{a: é, b: [1, null]}"),
        ('strings.quote("tab\\there \\"q\\" \\\\")', '"tab\\there \\"q\\" \\\\"'),
        ("strings.quote(subject.email)", '"a@example.com"'),
    ],
)
def test_format_and_quote(engine: CelEngine, expression: str, expected: object) -> None:
    assert to_python(_run(engine, expression)) == expected


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ('"%d".format([1.5])', "%d needs an int or uint, got double"),
        ('"%s and %s".format(["one"])', "clause 2 (`%s`) has no argument"),
        ('"%.2d".format([1])', "unknown clause `%.2d`"),
        ('"100%".format([])', "ends inside a clause"),
        ('"%s".format("x")', "needs a list of arguments"),
        ('"%x".format([null])', "%x needs an int or uint, got null"),
        ("strings.quote(1)", "needs a string, got int"),
    ],
)
def test_format_errors_say_which_clause(engine: CelEngine, expression: str, message: str) -> None:
    with pytest.raises(CelEvalError) as error:
        _run(engine, expression)
    assert message in error.value.message


@pytest.mark.parametrize(
    ("expression", "kind"),
    [
        ('string(["a"])', "list"),
        ('string({"a": 1})', "map"),
        ("string(subject)", "map"),
        ("string(null)", "null"),
        ("string(type(1))", "type"),
    ],
)
def test_string_of_a_value_cel_cannot_convert_is_an_error(
    engine: CelEngine, expression: str, kind: str
) -> None:
    """cel-python wrote its own Python text ("ListType([StringType('a')])", "<user 1>",
    "None"), which a push rule then wrote to an app (hostile review). CEL has no such overload."""
    with pytest.raises(CelEvalError) as error:
        _run(engine, expression)
    assert f"no matching overload for string({kind})" in error.value.message
    assert "Type(" not in error.value.message and "<user" not in error.value.message


def test_string_converts_what_cel_converts(engine: CelEngine) -> None:
    cases = {
        'string(b"abc")': "abc",
        "string(1u)": "1",
        "string(-2)": "-2",
        "string(1.5)": "1.5",
        "string(true)": "true",
        'string("x")': "x",
        'string(duration("90s"))': "90s",
    }
    assert {e: to_python(_run(engine, e)) for e in cases} == cases
