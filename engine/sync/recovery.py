"""What the next applied sync does after a run was killed (docs/recovery.md).

Every write to an app is recorded before it is sent (an intent, table external_write) and
settled after, in the transaction that records the push or the new account. A run killed in
between leaves intents without an outcome. The next sync reads those apps back and settles
each one against the run that wrote it:

- **found applied**: the value (or the new account) is in the app. It is recorded exactly as
  the killed run would have recorded it (push execution, journal, the account as the app now
  lists it, the new account linked to its person and its access request fulfilled), so the
  store ends as an uninterrupted run leaves it and the audit trail names what was written.
- **not sent**: it is not there; the sync plans it again like anything else still to do.
  An account an admin asked for by hand (`roster provision`) is nothing a sync plans by
  itself: recovery hands it to the sync's provision stage (`Requeued`), which plans it again
  for its person and creates it, then settles the killed run's intent with what it did. Until
  a sync gets that far (one blocked by the deletion threshold does not), the intent stays
  unsettled and the next sync hands it on again.
- **unknown**: the app could not be read back; the reason says why.

It also removes the temporary files an interrupted atomic write of an app's files left.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlmodel import col

from engine.config.model import App as AppConfig
from engine.connectors.base import ListedAccount, Listing
from engine.connectors.registry import make_connector
from engine.errors import ConnectorError, RosterError
from engine.store.db import Database
from engine.store.models import AccessRequest, ExternalWrite, Run
from engine.sync import writer
from engine.sync.importer import connector_spec
from engine.sync.provisioning import Creation
from engine.sync.push import PushItem, same_value
from engine.sync.state import StageReport, WorkState

FOUND = "found applied"
NOT_SENT = "not sent"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Requeued:
    """An account an admin asked for that a killed run never made: this sync's provision
    stage creates it, and settles the killed run's intent `intent_id` then."""

    intent_id: int
    run_id: int  # the killed run
    app_id: str
    user_id: int
    label: str


@dataclass
class _Found:
    """What recovery found of one killed run's writes."""

    pushes: list[PushItem] = field(default_factory=list)
    creations: list[tuple[Creation, ListedAccount]] = field(default_factory=list)
    listings: dict[str, Listing] = field(default_factory=dict)  # app -> the found accounts
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def has_unsettled(session: Any) -> bool:
    """Whether a killed run left writes to the apps without an outcome (one indexed query)."""
    return (
        session.scalars(
            select(col(ExternalWrite.id)).where(col(ExternalWrite.outcome) == "").limit(1)
        ).first()
        is not None
    )


def unsettled_writes(session: Any) -> list[ExternalWrite]:
    """The writes killed runs left without an outcome, oldest first."""
    return list(
        session.scalars(
            select(ExternalWrite)
            .where(col(ExternalWrite.outcome) == "")
            .order_by(col(ExternalWrite.id))
        )
    )


def unsettled_notes(session: Any) -> list[str]:
    """What a dry run says of the writes killed runs left without an outcome: the applied
    sync reads them back first (`recover`), and creates the accounts asked for by hand that
    were not made, which the dry run's plan cannot show."""
    pending = unsettled_writes(session)
    if not pending:
        return []
    apps = ", ".join(sorted({w.app_id for w in pending}))
    notes = [
        f"killed runs left {len(pending)} write{'s' if len(pending) != 1 else ''} to {apps} "
        "unsettled: the applied sync reads them back first (not this dry run)"
    ]
    notes += [
        f"{w.app_id}: run {w.run_id} was creating the account for {w.label} (asked for by "
        "an admin) when it was killed; the applied sync creates it if the app does not have it"
        for w in pending
        if w.kind == "create" and not w.rule
    ]
    return notes


class _Listed:
    """One app's accounts as it lists them now: by id, and those the store does not know."""

    def __init__(self, app_id: str, listing: Listing, state: WorkState) -> None:
        self.by_id = {a.external_id: a for a in listing.accounts}
        self.unknown = [
            a for a in listing.accounts if (app_id, a.external_id) not in state.accounts
        ]


