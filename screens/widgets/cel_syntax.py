"""CEL text helpers for the editor: a small tokenizer for colours and the completion lookup.

Pure functions over strings, no Textual: the editor widget draws what these return, and the
tests check them directly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

# Token kinds the editor colours.
STRING = "string"
NUMBER = "number"
KEYWORD = "keyword"
CONSTANT = "constant"
OPERATOR = "operator"
FUNCTION = "function"
VARIABLE = "variable"
FIELD = "field"
IDENTIFIER = "identifier"
COMMENT = "comment"
PUNCTUATION = "punctuation"

CONSTANTS = frozenset({"true", "false", "null"})
KEYWORDS = frozenset(
    {
        "in",
        # Reserved by the CEL spec; not usable as identifiers.
        "as",
        "break",
        "const",
        "continue",
        "else",
        "for",
        "function",
        "if",
        "import",
        "let",
        "loop",
        "package",
        "namespace",
        "return",
        "var",
        "void",
        "while",
    }
)

_TOKEN_RE = re.compile(
    r"""
    (?P<comment>//.*)
  | (?P<string>[rRbB]{0,2}(?:
        \"\"\"(?:[^\\]|\\.)*?(?:\"\"\"|$)
      | '''(?:[^\\]|\\.)*?(?:'''|$)
      | "(?:[^"\\]|\\.)*(?:"|$)
      | '(?:[^'\\]|\\.)*(?:'|$)
    ))
  | (?P<number>(?:0[xX][0-9a-fA-F]+[uU]?
      | \d+\.\d*(?:[eE][+-]?\d+)?
      | \.\d+(?:[eE][+-]?\d+)?
      | \d+(?:[eE][+-]?\d+)?[uU]?))
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<operator>==|!=|<=|>=|&&|\|\||[-+*/%<>!?:])
  | (?P<punctuation>[()\[\]{}.,])
  | (?P<space>\s+)
  | (?P<other>.)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    start: int  # character offsets within the line
    end: int
    text: str


@lru_cache(maxsize=512)
def tokenize_line(line: str, variables: frozenset[str] = frozenset()) -> tuple[Token, ...]:
    """Split one line of CEL into coloured tokens (whitespace and unknown characters skipped)."""
    tokens: list[Token] = []
    previous = ""  # text of the previous significant token
    for match in _TOKEN_RE.finditer(line):
        group = match.lastgroup or "other"
        text = match.group()
        start, end = match.span()
        if group == "space":
            continue
        if group == "ident":
            following = line[end:].lstrip()[:1]
            if text in CONSTANTS:
                kind = CONSTANT
            elif text in KEYWORDS:
                kind = KEYWORD
            elif following == "(":
                kind = FUNCTION
            elif previous == ".":
                kind = FIELD
            elif text in variables:
                kind = VARIABLE
            else:
                kind = IDENTIFIER
        elif group == "other":
            kind = PUNCTUATION
        else:
            kind = group
        tokens.append(Token(kind, start, end, text))
        previous = text
    return tuple(tokens)


class CompletionSource(Protocol):
    """What the editor needs from `engine.services.Completions`."""

    variables: list[str]
    fields: dict[str, list[str]]
    functions: list[str]
    profile_keys: dict[str, list[str]]
    field_aliases: dict[str, list[str]]


@dataclass(frozen=True, slots=True)
class Candidate:
    text: str  # what is inserted
    label: str  # what the list shows
    kind: str  # "variable" | "field" | "function" | "key"


@dataclass(frozen=True, slots=True)
class CompletionRequest:
    start: int  # column where the replaced text starts
    end: int  # column of the cursor
    typed: str  # the text being replaced
    candidates: tuple[Candidate, ...]


_MAP_FIELDS = ("profile", "attributes")
_CHAIN_RE = re.compile(r"((?:[A-Za-z_]\w*\s*\.\s*)*)([A-Za-z_]\w*)?$")
_CONSTANT_NAME_RE = re.compile(r"^[A-Z][A-Z0-9_]*$")


def _in_string_or_comment(prefix: str) -> bool:
    tokens = tokenize_line(prefix)
    if not tokens:
        return False
    last = tokens[-1]
    if last.kind == COMMENT:
        return True
    if last.kind == STRING and last.end == len(prefix):
        body = last.text.lstrip("rRbB")
        quote = body[:3] if body[:3] in ('"""', "'''") else body[:1]
        closed = len(body) >= 2 * len(quote) and body.endswith(quote)
        return not closed
    return False


