"""The configuration commands the docs show work on the demo, as a newcomer copies them: three
of docs/configuration.md's examples failed there (an attribute that is a core field, a flow
rule and a directory the demo does not have: docs review). Each `roster config` example in a
docs code block is run against a copy of the demo, changes with --dry-run."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from console.cli import main

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: the subcommands whose examples are run: those that read or change one object by its path
RUN = ("get", "set", "delete", "move", "enable", "disable")
#: examples of other organisations than the demo's (each names what the demo lacks)
ELSEWHERE = ("apps.saas", "apps.vpn", "apps.ldap", "directories.contractors")


def examples() -> list[tuple[str, list[str]]]:
    found = []
    for doc in DOCS:
        in_block = False
        lines = doc.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, 1):
            if line.startswith("```"):
                in_block = not in_block
                continue
            text = line.strip()
            while text.endswith("\\") and number < len(lines):  # a command on several lines
                text = text[:-1] + lines[number].strip()
                number += 1
            if not in_block or not text.startswith("roster config "):
                continue
            words = shlex.split(re.sub(r"\s+#\s.*$", "", text))
            if len(words) < 4 or words[2] not in RUN or "PATH" in words or "…" in text:
                continue
            if any(words[3].startswith(prefix) for prefix in ELSEWHERE):
                continue
            found.append((f"{doc.relative_to(ROOT)}:{number}", words[1:]))
    return found


EXAMPLES = examples()


def test_the_docs_have_config_examples_to_run() -> None:
    assert len(EXAMPLES) >= 10, EXAMPLES


@pytest.mark.parametrize(("where", "args"), EXAMPLES, ids=[w for w, _ in EXAMPLES])
def test_a_docs_config_example_works_on_the_demo(demo: Any, where: str, args: list[str]) -> None:
    if args[1] != "get" and "--dry-run" not in args:
        args = [*args, "--dry-run"]
    result = CliRunner().invoke(main, [*args, "--db", str(demo.db.sqlite_path)])
    assert result.exit_code == 0, f"{where}: roster {shlex.join(args)}\n{result.output}"
