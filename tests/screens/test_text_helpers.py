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


def test_middle_keeps_both_ends() -> None:
    from screens.text import middle

    assert middle("Head of Product", 20).plain == "Head of Product"
    assert middle("abcdefghij", 5).plain == "ab…ij"
    assert middle("abcdefghij", 6).plain == "abc…ij"
    assert middle("[bold]x[/bold] <b>", 9).plain == "[bol… <b>"
    assert middle("a\x1bb" * 3, 7).plain.startswith("a\\x")  # controls stay visible
    assert middle("東京都港区", 5).cell_len <= 5  # wide characters count two cells


def render(renderable: object, width: int) -> list[str]:
    import io

    from rich.console import Console

    console = Console(width=width, record=True, color_system=None, file=io.StringIO())
    console.print(renderable)
    return console.export_text().splitlines()


def test_hanging_wraps_an_item_under_itself_on_at_most_two_rows() -> None:
    from screens.widgets.hanging import Hanging

    text = Text("Title [bold]x[/]: 2\n")
    text.append("  a@x (hr:E1, no person): disabled in hr, but still enabled in ad:a, slack:U1")
    text.append("\n  short")
    text.append("\n  " + "y " * 60)
    assert render(Hanging(text), 44) == [
        "Title [bold]x[/]: 2",
        "  a@x (hr:E1, no person): disabled in hr,",
        "    but still enabled in ad:a, slack:U1",
        "  short",
        "  y y y y y y y y y y y y y y y y y y y y y",
        "    y y y y y y y y y y y y y y y y y y y y…",  # the third row's worth is cut
    ]
    assert str(Hanging(text)) == text.plain  # the whole text, for a test or a copy


def test_hanging_wraps_a_sentence_at_the_edge_to_the_edge_when_asked() -> None:
    """The Sync now dialog's first sentence wraps to the left edge; its stage rows hang under
    their descriptions."""
    from screens.widgets.hanging import Hanging

    text = Text("Run 3 (a dry run) found 0 changes — applying records a run.\n")
    text.append("  import     no changes to any of the accounts of any app")
    assert render(Hanging(text, indent=11, edge_indent=0), 40) == [
        "Run 3 (a dry run) found 0 changes —",
        "applying records a run.",
        "  import     no changes to any of the",
        "             accounts of any app",
    ]


def test_fit_shows_the_short_form_only_when_the_full_one_is_cut() -> None:
    from screens.widgets.fit import Fit, natural_width

    cell = Fit(Text("ownership-rule"), Text("ownership"))
    assert render(cell, 20) == ["ownership-rule"]
    assert render(cell, 10) == ["ownership"]
    assert render(cell, 6) == ["owner…"]
    assert str(cell) == "ownership-rule"
    assert natural_width("Linked by", [cell, Text("manual"), "x"]) == 14


def test_short_sources_keep_the_app_and_the_field() -> None:
    from screens.users import short_source, value_width

    assert short_source("hr:profile.department") == "hr:…department"
    assert short_source("hr:employee_ids") == "hr:employee_ids"
    assert short_source("idp:profile.a.b,cel[1]") == "idp:…b,cel[1]"
    assert short_source("held: hr:E10003 gone") == "held: hr:E10003 gone"
    # room for both: the values' width; a little less: the values give way to VALUE_WIDTH;
    # less still: the sources shorten and the values keep at least VALUE_MIN
    assert value_width(80, 26, 28, 21) == 26
    assert value_width(50, 26, 28, 21) == 22
    assert value_width(40, 26, 28, 21) == 19
    assert value_width(28, 26, 28, 22) == 12
    assert value_width(28, 8, 28, 22) == 8


def test_namesakes_in_the_results_get_a_second_row() -> None:
    from engine.services import RecordRef
    from screens.users import result_labels

    refs = [
        RecordRef("user", 1, "Alex Morgan <alex.morgan@example.com>", "ENABLED"),
        RecordRef("user", 2, "Alex Morgan <alex.morgan2@example.com>", "DISABLED"),
        RecordRef("user", 3, "Ann [bold] <ann@a.com>", "ENABLED"),
        RecordRef("user", 4, "Ann [bold] <ann@b.com>", "ENABLED"),
        RecordRef("user", 5, "Ann [bold]", "ENABLED"),
        RecordRef("user", 6, "Amara Jones <amara.jones@example.com>", "ENABLED"),
    ]
    assert [label.plain for label in result_labels(refs)] == [
        "Alex Morgan\n  alex.morgan",
        "Alex Morgan DISABLED\n  alex.morgan2",
        "Ann [bold]\n  ann@a.com",  # the same local part: the whole email
        "Ann [bold]\n  ann@b.com",
        "Ann [bold]\n  person 5",
        "Amara Jones",
    ]


def test_a_rule_pair_fits_its_column() -> None:
    from screens.rule_text import rule_pair

    tagged = {
        "account": {"preset": "primary_email", "strip_plus_tag": True},
        "user": {"preset": "all_emails", "strip_plus_tag": True},
    }
    full = "primary email (+tag stripped) ↔ all emails (+tag stripped)"
    assert rule_pair(tagged, 60).plain == full
    assert rule_pair(tagged, 52).plain == "primary email (no +tag) ↔ all emails (no +tag)"
    cel = {"account": {"cel": "account.profile.badge_number.trim()"}, "user": {"cel": "x" * 60}}
    pair = rule_pair(cel, 51).plain
    assert pair.startswith("account.profile.badge_number.trim() ↔ xxx") and pair.endswith("…")
    assert len(pair) == 51
    assert rule_pair({"account": {"cel": "[bold]"}, "user": {"cel": "<b>"}}).plain == (
        "[bold] ↔ <b>"
    )


def test_a_change_fits_the_tree_with_both_values() -> None:
    from screens.widgets.plan_tree import PlanTree, share

    assert share([15, 65], 40) == [15, 25]
    assert share([60, 60], 20) == [10, 10]
    assert share([60, 60], 4) == [7, 7]  # never below FIT_VALUE_MIN
    change = {
        "field": "profile",
        "old": {"title": "Head of Product", "site": "A"},
        "new": {
            "title": "Head of <b>Things</b> [bold]and more[/bold] for the company",
            "site": "A",
        },
        "reason": "changed in the app",
    }
    whole = PlanTree.change_label(change).plain
    assert whole == (
        "profile.title: Head of Product → Head of <b>Things</b> [bold]and more[/bold] for the "
        "company  (changed in the app)"
    )
    assert PlanTree.change_label(change, 200).plain == whole
    fitted = PlanTree.change_label(change, 60).plain
    assert len(fitted) == 60
    # the old value whole, the new one's start and end, the reason cut first
    assert fitted == "profile.title: Head of Product → Head of <b>…he company  (…)"