def remove_temporaries(apps: list[AppConfig], base_dir: Path, report: StageReport) -> None:
    """Remove the temporary files interrupted writes of the apps' files left (only the
    connectors that write files have them). Called while the sync lock is held."""
    for app in apps:
        try:
            connector = make_connector(connector_spec(app, base_dir))
        except (RosterError, ValueError):
            continue  # the import reports a broken app
        remove = getattr(connector, "remove_temporaries", None)
        if remove is None:
            continue
        for path in remove():
            report.notes.append(
                f"{app.id}: removed {path.name}, the temporary file of a write that was "
                "interrupted (the app's file itself was left whole)"
            )


def recover(
    db: Database,
    state: WorkState,
    run_id: int,
    apps: list[AppConfig],
    base_dir: Path,
    report: StageReport,
) -> list[Requeued]:
    """Settle every intent left without an outcome by a killed run (see the module's doc).
    The accounts read back join `state.read_back`, whose owners' attributes the run computes
    again at its end, as after its own pushes. Returns the accounts asked for by hand that
    were not made, for the provision stage to create (their intents are left to it)."""
    with db.session() as session:
        pending = unsettled_writes(session)
    if not pending:
        return []
    by_id = {app.id: app for app in apps}
    listings: dict[str, _Listed | str] = {}  # app -> what it lists now, or why it cannot say
    for app_id in sorted({w.app_id for w in pending}):
        try:
            if app_id not in by_id:
                raise ConnectorError(f"app {app_id!r} is no longer in the configuration")
            connector = make_connector(connector_spec(by_id[app_id], base_dir))
            listings[app_id] = _Listed(app_id, connector.list_all(), state)
        except RosterError as exc:
            listings[app_id] = exc.message
        except Exception as exc:  # noqa: BLE001 - a broken connector must not stop the run
            listings[app_id] = f"the connector failed unexpectedly: {exc!r}"
    outcomes: list[tuple[int, str, str, str]] = []
    found: dict[int, _Found] = defaultdict(_Found)  # killed run -> what it had written
    taken: set[tuple[str, str]] = set()  # accounts already matched to a creation
    requeued: list[Requeued] = []
    for intent in pending:
        assert intent.id is not None
        listing = listings[intent.app_id]
        run_found = found[intent.run_id]
        if isinstance(listing, str):
            outcome, why, external_id = UNKNOWN, f"could not be read back: {listing}", ""
        elif intent.kind == "create":
            outcome, why, external_id = _settle_creation(intent, listing, state, taken, run_found)
        else:
            outcome, why, external_id = _settle_push(intent, listing, run_found)
        run_found.counts[f"{intent.kind} {outcome}"] += 1
        if intent.kind == "create" and outcome == NOT_SENT and not intent.rule:
            # asked for by an admin, not by a request: nothing plans it again by itself, so
            # this sync's provision stage creates it and settles the intent
            requeued.append(
                Requeued(intent.id, intent.run_id, intent.app_id, intent.user_id or 0, intent.label)
            )
            report.notes.append(
                f"{intent.app_id}: the account for {intent.label} that run {intent.run_id} was "
                "creating was not made (the run was killed first); this sync creates it "
                "(provision stage)"
            )
            continue
        outcomes.append((intent.id, outcome, why, external_id or intent.external_id))
    with db.session() as session, session.begin():
        writer.settle_writes(session, run_id, outcomes)
        for killed, what in sorted(found.items()):
            if what.pushes:
                relisted: dict[str, tuple[Any, str | None]] = {
                    app_id: (listing, None) for app_id, listing in what.listings.items()
                }
                writer.write_push(session, state, killed, what.pushes, {}, relisted)
            if what.creations:
                _requested_grants(session, what.creations)
                writer.write_provisioned(session, state, killed, what.creations)
            _note_on_the_killed_run(session, killed, run_id, what.counts)
            report.notes.append(
                f"run {killed} was interrupted after it began writing to the apps; read back: "
                + _summary(what.counts)
                + f". What it wrote is recorded against it (roster runs {killed})."
            )
    return requeued


