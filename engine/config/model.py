"""The configuration document as pydantic models (docs/concepts.md).

The models check shape and types only: unknown keys are errors and values are never converted
from one type to another (`"500"` is not a number). Rules that need the whole document or the
connectors (references, duplicates, capabilities, secrets, CEL) live in `engine.config.checks`;
`engine.config.validate` runs both and locates every problem in the YAML file.

The format, one YAML document for everything::

    version: 1                       # required
    settings:
      deletion_threshold: {max_objects: 500, max_percent: 20}
      cel: {max_cost: 10000000, max_seconds_per_preview: 30, max_seconds_per_stage: 600}
    apps:
      - id: hr                       # slug: a-z 0-9 _ -, unique
        name: Workday HR             # optional, shown in the console
        connector: file              # connector kind (engine.connectors.registry.KNOWN_KINDS)
        settings: {path: apps/hr.yaml}   # the connector's own settings; secrets only as
                                         # `<key>_env: ENV_VAR_NAME`, never literally
        ownership:                   # non-directory apps; default {strategy: narrow}
          strategy: custom           # narrow | broad | custom
          rules:                     # custom only; same shape as merge rules
            - {name: badge, account: {cel: '...'}, user: {preset: employee_id}}
        provisioning:                # optional; the app's connector must create accounts
          proactive: true            # create accounts for approved access requests
          fields: {displayName: subject.displayName}   # creation-schema key -> CEL
    directories:                     # ordered: the first is the primary directory
      - app: hr
        enabled: false               # optional, default true; false = IGNORE every account
        filter: '...'                # CEL (directory_filter); left out = CREATE for every account
        merge_rules:                 # ordered; left out = DEFAULT_MERGE_RULES
          - name: email
            account: {preset: primary_email, strip_plus_tag: true}   # or {cel: ...} account_key
            user: {preset: all_emails}                                # or {cel: ...} user_key
    attributes:
      - name: department             # a STANDARD_ATTRIBUTES name, or any name with `custom: true`
        custom: false
        multi_valued: false          # fixed for standard attributes, chosen for custom ones
        sources:                     # ordered
          - {app: hr, field: profile.department}    # an ACCOUNT_FIELDS name or profile.<key>
          - {cel: 'accounts.ad.profile.department'} # attribute_source
        flow_rules:                  # optional; present = authority mode
          - {app: hr, direction: inbound, create: 50, update: 60, delete: 50}
    push_rules:
      - name: ad-core                # unique
        app: ad
        enabled: true                # at most one enabled rule per app
        targeting: {kind: everyone}  # | {kind: filter, entitlements: [{app, entitlement}],
                                     #    attributes: {name: value or [values]}}
                                     # | {kind: cel, cel: '...'} (push_condition)
        mappings:
          - {target: title, attribute: job_title}
          - {target: extensionAttribute1, cel: '...'}   # push_mapping

Presets: primary_email, all_emails, username, display_name, employee_id (the email presets
accept `strip_plus_tag`). Directions: inbound, outbound, bidirectional, disabled; scores 0-100,
default 50, default direction inbound.
"""

from __future__ import annotations

import re
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from engine.config.defaults import (
    DEFAULT_MAX_COST,
    DEFAULT_MAX_SECONDS_PER_PREVIEW,
    DEFAULT_MAX_SECONDS_PER_STAGE,
    MAX_SECONDS,
    MAX_STORED_INT,
    MIN_MAX_COST,
)
from engine.records import ACCOUNT_SOURCE_FIELDS, STANDARD_ATTRIBUTES

CONFIG_VERSION: Literal[1] = 1

Preset = Literal["primary_email", "all_emails", "username", "display_name", "employee_id"]
Strategy = Literal["narrow", "broad", "custom"]
Direction = Literal["inbound", "outbound", "bidirectional", "disabled"]
TargetingKind = Literal["everyone", "filter", "cel"]
ScoreKind = Literal["create", "update", "delete"]

