"""Reading and writing the store in bulk: records in, records out, configuration sections.

Reads use Core selects (no ORM object per row) so that loading 100,000 people stays fast.
"""

from __future__ import annotations

import getpass
import hashlib
import json
from collections import defaultdict
from typing import Any

from sqlalchemy import delete, select
from sqlmodel import Session

from engine.records import AccountRecord, Population, UserRecord
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

CONFIG_SECTIONS = ("settings", "apps", "directories", "attributes", "push_rules")


def current_actor() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "unknown"


def stable_hash(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# --- records -------------------------------------------------------------------------------


def load_accounts(session: Session) -> list[AccountRecord]:
    a = Account.__table__.c  # type: ignore[attr-defined]
    grants: dict[int, list[str]] = defaultdict(list)
    g = Grant.__table__  # type: ignore[attr-defined]
    e = Entitlement.__table__  # type: ignore[attr-defined]
    for account_id, ent in session.execute(
        select(g.c.account_id, e.c.external_id).join(e, e.c.id == g.c.entitlement_id)
    ):
        grants[account_id].append(ent)
    rows = session.execute(
        select(
            a.id,
            a.app_id,
            a.external_id,
            a.display_name,
            a.given_name,
            a.family_name,
            a.email,
            a.emails,
            a.username,
            a.usernames,
            a.employee_ids,
            a.status,
            a.type,
            a.manager,
            a.profile,
            a.owner_id,
            a.link_kind,
            a.pinned,
        ).order_by(a.id)
    )
    return [
        AccountRecord(
            id=r[0],
            app_id=r[1],
            external_id=r[2],
            display_name=r[3],
            given_name=r[4],
            family_name=r[5],
            email=r[6],
            emails=r[7] or [],
            username=r[8],
            usernames=r[9] or [],
            employee_ids=r[10] or [],
            status=r[11],
            type=r[12],
            manager=r[13],
            profile=r[14] or {},
            entitlements=sorted(grants.get(r[0], ())),
            owner_id=r[15],
            link_kind=r[16],
            pinned=bool(r[17]),
        )
        for r in rows
    ]


def load_users(session: Session) -> list[UserRecord]:
    p = Person.__table__.c  # type: ignore[attr-defined]
    rows = session.execute(
        select(
            p.id,
            p.email,
            p.emails,
            p.username,
            p.usernames,
            p.display_name,
            p.given_name,
            p.family_name,
            p.employee_id,
            p.employee_ids,
            p.status,
            p.type,
            p.attributes,
        ).order_by(p.id)
    )
    return [
        UserRecord(
            id=r[0],
            email=r[1],
            emails=r[2] or [],
            username=r[3],
            usernames=r[4] or [],
            display_name=r[5],
            given_name=r[6],
            family_name=r[7],
            employee_id=r[8],
            employee_ids=r[9] or [],
            status=r[10],
            type=r[11],
            attributes=r[12] or {},
        )
        for r in rows
    ]


def load_population(session: Session) -> Population:
    e = Entitlement.__table__.c  # type: ignore[attr-defined]
    names = {(r[0], r[1]): r[2] for r in session.execute(select(e.app_id, e.external_id, e.name))}
    return Population(load_users(session), load_accounts(session), names)


# --- configuration -------------------------------------------------------------------------


def load_config_document(session: Session) -> dict[str, Any]:
    """The stored configuration as one document (the shape of the YAML file)."""
    document: dict[str, Any] = {"version": 1}
    for row in session.execute(select(ConfigObject)).scalars():
        if row.body is not None:
            document[row.section] = row.body
    return document


def config_versions(session: Session) -> dict[str, str]:
    return {row.section: row.version for row in session.execute(select(ConfigObject)).scalars()}


def save_config_document(session: Session, document: dict[str, Any], *, actor: str) -> list[str]:
    """Replace the stored configuration; audit every section that changed. Caller commits."""
    existing = {row.section: row for row in session.execute(select(ConfigObject)).scalars()}
    changed: list[str] = []
    now = utcnow()
    for section in CONFIG_SECTIONS:
        body = document.get(section)
        version = stable_hash(body)
        row = existing.get(section)
        if row is not None and row.version == version:
            continue
        changed.append(section)
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
        session.execute(delete(ConfigObject).where(ConfigObject.section == section))
    return changed


def get_meta(session: Session, key: str, default: str = "") -> str:
    row = session.get(Meta, key)
    return row.value if row else default


def set_meta(session: Session, key: str, value: str) -> None:
    row = session.get(Meta, key)
    if row is None:
        session.add(Meta(key=key, value=value))
    else:
        row.value = value
        session.add(row)