def _settle_push(intent: ExternalWrite, listing: _Listed, found: _Found) -> tuple[str, str, str]:
    listed = listing.by_id.get(intent.external_id)
    if listed is None:
        return NOT_SENT, "the account is no longer in the app", ""
    values = intent.values or {}
    there = {
        target: (old, new)
        for target, (old, new) in values.items()
        if same_value(listed.profile.get(target), new)
    }
    if not there:
        return NOT_SENT, "the app does not hold the values: planned again", ""
    found.pushes.append(
        PushItem(
            intent.rule,
            intent.app_id,
            intent.external_id,
            intent.user_id or 0,
            intent.label,
            changes=there,
        )
    )
    app_listing = found.listings.setdefault(intent.app_id, Listing())
    app_listing.accounts.append(listed)
    missing = sorted(set(values) - set(there))
    why = "found in the app by recovery" + (
        f"; not found: {', '.join(missing)} (planned again)" if missing else ""
    )
    return FOUND, why, ""


def _settle_creation(
    intent: ExternalWrite,
    listing: _Listed,
    state: WorkState,
    taken: set[tuple[str, str]],
    found: _Found,
) -> tuple[str, str, str]:
    """A creation is found when the app lists an account the store does not know whose id or
    username is one of the values it was created with."""
    values = intent.values or {}
    wanted = {v.casefold() for v in values.values() if isinstance(v, str) and v}
    user = state.users.get(intent.user_id or 0)
    for listed in listing.unknown:
        key = (intent.app_id, listed.external_id)
        if key in taken:
            continue
        names = {listed.external_id.casefold(), (listed.username or "").casefold()}
        if names & wanted:
            taken.add(key)
            if user is None:  # never erased by a sync; only a store edited by hand lacks them
                why = "found in the app by recovery; its person is gone, so it is not linked"
                return FOUND, why, listed.external_id
            creation = Creation(intent.app_id, user, intent.label, intent.rule, dict(values))
            found.creations.append((creation, listed))
            return FOUND, "found in the app by recovery", listed.external_id
    if intent.rule:  # an access request: still approved, this sync plans it again
        return NOT_SENT, "the app has no such account: planned again", ""
    return NOT_SENT, "the app has no such account", ""  # asked for by hand: requeued


def _requested_grants(session: Any, creations: list[tuple[Creation, Any]]) -> None:
    """A found creation answers its access request as the killed run meant it to: the
    entitlement asked for is granted when the account was created with it in `groups`."""
    for creation, _ in creations:
        if not creation.request_id:
            continue
        wanted = session.scalars(
            select(col(AccessRequest.entitlement_external_id)).where(
                col(AccessRequest.request_id) == creation.request_id
            )
        ).first()
        if wanted:
            creation.entitlement = wanted
            creation.granted = wanted in creation.groups


def _summary(counts: dict[str, int]) -> str:
    parts = []
    for kind, noun in (("push", "push"), ("create", "account creation")):
        for outcome in (FOUND, NOT_SENT, UNKNOWN):
            n = counts.get(f"{kind} {outcome}", 0)
            if n:
                plural = noun + ("es" if noun.endswith("sh") else "s") if n != 1 else noun
                parts.append(f"{n:,} {plural} {outcome}")
    return ", ".join(parts) or "nothing"


def _note_on_the_killed_run(session: Any, killed: int, run_id: int, counts: dict[str, int]) -> None:
    """The killed run says what it had written, found by which sync (`roster runs`)."""
    row = session.get(Run, killed)
    if row is None:
        return
    note = f"run {run_id} read the apps back: {_summary(counts)}"
    session.execute(
        update(Run)
        .where(col(Run.id) == killed)
        .values(
            error=f"{row.error}; {note}" if row.error else note,
            counts={**(row.counts or {}), "recovered": dict(counts), "recovered_by": run_id},
        )
    )