# The vocabularies, from the types above (one definition each).
PRESETS: tuple[Preset, ...] = get_args(Preset)
EMAIL_PRESETS: tuple[Preset, ...] = ("primary_email", "all_emails")
OWNERSHIP_STRATEGIES: tuple[Strategy, ...] = get_args(Strategy)
DIRECTIONS: tuple[Direction, ...] = get_args(Direction)
TARGETING_KINDS: tuple[TargetingKind, ...] = get_args(TargetingKind)
SCORE_KINDS: tuple[ScoreKind, ...] = get_args(ScoreKind)

# Defaults, used by the models below and by every stage that reads them.
DEFAULT_STRATEGY: Strategy = "narrow"
DEFAULT_DIRECTION: Direction = "inbound"
DEFAULT_SCORE = 50
DEFAULT_TARGETING: TargetingKind = "everyone"
DEFAULT_MAX_OBJECTS = 500
DEFAULT_MAX_PERCENT = 20.0
#: Per app: at most half of an app's accounts in one run, and always up to ten.
DEFAULT_APP_MAX_PERCENT = 50.0
DEFAULT_APP_MIN_OBJECTS = 10
# Directions whose values flow into the console (attributes) and out to the app (push).
INBOUND_DIRECTIONS: tuple[Direction, ...] = ("inbound", "bidirectional")
OUTBOUND_DIRECTIONS: tuple[Direction, ...] = ("outbound", "bidirectional")

# Account fields a direct attribute source may read (besides `profile.<key>`).
ACCOUNT_FIELDS = ACCOUNT_SOURCE_FIELDS

_SECRET_SUFFIXES = (
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "private_key",
    "access_key",
    "credential",
    "credentials",
)
_SECRET_EXACT = {"pwd", "pass"}


def is_secret_key(key: str) -> bool:
    """Whether a connector setting's name says it holds a secret (and is not `<name>_env`).

    Secrets are never written into the configuration: `password_env: AD_BIND_PASSWORD` names the
    environment variable that holds it.
    """
    folded = key.lower().replace("-", "_")
    if folded.endswith("_env"):
        return False
    return folded in _SECRET_EXACT or folded.endswith(_SECRET_SUFFIXES)


_URL_USERINFO = re.compile(r"^[a-z][a-z0-9+.-]*://[^/?#\s]*@", re.IGNORECASE)
_CREDENTIAL_VALUES = (
    ("a private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY")),
    ("a GitHub token", re.compile(r"\b(gh[pousr]_[A-Za-z0-9]{30,}|github_pat_\w{30,})")),
    ("a Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("an AWS access key", re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("a Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}")),
    ("an API secret key", re.compile(r"\b(sk|rk)[-_](live_|test_|proj-)?[A-Za-z0-9]{20,}")),
    ("a JSON web token", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.")),
    ("an authorization header", re.compile(r"^\s*(bearer|basic)\s+\S{8,}", re.IGNORECASE)),
)


def credential_kind(value: object) -> str | None:
    """What a connector setting's value holds if it looks like a credential (a URL with
    user-info such as `https://admin:pw@host`, a token, a key), else None. The value itself is
    never repeated in a message."""
    if not isinstance(value, str):
        return None
    if _URL_USERINFO.match(value.strip()):
        return "a URL with a user name or password in it (user:password@)"
    for kind, pattern in _CREDENTIAL_VALUES:
        if pattern.search(value):
            return kind
    return None


class _Model(BaseModel):
    """Unknown keys are errors; values are taken as given, never converted between types."""

    model_config = ConfigDict(extra="forbid", strict=True, validate_default=False)


# --------------------------------------------------------------------------- settings


class AppDeletionThreshold(_Model):
    """One app may lose at most `max_percent` of its accounts in a run, or `min_objects`
    whichever is more: an emptied or truncated export of a small app is a small share of the
    whole store, and would pass the store-wide threshold."""

    max_percent: float = Field(DEFAULT_APP_MAX_PERCENT, ge=0, le=100)
    min_objects: int = Field(DEFAULT_APP_MIN_OBJECTS, ge=0, le=MAX_STORED_INT)


class DeletionThreshold(_Model):
    """A run that would remove or disable more than the smaller of these stops before applying;
    `per_app` bounds each app's accounts too (an app's own `deletion_threshold` overrides it)."""

    # bounded so it fits the store's 64-bit integers (the audit keeps it too)
    max_objects: int = Field(DEFAULT_MAX_OBJECTS, ge=0, le=MAX_STORED_INT)
    max_percent: float = Field(DEFAULT_MAX_PERCENT, ge=0, le=100)
    per_app: AppDeletionThreshold = Field(default_factory=AppDeletionThreshold)


