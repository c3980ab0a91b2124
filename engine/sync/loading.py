"""Loading a sync's working state from the store: records, fingerprints, stored filter
decisions, attribute values and the apps' last source versions."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Result, select
from sqlmodel import Session, col

from engine.store.models import Account, AttributeValue, Meta
from engine.store.repo import load_accounts, load_users
from engine.sync.state import AttributeState, WorkState


def load_state(session: Session) -> WorkState:
    a = Account.__table__.c  # type: ignore[attr-defined]
    fingerprints: dict[tuple[str, str], str] = {}
    filter_results: dict[tuple[str, str], str] = {}
    for app_id, ext, digest, decision in cast(  # sqlmodel's Session.execute drops the row types
        "Result[str, str, str, str | None]",
        session.execute(select(a.app_id, a.external_id, a.fingerprint, a.filter_result)),
    ):
        fingerprints[(app_id, ext)] = digest
        if decision:
            filter_results[(app_id, ext)] = decision
    v = AttributeValue.__table__.c  # type: ignore[attr-defined]
    attributes = {
        (r[0], r[1]): AttributeState(r[2], r[3], r[4] or {}, bool(r[5]))
        for r in session.execute(
            select(v.user_id, v.attribute, v.value, v.source, v.last_seen, v.ever_set)
        )
    }
    state = WorkState(load_accounts(session), load_users(session), fingerprints, attributes)
    state.filter_results = filter_results
    state.source_versions = {
        key.removeprefix("source_version:"): value
        for key, value in cast(
            "Result[str, str]",
            session.execute(
                select(col(Meta.key), col(Meta.value)).where(
                    col(Meta.key).startswith("source_version:")
                )
            ),
        )
    }
    state.import_cursors = {
        key.removeprefix("import_cursor:"): value
        for key, value in cast(
            "Result[str, str]",
            session.execute(
                select(col(Meta.key), col(Meta.value)).where(
                    col(Meta.key).startswith("import_cursor:")
                )
            ),
        )
    }
    return state
