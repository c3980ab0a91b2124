"""Match keys for merge rules and custom ownership rules: presets and CEL on either side.

Keys are trimmed and case-folded; empty keys never match. Indexes of user keys are built once per
rule per pass, so matching is linear in the number of accounts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from engine.cel import CelCompileError, CelEngine, CelEvalError, to_python
from engine.errors import InvalidInput
from engine.records import AccountRecord, UserRecord, norm_key

PRESETS = ("primary_email", "all_emails", "username", "display_name", "employee_id")
DEFAULT_MERGE_RULES: list[dict[str, Any]] = [
    {"name": "email", "account": {"preset": "primary_email"}, "user": {"preset": "all_emails"}},
    {
        "name": "employee id",
        "account": {"preset": "employee_id"},
        "user": {"preset": "employee_id"},
    },
]


def strip_plus_tag(email: str) -> str:
    local, at, domain = email.partition("@")
    if not at:
        return email
    return local.split("+", 1)[0] + "@" + domain


def _account_preset(preset: str, account: AccountRecord) -> list[str]:
    if preset == "primary_email":
        return [account.email]
    if preset == "all_emails":
        return [account.email, *account.emails]
    if preset == "username":
        return [account.username, *account.usernames]
    if preset == "display_name":
        return [account.display_name]
    if preset == "employee_id":
        return list(account.employee_ids)
    raise InvalidInput(f"unknown merge preset {preset!r}; use one of {', '.join(PRESETS)}")


def _user_preset(preset: str, user: UserRecord) -> list[str]:
    if preset == "primary_email":
        return [user.email]
    if preset == "all_emails":
        return [user.email, *user.emails]
    if preset == "username":
        return [user.username, *user.usernames]
    if preset == "display_name":
        return [user.display_name]
    if preset == "employee_id":
        return [user.employee_id, *user.employee_ids]
    raise InvalidInput(f"unknown merge preset {preset!r}; use one of {', '.join(PRESETS)}")


def _normalise(values: Iterable[Any], strip_tags: bool) -> set[str]:
    keys: set[str] = set()
    for value in values:
        if value is None:
            continue
        key = norm_key(value)
        if strip_tags:
            key = strip_plus_tag(key)
        if key:
            keys.add(key)
    return keys


def _cel_keys(value: Any) -> list[str]:
    value = to_python(value)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise CelEvalError(f"a key expression must return a string or a list of strings, got {value!r}")


@dataclass
class KeyRule:
    """One compiled rule: how to get keys from an account and from a user."""

    name: str
    account_keys: Callable[[AccountRecord], set[str]]
    user_keys: Callable[[UserRecord], set[str]]

    def index(self, users: Iterable[UserRecord]) -> dict[str, set[int]]:
        index: dict[str, set[int]] = defaultdict(set)
        for user in users:
            try:
                keys = self.user_keys(user)
            except CelEvalError:
                continue  # reported when an account is matched against it
            for key in keys:
                index[key].add(user.id)
        return index


def compile_rule(rule: dict[str, Any], cel: CelEngine, position: int) -> KeyRule:
    """Turn a merge/ownership rule from the configuration into key functions."""
    account_side = rule.get("account") or {}
    user_side = rule.get("user") or {}
    strip = bool(account_side.get("strip_plus_tag") or user_side.get("strip_plus_tag"))
    name = rule.get("name") or f"rule {position + 1}"

    if account_side.get("cel"):
        program = _compile(cel, "account_key", account_side["cel"], name)

        def account_keys(account: AccountRecord) -> set[str]:
            value = cel.evaluate(program, cel.activation_for("account_key", account))
            return _normalise(_cel_keys(value), strip)
    else:
        account_preset = account_side.get("preset", "primary_email")

        def account_keys(account: AccountRecord) -> set[str]:
            return _normalise(_account_preset(account_preset, account), strip)

    if user_side.get("cel"):
        user_program = _compile(cel, "user_key", user_side["cel"], name)

        def user_keys(user: UserRecord) -> set[str]:
            value = cel.evaluate(user_program, cel.activation_for("user_key", user))
            return _normalise(_cel_keys(value), strip)
    else:
        user_preset = user_side.get("preset", "all_emails")

        def user_keys(user: UserRecord) -> set[str]:
            return _normalise(_user_preset(user_preset, user), strip)

    return KeyRule(name, account_keys, user_keys)


def _compile(cel: CelEngine, context: str, text: str, rule: str) -> Any:
    try:
        return cel.compile(context, text)
    except CelCompileError as exc:
        raise InvalidInput(f"rule {rule!r}: {exc.problem}") from exc
