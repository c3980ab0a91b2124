"""Loading a sync's working state from the store: records, fingerprints, stored filter
decisions, attribute values and the apps' last source versions."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, cast

from sqlalchemy import Result, func, select
from sqlmodel import Session, col

from engine.errors import DamagedRecord
from engine.records import AccountRecord
from engine.store.db import json_value
from engine.store.deferred import DeferredAccounts
from engine.store.models import AttributeValue, Meta, Person
from engine.store.repo import load_accounts, load_users, table_rows
from engine.store.rows import EMPTY_JSON, stored_time
from engine.sync.state import AttributeState, WorkState
from engine.text import printable


def load_state(
    session: Session, *, attributes: bool = True, deferred: DeferredAccounts | None = None
) -> WorkState:
    """The working state; `attributes=False` leaves the attribute values' states to be loaded
    for the people a run considers (`load_attribute_states`); `deferred`: the accounts' names,
    emails and profiles are read when first needed (a SQLite store; engine.store.deferred)."""
    fingerprints: dict[tuple[str, str], str] = {}
    filter_results: dict[tuple[str, str], str] = {}
    groups: dict[str, dict[tuple[str, str], AccountRecord]] = {}
    accounts = load_accounts(
        session,
        fingerprints=fingerprints,
        filter_results=filter_results,
        deferred=deferred,
        groups=groups,
    )
    state = WorkState(accounts, load_users(session), fingerprints, {}, groups or None)
    state.attributes_for = set()
    # no one else adds people, and the run holds the store's lock: the ids its new people
    # will have are known now, and CEL shows those (engine.cel.objects._stored_id)
    state.first_new_id = int(session.scalar(select(func.max(col(Person.id)))) or 0) + 1
    if attributes:
        load_attribute_states(session, state, None)
    state.filter_results = filter_results
    state.source_versions = per_app(session, "source_version:")
    state.import_cursors = per_app(session, "import_cursor:")
    state.sidecar_digests = per_app(session, "sidecar_digest:")
    return state


def per_app(session: Session, prefix: str) -> dict[str, str]:
    """app -> value of the meta keys `PREFIX<app>`."""
    rows = cast(
        "Result[str, str]",
        session.execute(
            select(col(Meta.key), col(Meta.value)).where(col(Meta.key).startswith(prefix))
        ),
    )
    return {key.removeprefix(prefix): value for key, value in rows}


def stored_last_seen(seen: Any, user_id: Any, attribute: str) -> dict[str, Any]:
    """What each source of a stored attribute value last showed (a map; none: empty). Anything
    else was written outside Roster: a DamagedRecord naming the person and attribute (it ended
    `roster explain` and the sync in a TypeError: review)."""
    if not seen:
        return {}
    if seen.__class__ is dict:
        return cast(dict[str, Any], seen)
    raise DamagedRecord(
        "The identity store's record of what the sources of attribute "
        f"{printable(attribute, 60)!r} of person {user_id} last showed is not a map "
        f"({printable(repr(seen), 60)}): the store was changed outside Roster. Nothing more "
        "was done; restore the store from a backup."
    )


def load_attribute_states(
    session: Session,
    state: WorkState,
    users: set[int] | None,
    names: Mapping[int, frozenset[str]] | None = None,
    *,
    only: Collection[str] | None = None,
) -> None:
    """The stored attribute states of `users` (None: everyone) that are not loaded yet; what
    this run already computed in memory stays. `names`: of the users it holds, only the
    states of the attributes it names (the run computes only those of them:
    engine.sync.attributes.narrowed, and writes only what it changed); they are loaded again
    whole if asked for whole. `only` (with `users` None): everyone's states of these
    attributes alone (a push plan computes only the attributes its rules read); the state
    then still counts as not holding everyone's."""
    if state.attributes_for is None:
        return  # everyone's are loaded
    v = AttributeValue.__table__.c  # type: ignore[attr-defined]
    columns = select(
        v.user_id, v.attribute, v.value, v.source, v.last_seen, v.ever_set, v.set_at, v.run_id
    )
    if users is None:
        queries = [columns] if only is None else []
        if only:
            queries.append(columns.where(v.attribute.in_(sorted(only))))
    else:
        wanted = sorted(u for u in users if u > 0 and u not in state.attributes_for)
        # by the attributes wanted of them (few sets: most people moved alike), None: all
        groups: dict[frozenset[str] | None, list[int]] = {}
        for user in wanted:
            groups.setdefault(names.get(user) if names is not None else None, []).append(user)
        state.attributes_for.update(groups.get(None, ()))
        # bounded: SQLite limits bound parameters
        queries = [
            columns.where(
                v.user_id.in_(some[start : start + 500]),
                *(() if attributes is None else (v.attribute.in_(sorted(attributes)),)),
            )
            for attributes, some in groups.items()
            if attributes is None or attributes
            for start in range(0, len(some), 500)
        ]
    attributes = state.attributes
    # a run sets its values at a few moments: each read once (datetimes are immutable)
    times: dict[Any, Any] = {None: None}
    # names, sources and texts repeat across people (a department, a country, the value a
    # source last showed, which is the value): one string each, not one per row (a third of
    # the memory of everyone's 1.4 million states at 100,000 people)
    shared: dict[Any, Any] = {}
    share = shared.setdefault
    for query in queries:
        # everyone's, of a SQLite store, straight from the driver: SQLAlchemy's processing
        # of two JSON columns and a date per row was most of reading 1.4 million (issue 11)
        rows, text = table_rows(session, query, users is None)
        for r in rows:
            name = share(r[1], r[1])
            key = (r[0], name)
            if key in attributes:
                continue
            if text:
                value = None if r[2] is None else json_value(r[2])
                if value.__class__ is str:
                    value = share(value, value)
                seen: Any = json_value(r[4]) if r[4] and r[4] not in EMPTY_JSON else None
                if seen.__class__ is dict:
                    for source, shown in seen.items():
                        if shown.__class__ is str:
                            seen[source] = share(shown, shown)
                when = times.get(r[6], times)
                if when is times:
                    when = times[r[6]] = stored_time(r[6])
                attributes[key] = AttributeState(
                    value,
                    share(r[3], r[3]),
                    stored_last_seen(seen, r[0], r[1]),
                    bool(r[5]),
                    when,
                    r[7],
                )
            else:
                attributes[key] = AttributeState(
                    r[2], r[3], stored_last_seen(r[4], r[0], r[1]), bool(r[5]), r[6], r[7]
                )
    if users is None and only is None:
        state.attributes_for = None
