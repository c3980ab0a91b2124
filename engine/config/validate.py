"""Validate a configuration document and report every problem with its YAML location.

`validate_text` runs four layers and collects what each finds instead of stopping at the first:

1. YAML syntax (line and column from the parser's mark);
2. shape and types (pydantic; unknown keys get a did-you-mean hint);
3. meaning: references between sections, duplicates, connector capabilities and schemas, secrets
   written literally, flow-rule conflicts;
4. every CEL expression compiled in its context, its line and column mapped into the file.

Items with shape errors are left out of layers 3 and 4 (their other problems show once the shape
is fixed); every other item is checked. `check_config` runs layers 3 and 4 on a model built in
code (the console's forms), where there is no file to point into.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

from engine.config.checks import CelChecker, Checker, Describe, Sections, partial_sections
from engine.config.issues import Issue
from engine.config.model import RosterConfig
from engine.config.schema_errors import describe_value, schema_issues
from engine.config.yaml_positions import (
    Located,
    YamlSyntaxError,
    expression_position,
    format_path,
    load_yaml,
)
from engine.errors import ConfigInvalid, Problem
from engine.files import FileRefused, config_file_limit, read_regular_file

__all__ = [
    "CelChecker",
    "Describe",
    "ValidationResult",
    "check_config",
    "decode_config",
    "document_issues",
    "read_config_file",
    "validate_file",
    "validate_text",
]


@dataclass
class ValidationResult:
    """What `validate_text` found; `config` is set only when there is no error (warnings may be)."""

    config: RosterConfig | None
    problems: list[Problem] = field(default_factory=list)
    source: str = "<config>"

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity != "error"]

    def raise_for_errors(self) -> RosterConfig:
        """The config, or ConfigInvalid listing every error (for callers that must stop)."""
        if self.config is None or not self.ok:
            count = len(self.errors)
            noun = "problem" if count == 1 else "problems"
            raise ConfigInvalid(
                f"{self.source}: the configuration has {count} {noun}; nothing was changed",
                self.errors,
            )
        return self.config

    def report(self) -> str:
        """Every problem on its own line: `source: path: line L, column C: message (hint)`."""
        return "\n".join(self.describe(problem) for problem in self.problems)

    def describe(self, problem: Problem) -> str:
        where = [self.source]
        if problem.path:
            where.append(problem.path)
        if problem.line is not None:
            where.append(
                f"line {problem.line}" + (f", column {problem.column}" if problem.column else "")
            )
        text = ": ".join(where) + ": "
        if problem.severity != "error":
            text += f"{problem.severity}: "
        text += problem.message
        if problem.hint:
            text += f" ({problem.hint})"
        return text


def validate_text(
    text: str,
    *,
    source: str = "<config>",
    base_dir: FsPath | None = None,
    population: Any = None,
    describe: Describe | None = None,
    cel: CelChecker | None = None,
) -> ValidationResult:
    """Validate a YAML configuration document; report every problem with path, line and column.

    `base_dir` is the folder relative connector paths resolve from (the config file's folder).
    `population` (an engine.records.Population) lets CEL checks warn about profile keys no record
    has. `describe` and `cel` replace the connector registry and the CEL engine (tests, tools).
    """
    try:
        located = load_yaml(text)
    except YamlSyntaxError as exc:
        return ValidationResult(config=None, problems=[exc.problem], source=source)
    problems: list[Problem] = list(located.problems)
    raw = located.data
    issues = document_issues(
        raw, base_dir=base_dir, population=population, describe=describe, cel=cel
    )
    problems.extend(_locate(issue, located, text) for issue in issues)
    problems = _sorted_unique(problems)
    config: RosterConfig | None = None
    if not any(p.severity == "error" for p in problems):
        config = RosterConfig.model_validate(raw)
    return ValidationResult(config=config, problems=problems, source=source)


def document_issues(
    raw: Any,
    *,
    base_dir: FsPath | None = None,
    population: Any = None,
    describe: Describe | None = None,
    cel: CelChecker | None = None,
) -> list[Issue]:
    """Layers 2 to 4 of `validate_text` on a loaded document (plain data): every problem at its
    document path. The object-path editor validates an edited document with this, so an edit is
    checked exactly as an import is."""
    issues: list[Issue] = []
    if raw is None:
        issues.append(Issue((), "the configuration is empty", "start the file with `version: 1`"))
    elif not isinstance(raw, dict):
        issues.append(
            Issue(
                (),
                f"the configuration must be a mapping of sections, got {describe_value(raw)}",
                "start the file with `version: 1` followed by `apps:`, `directories:`, ...",
            )
        )
    else:
        if "version" not in raw:
            issues.append(
                Issue(
                    (),
                    "`version` is missing",
                    "add `version: 1` as the first line so later formats can be told apart",
                )
            )
        issues.extend(schema_issues(RosterConfig, raw))
        issues.extend(_long_texts(raw, ()))
        total = _expanded_chars(raw, {})
        if total > MAX_EXPANDED_CHARS:
            issues.append(
                Issue(
                    (),
                    f"the configuration's texts add up to {total:,} characters once its YAML "
                    f"aliases are expanded; a configuration holds at most "
                    f"{MAX_EXPANDED_CHARS:,}",
                    "an alias (*name) repeats its anchor's text: write long texts once",
                )
            )
        sections = partial_sections(raw)
        checker = Checker(
            sections,
            base_dir=base_dir if base_dir is not None else FsPath("."),
            describe=describe,
            cel=cel,
            population=population,
        )
        issues.extend(
            issue
            for issue in checker.run()
            if not any(issue.path[: len(lost)] == lost for lost in sections.dropped)
        )
    return issues


#: The longest text any value of the configuration may be (a CEL expression, a description):
#: 2-million-character descriptions were taken whole into the store (hostile pass)
MAX_TEXT_CHARS = 65_536


#: What all of a configuration's texts may add up to, aliases expanded (a 74 KB file of
#: aliases to one 60,000-character text stored 120 MB: hostile pass)
MAX_EXPANDED_CHARS = 8 * 1024 * 1024


def _expanded_chars(value: Any, sizes: dict[int, int]) -> int:
    """The characters VALUE's texts add up to as the store would hold them, each list and
    map counted once and reused where an alias repeats it (an alias bomb stays cheap)."""
    if isinstance(value, str):
        return len(value)
    if not isinstance(value, dict | list):
        return 8  # a number, a boolean, null
    known = sizes.get(id(value))
    if known is not None:
        return known
    sizes[id(value)] = 0  # a recursive document counts its cycle once
    if isinstance(value, dict):
        total = sum(_expanded_chars(k, sizes) + _expanded_chars(v, sizes) for k, v in value.items())
    else:
        total = sum(_expanded_chars(item, sizes) for item in value)
    sizes[id(value)] = total
    return total


def _long_texts(value: Any, path: tuple[Any, ...], seen: set[int] | None = None) -> list[Issue]:
    """An error at each string (key or value) longer than MAX_TEXT_CHARS. Each list and map
    is walked once: YAML aliases share them, and an alias bomb walked whole never ends."""
    seen = set() if seen is None else seen
    found: list[Issue] = []
    if isinstance(value, dict | list):
        if id(value) in seen:
            return found
        seen.add(id(value))
    if isinstance(value, str):
        if len(value) > MAX_TEXT_CHARS:
            found.append(
                Issue(
                    path,
                    f"this text is {len(value):,} characters long; a value of the "
                    f"configuration is at most {MAX_TEXT_CHARS:,}",
                    "shorten it (a long CEL expression reads better as several attributes)",
                )
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and len(key) > MAX_TEXT_CHARS:
                found.append(
                    Issue(
                        path,
                        f"a key is {len(key):,} characters long; a value of the configuration "
                        f"is at most {MAX_TEXT_CHARS:,}",
                        "shorten it",
                    )
                )
                continue
            found.extend(_long_texts(item, (*path, key), seen))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(_long_texts(item, (*path, index), seen))
    return found


def decode_config(data: bytes, source: str = "<config>") -> str:
    """The text of a configuration file's bytes; ConfigInvalid, with the line and column of the
    first byte that is not UTF-8, when it is not UTF-8 text (a Latin-1 or UTF-16 file)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        problem = not_utf8_problem(data, exc)
        raise ConfigInvalid(f"{source}: {problem.message}", [problem]) from None


def not_utf8_problem(data: bytes, exc: UnicodeDecodeError) -> Problem:
    """Where the first byte that is not UTF-8 is (line, and column in characters)."""
    start = exc.start
    line_start = data.rfind(b"\n", 0, start) + 1
    line = data.count(b"\n", 0, start) + 1
    column = len(data[line_start:start].decode("utf-8", errors="replace")) + 1
    return Problem(
        message=f"the file is not UTF-8 text: the byte 0x{data[start]:02x} cannot be read",
        line=line,
        column=column,
        hint="save the file as UTF-8; if it is Latin-1 or Windows-1252, "
        "`iconv -f latin1 -t utf-8` converts it",
    )


def read_config_file(path: FsPath | str) -> str:
    """A configuration file's text; ConfigInvalid with a clear problem when it cannot be read
    or is not UTF-8."""
    file = FsPath(path)
    try:
        data = read_regular_file(file, config_file_limit(), "ROSTER_MAX_CONFIG_MB")
    except FileRefused as exc:
        problem = Problem(
            message=f"cannot read the configuration file: {exc.reason}", line=1, hint=exc.hint
        )
        raise ConfigInvalid(f"{file}: {problem.message}", [problem]) from None
    except OSError as exc:
        problem = Problem(
            message=f"cannot read the configuration file: {exc.strerror or exc}",
            line=1,
            hint="check the path and that the file is readable",
        )
        raise ConfigInvalid(f"{file}: {problem.message}", [problem]) from None
    return decode_config(data, str(file))


def validate_file(path: FsPath | str, *, population: Any = None) -> ValidationResult:
    """Read and validate a configuration file; relative connector paths resolve from its folder."""
    file = FsPath(path)
    try:
        text = read_config_file(file)
    except ConfigInvalid as exc:
        return ValidationResult(config=None, problems=exc.problems, source=str(file))
    return validate_text(
        text, source=str(file), base_dir=file.resolve().parent, population=population
    )


def check_config(
    config: RosterConfig,
    *,
    base_dir: FsPath | None = None,
    population: Any = None,
    describe: Describe | None = None,
    cel: CelChecker | None = None,
) -> list[Problem]:
    """The meaning and CEL checks of `validate_text` on a model built in code (no line numbers)."""
    sections = Sections(
        settings=config.settings,
        apps=list(enumerate(config.apps)),
        directories=list(enumerate(config.directories)),
        attributes=list(enumerate(config.attributes)),
        push_rules=list(enumerate(config.push_rules)),
        declared_apps={app.id for app in config.apps},
        declared_attributes={a.name.casefold() for a in config.attributes},
    )
    checker = Checker(
        sections,
        base_dir=base_dir if base_dir is not None else FsPath("."),
        describe=describe,
        cel=cel,
        population=population,
    )
    problems = [
        Problem(
            message=issue.message,
            path=format_path(issue.path),
            hint=issue.hint,
            severity=issue.severity,
        )
        for issue in checker.run()
    ]
    return _sorted_unique(problems)


def _locate(issue: Issue, located: Located, text: str) -> Problem:
    line: int | None
    column: int | None
    if issue.unlocated:
        line = column = None
    elif issue.cel_position is not None:
        key = located.key_nodes.get(issue.path)
        parent_indent = key.start_mark.column if key is not None else None
        line, column = expression_position(
            text, located.node(issue.path), *issue.cel_position, parent_indent=parent_indent
        )
        if line is None:
            line, column = located.position(issue.path)
    else:
        line, column = located.position(issue.path, key=issue.at_key)
    if line is None and not issue.unlocated and not issue.path:
        line, column = 1, 1  # about the whole document (empty, not a mapping): its start
    return Problem(
        message=issue.message,
        path=format_path(issue.path),
        line=line,
        column=column,
        hint=issue.hint,
        severity=issue.severity,
    )


def _sorted_unique(problems: Iterable[Problem]) -> list[Problem]:
    seen: set[tuple[Any, ...]] = set()
    unique: list[Problem] = []
    for problem in problems:
        key = (problem.path, problem.line, problem.column, problem.message, problem.severity)
        if key not in seen:
            seen.add(key)
            unique.append(problem)
    big = 10**9
    return sorted(unique, key=lambda p: (p.line or big, p.column or 0))
