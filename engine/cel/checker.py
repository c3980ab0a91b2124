"""Checks an expression before it runs: bounds, then names against the context's schema.

cel-python has no type checker (CEL_NOTES trap 7), so this walk finds unknown variables,
fields and functions with their line and column, and a hint for the fix. It also collects
the profile keys and app ids an expression reads, so `CelEngine.check` can warn about keys no
record has, and whether it reads beyond its own variables: the directory (`c1.*` functions,
which look at other people) or the clock (`now()`), so a caller can tell whether a result may
change with no change to the record.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

import lark

from engine.records import ANY_PROFILE_KEY, STANDARD_ATTRIBUTES

from .contexts import ALL_VARIABLES, ContextSpec
from .directory import DIRECTORY_FUNCTIONS, OWN_ACCOUNT_DATA_FUNCTIONS, OWN_ACCOUNT_FUNCTIONS
from .functions import (
    CALLABLE_NAMES,
    CLOCK_FUNCTIONS,
    CONSTANTS,
    GLOBAL_CONSTANTS,
    MACROS,
    NAMESPACES,
    QUALIFIED_NAMES,
    RESULT_KINDS,
    TYPE_VALUES,
)
from .objects import ACCOUNT_FIELD_SOURCES, FIELD_KINDS, canonical_field, field_names, field_table

MAX_LENGTH = 4_000
MAX_NESTING = 32  # parentheses, brackets and braces inside each other
MAX_TREE_DEPTH = 400  # parse-tree levels: long chains of operators count too
MAX_COMPREHENSION_NESTING = 2


class SchemaError(Exception):
    def __init__(self, message: str, line: int | None, column: int | None, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.line = line or 1  # a few tokens (true, false) carry no position
        self.column = column or 1
        self.hint = hint


@dataclass(frozen=True)
class KeyUse:
    """A profile key, attribute name or app id an expression reads, and where."""

    kind: str  # "user" | "account"
    map: str  # "profile" | "attributes" | "accounts"
    key: str
    line: int | None
    column: int | None


def closest(word: str, options: Iterable[str]) -> str | None:
    options = list(options)
    found = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if not found:
        lowered = {option.lower(): option for option in options}
        found = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
        return lowered[found[0]] if found else None
    return found[0]


def did_you_mean(word: str, options: Iterable[str]) -> str:
    found = closest(word, options)
    return f"did you mean `{found}`?" if found else ""


# ---- bounds that are checked on the text, before parsing --------------------------------


def check_text_bounds(text: str) -> None:
    if len(text) > MAX_LENGTH:
        raise SchemaError(
            f"the expression is too long ({len(text):,} characters; the limit is {MAX_LENGTH:,})",
            1,
            1,
            "split it into several rules or attributes",
        )
    depth = 0
    line, column = 1, 0
    quote = ""
    escaped = False
    for char in text:
        column += 1
        if char == "\n":
            line, column = line + 1, 0
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = ""
            continue
        if char in "\"'":
            quote = char
        elif char in "([{":
            depth += 1
            if depth > MAX_NESTING:
                raise SchemaError(
                    f"the expression is nested too deeply (more than {MAX_NESTING} levels of "
                    "brackets)",
                    line,
                    column,
                    "simplify it or split it into several expressions",
                )
        elif char in ")]}":
            depth = max(0, depth - 1)


def check_tree_depth(tree: lark.Tree[lark.Token]) -> None:
    stack: list[tuple[Any, int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_TREE_DEPTH:
            line, column = position(node)
            raise SchemaError(
                "the expression is too complex (too many operators chained or nested)",
                line,
                column,
                'for long `||` chains use `x in ["a", "b", …]`; otherwise split the expression',
            )
        for child in node.children:
            if isinstance(child, lark.Tree):
                stack.append((child, depth + 1))


#: `X.id` (and its aliases) of a variable, and a string literal (its text in group 2)
_ID_FIELD = re.compile(
    r"([A-Za-z_][A-Za-z0-9_]*)\s*\.\s*(?:id|account_id|accountId|user_id|userId)"
)
_STRING_LITERAL = re.compile(r"""[rR]?("|')((?:(?!\1)[^\\]|\\.)*)\1""")


