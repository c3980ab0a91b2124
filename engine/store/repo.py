"""Reading and writing the store in bulk: records in, records out, configuration sections.

Reads use Core selects (no ORM object per row) so that loading 100,000 people stays fast.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Select, delete, null, select, text, update
from sqlmodel import Session, col

from engine.config.document import from_document, to_document
from engine.config.model import RosterConfig
from engine.errors import DamagedRecord
from engine.records import AccountRecord, Population, UserRecord
from engine.store.deferred import EAGER_COLUMNS, DeferredAccounts
from engine.store.models import (
    Account,
    AuditEvent,
    ConfigObject,
    Entitlement,
    Grant,
    Meta,
    Person,
    utcnow,
)
from engine.store.rows import (
    ACCOUNT_COLUMNS,
    USER_COLUMNS,
    accounts_from_rows,
    checked,
    users_from_rows,
)

# One stored row per top-level part of the configuration model (its version is implied).
CONFIG_SECTIONS = tuple(name for name in RosterConfig.model_fields if name != "version")


def stable_hash(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# --- records -------------------------------------------------------------------------------


def table_rows(session: Session, statement: Select[Any], whole: bool) -> tuple[Any, bool]:
    """STATEMENT's rows (to iterate once, in the session), and whether their JSON columns are
    still text to decode.

    Reading a whole table of a SQLite store (a sync reads every account and person), or a
    whole column of it (`whole`: everyone's states of a few attributes), goes straight to the
    driver: SQLAlchemy's per-row fetching and per-column JSON processing cost more than the
    query. Anything else goes through SQLAlchemy as usual."""
    connection = session.connection()
    if whole and connection.dialect.name == "sqlite":
        compiled = statement.compile(dialect=connection.dialect)
        if compiled.params:  # e.g. the names of the attributes wanted: written in the text
            compiled = statement.compile(
                dialect=connection.dialect, compile_kwargs={"literal_binds": True}
            )
        dbapi = connection.connection.dbapi_connection
        if dbapi is not None:
            return dbapi.execute(str(compiled)), True
    return session.execute(statement), False


def load_accounts(
    session: Session,
    *where: Any,
    details: bool = True,
    stop: Callable[[], bool] | None = None,
    fingerprints: dict[tuple[str, str], str] | None = None,
    filter_results: dict[tuple[str, str], str] | None = None,
    deferred: DeferredAccounts | None = None,
    groups: dict[str, dict[tuple[str, str], AccountRecord]] | None = None,
) -> list[AccountRecord]:
    """Every account as a record, or (`where`: conditions on the account table's columns)
    only those that match, with their grants. Without `details`, profiles and grants are left
    empty: the identity fields alone, read in a fraction of the time. `stop` is asked now and
    then; when it says so, `Stopped` is raised (a large store takes seconds).

    `fingerprints` and `filter_results` (given together): filled with each account's stored
    fingerprint and filter decision, keyed by (app, external id), from the same read (a sync
    needs them for every account: a second pass over the table cost a second at 100,000).
    `deferred` (with them, for every account of a SQLite store): each account's names,
    emails, profile and entitlements are read when first needed (engine.store.deferred);
    `groups` then receives them by app and key (`DeferredAccounts.records`)."""
    sidecar = fingerprints is not None and filter_results is not None
    a = Account.__table__.c  # type: ignore[attr-defined]
    if deferred is not None and sidecar and not where and details:
        narrow, direct = table_rows(
            session,
            select(*(a[name] for name in EAGER_COLUMNS), a.fingerprint, a.filter_result).order_by(
                a.id
            ),
            True,
        )
        if direct:  # straight from the driver: a SQLite store (the grants read when needed)
            assert fingerprints is not None and filter_results is not None
            return deferred.records(checked(narrow, stop), fingerprints, filter_results, groups)
    grants: dict[int, list[str]] = defaultdict(list)
    g = Grant.__table__  # type: ignore[attr-defined]
    e = Entitlement.__table__  # type: ignore[attr-defined]
    granted = select(g.c.account_id, e.c.external_id).join(e, e.c.id == g.c.entitlement_id)
    if where:
        granted = granted.where(g.c.account_id.in_(select(a.id).where(*where)))
    grant_rows, _ = table_rows(session, granted, not where) if details else ((), False)
    for account_id, ent in grant_rows:
        grants[account_id].append(ent)
    rows, text = table_rows(
        session,
        select(
            *(a[name] if details or name != "profile" else null() for name in ACCOUNT_COLUMNS),
            *((a.fingerprint, a.filter_result) if sidecar else ()),
        )
        .where(*where)
        .order_by(a.id),
        not where,
    )
    return accounts_from_rows(rows, grants, text, stop, fingerprints, filter_results)


def load_users(
    session: Session, *where: Any, stop: Callable[[], bool] | None = None
) -> list[UserRecord]:
    """Every person as a record, or (`where`: conditions on the person table's columns) only
    those that match. `stop`: see `load_accounts`."""
    p = Person.__table__.c  # type: ignore[attr-defined]
    rows, text = table_rows(
        session,
        select(*(p[name] for name in USER_COLUMNS)).where(*where).order_by(p.id),
        not where,
    )
    return users_from_rows(rows, text, stop)


def load_population(session: Session) -> Population:
    e = Entitlement.__table__.c  # type: ignore[attr-defined]
    names = {(r[0], r[1]): r[2] for r in session.execute(select(e.app_id, e.external_id, e.name))}
    return Population(load_users(session), load_accounts(session), names)


# --- configuration -------------------------------------------------------------------------


def load_config_document(session: Session) -> dict[str, Any]:
    """The stored configuration as one document (the shape of the YAML file)."""
    document: dict[str, Any] = {"version": 1}
    try:
        for row in session.scalars(select(ConfigObject)):
            if row.body is not None:
                document[row.section] = row.body
    except DamagedRecord as exc:
        raise DamagedRecord(f"The stored configuration is damaged. {exc.message}") from None
    return document


def load_config(session: Session) -> RosterConfig:
    """The stored configuration as the typed model every stage reads (an empty store gives the
    empty configuration); ConfigInvalid when the stored document is damaged."""
    return from_document(load_config_document(session))


def config_versions(session: Session) -> dict[str, str]:
    return {row.section: row.version for row in session.scalars(select(ConfigObject))}


def save_config_document(
    session: Session, document: dict[str, Any], *, actor: str, audit: bool = True
) -> list[str]:
    """Replace the stored configuration; audit every section that changed (`audit=False`: the
    caller writes its own audit event, as an object edit does). Caller commits."""
    existing = {row.section: row for row in session.scalars(select(ConfigObject))}
    changed: list[str] = []
    now = utcnow()
    for section in CONFIG_SECTIONS:
        body = document.get(section)
        version = stable_hash(body)
        row = existing.get(section)
        if row is not None and row.version == version:
            continue
        changed.append(section)
        if audit:
            session.add(
                AuditEvent(
                    at=now,
                    actor=actor,
                    action="config.import",
                    object_kind="config",
                    object_name=section,
                    before=row.body if row else None,
                    after=body,
                )
            )
        if row is None:
            session.add(
                ConfigObject(
                    section=section, body=body, version=version, updated_at=now, updated_by=actor
                )
            )
        else:
            row.body, row.version, row.updated_at, row.updated_by = body, version, now, actor
            session.add(row)
    for section in set(existing) - set(CONFIG_SECTIONS):
        session.execute(delete(ConfigObject).where(col(ConfigObject.section) == section))
    return changed


#: The PostgreSQL advisory lock held by a transaction that writes the configuration
CONFIG_LOCK_KEY = 0x526F737443666E  # "RostCfn"


def lock_config(session: Session) -> None:
    """Begin a transaction that writes the configuration holding it, before it reads the
    version it checks: two admins saving at once on PostgreSQL both passed the check (read
    committed) and one's change was lost, or both kept into an invalid whole (team review).
    A server waits here for the other writer's commit; SQLite takes its write lock at this
    first write (a deferred transaction would check a snapshot another writer may pass)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CONFIG_LOCK_KEY})
    else:
        session.execute(update(Meta).where(col(Meta.key) == "config_lock").values(value=""))


def save_config(
    session: Session, config: RosterConfig, *, actor: str, audit: bool = True
) -> list[str]:
    """Replace the stored configuration with `config`; the sections that changed. Caller
    commits."""
    return save_config_document(session, to_document(config), actor=actor, audit=audit)


def get_meta(session: Session, key: str, default: str = "") -> str:
    row = session.get(Meta, key)
    return row.value if row else default


def _store_folder(session: Session) -> Path | None:
    """The folder of a SQLite store's file (None for a server database or one in memory)."""
    url = session.get_bind().engine.url
    database = url.database
    if url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    return Path(database).resolve().parent


def config_base_dir(session: Session) -> Path | None:
    """The folder the configuration's relative paths start from (None: none imported yet).

    Kept relative to the store's folder when it lies inside it (the demo's `r-demo/` beside
    `r.db`), so that a store copied or moved with its folder reads and writes its own app
    files, never the original's."""
    stored = get_meta(session, "config_base_dir", "")
    if not stored:
        return None
    path = Path(stored)
    if path.is_absolute():
        return path
    home = _store_folder(session)
    return home / path if home is not None else path.resolve()


def set_config_base_dir(session: Session, base_dir: Path) -> None:
    resolved = base_dir.resolve()
    home = _store_folder(session)
    if home is not None and resolved.is_relative_to(home):
        set_meta(session, "config_base_dir", str(resolved.relative_to(home)))
    else:
        set_meta(session, "config_base_dir", str(resolved))


def set_meta(session: Session, key: str, value: str) -> None:
    row = session.get(Meta, key)
    if row is None:
        session.add(Meta(key=key, value=value))
    else:
        row.value = value
        session.add(row)