class CelSettings(_Model):
    """What one CEL evaluation may spend (docs/configuration.md; engine/cel/budget.py): cost
    units per evaluation (a character of text built, an item of a list or map, a step of a
    comprehension) and seconds per preview and per sync stage."""

    max_cost: int = Field(DEFAULT_MAX_COST, ge=MIN_MAX_COST, le=MAX_STORED_INT)
    max_seconds_per_preview: float = Field(DEFAULT_MAX_SECONDS_PER_PREVIEW, gt=0, le=MAX_SECONDS)
    max_seconds_per_stage: float = Field(DEFAULT_MAX_SECONDS_PER_STAGE, gt=0, le=MAX_SECONDS)


class Settings(_Model):
    deletion_threshold: DeletionThreshold = Field(default_factory=DeletionThreshold)
    cel: CelSettings = Field(default_factory=CelSettings)
    # A YAML file of access requests (`requests:` list of id, user_email, app, entitlement,
    # status), relative to the configuration's folder; proactive provisioning reads it.
    access_requests: str | None = None


# --------------------------------------------------------------------------- match rules


class KeySpec(_Model):
    """One side of a merge or ownership rule: a preset field or a CEL expression."""

    preset: Preset | None = None
    strip_plus_tag: bool = False
    cel: str | None = None


class MatchRule(_Model):
    """A merge rule (directories) or a custom ownership rule (apps): account key <-> user key."""

    name: str
    account: KeySpec
    user: KeySpec


DEFAULT_MERGE_RULES: tuple[MatchRule, ...] = (
    MatchRule(
        name="email",
        account=KeySpec(preset="primary_email"),
        user=KeySpec(preset="all_emails"),
    ),
    MatchRule(
        name="employee_id",
        account=KeySpec(preset="employee_id"),
        user=KeySpec(preset="employee_id"),
    ),
)


# --------------------------------------------------------------------------- apps


class Ownership(_Model):
    """How accounts of a non-directory app find their owner (docs/concepts.md, stage 3)."""

    strategy: Strategy = DEFAULT_STRATEGY
    rules: list[MatchRule] = Field(default_factory=list)


class Provisioning(_Model):
    """Account creation for an app: creation-schema field -> CEL (provisioning_field context)."""

    proactive: bool = False
    fields: dict[str, str] = Field(default_factory=dict)


class App(_Model):
    id: str
    name: str = ""
    connector: str
    settings: dict[str, Any] = Field(default_factory=dict)
    ownership: Ownership = Field(default_factory=Ownership)
    provisioning: Provisioning | None = None
    # this app's own bound on accounts removed in one run (None: settings.deletion_threshold
    # .per_app)
    deletion_threshold: AppDeletionThreshold | None = None

    @property
    def title(self) -> str:
        return self.name or self.id


# --------------------------------------------------------------------------- directories


class Directory(_Model):
    """A directory app; its place in `directories` is its priority (first = primary)."""

    app: str
    enabled: bool = True  # a disabled directory decides IGNORE for every account
    filter: str | None = None
    merge_rules: list[MatchRule] | None = None  # None = DEFAULT_MERGE_RULES; [] is refused

    def effective_merge_rules(self) -> list[MatchRule]:
        return list(DEFAULT_MERGE_RULES) if self.merge_rules is None else list(self.merge_rules)


# --------------------------------------------------------------------------- attributes


class Source(_Model):
    """A direct source (an app and an account field or `profile.<key>`) or a CEL expression.

    `field` is one of ACCOUNT_FIELDS or `profile.<key>`. List fields (`emails`, `employee_ids`)
    give every value to a multi-valued attribute; a single-valued one accepts at most one value
    (docs/attributes.md), so e.g. `employee_ids` suits `employee_id` when each account has one id.
    """

    app: str | None = None
    field: str | None = None
    cel: str | None = None

    @property
    def is_cel(self) -> bool:
        return self.cel is not None

    def label(self) -> str:
        return f"{self.app}.{self.field}" if self.cel is None else f"cel: {self.cel}"