def position(node: Any) -> tuple[int | None, int | None]:
    if isinstance(node, lark.Token):
        return node.line, node.column
    meta = getattr(node, "meta", None)
    if meta is not None and getattr(meta, "line", None) is not None:
        return meta.line, meta.column
    for child in getattr(node, "children", ()):
        found = position(child)
        if found[0] is not None:
            return found
    return None, None


# ---- integer literals --------------------------------------------------------------------

INT_MIN = -(2**63)
INT_MAX = 2**63 - 1
UINT_MAX = 2**64 - 1
INTEGER_RANGE = f"int is 64-bit ({INT_MIN} to {INT_MAX}), uint 0 to {UINT_MAX}"


def integer_literal(token: lark.Token) -> tuple[int, bool]:
    """The value of an INT_LIT or UINT_LIT token, and whether it is a uint; a SchemaError at
    the literal when the value is out of the CEL range (int64, uint64).

    Decimal digits may start with 0 (`007` is 7, as in cel-go); the sign is part of the token,
    so `-9223372036854775808` is the smallest int and not the negation of an overflow.
    """
    text = str(token.value)
    unsigned = text[-1:] in ("u", "U")
    body = text[:-1] if unsigned else text
    negative = body.startswith("-")
    digits = body[1:] if negative else body
    value = int(digits[2:], 16) if digits[:2] in ("0x", "0X") else int(digits, 10)
    if negative:
        value = -value
    low, high = (0, UINT_MAX) if unsigned else (INT_MIN, INT_MAX)
    if not low <= value <= high:
        raise SchemaError(
            f"integer literal out of range: {INTEGER_RANGE}",
            token.line,
            token.column,
            _out_of_range_hint(value, unsigned),
        )
    return value, unsigned


def _out_of_range_hint(value: int, unsigned: bool) -> str:
    if unsigned and value < 0:
        return "a uint cannot be negative; drop the `u` for an int"
    if not unsigned and value == INT_MAX + 1:
        return (
            f"for a uint add `u`: `{value}u`; the smallest int is written `{INT_MIN}`, "
            "with no space or bracket after the `-`"
        )
    if not unsigned and 0 < value <= UINT_MAX:
        return f"for a uint add `u`: `{value}u`"
    return f"a double holds larger numbers, with less precision: `{float(value):.6e}`"


# ---- the schema walk ----------------------------------------------------------------------

_PASS = frozenset(
    ("expr", "conditionalor", "conditionaland", "relation", "addition", "multiplication",
     "unary", "member", "primary", "paren_expr")
)  # fmt: skip


# What each comprehension takes, and an example (the error when it is written otherwise).
_ONE = "a variable name and an expression"
_TWO = "two variable names (index or key, and value), an optional filter and a value"
_COMPREHENSION_FORMS: dict[str, tuple[str, str]] = {
    "map": (_ONE, "for example `list.map(x, x.lowerAscii())`"),
    "filter": (_ONE, 'for example `list.filter(x, x != "")`'),
    "all": (_ONE, 'for example `list.all(x, x == "a")`, or `map.all(k, v, v != "")`'),
    "exists": (_ONE, 'for example `list.exists(x, x == "a")`, or `map.exists(k, v, v == "a")`'),
    "exists_one": (_ONE, 'for example `list.exists_one(x, x == "a")`'),
    "existsOne": (_ONE, 'for example `list.existsOne(x, x == "a")`, or `(k, v, v == "a")`'),
    "transformList": (_TWO, 'for example `map.transformList(k, v, v != "", k)`'),
    "transformMap": (_TWO, "for example `map.transformMap(k, v, v.lowerAscii())`"),
    "optMap": (_ONE, "for example `x.?field.optMap(v, v.lowerAscii())`"),
    "optFlatMap": (_ONE, "for example `x.?field.optFlatMap(v, v.?key)`"),
    "transformMapEntry": (
        "two variable names (key, and value), an optional filter and a map",
        "for example `map.transformMapEntry(k, v, {v: k})`",
    ),
}


