"""Writing an applied run's state to the store: one transaction per stage, batched statements,
never a commit per row. New records get their real ids here (they had negative ids in memory)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import JSON, Date, DateTime, bindparam, delete, func, select, update
from sqlmodel import Session, col

from engine.connectors.fingerprint import fingerprint, fingerprint_in
from engine.records import ACCOUNT_DATA_FIELDS, AccountRecord, json_text
from engine.store.models import (
    AccessRequest,
    Account,
    App,
    AttributeValue,
    AuditEvent,
    Change,
    Entitlement,
    ExternalWrite,
    Grant,
    Person,
    PushExecution,
    Run,
    utcnow,
)
from engine.store.repo import set_meta
from engine.sync import by_hand
from engine.sync.importer import copy_listed as _copy_listed
from engine.sync.incremental import run_versions
from engine.sync.reads import renumbered
from engine.sync.state import PlannedChange, WorkState, moved_fields, same_data

BATCH = 5000
ACCOUNT = Account.__table__  # type: ignore[attr-defined]
PERSON = Person.__table__  # type: ignore[attr-defined]
CHANGE = Change.__table__  # type: ignore[attr-defined]
GRANT = Grant.__table__  # type: ignore[attr-defined]
ATTRIBUTE_VALUE = AttributeValue.__table__  # type: ignore[attr-defined]
PUSH_EXECUTION = PushExecution.__table__  # type: ignore[attr-defined]
EXTERNAL_WRITE = ExternalWrite.__table__  # type: ignore[attr-defined]


def _next_id(session: Session, model: Any) -> int:
    return int(session.scalar(select(func.max(model.id))) or 0) + 1


def _advance_sequence(session: Session, table: Any) -> None:
    """After inserts with explicit ids, move PostgreSQL's SERIAL sequence to max(id) so that later
    inserts without an id (the ORM's) do not collide. SQLite needs nothing: it uses max(rowid)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    sequence = func.pg_get_serial_sequence(f'"{table.name}"', "id")
    top = select(func.max(table.c.id)).scalar_subquery()
    session.execute(select(func.setval(sequence, top)))


def _batches(rows: list[dict[str, Any]]) -> Any:
    for start in range(0, len(rows), BATCH):
        yield rows[start : start + BATCH]


def _chunks(rows: Iterable[Any]) -> Iterator[list[Any]]:
    """`rows` a BATCH at a time, drawn from any iterable: only one batch is built at once."""
    batch: list[Any] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _statement_parts(session: Session) -> tuple[Any, Any, str]:
    """(the connection, its dialect, the driver's positional placeholder)."""
    connection = session.connection()
    dialect = connection.dialect
    # SQLite's driver takes `?`, psycopg `%s`; the store supports only these two
    return connection, dialect, "?" if dialect.paramstyle == "qmark" else "%s"


def _processors(dialect: Any, table: Any, columns: Sequence[str]) -> list[tuple[int, Any]]:
    """The column types' own bind processors (JSON, dates, booleans), applied to the values so
    the store holds exactly what the ORM would write."""
    found = []
    for position, name in enumerate(columns):
        if dialect.name == "sqlite" and isinstance(table.c[name].type, JSON):
            found.append((position, json_text))  # what SQLAlchemy's processor calls, directly
            continue
        kind = table.c[name].type
        processor = kind._cached_bind_processor(dialect)
        if processor is not None:
            found.append((position, _again(processor) if _is_time(kind) else processor))
    return found


def _is_time(kind: Any) -> bool:
    """A date or time column, or one decorating one (sqlmodel's UTCDateTime)."""
    return isinstance(kind, Date | DateTime) or isinstance(
        getattr(kind, "impl", None), Date | DateTime
    )


def _again(processor: Any) -> Any:
    """A date or time column's processor that answers the value it was just given (the same
    object) without formatting it again: a stage writes its one `now` into every row, and
    formatting it anew per row cost a first sync of 10,000 people 0.7 s (issue 11)."""
    last: list[Any] = [_NONE, None]

    def process(value: Any) -> Any:
        if value is last[0]:
            return last[1]
        last[1] = processor(value)
        last[0] = value
        return last[1]

    return process


_NONE = object()


def _run(
    connection: Any, sql: str, rows: Iterable[Sequence[Any]], processors: list[tuple[int, Any]]
) -> None:
    """Execute `sql` once per row, a batch at a time (one executemany per batch)."""
    for batch in _chunks(rows):
        if processors:
            prepared = []
            for row in batch:
                values = list(row)
                for position, processor in processors:
                    values[position] = processor(values[position])
                prepared.append(tuple(values))
            batch = prepared
        on_batch(sql)
        connection.exec_driver_sql(sql, batch)


def on_batch(sql: str) -> None:
    """Called before each batch is written (tests stop a process here, inside a stage)."""


def insert_rows(
    session: Session, table: Any, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """INSERT one row per tuple of `rows` (values in the order of `columns`), set-based: a
    driver-level executemany per batch over prepared tuples, never the ORM."""
    connection, dialect, marker = _statement_parts(session)
    quote = dialect.identifier_preparer.quote
    # the columns not given take their model defaults, as an ORM or Core insert would
    defaults = {
        column.name: column.default.arg if column.default.is_scalar else column.default.arg(None)
        for column in table.c
        if column.name not in columns and column.default is not None
    }
    if defaults:
        extra = tuple(defaults.values())
        columns = (*columns, *defaults)
        rows = ((*row, *extra) for row in rows)
    sql = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "
        f"VALUES ({', '.join(marker for _ in columns)})"
    )
    _run(connection, sql, rows, _processors(dialect, table, columns))


def delete_rows(
    session: Session, table: Any, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """DELETE the rows whose `columns` hold each tuple's values, a batch at a time."""
    connection, dialect, marker = _statement_parts(session)
    quote = dialect.identifier_preparer.quote
    where = " AND ".join(f"{quote(c)} = {marker}" for c in columns)
    _run(connection, f"DELETE FROM {quote(table.name)} WHERE {where}", rows, [])


def update_rows(
    session: Session, table: Any, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """UPDATE `columns` of the row whose id is each tuple's last value (the others are in the
    order of `columns`), a batch at a time."""
    connection, dialect, marker = _statement_parts(session)
    quote = dialect.identifier_preparer.quote
    sql = (
        f"UPDATE {quote(table.name)} SET {', '.join(f'{quote(c)} = {marker}' for c in columns)} "
        f"WHERE {quote('id')} = {marker}"
    )
    _run(connection, sql, rows, _processors(dialect, table, columns))


ACCOUNT_COLUMNS = ("app_id", "external_id", *ACCOUNT_DATA_FIELDS, "fingerprint")


def _account_values(state: WorkState, account: AccountRecord) -> tuple[Any, ...]:
    key = (account.app_id, account.external_id)
    return (
        account.app_id,
        account.external_id,
        *[getattr(account, name) for name in ACCOUNT_DATA_FIELDS],
        state.fingerprints.get(key, ""),
    )


def _account_row(state: WorkState, account: AccountRecord) -> dict[str, Any]:
    return dict(zip(ACCOUNT_COLUMNS, _account_values(state, account), strict=True))


CHANGE_COLUMNS = (
    "run_id", "stage", "object_type", "object_id", "field", "old", "new", "reason", "applied",
)  # fmt: skip


def journal(session: Session, run_id: int, changes: list[PlannedChange], applied: bool) -> None:
    insert_rows(
        session,
        CHANGE,
        CHANGE_COLUMNS,
        (
            (run_id, c.stage, c.object_type, c.object_id, c.field, c.old, c.new, c.reason, applied)
            for c in changes
        ),
    )


def write_import(
    session: Session,
    state: WorkState,
    run_id: int,
    imported: set[str],
    import_errors: dict[str, str],
) -> None:
    """The apps' accounts. A new account is written with its owner, whom `write_people` (in
    the same transaction, before this) has written: one insert, not an insert and an update of
    its link (half a million updates in a first sync of 100,000 people)."""
    now = utcnow()
    new = [state.accounts[k] for k in sorted(state.new_accounts)]
    next_id = _next_id(session, Account)
    for account in new:  # ids are given here: one sync at a time holds the store (sync lock)
        account.id, next_id = next_id, next_id + 1
    insert_rows(
        session,
        ACCOUNT,
        ("id", *ACCOUNT_COLUMNS, *LINK_COLUMNS, "first_seen", "last_seen"),
        ((a.id, *_account_values(state, a), *_link_values(state, a), now, now) for a in new),
    )
    if new:
        _advance_sequence(session, ACCOUNT)
    dirty = [state.accounts[k] for k in sorted(state.dirty_accounts - state.new_accounts)]
    update_rows(
        session,
        ACCOUNT,
        (*ACCOUNT_COLUMNS, "last_seen"),
        ((*_account_values(state, a), now, a.id) for a in dirty),
    )
    # a record whose data is the same under another digest: only its fingerprint is stored
    update_rows(
        session,
        ACCOUNT,
        ("fingerprint",),
        (
            (state.fingerprints[k], state.accounts[k].id)
            for k in sorted(state.refingerprinted - state.dirty_accounts - state.new_accounts)
        ),
    )
    for app_id in sorted(state.dirty_grants):
        _write_grants(session, state, app_id)
    for app_id in sorted(state.listings.keys() - state.dirty_grants):
        # the catalogue alone: an entitlement renamed or added without any grant changing
        _write_entitlements(session, app_id, state.listings[app_id])
    for app_id in sorted(imported):
        counts = state.import_counts.get(app_id, {})
        session.execute(
            update(App)
            .where(col(App.id) == app_id)
            .values(last_import_at=now, last_import_status="ok", last_import_counts=counts)
        )
    for app_id, error in import_errors.items():
        session.execute(update(App).where(col(App.id) == app_id).values(last_import_status=error))
    for app_id, version in state.new_source_versions.items():
        set_meta(session, f"source_version:{app_id}", version)
    for app_id, cursor in state.new_import_cursors.items():
        set_meta(session, f"import_cursor:{app_id}", cursor)
    for app_id, digest in state.new_sidecar_digests.items():
        set_meta(session, f"sidecar_digest:{app_id}", digest)
    journal(session, run_id, [c for c in state.changes if c.stage == "import"], True)


def _write_entitlements(session: Session, app_id: str, listing: Any) -> dict[str, Entitlement]:
    """The app's entitlements as LISTING names them (added or renamed; one the app no longer
    lists stays, with its grants' history); returns every stored one by external id."""
    existing = {
        row.external_id: row
        for row in session.scalars(select(Entitlement).where(col(Entitlement.app_id) == app_id))
    }
    for item in listing.entitlements:
        row = existing.get(item.external_id)
        if row is None:
            row = Entitlement(
                app_id=app_id,
                external_id=item.external_id,
                name=item.name,
                description=item.description,
            )
            session.add(row)
            existing[item.external_id] = row
        elif (row.name, row.description) != (item.name, item.description):
            row.name, row.description = item.name, item.description
            session.add(row)
    session.flush()
    return existing


def _write_grants(session: Session, state: WorkState, app_id: str) -> None:
    listing = state.listings.get(app_id)
    if listing is None:
        return
    existing = _write_entitlements(session, app_id, listing)
    account_ids = [a.id for a in state.accounts_of_app(app_id)]
    for start in range(0, len(account_ids), 500):  # bounded: SQLite limits bound parameters
        chunk = account_ids[start : start + 500]
        session.execute(delete(Grant).where(col(Grant.account_id).in_(chunk)))
    rows = []
    for account in state.accounts_of_app(app_id):
        for ent in account.entitlements:
            if ent not in existing:  # a grant of an entitlement the app does not list
                row = Entitlement(app_id=app_id, external_id=ent, name=ent)
                session.add(row)
                session.flush()
                existing[ent] = row
            rows.append((account.id, existing[ent].id))
    insert_rows(session, GRANT, ("account_id", "entitlement_id"), rows)


def write_people(session: Session, state: WorkState) -> None:
    """The people identify created (given their stored ids here) and changed: who they are,
    not their attributes, which `write_attributes` writes with their values' sources (a
    run stopped in between leaves no attribute without its source)."""
    now = utcnow()
    new_ids = sorted(state.new_users, reverse=True)  # temp ids are negative, in creation order
    next_id = _next_id(session, Person)
    first = state.first_new_id
    if first is not None and first >= next_id:  # the ids CEL was shown (Population.stored_id)
        mapping = {temp: first - temp - 1 for temp in new_ids}
    else:
        mapping = {temp: next_id + i for i, temp in enumerate(new_ids)}
    insert_rows(
        session,
        PERSON,
        ("id", *USER_COLUMNS, "attributes", "origin", "created_at", "updated_at"),
        (
            (mapping[t], *_user_values(state.users[t]), {}, state.user_origin.get(t, ""), now, now)
            for t in new_ids
        ),
    )
    if new_ids:
        _advance_sequence(session, PERSON)
    _renumber_users(state, mapping)
    state.first_new_id = None  # every person has their stored id now
    update_rows(
        session,
        PERSON,
        (*USER_COLUMNS, "updated_at"),
        (
            (*_user_values(state.users[u]), now, u)
            for u in sorted(state.dirty_users - set(mapping.values()))
            if u in state.users
        ),
    )


LINK_COLUMNS = ("owner_id", "link_kind", "pinned", "filter_result")


def _link_values(state: WorkState, account: AccountRecord) -> tuple[Any, ...]:
    key = (account.app_id, account.external_id)
    return (account.owner_id, account.link_kind, account.pinned, state.filter_results.get(key))


def write_links(session: Session, state: WorkState, run_id: int) -> None:
    """The links of stored accounts that identify and ownership changed (new accounts were
    written with theirs), and those stages' journal."""
    accounts = state.accounts
    update_rows(
        session,
        ACCOUNT,
        LINK_COLUMNS,
        (
            (*_link_values(state, accounts[key]), accounts[key].id)
            for key in sorted(state.dirty_links - state.new_accounts)
        ),
    )
    journal(
        session, run_id, [c for c in state.changes if c.stage in ("identify", "ownership")], True
    )


USER_COLUMNS = (
    "email", "emails", "username", "usernames", "display_name", "given_name", "family_name",
    "employee_id", "employee_ids", "status", "type",
)  # fmt: skip


def _user_values(user: Any) -> tuple[Any, ...]:
    return tuple(getattr(user, name) for name in USER_COLUMNS)


def _renumber_users(state: WorkState, mapping: dict[int, int]) -> None:
    if not mapping:
        return
    for temp, real in mapping.items():
        user = state.users.pop(temp)
        user.id = real
        state.users[real] = user
    for account in state.accounts.values():
        if account.owner_id in mapping:
            account.owner_id = mapping[account.owner_id]
    state.owners_moved()
    state.attributes = {(mapping.get(u, u), a): s for (u, a), s in state.attributes.items()}
    state.dirty_attributes = {(mapping.get(u, u), a) for u, a in state.dirty_attributes}
    moved = state.moved_at
    state.moved_at = dict(zip(renumbered(moved, mapping), moved.values(), strict=True))
    if state.reads is not None:
        state.reads.renumber(mapping)
    state.dirty_users = {mapping.get(u, u) for u in state.dirty_users}
    state.new_users = {mapping.get(u, u) for u in state.new_users}


def write_attributes(session: Session, state: WorkState, run_id: int) -> None:
    """Replace the stored states this run changed (`dirty_attributes`), and the changed
    people's copies of their values. Only those: a run loads, of a person touched only through
    some accounts, the states of the attributes that read them (engine.sync.loading)."""
    now = utcnow()
    dirty = sorted(state.dirty_attributes)
    new = state.new_users
    # a new person has no stored values to replace
    delete_rows(
        session, ATTRIBUTE_VALUE, ("user_id", "attribute"), (k for k in dirty if k[0] not in new)
    )
    attributes = state.attributes
    insert_rows(
        session,
        ATTRIBUTE_VALUE,
        ("user_id", "attribute", "value", "source", "set_at", "run_id", "last_seen", "ever_set"),
        (
            (u, a, s.value, s.source, s.set_at or now, s.run_id or run_id, s.last_seen, s.ever_set)
            for (u, a), s in zip(dirty, map(attributes.__getitem__, dirty), strict=True)
        ),
    )
    update_rows(
        session,
        PERSON,
        ("attributes", "updated_at"),
        (
            (state.users[u].attributes, now, u)
            for u in sorted(state.dirty_users)
            if u in state.users
        ),
    )
    journal(session, run_id, [c for c in state.changes if c.stage == "attributes"], True)


def write_push(
    session: Session,
    state: WorkState,
    run_id: int,
    pushes: list[Any],
    failures: dict[tuple[str, str], str],
    relisted: dict[str, tuple[Any, str | None]],
) -> None:
    """Record every push (success or the app's reason), journal what was written, and store
    what the pushed apps now list so the next import finds them unchanged."""
    now = utcnow()
    executions, changes = [], []
    for item in pushes:
        account = state.accounts.get((item.app_id, item.external_id))
        reason = item.error or failures.get((item.app_id, item.external_id), "")
        executions.append(
            {
                "run_id": run_id,
                "push_rule": item.rule,
                "user_id": account.owner_id if account else None,
                "account_id": account.id if account else None,
                "changes": {t: [old, new] for t, (old, new) in item.changes.items()},
                "success": not reason,
                "reason": reason,
                "at": now,
            }
        )
        for target, (old, new) in item.changes.items():
            changes.append(
                PlannedChange(
                    "push",
                    "account",
                    item.account_key,
                    target,
                    old,
                    new,
                    f"push rule {item.rule!r} for {item.user_label}"
                    + (f"; not written: {reason}" if reason else ""),
                )
            )
    if executions:
        session.connection().execute(PUSH_EXECUTION.insert(), executions)
    written = [c for c in changes if "; not written: " not in c.reason]
    refused = [c for c in changes if "; not written: " in c.reason]  # one pass each: no `in`
    journal(session, run_id, written, True)
    journal(session, run_id, refused, False)
    pushed: dict[tuple[str, str], set[str]] = {}  # account -> the profile keys pushed to it
    for item in pushes:
        pushed.setdefault((item.app_id, item.external_id), set()).update(item.changes)
    for app_id, (listing, version) in relisted.items():
        rows = []
        # in an app another program changed since the import, a record this run did not
        # write to is theirs: the next sync imports it (journal, filter and all), not this
        # read-back (pipeline._check_unchanged)
        only_pushed = app_id in state.changed_meanwhile
        for item in listing.accounts:
            key = (app_id, item.external_id)
            account = state.accounts.get(key)
            digest = fingerprint_in(listing, item)
            if account is None or state.fingerprints.get(key) == digest:
                continue
            if only_pushed and key not in pushed:
                continue
            before = _data_besides(account, pushed.get(key, set()))
            fields = [getattr(account, name) for name in ACCOUNT_DATA_FIELDS]
            _copy_listed(item, account)
            if not same_data(_data_besides(account, pushed.get(key, set())), before):
                state.read_back_moved.add(key)  # the app changed more than what was sent
            state.read_back_fields[key] = moved_fields(fields, account)
            state.fingerprints[key] = digest
            state.read_back.add(key)
            rows.append({**_account_row(state, account), "_id": account.id, "last_seen": now})
        statement = update(Account).where(col(Account.id) == bindparam("_id"))
        for batch in _batches(rows):
            session.connection().execute(statement, batch)
        if version is not None:
            set_meta(session, f"source_version:{app_id}", version)


def _data_besides(account: AccountRecord, keys: set[str]) -> tuple[Any, ...]:
    """The account's data but its profile's KEYS (what a push wrote)."""
    profile = {k: v for k, v in (account.profile or {}).items() if k not in keys}
    return (*(getattr(account, n) for n in ACCOUNT_DATA_FIELDS if n != "profile"), profile)


# --- writes to the apps: the intent before, the outcome after (docs/recovery.md) ------------------


def push_intent(item: Any) -> dict[str, Any]:
    """The intent of one planned push (engine.sync.push.PushItem): its account and values."""
    return {
        "kind": "push",
        "app_id": item.app_id,
        "external_id": item.external_id,
        "user_id": item.user_id,
        "label": item.user_label,
        "rule": item.rule,
        "values": {t: [old, new] for t, (old, new) in item.changes.items()},
    }


def creation_intent(creation: Any) -> dict[str, Any]:
    """The intent of one planned account creation (engine.sync.provisioning.Creation)."""
    return {
        "kind": "create",
        "app_id": creation.app_id,
        "external_id": "",
        "user_id": creation.user.id,
        "label": creation.user_label,
        "rule": creation.request_id,
        "values": dict(creation.values),
    }


def manual_creation_intent(plan: Any, app_id: str) -> dict[str, Any]:
    """The intent of an account an admin asked for (engine.provision.ProvisionPlan)."""
    return {
        "kind": "create",
        "app_id": app_id,
        "external_id": "",
        "user_id": plan.user_id,
        "label": plan.user,
        "rule": "",
        "values": plan.values(),
    }


def write_intents(session: Session, run_id: int, intents: list[dict[str, Any]]) -> list[int]:
    """Record what a run is about to write to the apps (one batched insert); returns the ids
    of the intents, in order, for `settle_writes`. Committed before anything is sent."""
    if not intents:
        return []
    now = utcnow()
    first = _next_id(session, ExternalWrite)  # one sync at a time holds the store (sync lock)
    rows = [
        {
            "id": first + i,
            "run_id": run_id,
            "outcome": "",
            "reason": "",
            "planned_at": now,
            "settled_at": None,
            "settled_by_run": None,
            **intent,
        }
        for i, intent in enumerate(intents)
    ]
    for batch in _batches(rows):
        session.connection().execute(EXTERNAL_WRITE.insert(), batch)
    _advance_sequence(session, EXTERNAL_WRITE)
    return [row["id"] for row in rows]


def settle_writes(
    session: Session,
    run_id: int,
    outcomes: list[tuple[int, str, str, str]],
    sent: list[int] | None = None,
) -> None:
    """Record the outcome of intents, by RUN_ID (the run that wrote them, or the sync that
    recovered them after a kill): OUTCOMES one by one, (intent id, outcome, reason, external
    id); SENT, ids of intents sent as they were planned, in one statement per run of
    consecutive ids (a full push sends hundreds of thousands and refuses a few)."""
    now = utcnow()
    ids = sorted(sent or ())
    start = 0
    while start < len(ids):
        end = start
        while end + 1 < len(ids) and ids[end + 1] == ids[end] + 1:
            end += 1
        session.execute(
            update(EXTERNAL_WRITE)
            .where(EXTERNAL_WRITE.c.id.between(ids[start], ids[end]))
            .values(outcome="sent", reason="", settled_at=now, settled_by_run=run_id)
        )
        start = end + 1
    rows = [
        {"_id": i, "outcome": outcome, "reason": reason, "external_id": external_id}
        for i, outcome, reason, external_id in outcomes
    ]
    statement = (
        update(EXTERNAL_WRITE)
        .where(EXTERNAL_WRITE.c.id == bindparam("_id"))
        .values(
            outcome=bindparam("outcome"),
            reason=bindparam("reason"),
            external_id=bindparam("external_id"),
            settled_at=now,
            settled_by_run=run_id,
        )
    )
    for batch in _batches(rows):
        session.connection().execute(statement, batch)


def write_provisioned(
    session: Session, state: WorkState, run_id: int, created: list[tuple[Any, Any]]
) -> None:
    """The new accounts, linked to their people at once, and journalled."""
    now = utcnow()
    next_id = _next_id(session, Account)
    rows, changes = [], []
    for creation, listed in created:
        account = AccountRecord(id=next_id, app_id=creation.app_id, external_id=listed.external_id)
        next_id += 1
        _copy_listed(listed, account)
        account.owner_id = creation.user.id
        account.link_kind = "provisioned"
        # granted with the account (its groups field; a list that names one twice grants it
        # once, as the app's file does: a second grant row broke this write and every retry)
        account.entitlements = list(dict.fromkeys(creation.groups))
        key = (creation.app_id, listed.external_id)
        state.accounts[key] = account
        state.fingerprints[key] = fingerprint(listed)
        state.read_back.add(key)
        rows.append(
            (
                account.id,
                *_account_values(state, account),
                account.owner_id,
                "provisioned",
                now,
                now,
            )
        )
        changes.append(
            PlannedChange(
                "provision",
                "account",
                f"{creation.app_id}:{listed.external_id}",
                "",
                None,
                creation.values,
                _created_reason(creation),
            )
        )
    insert_rows(
        session,
        ACCOUNT,
        ("id", *ACCOUNT_COLUMNS, "owner_id", "link_kind", "first_seen", "last_seen"),
        rows,
    )
    if rows:
        _advance_sequence(session, ACCOUNT)
    _write_new_grants(session, state, created)
    journal(session, run_id, changes, True)
    for creation, listed in created:  # the access requests they answer are fulfilled
        account_key = f"{creation.app_id}:{listed.external_id}"
        fulfil_requests(session, run_id, creation.fulfils(), account_key, creation.user.id, now)


def fulfil_requests(
    session: Session,
    run_id: int,
    request_ids: list[str],
    account: str,
    user_id: int | None,
    now: Any = None,
) -> None:
    """Mark access requests FULFILLED by ACCOUNT (created for them, or already there)."""
    if not request_ids:
        return
    session.execute(
        update(AccessRequest)
        .where(col(AccessRequest.request_id).in_(request_ids))
        .values(
            status="FULFILLED",
            fulfilled_run_id=run_id,
            fulfilled_at=now or utcnow(),
            account=account,
            user_id=user_id or None,
        )
    )


def _created_reason(creation: Any) -> str:
    """ "created for ann@x (approved access request REQ-1) and linked; granted lic-e5" """
    ids = [creation.request_id, *(r for r, _, _ in getattr(creation, "also", []))]
    granted = [
        e
        for e in [
            creation.entitlement if creation.granted else "",
            *(e for _, e, ok in getattr(creation, "also", []) if ok),
        ]
        if e
    ]
    asked = (
        f"(approved access request{'s' if len(ids) > 1 else ''} {', '.join(ids)}) and linked"
        if creation.request_id
        else "(asked for by an admin) and linked"
        if getattr(creation, "asked_in", None) is None
        else f"(asked for by an admin in run {creation.asked_in}, which was killed before "
        "it was made) and linked"
    )
    return f"created for {creation.user_label} {asked}" + (
        f"; granted {', '.join(dict.fromkeys(granted))}" if granted else ""
    )


def _write_new_grants(session: Session, state: WorkState, created: list[tuple[Any, Any]]) -> None:
    """The grants of newly created accounts (their `groups`), as the app now lists them: the
    provision stage records the app's new data version, so no import would read them."""
    rows = []
    for creation, listed in created:
        account = state.accounts.get((creation.app_id, listed.external_id))
        if account is None or not account.entitlements:
            continue
        for ent in account.entitlements:
            row = session.execute(
                select(Entitlement).where(
                    col(Entitlement.app_id) == creation.app_id,
                    col(Entitlement.external_id) == ent,
                )
            ).scalar_one_or_none()
            if row is None:
                row = Entitlement(app_id=creation.app_id, external_id=ent, name=ent)
                session.add(row)
                session.flush()
            rows.append({"account_id": account.id, "entitlement_id": row.id})
    for batch in _batches(rows):
        session.connection().execute(GRANT.insert(), batch)


def write_access_requests(session: Session, requests: list[Any]) -> None:
    """Import access requests (engine.sync.provisioning.AccessRequestItem) into the store by
    request id: new ones are added, known ones take the source's current values, and a
    fulfilled one stays fulfilled. Requests for apps the configuration does not have are left
    out (nothing could serve them)."""
    apps = set(session.scalars(select(col(App.id))))
    stored = {row.request_id: row for row in session.scalars(select(AccessRequest))}
    for item in requests:
        if item.app_id not in apps:
            continue
        row = stored.get(item.request_id) or AccessRequest(
            request_id=item.request_id, app_id=item.app_id
        )
        if row.status == "FULFILLED":
            continue
        row.user_email = item.user_email
        row.app_id = item.app_id
        row.entitlement_external_id = item.entitlement or None
        row.status = item.status
        session.add(row)
    session.flush()


# --- provisioning one account (`roster provision`, the Provisioning screen) --------------------


def provision_journal(plan: Any, object_id: str) -> list[PlannedChange]:
    """One journal row per field of a provisioning plan (engine.provision.ProvisionPlan)."""
    return [
        PlannedChange(
            "provision",
            "account",
            object_id,
            item.key,
            None,
            item.value,
            item.reason
            if not item.ok
            else f"{item.source}: {item.expression}"
            if item.source == "cel"
            else item.note or item.source,
        )
        for item in plan.fields
    ]


def start_provision_run(
    session: Session,
    *,
    actor: str,
    dry_run: bool,
    status: str,
    counts: dict[str, Any],
    error: str = "",
) -> int:
    """A provisioning run; one that is not "running" ends at once."""
    run = Run(
        kind="provision",
        dry_run=dry_run,
        started_by=actor,
        status=status,
        ended_at=None if status == "running" else utcnow(),
        counts=counts,
        error=error,
        config_versions=run_versions(session),
    )
    session.add(run)
    session.flush()
    assert run.id is not None
    return run.id


def end_provision_run(
    session: Session, run_id: int, status: str, error: str = "", counts: Any = None
) -> None:
    row = session.get(Run, run_id)
    if row is None:
        return
    row.status, row.ended_at, row.error = status, utcnow(), error
    if counts is not None:
        row.counts = counts
    session.add(row)


def write_provisioned_account(
    session: Session, run_id: int, plan: Any, listed: Any, actor: str, counts: dict[str, Any]
) -> None:
    """The account a connector created for one person: stored, linked to that person at once
    (link kind "provisioned"), journalled, audited; the run is applied."""
    app_id = plan.app_id
    key = f"{app_id}:{listed.external_id}"
    account = session.execute(
        select(Account).where(
            col(Account.app_id) == app_id, col(Account.external_id) == listed.external_id
        )
    ).scalar_one_or_none() or Account(app_id=app_id, external_id=listed.external_id)
    record = AccountRecord(id=0, app_id=app_id, external_id=listed.external_id)
    _copy_listed(listed, record)
    for name in (
        "display_name", "given_name", "family_name", "email", "emails", "username",
        "usernames", "employee_ids", "status", "type", "manager",
    ):  # fmt: skip
        value = getattr(record, name)
        setattr(account, name, list(value) if isinstance(value, list) else value)
    account.profile = dict(listed.profile)
    account.fingerprint = fingerprint(listed)
    was = account.owner_id  # (a stored account of that id may have had an owner)
    account.owner_id = plan.user_id
    account.link_kind = "provisioned"
    account.pinned = False
    account.last_seen = utcnow()
    session.add(account)
    changes = provision_journal(plan, key)
    changes.append(
        PlannedChange(
            "provision",
            "account",
            key,
            "owner",
            None,
            plan.user,
            "provisioned for this person: linked at once",
        )
    )
    journal(session, run_id, changes, True)
    session.add(
        AuditEvent(
            actor=actor,
            action="provision",
            object_kind="account",
            object_name=key,
            before=None,
            after={
                "owner_id": plan.user_id,
                "owner": plan.user,
                "link_kind": "provisioned",
                "pinned": False,
                "fields": plan.values(),
                "run_id": run_id,
            },
        )
    )
    end_provision_run(session, run_id, "applied", counts=counts)
    # the person's accounts changed outside a sync: the next sync reconsiders them
    by_hand.bump(session, [(app_id, listed.external_id, was)])
