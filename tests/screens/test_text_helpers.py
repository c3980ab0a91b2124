"""The display helpers: Text built from printable strings, never parsed as markup."""

from __future__ import annotations

from rich.text import Text

from screens.text import clip, label, literal, one_line, plain, safe, value


def test_plain_is_text_never_markup_and_controls_are_visible() -> None:
    shown = plain("R&D [/EMEA] [bold]x[/] \x1b]0;t\x07", style="bold")
    assert isinstance(shown, Text)
    assert shown.plain == "R&D [/EMEA] [bold]x[/] \\x1b]0;t\\x07"
    assert shown.style == "bold" and shown.spans == []
    assert plain("a\nb").plain == "a\\nb"
    assert plain("a\nb", lines=True).plain == "a\nb"


def test_value_clip_and_one_line() -> None:
    assert value(None).plain == "—"
    assert value([], empty_style="dim").style == "dim"
    assert value(["a", "[/]"]).plain == "a, [/]"
    assert value({"a": 1}).plain == '{"a": 1}'
    assert value("x" * 30, 10).plain == "x" * 9 + "…"
    assert clip("\u202eabc", 20).plain == "\\u202eabc"
    assert clip("abcdef", 4).plain == "abc…"
    assert one_line('[a,\n    "[/]"]\n  .join(" ")').plain == '[a, "[/]"] .join(" ")'


def test_label_and_literal() -> None:
    assembled = label(("Run 1", "bold"), " by \x1b[2J", plain("[/]", style="red"))
    assert assembled.plain == "Run 1 by \\x1b[2J[/]"
    assert [(span.start, span.end, span.style) for span in assembled.spans] == [
        (0, 5, "bold"),
        (16, 19, "red"),
    ]
    assert literal("a\x1bb").plain == '"a\\u001bb"'  # JSON's own escape
    assert literal("a\u202eb").plain == '"a\\u202eb"'  # left raw by JSON: escaped here
    assert literal(["x" * 10] * 5, 20, lines=True).plain.count("\n") == 6
    assert safe("\x00") == "\\x00"
