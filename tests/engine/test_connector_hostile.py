"""Hostile app files (a lone surrogate, a value nested hundreds of levels deep, an alias bomb)
fail their own app with the file, the line and what to do; the other apps keep syncing and the
bad app's accounts stay as they were."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from engine.connectors.base import ConnectorSpec, ListedAccount, ListedEntitlement, Listing
from engine.connectors.file import FileConnector
from engine.connectors.file.records import MAX_PROFILE_DEPTH
from engine.connectors.fileio import (
    ALIAS_ALLOWANCE,
    MAX_YAML_DEPTH,
    YamlDocument,
    YamlRefused,
    load_yaml_text,
)
from engine.errors import ConnectorError
from engine.services import Services
from engine.store.models import Account
from tests.engine.org import HR, IDP, open_org

MARK = "    job_title: Engineer\n"  # in Ann's (E1's) profile, as yaml.safe_dump writes HR


def _deep_block(levels: int, indent: int = 4) -> str:
    """`deep:` nesting `levels` mappings, in block style, at `indent`."""
    lines = [" " * indent + "deep:\n"]
    for level in range(1, levels):
        lines.append(" " * (indent + 2 * level) + "k:\n")
    lines.append(" " * (indent + 2 * levels) + "k: x\n")
    return "".join(lines)


def _bomb(levels: int = 8, width: int = 9, indent: int = 4) -> str:
    pad = " " * indent
    text = f"{pad}l0: &a0 [{', '.join(['lol'] * width)}]\n"
    for level in range(1, levels + 1):
        text += f"{pad}l{level}: &a{level} [{', '.join([f'*a{level - 1}'] * width)}]\n"
    return text


# (what is added to Ann's profile, line of the problem counted from the marker line, words)
HOSTILE = {
    "surrogate value": (
        '    title: "Head \\uD800 Eng"\n',
        1,
        "account #1 (id 'E1'): the value of 'profile.title' contains an unpaired surrogate "
        "\\ud800, which is not text",
    ),
    "surrogate in a list": (
        '    groups:\n    - a\n    - "\\uDFFF"\n',
        1,  # the line of the attribute; the message names the item
        "the value of 'profile.groups[1]' contains an unpaired surrogate \\udfff",
    ),
    "surrogate key": (
        '    "\\uDC80 title": x\n',
        1,
        "account #1 (id 'E1'): this line holds an unpaired surrogate \\udc80 (written \\uDC80), "
        "which is not text",
    ),
    "deep profile value": (
        _deep_block(MAX_PROFILE_DEPTH + 1),
        1,
        f"account #1: the profile value 'deep' nests lists or mappings more than "
        f"{MAX_PROFILE_DEPTH} levels deep",
    ),
    "profile nested 900 levels": (
        _deep_block(900),
        MAX_YAML_DEPTH - 2,  # the document, accounts, the account and profile come first
        f"values are nested more than {MAX_YAML_DEPTH} lists or mappings deep",
    ),
    "flow list nested 900 levels": (
        "    deep: " + "[" * 900 + "x" + "]" * 900 + "\n",
        1,
        f"values are nested more than {MAX_YAML_DEPTH} lists or mappings deep",
    ),
    "alias bomb": (_bomb(), 8, "aliases expand this file to"),
    "alias loop": ("    loop: &me [a, *me]\n", 1, "an alias refers to a value that contains it"),
    # PyYAML kept the last and dropped the first without a word (hostile review)
    "repeated key": ("    job_title: Boss\n", 1, "`job_title` is given twice in this mapping"),
}


def hr_text(extra: str) -> tuple[str, int]:
    """HR as the test organisation writes it, with `extra` in Ann's profile; and the line the
    addition starts on."""
    text = yaml.safe_dump(HR, sort_keys=False, allow_unicode=True)
    assert MARK in text
    before, after = text.split(MARK, 1)
    return before + MARK + extra + after, before.count("\n") + 2


def statuses(services: Services, app_id: str) -> dict[str, str]:
    with services.db.session() as session:
        rows = session.execute(select(Account).where(Account.app_id == app_id)).scalars()
        return {a.external_id: a.status for a in rows}


def _sync_with_broken_hr(tmp_path: Path, extra: str) -> tuple[Services, list[str], int, float]:
    services = open_org(tmp_path)
    assert services.sync().status == "applied"
    folder = tmp_path / "org"
    text, first = hr_text(extra)
    (folder / "hr.yaml").write_text(text, encoding="utf-8")
    idp = {"accounts": [*IDP["accounts"], {"id": "u9", "email": "new@example.com"}]}
    (folder / "idp.yaml").write_text(yaml.safe_dump(idp, sort_keys=False), encoding="utf-8")
    started = time.monotonic()
    result = services.sync()
    elapsed = time.monotonic() - started
    assert result.status == "applied-with-failures", result.error
    imported = next(s for s in result.stages if s.name == "import")
    assert imported.counts["apps_failed"] == 1, imported.problems
    return services, imported.problems, first, elapsed


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_hostile_hr_file_fails_hr_alone_with_file_and_line(tmp_path: Path, case: str) -> None:
    extra, offset, words = HOSTILE[case]
    services, problems, first, elapsed = _sync_with_broken_hr(tmp_path, extra)
    (problem,) = problems
    assert problem.startswith("hr: cannot read "), problem
    assert str(tmp_path / "org" / "hr.yaml") in problem
    assert f"line {first + offset - 1}:" in problem, (first, problem)
    assert words in problem, problem
    assert "stay as they were" in problem
    problem.encode("utf-8")  # printable and storable: no surrogate left in the message
    # HR's accounts are kept as they were: none is marked deleted because of the bad file
    assert set(statuses(services, "hr").values()) <= {"ENABLED", "DISABLED"}
    assert len(statuses(services, "hr")) == len(HR["accounts"])
    # the other apps keep syncing
    assert statuses(services, "idp")["u9"] == "ENABLED"
    assert elapsed < 20, "a hostile file must be refused cheaply"


def test_the_run_records_the_problem_and_the_next_sync_after_the_fix_imports(
    tmp_path: Path,
) -> None:
    services, _, _, _ = _sync_with_broken_hr(tmp_path, HOSTILE["surrogate value"][0])
    (tmp_path / "org" / "hr.yaml").write_text(hr_text('    title: "Head \\u00e9 Eng"\n')[0])
    result = services.sync()
    imported = next(s for s in result.stages if s.name == "import")
    assert "apps_failed" not in imported.counts, imported.problems
    assert statuses(services, "hr")["E1"] == "ENABLED"


def test_an_account_the_store_cannot_hold_fails_its_app_in_the_importer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever connector lists it, a record that cannot be stored stops only its app."""
    services = open_org(tmp_path)
    services.sync()
    original = FileConnector.list_all

    def list_all(self: FileConnector) -> Listing:
        listing = original(self)
        if self.app_id == "hr":
            listing.accounts.append(ListedAccount("E9", display_name="Bad \ud800"))
        return listing

    monkeypatch.setattr(FileConnector, "list_all", list_all)
    monkeypatch.setattr(FileConnector, "list_changed", lambda self, known, **_: list_all(self))
    with (tmp_path / "org" / "hr.yaml").open("a") as fh:
        fh.write("# changed, so that it is listed again\n")
    result = services.sync()
    assert result.status == "applied-with-failures", result.error
    imported = next(s for s in result.stages if s.name == "import")
    assert imported.counts["apps_failed"] == 1
    (problem,) = imported.problems
    assert problem.startswith("hr: the account 'E9' cannot be stored: ")
    assert "surrogates not allowed" in problem and "stay as they were" in problem
    assert "E9" not in statuses(services, "hr")
    assert set(statuses(services, "hr").values()) <= {"ENABLED", "DISABLED"}


