"""The text side of editing a configuration object in the admin's own editor ($EDITOR).

The CLI (`roster config edit`) and the console (`App.suspend()`) run the same round trip
(`EditingService.edit_in_editor`): the object's YAML is written to a temporary file with a short
header, the editor opens it, and the saved text is validated as an edit. When it has problems the
file is opened again with each problem as a `# ERROR: …` comment line just above the line it is
about (problems elsewhere in the configuration at the top); those lines, and the header, are
removed again before the text is read. Leaving the file unchanged or emptying it abandons the
edit.

This module holds what does not need the store: the notes, where a problem goes, and starting
the editor.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from collections.abc import Sequence
from pathlib import Path

from engine.config.paths import join_path, relative_parts, resolve, value_type
from engine.config.yaml_positions import YamlSyntaxError, expression_position, load_yaml
from engine.errors import InvalidInput, Problem, RosterError

NOTE = re.compile(r"^[ \t]*# (?:ERROR|Roster):[^\n]*(?:\n|$)", re.MULTILINE)
ERROR_PREFIX = "# ERROR: "


def header(path: str) -> str:
    what = path or "the whole configuration"
    return (
        f"# Roster: editing {what}. Save and quit to apply it; quit without saving, or empty\n"
        "# Roster: the file, to change nothing. Lines starting `# ERROR:` or `# Roster:` are\n"
        "# Roster: removed before the text is read.\n"
    )


def strip_notes(text: str) -> str:
    """The text without Roster's header and `# ERROR:` lines."""
    return NOTE.sub("", text)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def describe(problem: Problem, *, with_path: bool) -> str:
    text = problem.message
    if with_path and problem.path:
        text = f"{problem.path}: {text}"
    if problem.hint:
        text += f" ({problem.hint})"
    return _one_line(text)


def problem_lines(
    text: str, problems: Sequence[Problem], path: str
) -> list[tuple[int | None, str]]:
    """Each problem of an edit at PATH (object paths, CEL positions inside the expression) as
    (1-based line in TEXT or None, one-line message)."""
    try:
        located = load_yaml(text)
    except YamlSyntaxError:
        return [(None, describe(p, with_path=True)) for p in problems]
    base = relative_parts(path, "") or []
    try:
        annotation, field = value_type(base)
    except RosterError:
        return [(None, describe(p, with_path=True)) for p in problems]
    out: list[tuple[int | None, str]] = []
    for problem in problems:
        rest = relative_parts(problem.path, path) if problem.path else None
        if rest is None:
            out.append((None, describe(problem, with_path=True)))
            continue
        try:
            location = resolve(located.data, join_path(rest), root=annotation, root_field=field)
        except RosterError:
            out.append((None, describe(problem, with_path=True)))
            continue
        index_path = location.index_path
        line: int | None
        if problem.line is not None and index_path in located.nodes:
            key = located.key_nodes.get(index_path)
            line, _ = expression_position(
                text,
                located.node(index_path),
                problem.line,
                problem.column,
                parent_indent=key.start_mark.column if key is not None else None,
            )
        else:
            line, _ = located.position(index_path)
        out.append((line, describe(problem, with_path=False)))
    return out


def text_problem_lines(problems: Sequence[Problem], path: str) -> list[tuple[int | None, str]]:
    """Problems of an edit of a text field (the file holds the text itself, no YAML): a CEL
    problem of that field at its line, anything else at the top."""
    out: list[tuple[int | None, str]] = []
    for problem in problems:
        here = relative_parts(problem.path, path) == [] if problem.path else False
        line = problem.line if here else None
        out.append((line, describe(problem, with_path=not here)))
    return out


def annotate(text: str, notes: Sequence[tuple[int | None, str]], path: str) -> str:
    """TEXT with the header, and each note as `# ERROR:` just above its line (indented like it);
    notes without a line go at the top."""
    lines = text.split("\n")
    by_line: dict[int, list[str]] = {}
    top: list[str] = []
    for line, message in notes:
        if line is None or not 1 <= line <= len(lines):
            top.append(message)
        else:
            by_line.setdefault(line, []).append(message)
    for line in sorted(by_line, reverse=True):
        target = lines[line - 1]
        indent = target[: len(target) - len(target.lstrip(" "))]
        lines[line - 1 : line - 1] = [f"{indent}{ERROR_PREFIX}{m}" for m in by_line[line]]
    head = header(path) + "".join(f"{ERROR_PREFIX}{m}\n" for m in top)
    return head + "\n".join(lines)


def editor_command() -> list[str]:
    """$EDITOR, or $VISUAL, else `vi`, split like a shell would (`code --wait`)."""
    chosen = os.environ.get("EDITOR") or os.environ.get("VISUAL") or "vi"
    try:
        return shlex.split(chosen)
    except ValueError as exc:
        raise InvalidInput(
            f"the editor command `{chosen}` cannot be read: {exc}; fix $EDITOR"
        ) from None


def run_editor(file: Path) -> int:
    """Open FILE in the admin's editor and wait; the editor's exit status."""
    command = editor_command()
    try:
        return subprocess.call([*command, str(file)])
    except OSError as exc:
        raise InvalidInput(
            f"cannot start the editor `{command[0] if command else ''}`: "
            f"{exc.strerror or exc}; set $EDITOR to an editor that is installed "
            "(e.g. `export EDITOR=nano`)"
        ) from None
