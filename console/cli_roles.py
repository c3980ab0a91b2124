"""`roster users`: who may use this store, and with which role (DESIGN §14, engine.roles)."""

from __future__ import annotations

import pwd
import shlex

import click

from console.cli import _emit, _guard, _services, _store_options, echo, main
from engine.roles import ADDS, ROLES, UID_NAME, article, may, shown


@main.group(invoke_without_command=True)
@_store_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
@_guard
def users(ctx: click.Context, as_json: bool) -> None:
    """Who may use this store: each OS user's role (viewer, operator, admin).

    With no command, lists them. A viewer looks and previews; an operator also runs syncs and
    tests app connections; an admin also changes the configuration, links and pins accounts,
    creates accounts by hand and grants roles. The OS user who created the store is its admin.
    """
    if ctx.invoked_subcommand is not None:
        return
    services = _services()
    grants = services.role_grants()
    if as_json:
        _emit(
            {"you": services.actor, "role": services.role(), "users": [g.as_dict() for g in grants]}
        )
        return
    from engine.store.role_grants import CREATOR

    echo(f"You are {shown(services.actor)} ({services.role() or 'no role'}).")
    for grant in grants:
        when = grant.granted_at.strftime("%Y-%m-%d %H:%M")
        # the store's creator has no granter: "created the store", not "by (created the store)"
        how = (
            "created the store" if grant.granted_by == CREATOR else f"by {shown(grant.granted_by)}"
        )
        echo(f"  {shown(grant.os_user):<20} {grant.role:<9} {how}, {when} UTC")
    echo("Roles: " + "; ".join(f"{role}: {ADDS[role]}" for role in ROLES) + ".")


@users.command("grant")
@_store_options
@click.argument("user", metavar="OS_USER")
@click.argument("role", type=click.Choice(ROLES))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_guard
def users_grant(user: str, role: str, as_json: bool) -> None:
    """Give OS_USER (a login name on this machine) ROLE, replacing the role they held.

    Only an admin may; the store always keeps one admin. Recorded in the audit (roster audit).
    """
    grant = _services().grant_role(user, role)
    if as_json:
        _emit(grant.as_dict())
        return
    echo(f"{shown(grant.os_user)} is now {article(grant.role)}: they may {may(grant.role)}.")
    if not _a_user_here(grant.os_user):
        # a team's server store is opened from other machines too: said, not refused
        echo(
            f"Warning: there is no user {shown(grant.os_user)} on this machine: check the "
            f"spelling (roster users revoke {shlex.quote(grant.os_user)} takes it back).",
            err=True,
        )


def _a_user_here(name: str) -> bool:
    if UID_NAME.fullmatch(name):
        return True
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@users.command("revoke")
@_store_options
@click.argument("user", metavar="OS_USER")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_guard
def users_revoke(user: str, as_json: bool) -> None:
    """Take OS_USER's role away: they can no longer open the store with Roster.

    Only an admin may; the store's last admin cannot be revoked. Recorded in the audit.
    """
    held = _services().revoke_role(user)
    if as_json:
        _emit({"user": user, "revoked": held})
        return
    echo(
        f"{shown(user)} no longer holds a role (was {held}): Roster will not open the store "
        "for them."
    )
