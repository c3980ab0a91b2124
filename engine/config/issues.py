"""A problem found while validating, before it is located in the file, and hints."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

from engine.config.yaml_positions import Path


@dataclass
class Issue:
    """A problem at a document path; `validate` turns it into a located Problem."""

    path: Path
    message: str
    hint: str = ""
    severity: str = "error"
    at_key: bool = False  # point at the key (unknown keys) rather than the value
    cel_position: tuple[int | None, int | None] | None = None  # inside the expression
    unlocated: bool = False  # about the whole run, not a place in the file


def suggest(value: str, options: Iterable[str]) -> str:
    options = [o for o in options if o]
    if not value or not options:
        return ""
    folded = {o.casefold(): o for o in options}
    if value.casefold() in folded and folded[value.casefold()] != value:
        return f"did you mean `{folded[value.casefold()]}`?"
    close = difflib.get_close_matches(value.casefold(), list(folded), n=1, cutoff=0.6)
    return f"did you mean `{folded[close[0]]}`?" if close else ""
