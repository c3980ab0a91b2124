"""The store's role grants (engine.roles says what each role may do)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlmodel import Session, col

from engine.errors import InvalidInput, NotFound
from engine.roles import ROLES, UID_NAME, NotPermitted, permits, refusal, shown
from engine.store.models import AuditEvent, RoleGrant, utcnow
from engine.text import printable

CREATOR = "(created the store)"
MAX_NAME = 256


@dataclass(frozen=True)
class Grant:
    os_user: str
    role: str
    granted_by: str
    granted_at: datetime

    def as_dict(self) -> dict[str, str]:
        return {
            "user": self.os_user,
            "role": self.role,
            "granted_by": self.granted_by,
            "granted_at": self.granted_at.isoformat(),
        }


def role_of(session: Session, user: str) -> str | None:
    grant = session.get(RoleGrant, user)
    return grant.role if grant is not None and grant.role in ROLES else None


def grants(session: Session) -> list[Grant]:
    """Every grant, admins first, then by name."""
    found = [
        Grant(r.os_user, r.role, r.granted_by, r.granted_at)
        for r in session.scalars(select(RoleGrant))
    ]
    rank = {role: position for position, role in enumerate(reversed(ROLES))}
    return sorted(found, key=lambda g: (rank.get(g.role, len(ROLES)), g.os_user))


def ensure_admin(session: Session, user: str) -> bool:
    """A store nobody holds a role in (new, or from before roles with no history to tell who
    created it): USER, who is creating or first opening it, becomes its admin (audited).
    True if so."""
    if session.scalar(select(func.count()).select_from(RoleGrant)):
        return False
    session.add(RoleGrant(os_user=user, role="admin", granted_by=CREATOR))
    _audit(session, user, "role.grant", user, None, "admin")  # (granted_by says why)
    session.commit()
    return True


def require(session: Session, user: str, needed: str, what: str) -> str:
    """USER's role, if it may do what NEEDED may; else NotPermitted saying how to get it."""
    role = role_of(session, user)
    if role is None or not permits(role, needed):
        raise NotPermitted(refusal(user, role, needed, what))
    return role


def grant(session: Session, actor: str, user: str, role: str, store: str = "") -> Grant:
    """Give USER the role ROLE (replacing the one they held), as ACTOR (an admin); audited."""
    require(session, actor, "admin", "granting roles")
    user = _checked_name(user)
    if role not in ROLES:
        raise InvalidInput(
            f"unknown role {printable(role, 40, one_line=True)!r}: the roles are {', '.join(ROLES)}"
        )
    _lock_admins(session)
    before = role_of(session, user)
    row = session.get(RoleGrant, user) or RoleGrant(os_user=user)
    row.role, row.granted_by, row.granted_at = role, actor, utcnow()
    session.add(row)
    _audit(session, actor, "role.grant", user, before, role)
    session.flush()
    if before == "admin" and role != "admin":
        _keep_an_admin(session, user, store)
    session.commit()
    return Grant(row.os_user, row.role, row.granted_by, row.granted_at)


def revoke(session: Session, actor: str, user: str, store: str = "") -> str:
    """Take USER's role away, as ACTOR (an admin); audited. The role they held."""
    require(session, actor, "admin", "revoking roles")
    user = user.strip()
    _lock_admins(session)
    row = session.get(RoleGrant, user)
    if row is None:
        raise NotFound(
            f"{shown(user)} has no role in this store to revoke (roster users lists who has one)"
        )
    held = row.role
    session.delete(row)
    _audit(session, actor, "role.revoke", user, held, None)
    session.flush()
    if held == "admin":
        _keep_an_admin(session, user, store)
    session.commit()
    return held


def _lock_admins(session: Session) -> None:
    """Begin the change holding the store's admins: two admins demoting or revoking each other
    at once left a store nobody could manage (hostile review). A server locks the admins'
    rows until this transaction ends; SQLite locks the whole store at the first write, which
    the change makes before it counts the admins left."""
    session.execute(
        select(col(RoleGrant.os_user)).where(col(RoleGrant.role) == "admin").with_for_update()
    )


def _keep_an_admin(session: Session, user: str, store: str = "") -> None:
    """After the change (not yet committed): refuse it, undone, if no admin is left."""
    admins = session.scalar(
        select(func.count()).select_from(RoleGrant).where(col(RoleGrant.role) == "admin")
    )
    if not admins:
        session.rollback()
        first = " ".join(part for part in ("roster users grant OTHER_USER admin", store) if part)
        raise InvalidInput(
            f"{shown(user)} is the store's only admin, so that role stays. Nothing was done. "
            f"Grant another admin first ({first}), so that someone can still manage the store"
        )


def _audit(
    session: Session, actor: str, action: str, user: str, before: str | None, after: str | None
) -> None:
    session.add(
        AuditEvent(
            actor=actor,
            action=action,
            object_kind="role",
            object_name=user,
            before={"role": before} if before else None,
            after={"role": after} if after else None,
        )
    )


def _checked_name(user: str) -> str:
    name = user.strip()
    if not name:
        raise InvalidInput("name the OS user to grant a role to (their login name)")
    if UID_NAME.fullmatch(name):
        return name
    if len(name) > MAX_NAME or name != printable(name, None, one_line=True) or " " in name:
        raise InvalidInput(
            f"‘{shown(name)}’ is not an OS user name: a login name has no spaces or control "
            f"characters and at most {MAX_NAME} characters"
        )
    return name