def test_an_entitlement_the_store_cannot_hold_fails_its_app_in_the_importer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = open_org(tmp_path)
    services.sync()
    original = FileConnector.list_all

    def list_all(self: FileConnector) -> Listing:
        listing = original(self)
        if self.app_id == "slack":
            listing.entitlements.append(ListedEntitlement("x", name="Bad \udc80"))
        return listing

    monkeypatch.setattr(FileConnector, "list_all", list_all)
    monkeypatch.setattr(FileConnector, "list_changed", lambda self, known, **_: list_all(self))
    with (tmp_path / "org" / "slack.yaml").open("a") as fh:
        fh.write("# changed, so that it is listed again\n")
    result = services.sync()
    imported = next(s for s in result.stages if s.name == "import")
    (problem,) = imported.problems
    assert problem.startswith("slack: the entitlement 'x' cannot be stored: ")
    assert "\\udc80" in problem
    problem.encode("utf-8")


# --- the connector alone ----------------------------------------------------------------------


def list_file(tmp_path: Path, name: str, data: bytes) -> ConnectorError:
    (tmp_path / name).write_bytes(data)
    spec = ConnectorSpec(app_id="app", kind="file", settings={"path": name}, base_dir=tmp_path)
    with pytest.raises(ConnectorError) as caught:
        FileConnector(spec).list_all()
    return caught.value


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (
            'accounts:\n- id: a\nentitlements:\n- id: e\n  name: "x\\uD800"\n',
            5,
            "entitlement #1 (id 'e'): the value of 'name' contains an unpaired surrogate \\ud800",
        ),
        (
            'accounts:\n- id: "a\\uD800"\ngrants:\n- account: "a\\uD800"\n  entitlement: e\n',
            2,
            "account #1 (id 'a\\ud800'): the value of 'id' contains an unpaired surrogate",
        ),
        (
            'accounts:\n- id: a\n"\\uD800": x\n',
            3,
            ": this line holds an unpaired surrogate \\ud800",
        ),
        (
            'accounts:\n- id: a\n- id: b\n  profile: {x: 1}\n  display_name: "\\U00110000"\n',
            5,
            "account #2 (id 'b'): this line holds the escape \\U00110000, beyond the last Unicode",
        ),
        (
            'accounts:\n- id: a\n  profile:\n    x: "\\U0000D800"\n',
            4,
            "account #1 (id 'a'): this line holds an unpaired surrogate \\ud800 (written "
            "\\U0000D800)",
        ),
    ],
)
def test_surrogates_anywhere_in_a_yaml_file_are_named(
    tmp_path: Path, text: str, line: int, words: str
) -> None:
    error = list_file(tmp_path, "app.yaml", text.encode())
    assert error.problems[0].line == line, error.problems
    assert words in error.message, error.message
    error.message.encode("utf-8")
    for problem in error.problems:
        str(problem).encode("utf-8")


