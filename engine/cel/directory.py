"""The `c1.*` directory functions, answered from a Population.

They take the engine (for its current population and its record cache) as first argument;
the transpiler binds it, so expressions call `c1.user.v1.HasApp(subject, "github")`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from celpy import celtypes

from engine.records import AccountRecord, Directory, UserRecord, account_order, live, norm_key

from .objects import CelRecord
from .strings import CelFunctionError
from .values import FALSE, TRUE, StatusValue

if TYPE_CHECKING:
    from .engine import CelEngine

_STATUS_RANK = {"ENABLED": 0, "DISABLED": 1, "DELETED": 2}


def _population(engine: CelEngine, function: str) -> Directory:
    population = engine.population
    if population is None:
        raise CelFunctionError(f"{function}: no directory is loaded")
    return population


def _user(engine: CelEngine, value: Any, function: str) -> UserRecord:
    if isinstance(value, CelRecord) and isinstance(value.record, UserRecord):
        return value.record
    if isinstance(value, str):
        population = _population(engine, function)
        found = live(population.users_by_email(value)) or live([population.user_by_id(value)])
        if found:
            return found[0]
        raise CelFunctionError(f"{function}: no user matches that email or id")
    raise CelFunctionError(f"{function} needs a user (such as `subject`) as first argument")


def _app(value: Any, function: str) -> str:
    if not isinstance(value, str):
        raise CelFunctionError(f"{function} needs an app id (a string)")
    return str(value)


def _accounts_in(
    engine: CelEngine, user: UserRecord, app_id: str, function: str, *, live: bool = True
) -> list[AccountRecord]:
    """The person's accounts in the app; a DELETED account (gone from the app, kept for the
    record) counts only when `live` is False: nobody "has" an app whose account is gone."""
    accounts = _population(engine, function).accounts_of(user.id)
    if live:
        accounts = [a for a in accounts if a.status != "DELETED"]
    exact = [a for a in accounts if a.app_id == app_id]
    if not exact:
        wanted = norm_key(app_id)
        exact = [a for a in accounts if norm_key(a.app_id) == wanted]
    return sorted(exact, key=account_order)  # the same order whichever run loaded them


def has_app(engine: CelEngine, user: Any, app_id: Any) -> Any:
    name = "c1.user.v1.HasApp"
    return (
        TRUE if _accounts_in(engine, _user(engine, user, name), _app(app_id, name), name) else FALSE
    )


def has_entitlement(engine: CelEngine, user: Any, app_id: Any, entitlement: Any) -> Any:
    name = "c1.user.v1.HasEntitlement"
    record = _user(engine, user, name)
    app = _app(app_id, name)
    wanted = norm_key(entitlement)
    population = _population(engine, name)
    for account in _accounts_in(engine, record, app, name):
        for ent in account.entitlements:
            if ent == entitlement or norm_key(ent) == wanted:
                return TRUE
            label = population.entitlement_label(account.app_id, ent)
            if label is not None and norm_key(label) == wanted:
                return TRUE
    return FALSE


def get_app_user_status(engine: CelEngine, user: Any, app_id: Any) -> Any:
    name = "c1.user.v1.GetAppUserStatus"
    accounts = _accounts_in(engine, _user(engine, user, name), _app(app_id, name), name, live=False)
    if not accounts:
        return StatusValue("USER_STATUS_UNSPECIFIED")
    best = min(accounts, key=lambda a: _STATUS_RANK.get(a.status.upper(), 3))
    return StatusValue("USER_STATUS_" + best.status.upper())


def list_app_users_for_user(engine: CelEngine, user: Any, app_id: Any) -> Any:
    name = "c1.user.v1.ListAppUsersForUser"
    accounts = _accounts_in(engine, _user(engine, user, name), _app(app_id, name), name)
    return celtypes.ListType([engine.account(a) for a in accounts])


def find_by_email(engine: CelEngine, email: Any) -> Any:
    name = "c1.directory.users.v1.FindByEmail"
    if not isinstance(email, str):
        raise CelFunctionError(f"{name} needs an email address (a string)")
    found = live(_population(engine, name).users_by_email(email))
    if not found:
        raise CelFunctionError(f"{name}: no user has that email address")
    return engine.user(found[0])


def find_by_name(engine: CelEngine, display_name: Any) -> Any:
    name = "c1.directory.users.v1.FindByName"
    if not isinstance(display_name, str):
        raise CelFunctionError(f"{name} needs a display name (a string)")
    found = live(_population(engine, name).users_by_name(display_name))
    if not found:
        raise CelFunctionError(f"{name}: no user has that display name")
    return engine.user(found[0])


def get_by_id(engine: CelEngine, user_id: Any) -> Any:
    name = "c1.directory.users.v1.GetByID"
    found = live([_population(engine, name).user_by_id(user_id)])
    if not found:
        raise CelFunctionError(f"{name}: no user has that id")
    return engine.user(found[0])


def get_managers(engine: CelEngine, user: Any) -> Any:
    name = "c1.directory.users.v1.GetManagers"
    record = _user(engine, user, name)
    return celtypes.ListType(
        [engine.user(u) for u in live(_population(engine, name).managers_of(record))]
    )


def direct_reports(engine: CelEngine, user: Any) -> Any:
    name = "c1.directory.users.v1.DirectReports"
    record = _user(engine, user, name)
    return celtypes.ListType(
        [engine.user(u) for u in live(_population(engine, name).direct_reports(record))]
    )


def get_entitlement_members(engine: CelEngine, app_id: Any, entitlement: Any) -> Any:
    name = "c1.directory.apps.v1.GetEntitlementMembers"
    population = _population(engine, name)
    app = _app(app_id, name)
    ent = str(entitlement)
    members = population.entitlement_members(app, ent)
    if not members:
        named = population.entitlement_named(app, ent)
        if named is not None:
            members = population.entitlement_members(app, named)
    unique = {u.id: u for u in live(members)}
    return celtypes.ListType([engine.user(u) for u in unique.values()])


# qualified name -> (function taking the engine first, result kind for the checker)
#: The functions that read only the accounts of the person they are given: called on the
#: expression's own person (`subject`, `user`), they read nothing beyond that person's record
#: and accounts, so a sync need not reconsider everyone for them (engine/sync/incremental.py).
#: Those of OWN_ACCOUNT_FUNCTIONS that return the accounts themselves (their data), not only
#: whether they exist, their status or their grants.
OWN_ACCOUNT_DATA_FUNCTIONS = frozenset(
    {"c1.user.v1.ListAppUsersForUser", "c1.user.v1.GetAppUsersForUser"}
)
OWN_ACCOUNT_FUNCTIONS = frozenset(
    {
        "c1.user.v1.HasApp",
        "c1.user.v1.HasEntitlement",
        "c1.user.v1.GetAppUserStatus",
        "c1.user.v1.ListAppUsersForUser",
        "c1.user.v1.GetAppUsersForUser",
    }
)

DIRECTORY_FUNCTIONS: dict[str, tuple[Any, str]] = {
    "c1.user.v1.HasApp": (has_app, "bool"),
    "c1.user.v1.HasEntitlement": (has_entitlement, "bool"),
    "c1.user.v1.GetAppUserStatus": (get_app_user_status, "status"),
    "c1.user.v1.ListAppUsersForUser": (list_app_users_for_user, "list:account"),
    "c1.user.v1.GetAppUsersForUser": (list_app_users_for_user, "list:account"),
    "c1.directory.users.v1.FindByEmail": (find_by_email, "user"),
    "c1.directory.users.v1.FindByName": (find_by_name, "user"),
    "c1.directory.users.v1.GetByID": (get_by_id, "user"),
    "c1.directory.users.v1.GetManagers": (get_managers, "list:user"),
    "c1.directory.users.v1.DirectReports": (direct_reports, "list:user"),
    "c1.directory.apps.v1.GetEntitlementMembers": (get_entitlement_members, "list:user"),
}
