"""The contexts a CEL expression can be written for (docs/concepts.md), with their variables."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ContextSpec:
    name: str
    variables: tuple[str, ...]
    returns: str  # what the expression must return, for people
    subject_kind: str  # "account" or "user": the kind of record one evaluation is about
    description: str = ""
    # variable -> kind for the checker: "user", "account", "accounts", "map"
    variable_kinds: dict[str, str] = field(default_factory=dict, compare=False, repr=False)


def _spec(
    name: str, kinds: dict[str, str], returns: str, subject: str, description: str
) -> ContextSpec:
    return ContextSpec(name, tuple(kinds), returns, subject, description, kinds)


# The subject kind of a context evaluated with no record at all (the `cel` context).
NO_RECORD = "none"

CONTEXTS: dict[str, ContextSpec] = {
    spec.name: spec
    for spec in (
        _spec(
            "directory_filter",
            {"account": "account", "subject": "account"},
            'bool, or "CREATE" / "MATCH_ONLY" / "IGNORE"',
            "account",
            "Which accounts of a directory become people (CREATE), only match existing "
            "people (MATCH_ONLY), or are left out (IGNORE).",
        ),
        _spec(
            "account_key",
            {"account": "account"},
            "string or list of strings",
            "account",
            "The keys an account is matched to a person by (merge and ownership rules).",
        ),
        _spec(
            "user_key",
            {"user": "user", "subject": "user"},
            "string or list of strings",
            "user",
            "The keys a person is matched to accounts by (merge and ownership rules).",
        ),
        _spec(
            "attribute_source",
            {"subject": "user", "accounts": "accounts"},
            "string or list of strings",
            "user",
            "A value of an attribute, from the person and their accounts by app id.",
        ),
        _spec(
            "push_condition",
            {"subject": "user", "user": "user"},
            "bool",
            "user",
            "Which people a push rule applies to.",
        ),
        _spec(
            "push_mapping",
            {"subject": "user", "user": "user"},
            "a value for the target attribute",
            "user",
            "The value a push rule writes to one attribute of the target app.",
        ),
        _spec(
            "provisioning_field",
            {"subject": "user", "entitlement": "map"},
            "a value of the field's type",
            "user",
            "The value of one field of a new account; `entitlement` is set when the account "
            "is created for a requested entitlement.",
        ),
        _spec(
            "cel",
            {},
            "any value",
            NO_RECORD,
            "CEL itself, with no record and no variables: try the language (strings, lists, "
            "maps, timestamps, optionals, the c1.* functions over everyone).",
        ),
    )
}

ALL_VARIABLES = frozenset(v for spec in CONTEXTS.values() for v in spec.variables)