class FlowRule(_Model):
    """Authority of one app over one attribute (docs/attributes.md)."""

    app: str
    direction: Direction = DEFAULT_DIRECTION
    create: int = Field(DEFAULT_SCORE, ge=0, le=100)
    update: int = Field(DEFAULT_SCORE, ge=0, le=100)
    delete: int = Field(DEFAULT_SCORE, ge=0, le=100)

    def score(self, kind: ScoreKind) -> int:
        return {"create": self.create, "update": self.update, "delete": self.delete}[kind]


class Attribute(_Model):
    """A standard attribute (name in STANDARD_ATTRIBUTES) or a custom one (`custom: true`).

    `multi_valued` is fixed for standard attributes; when it is left out it is filled in
    (standard: the fixed value, custom: false), so two documents that mean the same compare equal.
    """

    name: str
    custom: bool = False
    multi_valued: bool | None = None
    sources: list[Source] = Field(default_factory=list)
    flow_rules: list[FlowRule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _fill_multi_valued(self) -> Attribute:
        if self.multi_valued is None:
            self.multi_valued = (
                False if self.custom else STANDARD_ATTRIBUTES.get(self.name.lower(), False)
            )
        return self

    @property
    def is_multi_valued(self) -> bool:
        """Standard attributes: fixed by STANDARD_ATTRIBUTES; custom ones: as configured."""
        standard = STANDARD_ATTRIBUTES.get(self.name.lower())
        if standard is not None and not self.custom:
            return standard
        return bool(self.multi_valued)

    @property
    def is_standard(self) -> bool:
        return not self.custom

    @property
    def authority_mode(self) -> bool:
        """Flow rules present: values follow the scores, not the source order."""
        return bool(self.flow_rules)

    @property
    def mode(self) -> str:
        """How the value is decided, as explain and people show name it: "authority" (flow
        rules), "union" (multi-valued: every source's values) or "fallback" (the first source
        in order with a value); the last two are mapping mode."""
        if self.authority_mode:
            return "authority"
        return "union" if self.is_multi_valued else "fallback"

    def flow_rule_for(self, app_id: str) -> FlowRule | None:
        return next((rule for rule in self.flow_rules if rule.app == app_id), None)


# --------------------------------------------------------------------------- push rules


class EntitlementRef(_Model):
    app: str
    entitlement: str


class Targeting(_Model):
    """everyone | filter (entitlements and attribute values, all must hold) | cel."""

    kind: TargetingKind = DEFAULT_TARGETING
    entitlements: list[EntitlementRef] = Field(default_factory=list)
    # attribute name -> accepted values (a user matches when its value is any of them)
    attributes: dict[str, list[str]] = Field(default_factory=dict)
    cel: str | None = None

    @field_validator("attributes", mode="before")
    @classmethod
    def _single_values(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: [v] if isinstance(v, str) else v for k, v in value.items()}
        return value


class Mapping(_Model):
    """One target attribute written from a user attribute or a CEL expression."""

    target: str
    attribute: str | None = None
    cel: str | None = None


class PushRule(_Model):
    name: str
    app: str
    enabled: bool = True
    targeting: Targeting = Field(default_factory=Targeting)
    mappings: list[Mapping] = Field(default_factory=list)


# --------------------------------------------------------------------------- the document


class RosterConfig(_Model):
    version: Literal[1] = CONFIG_VERSION
    settings: Settings = Field(default_factory=Settings)
    apps: list[App] = Field(default_factory=list)
    directories: list[Directory] = Field(default_factory=list)
    attributes: list[Attribute] = Field(default_factory=list)
    push_rules: list[PushRule] = Field(default_factory=list)

    def app(self, app_id: str) -> App | None:
        return next((app for app in self.apps if app.id == app_id), None)

    def attribute(self, name: str) -> Attribute | None:
        folded = name.casefold()
        return next((a for a in self.attributes if a.name.casefold() == folded), None)

    def directory_app_ids(self) -> list[str]:
        """Directory apps in priority order (first = primary)."""
        return [directory.app for directory in self.directories]

    def push_rule(self, name: str) -> PushRule | None:
        return next((rule for rule in self.push_rules if rule.name == name), None)
