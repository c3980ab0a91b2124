"""The fast YAML reader agrees with PyYAML, and the writer's output reads back unchanged."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest

from engine.connectors.fileio import (
    YamlDocument,
    YamlRefused,
    dump_yaml,
    leading_comments,
    load_yaml_text,
    render_yaml,
    write_yaml_document,
)

SUPPORTED = [
    "accounts:\n- id: a\n  emails:\n  - a@x.com\n  - b@x.com\n  profile:\n    c: NO\n",
    "accounts:\n  - id: a\n    profile:\n      x: 1\n  - id: b\n",
    "a: 1\nb: -3\nc: 0042\nd: true\ne: False\nf: yes\ng: ~\nh: null\ni:\nj: 2020-01-02\n",
    "a: 'quoted: yes'\nb: \"dq \\\"x\\\" \\u00e9\"\nc: 'it''s'\nd: []\ne: {}\n",
    "a: [x, 1, true]\nb: {k: v, n: 2}\n# comment\n\n  # indented comment\nc: +44 20 7946\n",
    "- - a\n  - b\n- c\n-\n  d: 1\n",
    "k:   spaced value\nl: value with 'quote' and \"dq\"\nm: http://x.example/a\n",
    "a:\n- x\nb:\n  c:\n  - 1\n  d: e\n",
    "王芳: Zoë Ødegård\nn: O'Brien\n",
]
FALLBACK = [
    "a: &anchor 1\nb: *anchor\n",
    "a: !!str 1\n",
    "a: |\n  block\n  text\n",
    "a: multi\n  line plain\n",
    "a: 1.5\n",
    "a: 2020-01-02T10:00:00Z\n",
    "a: x # trailing comment\n",
    "---\na: 1\n",
    "a: 'x\ty'\n",
    "? complex\n: key\n",
    "a: [x, [y]]\n",
    "'quoted key': 1\n",
    "<<: {a: 1}\n",
]


@pytest.mark.parametrize("text", SUPPORTED)
def test_fast_reader_matches_pyyaml(text: str) -> None:
    document = YamlDocument(text)
    assert document.fast is not None, "expected the fast reader to handle this"
    assert document.data == load_yaml_text(text)[0]


def test_a_key_given_twice_is_refused_on_its_second_line() -> None:
    """The fast reader leaves it to PyYAML, which kept the last value silently."""
    with pytest.raises(YamlRefused) as caught:
        YamlDocument("a: 1\nb: 2\na: 3\n")
    assert caught.value.line == 3 and "`a` is given twice" in caught.value.message


@pytest.mark.parametrize("text", FALLBACK)
def test_unusual_yaml_falls_back_to_pyyaml(text: str) -> None:
    document = YamlDocument(text)
    assert document.fast is None
    assert document.data == load_yaml_text(text)[0]


def test_item_lines_in_both_readers() -> None:
    text = "# head\naccounts:\n- id: a\n  status: x\n\n- id: b\n  emails:\n  - e\n"
    fast = YamlDocument(text)
    assert fast.fast is not None
    slow = YamlDocument(text.replace("- id: b", "- id: &x b"))
    assert slow.fast is None
    for document in (fast, slow):
        assert document.key_line("accounts") == 2
        assert document.item_line("accounts", 0) == 3
        assert document.item_line("accounts", 0, "status") == 4
        assert document.item_line("accounts", 1) == 6
        assert document.item_line("accounts", 1, "emails") == 7
        assert document.item_line("accounts", 1, "missing") == 6


VALUES: list[Any] = [
    "plain",
    "NO",
    "yes",
    "0042",
    "+1",
    "+44 20 7946 0000",
    "a: b",
    "a #b",
    "trailing ",
    " leading",
    "",
    "-x",
    "- x",
    "~",
    "null",
    "2020-01-01",
    "line\nbreak",
    "tab\there",
    "王芳",
    "Zoë Ødegård",
    "O'Brien",
    "CN=Lee\\, Ann,OU=Users",
    "\u2028",
    "@at",
    "a,b",
    "[x]",
    "{x}",
    "e1",
    "1e3",
    "0x1F",
    "1_000",
    "12:30",
    "=",
    "<<",
    "'",
    '"',
    "#",
    "?",
    ":",
    1,
    -7,
    0,
    True,
    False,
    None,
    1.5,
    dt.date(2020, 1, 2),
    [],
    {},
    ["x"],
    {"k": "v"},
]


def test_render_reads_back_exactly() -> None:
    data = {
        "accounts": [
            {"id": str(i), "value": v, "list": [v], "nested": {"v": v}}
            for i, v in enumerate(VALUES)
        ]
    }
    text = render_yaml(data)
    assert load_yaml_text(text)[0] == data
    assert YamlDocument(text).data == data


def test_render_matches_pyyaml_for_ordinary_data() -> None:
    data = {
        "accounts": [
            {"id": "a", "emails": ["a@x.com"], "profile": {"c": "NO", "n": 3}},
            {"id": "b", "nested": [["x", "y"], {"k": "v"}], "empty": []},
        ],
        "grants": [],
    }
    assert render_yaml(data) == dump_yaml(data)


def test_streamed_document_equals_render_and_keeps_header() -> None:
    data = {
        "accounts": [{"id": str(i)} for i in range(2500)],
        "entitlements": [],
        "grants": [{"account": "1", "entitlement": "g"}],
    }
    out = io.StringIO()
    write_yaml_document(out, data, "# header\n")
    assert out.getvalue() == "# header\n" + render_yaml(data)
    assert leading_comments(out.getvalue()) == "# header\n"
    assert leading_comments("# a\n\n# b\naccounts: []\n") == "# a\n\n# b\n"
