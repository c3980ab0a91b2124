"""The limits every connector holds an account's values to (the file connector checks them as
it parses, with the line; directory and server connectors check each listed account): no
value longer than MAX_VALUE_CHARS, none holding a control character other than tab and line
breaks. A directory's 5 MB description or a name holding an escape sequence came into the
store as it was (a newcomer's review), while the same in a file was refused."""

from __future__ import annotations

from typing import Any

from engine.connectors.base import ListedAccount
from engine.text import CONTROL_CHARACTER

#: The longest text a record's value may hold (a display name of a megabyte is a broken
#: export or a hostile entry, not a name)
MAX_VALUE_CHARS = 65_536

_FIELDS = (
    "external_id", "display_name", "given_name", "family_name", "email", "username", "manager",
    "emails", "usernames", "employee_ids",
)  # fmt: skip


def value_problem(account: ListedAccount) -> str:
    """What is wrong with the first of ACCOUNT's values a file app would refuse ("its
    profile.description is 70,000 characters long, over 65,536"), or ""."""
    values: list[tuple[str, Any]] = [(name, getattr(account, name)) for name in _FIELDS]
    values += [(f"profile.{key}", value) for key, value in account.profile.items()]
    values.reverse()  # a stack, walked in order: a group's 10,000 members cost 10,000 steps
    while values:
        name, value = values.pop()
        if isinstance(value, list):
            values += [(name, item) for item in reversed(value)]
            continue
        if isinstance(value, dict):
            values += [(f"{name}.{key}", item) for key, item in reversed(value.items())]
            continue
        if not isinstance(value, str):
            continue
        if len(value) > MAX_VALUE_CHARS:
            return f"its {name} is {len(value):,} characters long, over {MAX_VALUE_CHARS:,}"
        if CONTROL_CHARACTER.search(value):
            return f"its {name} holds a control character (an escape sequence, a NUL, a bell)"
    return ""