#: The fields of a person whose value is looked up among everyone (engine/cel/objects.py).
READS_OTHER_PEOPLE = frozenset({"managerId", "manager_id"})


class SchemaChecker:
    """Walks a parse tree, giving each node a kind: "user", "account", "accounts",
    "profile:user", "profile:account", "attributes", "status", "list:user", "list:account",
    "ns:<path>" for a namespace such as `c1.user.v1`, or "dyn" for anything else."""

    def __init__(self, spec: ContextSpec, variable_kinds: dict[str, str]) -> None:
        self.spec = spec
        self.variables = variable_kinds
        self.keys: list[KeyUse] = []
        self.comprehensions = 0
        self.reads_directory = False  # calls a c1.* directory function
        # calls one only about the expression's own person's accounts (HasApp(subject, …))
        self.reads_own_accounts = False
        self.reads_own_account_data = False  # the accounts' data, not only that they exist
        self.reads_clock = False  # calls now() or time.now()
        # every field name and literal key it selects, of any value ("*": a key computed at
        # run time): a superset of the person's attributes it can read (engine.sync.attributes
        # computes an attribute after those it reads)
        self.names: set[str] = set()
        # of those, the ones read of a person (or of what may be one): what an attribute's
        # source reads of its own person, where `names` has the accounts' fields as well
        self.person_names: set[str] = set()
        # what it reads of an account, as the account record's fields, with "profile:<key>"
        # for a profile key selected by a literal (see `account_reads`); the account values
        # and account profiles it makes and of those the ones it selects a field or key of:
        # one made and not selected is used whole (passed on, compared, iterated)
        self._account_fields: set[str] = set()
        # (a person's `accounts` map counts as selected where only its keys are read, or an
        # account is taken from it: which apps the person has accounts in)
        # (and the person, their attributes and their profile, likewise: `reads_person_whole`)
        kinds = ("account", "profile:account", "accounts", "user", "attributes", "profile:user")
        self._made = dict.fromkeys(kinds, 0)
        self._selected = dict.fromkeys(kinds, 0)
        # (message, line, column, hint) of what compiles but deserves a word
        self.warnings: list[tuple[str, int | None, int | None, str]] = []
        self.text = ""  # the expression, to quote parts of it in warnings

    def run(self, tree: lark.Tree[lark.Token], text: str = "") -> list[KeyUse]:
        self.text = text
        self.value(tree, {})
        return self.keys

    def account_reads(self) -> frozenset[str] | None:
        """The fields of an account the expression reads (AccountRecord's names, and
        "profile:<key>" for a profile key it selects by a literal string, with ANY_PROFILE_KEY
        then: engine.sync.state.moved_fields), or None when it may
        read the whole account. Exact for an expression that reads no directory: then every
        account value in it is its own record's."""
        made, selected = self._made, self._selected
        if (
            self.reads_directory
            or made["account"] > selected["account"]
            or made["accounts"] > selected["accounts"]
        ):
            return None
        reads = set(self._account_fields)
        if made["profile:account"] > selected["profile:account"]:
            reads.add("profile")  # the profile used whole: any key of it
        if any(name.startswith("profile:") for name in reads):
            reads.add(ANY_PROFILE_KEY)
        return frozenset(reads)

    def reads_person_whole(self) -> bool:
        """Whether it may read any of a person's attributes without naming them (`names`):
        a person, their attributes or their profile made and not selected a field of
        (compared, passed on, iterated, formatted)."""
        made, selected = self._made, self._selected
        return any(made[kind] > selected[kind] for kind in ("user", "attributes", "profile:user"))

    def reads_attributes_whole(self) -> bool:
        """Whether it may read any of a person's attributes through their attributes or
        profile map used whole (`subject.attributes.exists(…)`, `size(subject.profile)`): not
        the person passed on to a lookup, which reads the fields the lookup does."""
        made, selected = self._made, self._selected
        return any(made[kind] > selected[kind] for kind in ("attributes", "profile:user"))

    def _making(self, kind: str) -> str:
        """A value of KIND is made (a variable read, a field or an element selected)."""
        if kind in self._made:
            self._made[kind] += 1
        return kind

    def _selecting(self, kind: str) -> None:
        """A field or a literal key is selected of a value of KIND."""
        if kind in self._selected:
            self._selected[kind] += 1

    def _source(self, node: Any) -> str:
        """The text of a node as written (empty when positions are unknown)."""
        meta = getattr(node, "meta", None)
        if meta is None or meta.empty or not self.text:
            return str(node.value) if isinstance(node, lark.Token) else ""
        return self.text[meta.start_pos : meta.end_pos]

    # -- helpers
    def fail(self, node: Any, message: str, hint: str = "") -> None:
        line, column = position(node)
        raise SchemaError(message, line, column, hint)

    def value(self, node: Any, scope: dict[str, str]) -> str:
        kind = self.walk(node, scope)
        if kind.startswith("ns:"):
            name = kind[3:]
            examples = sorted(
                n for n in list(CONSTANTS) + list(QUALIFIED_NAMES) if n.startswith(name + ".")
            )
            hint = f"for example `{examples[0]}`" if examples else ""
            self.fail(node, f"`{name}` is a namespace, not a value", hint)
        return kind

    def walk(self, node: Any, scope: dict[str, str]) -> str:
        if isinstance(node, lark.Token):
            return "dyn"
        handler = getattr(self, "_" + node.data, None)
        if handler is not None:
            return cast(str, handler(node, scope))
        return self._through(node, scope)

    def _through(self, node: Any, scope: dict[str, str]) -> str:
        """A node with no handler of its own: its one child's kind, or its children walked."""
        trees = [child for child in node.children if isinstance(child, lark.Tree)]
        if node.data in _PASS and len(node.children) == 1 and trees:
            return self.walk(trees[0], scope)
        for child in trees:
            self.value(child, scope)
        return "dyn"

    def _string_literal(self, node: Any) -> str | None:
        from .literals import string_value

        while isinstance(node, lark.Tree):
            if node.data == "literal":
                token = cast(lark.Token, node.children[0])
                return string_value(token) if token.type in ("STRING_LIT", "MLSTRING_LIT") else None
            if len(node.children) != 1:
                return None
            node = node.children[0]
        return None

    def _bind_name(self, node: Any) -> str | None:
        while isinstance(node, lark.Tree):
            if node.data == "ident":
                return str(cast(lark.Token, node.children[0]).value)
            if len(node.children) != 1:
                return None
            node = node.children[0]
        return None

    def _note_field(self, name: str) -> None:
        """A person's `managerId` is found among everyone (by the manager's email): reading it,
        from whatever value (a person reached through a list or a map is `dyn` here), reads
        other people."""
        self.names.add(name)
        if name in READS_OTHER_PEOPLE:
            self.reads_directory = True

    def _field(self, kind: str, name: str, node: Any, via: str) -> str:
        """The kind of `<object of kind>.name`, or a schema error."""
        self._note_field(name)
        if kind in ("user", "dyn"):
            self.person_names.add(name)
        if name in field_table(kind):
            canonical = canonical_field(kind, name)
            found = FIELD_KINDS[kind].get(canonical, "dyn")
            if kind == "account":
                self._account_fields.update(ACCOUNT_FIELD_SOURCES[canonical])
            return self._making(found)
        # a field's own name first (what completion offers), one it starts when the name is
        # being typed (`account.use` is on its way to `username`), then its other names
        own = field_names(kind, aliases=False)
        started = [field for field in own if field.lower().startswith(name.lower())]
        hint = (
            f"did you mean `{started[0]}`?"
            if started
            else did_you_mean(name, own) or did_you_mean(name, field_names(kind))
        )
        if not hint:
            hint = f"other values are read from the profile: `{via}.profile.{name}`"
        self.fail(node, f"unknown field `{name}`", hint)
        return "dyn"

    def _use_key(self, kind: str, key: str, node: Any, member: Any = None) -> None:
        """KEY selected by a literal of a map of KIND (MEMBER: the map's node, when known)."""
        if kind in ("profile:user", "attributes"):
            self.names.add(key)
            self.person_names.add(key)
        if kind == "attributes" and key in STANDARD_ATTRIBUTES:
            self._standard_attribute(key, node, member)
        if kind == "profile:account":
            self._account_fields.add(f"profile:{key}")
        line, column = position(node)
        if kind == "accounts":
            self.keys.append(KeyUse("account", "accounts", key, line, column))
        elif kind == "attributes":
            self.keys.append(KeyUse("user", "attributes", key, line, column))
        else:
            self.keys.append(KeyUse(kind.split(":")[1], "profile", key, line, column))

    def _standard_attribute(self, key: str, node: Any, member: Any) -> None:
        """`subject.attributes.job_title`: a person's `attributes` hold the custom attributes
        only, so a standard one reads "" there, silently."""
        shown = self._source(member) if member is not None else ""
        profile = shown[: -len("attributes")] + "profile" if shown.endswith("attributes") else ""
        line, column = position(node)
        self.warnings.append(
            (
                f"`{key}` is a standard attribute: `attributes` holds only the custom ones, so "
                'this reads ""',
                line,
                column,
                f"read it as `{profile or 'subject.profile'}.{key}` (every attribute), or by its "
                "field (docs/attributes.md)",
            )
        )

    def _is_own_person(self, node: Any, scope: dict[str, str]) -> bool:
        """Whether `node` is the context's own person: a user variable, not one a macro bound
        (`managers.exists(subject, HasApp(subject, "ad"))` asks about someone else)."""
        name = self._bind_name(node)
        return name is not None and name not in scope and self.variables.get(name) == "user"

    def _note_call(self, name: str) -> None:
        """Remember what a called function reads besides the expression's variables."""
        if name in DIRECTORY_FUNCTIONS:
            self.reads_directory = True
        elif name in CLOCK_FUNCTIONS:
            self.reads_clock = True

    def _describe(self, node: Any) -> str:
        from .transpile import dotted_name

        return dotted_name(node) or "x"

    # -- nodes
    def _literal(self, node: Any, scope: dict[str, str]) -> str:
        token = node.children[0]
        if isinstance(token, lark.Token) and token.type in ("INT_LIT", "UINT_LIT"):
            integer_literal(token)
        elif isinstance(token, lark.Token) and token.type in ("STRING_LIT", "MLSTRING_LIT"):
            from .literals import string_value

            string_value(token)  # a bad escape is an error at the literal
        elif isinstance(token, lark.Token) and token.type == "BYTES_LIT":
            from .literals import bytes_value

            bytes_value(token)
        return "dyn"

    def _ident(self, node: Any, scope: dict[str, str]) -> str:
        token = cast(lark.Token, node.children[0])
        name: str = token.value
        if name in scope or name in self.variables:
            kind = scope[name] if name in scope else self.variables[name]
            self._making(kind)
            return kind
        if name in GLOBAL_CONSTANTS:
            return "status"
        if name in TYPE_VALUES:
            return "dyn"  # a type, such as `int` in `type(x) == int`
        if name == "google":
            return "ns:google"
        if name in NAMESPACES:
            return "ns:" + name
        if name in ALL_VARIABLES and not self.spec.variables:
            self.fail(
                token,
                f"the {self.spec.name} context has no record, so no variable `{name}`",
                "it is for trying the language on literals; choose a context such as "
                "push_condition (a person) or directory_filter (an account) to read records",
            )
        if name in ALL_VARIABLES:
            use = " or ".join(f"`{v}`" for v in self.spec.variables)
            self.fail(
                token,
                f"this context has no variable `{name}`; use {use}",
                f"{self.spec.name} has the variables {', '.join(self.spec.variables)}",
            )
        options = (
            list(scope)
            + list(self.variables)
            + list(GLOBAL_CONSTANTS)
            + [n for n in NAMESPACES if "." not in n]
        )
        hint = (
            did_you_mean(name, options)
            or f"the variables here are {', '.join(self.spec.variables)}"
        )
        self.fail(token, f"unknown name `{name}`", hint)
        return "dyn"

    def _dot_ident(self, node: Any, scope: dict[str, str]) -> str:
        self.fail(node, "a name starting with `.` is not supported", "remove the leading `.`")
        return "dyn"

    _dot_ident_arg = _dot_ident

    def _member_object(self, node: Any, scope: dict[str, str]) -> str:
        self.fail(
            node,
            "building objects (`Name{field: value}`) is not supported",
            'use a map literal such as `{"key": value}`',
        )
        return "dyn"

    def _member_dot(self, node: Any, scope: dict[str, str]) -> str:
        member, token = node.children[0], cast(lark.Token, node.children[1])
        name = token.value
        kind = self.walk(member, scope)
        if kind.startswith("ns:"):
            path = f"{kind[3:]}.{name}"
            if path in TYPE_VALUES:
                return "dyn"
            if path == "google.protobuf":
                return "ns:" + path
            if path in CONSTANTS:
                return "status" if not path.startswith("TimeFormat.") else "dyn"
            if path in NAMESPACES:
                return "ns:" + path
            if path in QUALIFIED_NAMES:
                self.fail(token, f"`{path}` is a function; call it with arguments", f"`{path}(…)`")
            options = [
                n for n in list(CONSTANTS) + list(QUALIFIED_NAMES) if n.startswith(kind[3:] + ".")
            ]
            self.fail(token, f"unknown name `{path}`", did_you_mean(path, options))
        if kind in ("user", "account"):
            self._selecting(kind)
            return self._field(kind, name, token, self._describe(member))
        if kind == "accounts":
            self._selecting(kind)
            self._use_key("accounts", name, token)
            return self._making("account")
        if kind.startswith("profile:") or kind == "attributes":
            self._selecting(kind)
            self._use_key(kind, name, token, member)
            return "dyn"
        if kind == "status":
            if name != "status":
                self.fail(
                    token,
                    f"a status has no field `{name}`",
                    'a status is compared as a string, e.g. `subject.status == "ENABLED"`',
                )
            return "status"
        if kind.startswith("list:"):
            self.fail(
                token,
                f"a list has no field `{name}`",
                f"use a macro such as `.exists(x, x.{name} == …)` or `.map(x, x.{name})`",
            )
        self._note_field(name)
        return "dyn"

    def _member_optdot(self, node: Any, scope: dict[str, str]) -> str:
        """`x.?field`: an optional; a profile key read this way is still a key use."""
        member, token = node.children[0], cast(lark.Token, node.children[1])
        kind = self.value(member, scope)
        self._note_field(token.value)
        if kind in ("user", "account"):
            self._selecting(kind)
            self._field(kind, token.value, token, self._describe(member))
        elif kind.startswith("profile:") or kind == "attributes" or kind == "accounts":
            if kind != "accounts":  # an account in an optional is not followed: read whole
                self._selecting(kind)
            self._use_key(kind, token.value, token, member)
        return "dyn"

    def _member_optindex(self, node: Any, scope: dict[str, str]) -> str:
        member, index = node.children
        kind = self.value(member, scope)
        self.value(index, scope)
        key = self._string_literal(index)
        self._note_index(kind, key)
        if key is not None and (
            kind.startswith("profile:") or kind == "attributes" or kind == "accounts"
        ):
            if kind != "accounts":  # an account in an optional is not followed: read whole
                self._selecting(kind)
            self._use_key(kind, key, index, member)
        return "dyn"

    def _note_index(self, kind: str, key: str | None) -> None:
        """`x["managerId"]`, or a key computed at run time of what may be a person."""
        if key is not None:
            self._note_field(key)
        elif kind in ("user", "dyn"):
            self.reads_directory = True
            self.names.add("*")
        elif kind in ("profile:user", "attributes", "account"):
            self.names.add("*")

    def _member_index(self, node: Any, scope: dict[str, str]) -> str:
        member, index = node.children
        kind = self.value(member, scope)
        self.value(index, scope)
        key = self._string_literal(index)
        self._note_index(kind, key)
        if kind in ("user", "account") and key is not None:
            self._selecting(kind)
            return self._field(kind, key, index, self._describe(member))
        if kind == "accounts":
            self._selecting(kind)
            if key is not None:
                self._use_key("accounts", key, index)
            return self._making("account")
        if (kind.startswith("profile:") or kind == "attributes") and key is not None:
            self._selecting(kind)
            self._use_key(kind, key, index, member)
        if kind.startswith("list:"):
            return self._making(kind[5:])
        return "dyn"

    def _args(self, node: Any) -> list[Any]:
        if len(node.children) == 3 and node.data == "member_dot_arg":
            return list(node.children[2].children)
        if len(node.children) == 2 and node.data == "ident_arg":
            return list(node.children[1].children)
        return []

    def _member_dot_arg(self, node: Any, scope: dict[str, str]) -> str:
        member, token = node.children[0], cast(lark.Token, node.children[1])
        name = token.value
        args = self._args(node)
        if name in MACROS:
            return self._comprehension(node, token, name, member, args, scope)
        kind = self.walk(member, scope)
        if name == "size" and not args and kind == "accounts":
            self._selecting(kind)  # how many apps
        if kind.startswith("ns:"):
            path = f"{kind[3:]}.{name}"
            if path not in QUALIFIED_NAMES:
                options = [n for n in QUALIFIED_NAMES if n.startswith(kind[3:].split(".")[0])]
                self.fail(token, f"unknown function `{path}`", did_you_mean(path, options))
            if path in OWN_ACCOUNT_FUNCTIONS and args and self._is_own_person(args[0], scope):
                self._selecting("user")  # its id: which accounts are the person's
                self.reads_own_accounts = True
                self.reads_own_account_data |= path in OWN_ACCOUNT_DATA_FUNCTIONS
            else:
                self._note_call(path)
            for arg in args:
                self.value(arg, scope)
            return RESULT_KINDS.get(path, "dyn")
        if name not in CALLABLE_NAMES or name in ("has", "dyn"):
            hint = did_you_mean(
                name, [n for n in CALLABLE_NAMES if n not in ("has", "dyn")] + list(MACROS)
            )
            if not hint and kind in ("user", "account") and name in field_table(kind):
                hint = f"`{name}` is a field: drop the parentheses"
            self.fail(token, f"unknown function `{name}`", hint)
        self._note_call(name)
        for arg in args:
            self.value(arg, scope)
        if name == "ifEmpty":
            # the receiver is read whole (whether it is empty); what it gives is a value of
            # its kind made anew (`account.profile.ifEmpty(m).login`: hostile review)
            return self._making(kind)
        return RESULT_KINDS.get(name, "dyn")

    def _comprehension(
        self, node: Any, token: lark.Token, name: str, member: Any, args: list[Any],
        scope: dict[str, str],
    ) -> str:  # fmt: skip
        """`list.all(x, …)`, `map.exists(k, v, …)`, `list.transformList(i, v, [filter,] …)`."""
        from .transpile import bound_name, comprehension_arity

        kind = self.value(member, scope)
        arity = comprehension_arity(name, len(args))
        names = [bound_name(arg) for arg in args[:arity]]
        if arity == 0 or None in names:
            what, example = _COMPREHENSION_FORMS[name]
            self.fail(token, f"`{name}` needs {what}", example)
        for position, variable in enumerate(names):
            if variable in TYPE_VALUES:
                self.fail(
                    args[position],
                    f"`{variable}` is the name of a type",
                    f"choose another name for the variable of `{name}`, e.g. `x`",
                )
        if len(names) == 2 and names[0] == names[1]:
            self.fail(args[1], f"the two variables of `{name}` need different names")
        self.comprehensions += 1
        if self.comprehensions > MAX_COMPREHENSION_NESTING:
            self.fail(
                token,
                f"comprehensions (`{name}`, `exists`, `all`, …) are nested "
                f"{self.comprehensions} deep; the limit is {MAX_COMPREHENSION_NESTING}",
                "nested comprehensions get slow over many records; simplify the expression",
            )
        element = kind[5:] if kind.startswith("list:") else "dyn"
        if kind == "accounts" and len(names) == 1:
            self._selecting(kind)  # its keys: the apps (a value bound from it is not told)
        inner = dict(scope)
        if len(names) == 1:
            inner[cast(str, names[0])] = element
        else:  # (index, item) of a list, (key, value) of a map
            inner[cast(str, names[0])] = "dyn"
            inner[cast(str, names[1])] = element
        for arg in args[arity:]:
            self.value(arg, inner)
        self.comprehensions -= 1
        if name == "filter":
            return kind if kind.startswith("list:") else "dyn"
        return "dyn"

    def _ident_arg(self, node: Any, scope: dict[str, str]) -> str:
        token = cast(lark.Token, node.children[0])
        name = token.value
        args = self._args(node)
        if name == "has":
            from .transpile import indexed_field, selected_field

            indexed = indexed_field(args[0]) if len(args) == 1 else None
            if indexed is not None:
                # common in pasted ConductorOne examples; CEL has no such has(): it is read as
                # `"key" in map`, and the admin is told how to write it
                target, key = indexed
                line, column = position(token)
                what = self._source(target) or "the map"
                shown = self._source(key) or '"key"'
                self.warnings.append(
                    (
                        f"`has()` takes a field selection, not an index: read as "
                        f"`{shown} in {what}`",
                        line,
                        column,
                        f"write `{shown} in {what}` (or `has({what}.key)`)",
                    )
                )
                self.value(args[0], scope)
                return "dyn"
            if len(args) != 1 or selected_field(args[0]) is None:
                self.fail(
                    token,
                    "has() needs a field selection",
                    "for example `has(subject.profile.cost_center)`",
                )
            self.value(args[0], scope)
            return "dyn"
        if name == "dyn" and len(args) == 1:
            return self.value(args[0], scope)
        if name not in CALLABLE_NAMES:
            if name in ALL_VARIABLES or name in self.variables:
                self.fail(token, f"`{name}` is a variable, not a function")
            hint = did_you_mean(name, list(CALLABLE_NAMES) + [n for n in QUALIFIED_NAMES])
            self.fail(token, f"unknown function `{name}`", hint)
        self._note_call(name)
        kinds = [self.value(arg, scope) for arg in args]
        if name == "size" and kinds == ["accounts"]:
            self._selecting("accounts")  # how many apps
        return RESULT_KINDS.get(name, "dyn")

    def _id_against_text(self, left: Any, right: Any, scope: dict[str, str]) -> None:
        """`account.id == "E10001"`: a record's `id` is Roster's own number for it, so a text
        that is not a number never equals it (hostile review: a filter on `account.id` sent
        every account to its other branch, silently). Warned, with the field meant."""
        for field, text in ((left, right), (right, left)):
            shown, literal = self._source(field).strip(), self._source(text).strip()
            match = _ID_FIELD.fullmatch(shown)
            quoted = _STRING_LITERAL.fullmatch(literal)
            if not match or not quoted or quoted.group(2).isdigit() or not quoted.group(2):
                continue
            kind = self.variables.get(match.group(1))
            if match.group(1) in scope or kind not in ("account", "user"):
                continue
            line, column = position(field)
            meant = f"{match.group(1)}.externalId" if kind == "account" else "its email"
            self.warnings.append(
                (
                    f"`{shown}` is Roster's own number for the "
                    f"{'account' if kind == 'account' else 'person'}, never {literal}",
                    line,
                    column,
                    f"compare {meant} (the app's id) instead"
                    if kind == "account"
                    else "compare the person's email or an attribute instead",
                )
            )
            return

    def _relation(self, node: Any, scope: dict[str, str]) -> str:
        """`key in map` reads of a person's `accounts` whether they have the app (the tree:
        relation(relation_in(left), right))."""
        children = node.children
        if (
            len(children) == 2
            and isinstance(children[0], lark.Tree)
            and children[0].data in ("relation_eq", "relation_ne")
            and len(children[0].children) == 1
        ):
            self._id_against_text(children[0].children[0], children[1], scope)
        if not (
            len(children) == 2
            and isinstance(children[0], lark.Tree)
            and children[0].data == "relation_in"
        ):
            return self._through(node, scope)
        self._through(children[0], scope)
        if self.value(children[1], scope) == "accounts":
            self._selecting("accounts")
        return "dyn"
