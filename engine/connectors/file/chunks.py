"""The text of each account of a block-style YAML app file, and its digest: an import recognises
an unchanged account by the digest of its text before anything is parsed or built.

Only the plain shape app files are written in is split (a top-level `accounts:` key whose items
start with `- ` at one indentation, every other line of an item indented further); anything
else (flow style, several documents, anchors and aliases, odd line breaks) gives None and the
file is read whole. An item's text decides what it lists: its digest is the account's
fingerprint for as long as the text stays the same.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

#: Prefix of a digest of an account's text (never equal to engine.connectors.fingerprint's).
PREFIX = "yaml1:"
# Line breaks other than \n, and YAML's anchors and aliases (an alias in one item could read an
# anchor in another, so an item's text would no longer decide what it lists).
_ANCHOR = re.compile(r"(?:^|[\s\[{,])[&*][^\s,\[\]{}]")


@dataclass
class Split:
    before: str  # everything up to the first account's text
    items: list[str]  # each account's text, in order, each ending with a line break
    after: str  # everything after the last account's text

    def digests(self) -> list[str]:
        return [item_digest(text) for text in self.items]

    def without(self, kept: list[bool]) -> str:
        """The file's text with only the items whose `kept` is true."""
        return (
            self.before
            + "".join(t for t, k in zip(self.items, kept, strict=True) if k)
            + (self.after)
        )


def item_digest(text: str | bytes) -> str:
    """A record's digest, of its text or of that text's UTF-8 bytes (the same digest)."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    return PREFIX + hashlib.blake2b(data, digest_size=20).hexdigest()


def line_digests(lines: Iterable[bytes]) -> list[str]:
    """`item_digest` of each of LINES, in one pass: a call per line was a third of digesting
    an 80 MB export's 100,000 lines (issue 11)."""
    blake2b = hashlib.blake2b
    return [PREFIX + blake2b(line, digest_size=20).hexdigest() for line in lines]


_TOP_LEVEL = re.compile(r"\n[^\s#-]")  # the line of the next top-level key
_ODD_CHARACTERS = ("\r", "\x0b", "\x0c", "\x85", "\u2028", "\u2029", "\ufeff")


def split_accounts(text: str) -> Split | None:
    """The file's accounts, one text each, or None when the file is not in the plain shape."""
    if any(mark in text for mark in _ODD_CHARACTERS):
        return None
    if text.startswith(("---", "%")) or "\n---" in text or "\n..." in text:
        return None
    if _has_anchor(text):
        return None
    key = "accounts:\n"
    at = 0 if text.startswith(key) else text.find("\n" + key) + 1
    if at == 0 and not text.startswith(key):
        return _split_lines(text)  # trailing spaces, or no such key: the careful reading
    if text.find("\n" + key, at) != -1:
        return None
    start = at + len(key)
    if text.startswith(("- ", "-\n"), start):
        return _split_flush(text, start)
    return _split_lines(text)


def _has_anchor(text: str) -> bool:
    """Whether the text may hold an anchor or an alias (an & or * starting a value)."""
    if "&" not in text and "*" not in text:
        return False
    return _ANCHOR.search(text) is not None


def _split_flush(text: str, start: int) -> Split | None:
    """Items written flush with `accounts:` (the usual shape), found with a few scans."""
    following = _TOP_LEVEL.search(text, start - 1)
    end = following.start() + 1 if following else len(text)
    if end == len(text) and not text.endswith("\n"):
        return None  # the last item has no line break: leave the file to the careful reading
    dashes = text.count("\n-", start - 1, end)
    if dashes != text.count("\n- ", start - 1, end) + text.count("\n-\n", start - 1, end):
        return None  # a line starting with "-" that is no item
    bounds = [start]
    at = text.find("\n-", start, end)
    while at != -1:
        bounds.append(at + 1)
        at = text.find("\n-", at + 1, end)
    # blank and comment lines before the next key belong to what follows
    while end > bounds[-1]:
        line_start = text.rfind("\n", bounds[-1], end - 1) + 1
        if line_start <= bounds[-1] or not _blank(text[line_start:end].rstrip("\n")):
            break
        end = line_start
    items = [text[a:b] for a, b in zip(bounds, [*bounds[1:], end], strict=True)]
    return Split(text[:start], items, text[end:])


def _split_lines(text: str) -> Split | None:
    lines = text.split("\n")
    starts = [n for n, line in enumerate(lines) if line.rstrip(" ") == "accounts:"]
    if len(starts) != 1:
        return None
    first = starts[0] + 1
    while first < len(lines) and _blank(lines[first]):
        first += 1
    if first == len(lines):
        return None
    indent = _indent(lines[first])
    if not _item_start(lines[first], indent):
        return None
    bounds: list[int] = []
    end = len(lines)
    for n in range(first, len(lines)):
        line = lines[n]
        if _blank(line):
            continue
        depth = _indent(line)
        if depth == indent and _item_start(line, indent):
            bounds.append(n)
        elif depth > indent:
            continue
        elif depth == 0 and not line.startswith("-"):
            end = n  # the next top-level key
            break
        else:
            return None
    # blank and comment lines before the next key belong to what follows
    while end > bounds[-1] + 1 and _blank(lines[end - 1]):
        end -= 1
    items = [
        "".join(f"{line}\n" for line in lines[start:stop])
        for start, stop in zip(bounds, [*bounds[1:], end], strict=True)
    ]
    before = "".join(f"{line}\n" for line in lines[:first])
    after = "\n".join(lines[end:])
    return Split(before, items, after)


def _blank(line: str) -> bool:
    content = line.strip(" ")
    return not content or content.startswith("#")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _item_start(line: str, indent: int) -> bool:
    content = line[indent:]
    return content == "-" or content.startswith("- ")
