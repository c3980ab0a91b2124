"""The identity store's tables (docs/architecture.md). One SQLModel model per table; JSON
columns hold lists and maps. Schema changes go through the Alembic migrations in
engine/store/migrations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def _json(default: Any = None) -> Any:
    return Field(
        default_factory=(lambda: default() if callable(default) else default),
        sa_column=Column(JSON, nullable=True),
    )


class App(SQLModel, table=True):
    __tablename__ = "app"

    id: str = Field(primary_key=True, max_length=64)
    name: str = ""
    connector: str = "file"
    settings: dict[str, Any] = _json(dict)
    capabilities: dict[str, bool] = _json(dict)
    account_fields: list[str] = _json(list)
    push_schema: list[dict[str, Any]] = _json(list)
    creation_schema: list[dict[str, Any]] = _json(list)
    is_directory: bool = False
    directory_order: int | None = None
    ownership_strategy: str = "narrow"
    last_import_at: datetime | None = None
    last_import_status: str = ""  # "ok", or the connector's error message
    last_import_counts: dict[str, int] = _json(dict)


class Account(SQLModel, table=True):
    __tablename__ = "account"
    __table_args__ = (
        UniqueConstraint("app_id", "external_id", name="uq_account_app_external"),
        Index("ix_account_owner", "owner_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # (found by app through uq_account_app_external, whose first column it is)
    app_id: str = Field(foreign_key="app.id")
    external_id: str
    display_name: str = ""
    given_name: str = ""
    family_name: str = ""
    email: str = ""
    emails: list[str] = _json(list)
    username: str = ""
    usernames: list[str] = _json(list)
    employee_ids: list[str] = _json(list)
    status: str = "ENABLED"
    type: str = "USER"
    manager: str = ""
    profile: dict[str, Any] = _json(dict)
    fingerprint: str = ""
    first_seen: datetime = Field(default_factory=utcnow)
    last_seen: datetime = Field(default_factory=utcnow)
    owner_id: int | None = Field(default=None, foreign_key="person.id")
    link_kind: str | None = (
        None  # directory-create, directory-match, ownership-rule, provisioned, manual
    )
    pinned: bool = False
    filter_result: str | None = (
        None  # last directory-filter decision: CREATE, MATCH_ONLY, IGNORE, ERROR
    )


class Entitlement(SQLModel, table=True):
    __tablename__ = "entitlement"
    __table_args__ = (
        UniqueConstraint("app_id", "external_id", name="uq_entitlement_app_external"),
    )

    id: int | None = Field(default=None, primary_key=True)
    app_id: str = Field(foreign_key="app.id", index=True)
    external_id: str
    name: str = ""
    description: str = ""


class Grant(SQLModel, table=True):
    __tablename__ = "grant"
    __table_args__ = (UniqueConstraint("account_id", "entitlement_id", name="uq_grant"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id")  # (uq_grant's first column)
    entitlement_id: int = Field(foreign_key="entitlement.id", index=True)


class AccessRequest(SQLModel, table=True):
    """A request for an account (and entitlement) in an app. Imported at each applied sync
    from the file `settings.access_requests` names (by `request_id`); proactive provisioning
    creates the account for an APPROVED one and marks it FULFILLED with its run."""

    __tablename__ = "access_request"

    id: int | None = Field(default=None, primary_key=True)
    request_id: str = Field(default="", index=True, unique=True)  # the source's id, "REQ-0001"
    user_email: str = ""  # who asked, as the source names them
    user_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    app_id: str = Field(foreign_key="app.id")
    entitlement_external_id: str | None = None
    status: str = "PENDING"  # PENDING, APPROVED, DENIED, FULFILLED
    created_at: datetime = Field(default_factory=utcnow)
    fulfilled_run_id: int | None = Field(default=None, foreign_key="run.id")
    fulfilled_at: datetime | None = None
    account: str = ""  # APP:EXTERNAL_ID of the account created for it


class Person(SQLModel, table=True):
    """A user (a person). Named person in SQL because `user` is reserved in PostgreSQL."""

    __tablename__ = "person"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(default="", index=True)
    emails: list[str] = _json(list)
    username: str = ""
    usernames: list[str] = _json(list)
    display_name: str = ""
    given_name: str = ""
    family_name: str = ""
    employee_id: str = ""
    employee_ids: list[str] = _json(list)
    status: str = "ENABLED"
    type: str = "USER"
    origin: str = ""  # the directory account it was created from, "hr:E10001"
    attributes: dict[str, Any] = _json(dict)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class AttributeValue(SQLModel, table=True):
    """Per user and attribute: the value, who set it, and the last value seen from every source."""

    __tablename__ = "attribute_value"
    __table_args__ = (UniqueConstraint("user_id", "attribute", name="uq_attribute_value"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="person.id")  # (uq_attribute_value's first column)
    attribute: str
    value: Any = _json(None)
    source: str = ""  # "hr:E10001:profile.department" or "cel[1]"
    set_at: datetime | None = None
    run_id: int | None = None
    last_seen: dict[str, Any] = _json(dict)  # source key -> last value seen
    ever_set: bool = False


class ConfigObject(SQLModel, table=True):
    """One section of the configuration document, with a version hash per section."""

    __tablename__ = "config_object"

    section: str = Field(primary_key=True, max_length=64)
    body: Any = _json(None)
    version: str = ""
    updated_at: datetime = Field(default_factory=utcnow)
    updated_by: str = ""


class Run(SQLModel, table=True):
    __tablename__ = "run"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = "sync"
    dry_run: bool = False
    started_by: str = ""
    started_at: datetime = Field(default_factory=utcnow)
    ended_at: datetime | None = None
    status: str = "running"  # running, planned, applied, failed, blocked-by-threshold, cancelled
    counts: dict[str, Any] = _json(dict)
    error: str = ""
    config_versions: dict[str, str] = _json(dict)


class Change(SQLModel, table=True):
    """The change journal: every planned or applied change with its reason."""

    __tablename__ = "change"

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="run.id", index=True)
    stage: str
    object_type: str  # user, account, attribute, push, provision
    object_id: str
    field: str = ""
    old: Any = _json(None)
    new: Any = _json(None)
    reason: str = ""
    applied: bool = False


class PushExecution(SQLModel, table=True):
    __tablename__ = "push_execution"

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="run.id", index=True)
    push_rule: str
    user_id: int | None = None
    account_id: int | None = None
    changes: dict[str, Any] = _json(dict)  # target attribute -> [old, new]
    success: bool = True
    reason: str = ""
    at: datetime = Field(default_factory=utcnow)


class ExternalWrite(SQLModel, table=True):
    """A write to an app outside the store (a push to one account, an account creation),
    recorded before it is sent (intent: `outcome` empty) and settled after: "sent" or
    "refused" by the run that wrote it, or, when that run was killed in between, "found
    applied" or "not sent" by the next sync, which reads the app back (docs/recovery.md)."""

    __tablename__ = "external_write"

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="run.id", index=True)  # the run that wrote it
    kind: str = "push"  # push, create
    app_id: str = ""
    external_id: str = ""  # a creation's is known once the app has created it
    user_id: int | None = None
    label: str = ""  # who it was for, as the run named them
    rule: str = ""  # the push rule, or the access request a creation answers
    values: dict[str, Any] = _json(dict)  # push: target -> [old, new]; create: field -> value
    outcome: str = Field(default="", index=True)  # "", sent, refused, found applied, not sent
    reason: str = ""  # the app's refusal, or what recovery found
    planned_at: datetime = Field(default_factory=utcnow)
    settled_at: datetime | None = None
    settled_by_run: int | None = None  # the run that recorded the outcome


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow)
    actor: str = ""
    action: str = ""  # config.import, link, unlink, pin, ...
    object_kind: str = ""
    object_name: str = ""
    before: Any = _json(None)
    after: Any = _json(None)


class SyncLock(SQLModel, table=True):
    """At most one row: the sync that holds this database."""

    __tablename__ = "sync_lock"

    name: str = Field(primary_key=True, default="sync")
    holder: str = ""
    host: str = ""
    pid: int = 0
    run_id: int | None = None
    since: datetime = Field(default_factory=utcnow)


class Meta(SQLModel, table=True):
    """Small facts about the store itself (who created it, demo folder)."""

    __tablename__ = "meta"

    key: str = Field(primary_key=True, max_length=64)
    value: str = ""


class RoleGrant(SQLModel, table=True):
    """Who may do what with this store (engine/roles.py): one row per OS user holding a role."""

    __tablename__ = "role_grant"

    os_user: str = Field(primary_key=True, max_length=256)
    role: str = ""  # viewer | operator | admin
    granted_by: str = ""
    granted_at: datetime = Field(default_factory=utcnow)
