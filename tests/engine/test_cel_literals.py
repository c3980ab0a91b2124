"""String and bytes literals, and backtick-quoted field names, as the CEL specification says."""

from __future__ import annotations

import pytest

from engine.cel import CelCompileError, CelEngine, ContextSpec, to_python

SPEC = ContextSpec("literals", (), "any", "user", variable_kinds={})


@pytest.fixture(scope="module")
def engine() -> CelEngine:
    return CelEngine()


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        (r"'\?\`\'\"\\'", "?`'\"\\"),
        (r"'\X4c\x4d'", "LM"),
        (r"'\101\u00e9\U0001F600'", "Aé😀"),
        (r"r'\n\?'", "\\n\\?"),
        ("'''a\nb'''", "a\nb"),
        ('"""x\ny"""', "x\ny"),
        (r"'\a\b\f\n\r\t\v'", "\a\b\f\n\r\t\v"),
        ("{'content-type': 'json'}.`content-type`", "json"),
        ("has({'a.b': 1}.`a.b`)", True),
        ("has({'a.b': 1}.`a/c`)", False),
    ],
)
def test_string_literals(engine: CelEngine, expression: str, expected: object) -> None:
    value = engine.evaluate(engine.compile(SPEC, expression), {})
    assert to_python(value) == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        (r"b'\xff\X00\377'", b"\xff\x00\xff"),
        (r"b'é'", "é".encode()),
        (r"b'''\?\`'''", b"?`"),
    ],
)
def test_bytes_literals(engine: CelEngine, expression: str, expected: bytes) -> None:
    assert bytes(engine.evaluate(engine.compile(SPEC, expression), {})) == expected


@pytest.mark.parametrize(
    ("expression", "message", "column"),
    [
        (r"'\q'", r"unknown escape `\q` in a string", 1),
        (r"'ok' + '\uD800'", r"invalid character escape `\uD800` in a string", 8),
        (r"b'\u00e9'", r"`\u` and `\U` escapes are not allowed in bytes", 1),
    ],
)
def test_bad_escapes_are_errors_at_the_literal(
    engine: CelEngine, expression: str, message: str, column: int
) -> None:
    with pytest.raises(CelCompileError) as error:
        engine.compile(SPEC, expression)
    assert error.value.problem.message == message
    assert error.value.problem.column == column
