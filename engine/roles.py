"""Who may do what with a store (DESIGN §14): viewer, operator, admin.

- viewer: look at everything and preview expressions;
- operator: also run syncs (a plan included: it takes the sync lock and is recorded as a run)
  and test an app's connection (it signs in with the app's credentials);
- admin: also change the configuration, link, unlink and pin accounts, create an account by
  hand, and grant or revoke roles.

The OS user who created the store is its admin; `roster users grant` manages the rest. The
actor is the process's OS user (engine.store.repo.current_actor), never an environment
variable. Someone with no role cannot open the store at all.

Roles guard what Roster does on an admin's behalf; they are not a wall around the data: who
can write the SQLite file, or holds the PostgreSQL credentials, can change it directly. Those
stay the operating system's and the database server's to guard (the store is created readable
by its owner only).
"""

from __future__ import annotations

import os
import pwd
import re
import shlex

from engine.errors import RosterError
from engine.text import printable

#: Each role may do what the ones before it may.
ROLES = ("viewer", "operator", "admin")
#: What each role adds to the one before it, for messages and `roster users`.
ADDS = {
    "viewer": "look at everything and preview expressions",
    "operator": "run syncs (plans too) and test app connections",
    "admin": "change the configuration, link, unlink and pin accounts, create accounts by hand "
    "and manage roles",
}


class NotPermitted(RosterError):
    """The OS user's role does not allow what was asked; nothing was done."""

    exit_code = 7  # scripts tell "not permitted" from bad input (README, exit codes)


#: How current_actor names a user id with no login name (some containers).
UID_NAME = re.compile(r"uid \d+")


def current_actor() -> str:
    """The OS user running this process, from its user id: never USER or LOGNAME, which anyone
    can set (docs/configuration.md, the audit: the actor of every run and audit event is the
    process's OS user)."""
    uid = os.getuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:  # a uid with no passwd entry (some containers): the uid itself
        return f"uid {uid}"


def permits(role: str | None, needed: str) -> bool:
    """Whether ROLE (None: no role) may do what NEEDED may."""
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


def refusal(user: str, role: str | None, needed: str, what: str, store: str = "") -> str:
    """Why USER (holding ROLE) may not do WHAT, and the command (on the store the option
    STORE names) an admin runs to grant the role it needs."""
    name = shown(user)
    held = (
        f"{name} is {article(role)} of this store"
        if role
        else f"{name} holds no role in this store"
    )
    command = " ".join(
        part for part in ("roster users grant", shlex.quote(name), needed, store) if part
    )
    return (
        f"{held}: {what} needs the {needed} role. Nothing was done. An admin can grant it: "
        f"{command}"
    )


def may(role: str) -> str:
    """Everything ROLE may do, for messages."""
    return "; ".join(ADDS[r] for r in ROLES[: ROLES.index(role) + 1])


def article(role: str) -> str:
    """ "a viewer", "an operator", "an admin"."""
    return f"{'an' if role[0] in 'aeiou' else 'a'} {role}"


def shown(user: str) -> str:
    """A user name as messages show it (names come from the store: text, escaped; a login
    name is at most 256 characters, and is shown whole so that a suggested command works)."""
    return printable(user, 300, one_line=True)