@pytest.mark.parametrize("name", ["app.csv", "app.yaml"])
def test_an_encoded_surrogate_is_not_utf8(tmp_path: Path, name: str) -> None:
    """A file cannot smuggle a surrogate in as bytes: files are decoded as strict UTF-8 (never
    with surrogateescape), which refuses them, and the problem names the line."""
    body = b"id,title\nB1,Head \xed\xa0\x80 Eng\n"
    if name.endswith(".yaml"):
        body = b"accounts:\n- id: B1\n  display_name: Head \xed\xa0\x80 Eng\n"
    error = list_file(tmp_path, name, body)
    assert "is not UTF-8 text" in error.message
    assert error.problems[0].line == (2 if name.endswith(".csv") else 3)


def test_alias_limits_are_cheap_and_ordinary_aliases_still_work() -> None:
    started = time.monotonic()
    with pytest.raises(YamlRefused) as caught:
        YamlDocument("a:\n" + _bomb(levels=12, indent=2))
    assert time.monotonic() - started < 2
    assert caught.value.line == 13 and "aliases expand this file to" in caught.value.message
    merged = YamlDocument("base: &b {x: 1}\nitems:\n- <<: *b\n  y: 2\n- *b\n")
    assert merged.data["items"] == [{"x": 1, "y": 2}, {"x": 1}]
    # repeating a value is fine, up to the allowance
    width = 300
    assert ALIAS_ALLOWANCE > width * (width + 1)
    assert len(YamlDocument("a:\n" + _bomb(levels=1, width=width, indent=2)).data["a"]["l1"]) == 300


def test_the_fast_reader_and_pyyaml_agree_on_the_deepest_file() -> None:
    # the document and the mapping holding `deep:` count, then the value's own levels
    deepest = YamlDocument("a:\n" + _deep_block(MAX_YAML_DEPTH - 2, indent=2))
    assert deepest.fast is not None
    assert load_yaml_text("a:\n" + _deep_block(MAX_YAML_DEPTH - 2, indent=2))[0] == deepest.data
    with pytest.raises(YamlRefused) as caught:
        YamlDocument("a:\n" + _deep_block(MAX_YAML_DEPTH - 1, indent=2))
    assert caught.value.line == MAX_YAML_DEPTH + 1
