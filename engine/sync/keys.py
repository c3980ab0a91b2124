"""Match keys for merge rules and custom ownership rules: presets and CEL on either side.

Keys are trimmed and case-folded; empty keys never match. Indexes of user keys are built once per
rule per pass, so matching is linear in the number of accounts.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from engine.cel import CelCompileError, CelEngine, CelEvalError, to_python
from engine.cel.objects import ACCOUNT_ID_NAMES
from engine.config.model import PRESETS, KeySpec, MatchRule
from engine.errors import InvalidInput
from engine.records import ACCOUNT_DATA_FIELDS, AccountRecord, UserRecord, norm_key
from engine.sync.key_memo import KeyMemo
from engine.text import one_line, printable


def strip_plus_tag(email: str) -> str:
    local, at, domain = email.partition("@")
    if not at:
        return email
    return local.split("+", 1)[0] + "@" + domain


# What each preset (engine.config.model.PRESETS) reads on either side.
ACCOUNT_PRESETS: dict[str, Callable[[AccountRecord], list[str]]] = {
    "primary_email": lambda account: [account.email],
    "all_emails": lambda account: [account.email, *account.emails],
    "username": lambda account: [account.username, *account.usernames],
    "display_name": lambda account: [account.display_name],
    "employee_id": lambda account: list(account.employee_ids),
}
#: The account fields each preset reads (above)
ACCOUNT_PRESET_FIELDS: dict[str, frozenset[str]] = {
    "primary_email": frozenset(("email",)),
    "all_emails": frozenset(("email", "emails")),
    "username": frozenset(("username", "usernames")),
    "display_name": frozenset(("display_name",)),
    "employee_id": frozenset(("employee_ids",)),
}
#: What an account side in CEL may read of its account: any of its data, and its grants
EVERY_FIELD = frozenset((*ACCOUNT_DATA_FIELDS, "entitlements"))
USER_PRESETS: dict[str, Callable[[UserRecord], list[str]]] = {
    "primary_email": lambda user: [user.email],
    "all_emails": lambda user: [user.email, *user.emails],
    "username": lambda user: [user.username, *user.usernames],
    "display_name": lambda user: [user.display_name],
    "employee_id": lambda user: [user.employee_id, *user.employee_ids],
}


def _preset(table: dict[str, Any], spec: KeySpec, side: str, rule: str) -> Any:
    if spec.preset is None:
        raise InvalidInput(
            f"rule {rule!r}: the {side} side needs `preset` or `cel`; "
            f"the presets are {', '.join(PRESETS)}"
        )
    return table[spec.preset]


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
    # the value may be a whole record (megabytes of someone's data): name its type, show a little
    shown = printable(repr(value), 80)
    raise CelEvalError(
        f"a key expression must return a string or a list of strings, got a "
        f"{type(value).__name__}: {shown}"
    )


@dataclass
class KeyRule:
    """One compiled rule: how to get keys from an account and from a user.

    What the keys follow from, for a stage that reuses the last run's matches: `own_record`,
    neither side reads beyond its record (a preset, or CEL reading neither the directory nor
    the clock); `user_preset`, the user side is a preset (it reads the person's core fields);
    `user_scope` and `account_scope`, where a memo keeps a CEL side's keys
    (engine.sync.key_memo)."""

    name: str
    account_keys: Callable[[AccountRecord], set[str]]
    user_keys: Callable[[UserRecord], set[str]]
    own_record: bool = True
    user_preset: bool = True
    user_scope: str | None = None
    account_scope: str | None = None
    # what the account side reads of its account (the fields of a preset, those CEL selects,
    # with "profile:<key>" for a profile key; see state.moved_fields); None: it may
    # read beyond its account
    account_fields: frozenset[str] | None = None

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


#: Of several people a rule found, how many an ambiguity names (the rest are counted), and
#: the most characters of each name (a display name is data: it may be megabytes)
NAMED = 3
LABEL_LIMIT = 80


class RuleStep(NamedTuple):
    """What one rule found for one account: how many people (`error` when it failed), and of
    several, the NAMED lowest ids (to say who: the admin links the account to one of them)."""

    rule: str
    found: int
    error: str = ""
    among: tuple[int, ...] = ()

    def describe(self, label: Callable[[int], str | None] | None = None) -> str:
        """What the rule found; with `label` (a person's id -> how to name them), several
        people are named: "'email' found 2 people (ann@example.com, ann.lee@example.com)"."""
        if self.error:
            return f"{self.rule!r} failed: {self.error}"
        if self.found == 0:
            return f"{self.rule!r} found nobody"
        if self.found == 1:
            return f"{self.rule!r} found one person"
        text = f"{self.rule!r} found {self.found} people"
        if label is None or not self.among:
            return text
        names = [one_line(label(user) or f"user {user}", LABEL_LIMIT) for user in self.among]
        more = self.found - len(names)
        return f"{text} ({', '.join(names)}{f' and {more} more' if more > 0 else ''})"


class Walk(NamedTuple):
    """Ordered rules tried on one account: the one person found (by the last step's rule) or
    None, and every rule tried until then."""

    user_id: int | None
    steps: list[RuleStep]

    @property
    def ambiguous(self) -> list[str]:
        return [step.describe() for step in self.steps if step.found > 1]

    def ambiguity(self, label: Callable[[int], str | None]) -> list[str]:
        """`ambiguous`, naming whom each rule found (`RuleStep.describe`)."""
        return [step.describe(label) for step in self.steps if step.found > 1]


def stored_order(user_id: int) -> tuple[bool, int]:
    """A person's place in the order of the ids the store gives: the stored first, then the
    run's new people (-1, -2, …) in the order they are created, which is the order the writer
    numbers them in. So the people an ambiguity names, and their order, are the same in the
    run that creates them and in every run after it (hostile review: a standing conflict was
    journalled again because -2 came before -1, then 12 after 11)."""
    return (user_id < 0, -user_id if user_id < 0 else user_id)


def walk_rules(
    account: AccountRecord, rules: list[KeyRule], indexes: list[dict[str, set[int]]]
) -> Walk:
    """Try the rules in order: the first rule finding exactly one person decides; a rule
    finding several, nobody, or failing hands over to the next. The one matching walk merge
    rules (identify), ownership rules and the match matrix share."""
    steps: list[RuleStep] = []
    for rule, index in zip(rules, indexes, strict=True):
        try:
            keys = rule.account_keys(account)
        except CelEvalError as exc:
            steps.append(RuleStep(rule.name, 0, str(exc)))
            continue
        found: set[int] = set()
        for key in keys:
            found |= index.get(key, set())
        if len(found) == 1:
            steps.append(RuleStep(rule.name, 1))
            return Walk(next(iter(found)), steps)
        # in the order of the ids they have or will have (linear, like the union above: a
        # rule that finds everyone costs no more than it did)
        among = tuple(heapq.nsmallest(NAMED, found, key=stored_order))
        steps.append(RuleStep(rule.name, len(found), "", among))
    return Walk(None, steps)


def compile_rule(
    rule: MatchRule, cel: CelEngine, position: int, memo: KeyMemo | None = None
) -> KeyRule:
    """Turn a merge/ownership rule from the configuration into key functions. With `memo`, a
    CEL side that reads nothing beyond its record (and a person's own accounts) is answered
    from it while the record is unchanged."""
    account_side, user_side = rule.account, rule.user
    strip = account_side.strip_plus_tag or user_side.strip_plus_tag
    name = rule.name or f"rule {position + 1}"

    if account_side.cel:
        program = _compile(cel, "account_key", account_side.cel, name)

        def account_keys(account: AccountRecord) -> set[str]:
            value = cel.evaluate(program, cel.activation_for("account_key", account))
            return _normalise(_cel_keys(value), strip)
    else:
        account_preset = _preset(ACCOUNT_PRESETS, account_side, "account", name)

        def account_keys(account: AccountRecord) -> set[str]:
            return _normalise(account_preset(account), strip)

    if user_side.cel:
        user_program = _compile(cel, "user_key", user_side.cel, name)

        def user_keys(user: UserRecord) -> set[str]:
            value = cel.evaluate(user_program, cel.activation_for("user_key", user))
            return _normalise(_cel_keys(value), strip)
    else:
        user_preset = _preset(USER_PRESETS, user_side, "user", name)

        def user_keys(user: UserRecord) -> set[str]:
            return _normalise(user_preset(user), strip)

    compiled = KeyRule(
        name,
        account_keys,
        user_keys,
        own_record=(not account_side.cel or _memoisable(program))
        and (not user_side.cel or _memoisable(user_program)),
        user_preset=not user_side.cel,
        account_fields=_fields_read(program)
        if account_side.cel
        else ACCOUNT_PRESET_FIELDS.get(account_side.preset or ""),
    )
    if memo is not None:
        options = f"strip={strip}"
        if account_side.cel and _memoisable(program):
            compiled.account_scope = memo.scope("account", account_side.cel, options)
            compiled.account_keys = memo.wrap(
                "account",
                account_side.cel,
                options,
                account_keys,
                # a new account's id changes when it is written: keys that may read it are
                # evaluated again then, not taken from the stage
                as_staged=not (program.names & ACCOUNT_ID_NAMES or "*" in program.names),
            )
        if user_side.cel and _memoisable(user_program):
            compiled.user_scope = memo.scope("user", user_side.cel, options)
            compiled.user_keys = memo.wrap("user", user_side.cel, options, user_keys)
    return compiled


def _fields_read(program: Any) -> frozenset[str] | None:
    """What an account side in CEL reads of its account (None: maybe more than its account):
    the fields it selects, and of the profile only the keys it selects by name when it
    never reads the profile whole, so a changed title does not send an account keyed by
    `account.profile.login` through the rules again."""
    if not _memoisable(program):
        return None
    return EVERY_FIELD if program.account_reads is None else program.account_reads


def _memoisable(program: Any) -> bool:
    """Whether the program's keys follow from its record alone (a person's own accounts
    included: they are part of the person's digest)."""
    return not program.reads_directory and not program.reads_clock


def _compile(cel: CelEngine, context: str, text: str, rule: str) -> Any:
    try:
        return cel.compile(context, text)
    except CelCompileError as exc:
        raise InvalidInput(f"rule {rule!r}: {exc.problem}") from exc