def _function_candidate(name: str, short: str | None = None) -> Candidate:
    shown = short if short is not None else name
    last = shown.rsplit(".", 1)[-1]
    if _CONSTANT_NAME_RE.match(last):
        return Candidate(shown, shown, "constant")
    return Candidate(shown + "(", shown + "()", "function")


_MACRO_RE = re.compile(
    r"([A-Za-z_]\w*)\s*\.\s*(?:all|exists_one|exists|map|filter)\s*\(\s*([A-Za-z_]\w*)\s*,"
)
# Lists whose elements are objects of a known kind.
_LIST_KINDS = {"accounts": "account"}


def macro_variables(text: str) -> dict[str, str]:
    """Names bound by macros such as `accounts.exists(a, a.appId == "ad")`: {"a": "account"}."""
    return {
        name: _LIST_KINDS[target]
        for target, name in _MACRO_RE.findall(text)
        if target in _LIST_KINDS
    }


def complete(
    line_prefix: str,
    source: CompletionSource,
    subject_kind: str = "user",
    limit: int = 50,
    text_before: str | None = None,
) -> CompletionRequest | None:
    """What can be inserted at the end of `line_prefix`, or None when nothing fits.

    `subject_kind` is the object kind `subject` stands for in the current context;
    `text_before` (the whole text up to the cursor) lets macro variables complete too.
    """
    if _in_string_or_comment(line_prefix):
        return None
    match = _CHAIN_RE.search(line_prefix)
    if match is None:
        return None
    chain_text, partial = match.group(1), match.group(2) or ""
    chain = [part.strip() for part in chain_text.split(".")][:-1] if chain_text else []
    start = match.start(2) if match.group(2) is not None else len(line_prefix)
    before_chain = line_prefix[: match.start()].rstrip()
    if not chain and not partial:
        # Right after `)` or `]` or a string followed by a dot: offer methods.
        if before_chain.endswith("."):
            chain = ["<value>"]
        else:
            return None
    elif not chain and before_chain.endswith("."):
        chain = ["<value>"]

    variables = list(source.variables)
    kinds = {"subject": subject_kind, "user": "user", "account": "account"}
    bound = macro_variables(text_before if text_before is not None else line_prefix)
    kinds.update(bound)
    variables += [name for name in bound if name not in variables]
    candidates: list[Candidate] = []
    functions = [f for f in source.functions if not f.startswith("_")]
    methods = [f for f in functions if "." not in f]
    if not chain:
        candidates += [Candidate(v, v, "variable") for v in variables]
        candidates += [_function_candidate(f) for f in functions]
    elif chain[0] in variables and chain[0] in kinds and len(chain) == 1:
        kind = kinds[chain[0]]
        candidates += [Candidate(f, f, "field") for f in source.fields.get(kind, [])]
        folded = partial.casefold()
        if partial and not any(c.text.casefold().startswith(folded) for c in candidates):
            # first_name, userName…: the field's other names, for what its own does not start
            candidates += [Candidate(f, f, "field") for f in source.field_aliases.get(kind, [])]
    elif (
        chain[0] in variables and chain[0] in kinds and len(chain) == 2 and chain[1] in _MAP_FIELDS
    ):
        kind = kinds[chain[0]]
        keys = source.profile_keys.get(kind, [])
        candidates += [Candidate(k, k, "key") for k in keys if re.fullmatch(r"[A-Za-z_]\w*", k)]
    elif chain[0] in variables or chain == ["<value>"]:
        candidates += [_function_candidate(f) for f in methods]
    else:
        # A dotted name such as `c1.user.v1.` or `UserStatus.`: complete the qualified names.
        dotted = ".".join(chain) + "."
        for name in functions:
            if name.startswith(dotted):
                candidates.append(_function_candidate(name[len(dotted) :]))
    if partial:
        folded = partial.casefold()
        candidates = [c for c in candidates if c.text.casefold().startswith(folded)]
        if len(candidates) == 1 and candidates[0].text == partial:
            return None
    seen: set[str] = set()
    unique: list[Candidate] = []
    for candidate in sorted(candidates, key=lambda c: (c.kind != "variable", c.text.casefold())):
        if candidate.text not in seen:
            seen.add(candidate.text)
            unique.append(candidate)
    if not unique:
        return None
    return CompletionRequest(start, len(line_prefix), partial, tuple(unique[:limit]))
