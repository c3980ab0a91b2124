"""What lets a sync do less than everything: the signature of what its outcome depends on (an
unchanged signature means nothing to do), and which configuration sections changed since the
last applied run (which decides whether stages reconsider everyone or only what changed).

Expressions that read beyond their record (the directory or the clock) are asked of the
compiled programs (`Program.reads_directory`, `Program.reads_clock`), never found in the text.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Result, select
from sqlmodel import Session, col

from engine.cel import SEMANTICS
from engine.config.model import App as AppConfig
from engine.connectors.registry import make_connector
from engine.records import AccountRecord
from engine.store.models import Meta, Run
from engine.store.repo import config_versions, get_meta, set_meta, stable_hash
from engine.sync.importer import connector_spec, source_version_of
from engine.sync.key_memo import roster_version
from engine.sync.push import same_value
from engine.sync.run_notes import APPLIED
from engine.sync.state import WorkState

#: Changes whenever a sync would compute other values from the same data and configuration:
#: the first sync of a Roster that computes differently computes everyone.
#: 2: a person's attributes in reading order; the people a run creates read with stored ids.
#: 3: of several accounts in one app, every one's values (multi-valued) or the same one.
#: 4: two attributes that read each other are computed again until they agree (a store that
#: settled with one of them stale is computed once more).
#: 5: the values of attributes the configuration no longer defines are cleared (a store that
#: kept them, read by other attributes, is computed once more).
ATTRIBUTE_SEMANTICS = 5


def run_versions(session: Session) -> dict[str, str]:
    """The configuration's section versions as a run records them: each with the CEL
    semantics the run evaluates with (engine.cel.SEMANTICS), so that a Roster whose
    expressions give other results than the last applied run's sees every section as changed
    (the run then reconsiders everyone and cannot be skipped as "nothing changed"); the
    attributes' with ATTRIBUTE_SEMANTICS too."""
    versions = {
        section: f"{version}+cel{SEMANTICS}"
        for section, version in config_versions(session).items()
    }
    if "attributes" in versions:
        versions["attributes"] += f"+a{ATTRIBUTE_SEMANTICS}"
    return versions


def values_settled(session: Session) -> bool:
    """Whether the people's stored values are what a sync would compute now from the store's
    data: the last run that applied anything settled the store (the next sync on the same
    data has nothing to do: no value of anyone moves), and neither the configuration (but for
    the sections read after the values, AFTER_VALUES) nor a manual decision changed since. A
    run applying clears the signature until it settles again; a run whose expressions read
    the clock, or that leaves readers of other people to compute again, never settles."""
    if not get_meta(session, "last_sync_signature"):
        return False
    settled = get_meta(session, "last_settled_run")
    if not settled.isdigit():
        return False
    if get_meta(session, "manual_generation") != get_meta(session, "applied_manual_generation"):
        return False
    from engine.sync.recovery import has_unsettled  # (it imports the writer, which imports us)

    if has_unsettled(session):  # a killed run's write to an app: the next sync settles it
        return False
    run = session.get(Run, int(settled))
    return run is not None and _before_values(run.config_versions) == _before_values(
        run_versions(session)
    )


#: The configuration's sections a sync reads only after it has computed people's values: what
#: it pushes. A change to them leaves the values the next sync computes as they are (editing a
#: push rule is what the Push screen is for: its plan no longer computes everyone's again).
AFTER_VALUES = frozenset({"push_rules"})


def _before_values(versions: dict[str, str] | None) -> dict[str, str]:
    return {s: v for s, v in (versions or {}).items() if s not in AFTER_VALUES}


def sync_signature(
    apps: list[AppConfig],
    base_dir: Path,
    versions: dict[str, str],
    manual: str,
    requests: str,
    stamps: dict[str, str] | None = None,
    known: Mapping[str, str] | None = None,
    sources: dict[str, str] | None = None,
    written: Mapping[str, str] | None = None,
) -> str | None:
    """What a sync's outcome depends on (apps' data, configuration, manual decisions, access
    requests); None when some app cannot tell cheaply.

    `stamps` (app -> "stamp|version", read from and written back to the store by the caller)
    lets an app whose files the file system says are untouched keep its version unread.
    `known`: app -> version to take as it is (what the run read, for an app it did not write
    to: a change made to its files while the run went on is then still new to the next run).
    `written`: the same for the apps the run wrote to (what its last write left), whose files
    are stamped all the same, with the version they hold (a change made since the write then
    differs from the signature). `sources` receives every app's version."""
    sources = {} if sources is None else sources
    read: list[AppConfig] = []  # the apps whose versions are asked of them
    for app in apps:
        if known is not None and app.id in known:
            sources[app.id] = known[app.id]
            continue
        if written is not None and app.id in written:
            sources[app.id] = written[app.id]
            if stamps is not None:
                with contextlib.suppress(Exception):  # a stamp spares the next run a read
                    connector = make_connector(connector_spec(app, base_dir))
                    # (none for files written less than a tick ago: then reading is for nothing)
                    if getattr(connector, "source_stamp", lambda: "")() is not None:
                        source_version_of(connector, app.id, stamps)
            continue
        read.append(app)

    def version_of(app: AppConfig) -> str | None:
        return source_version_of(make_connector(connector_spec(app, base_dir)), app.id, stamps)

    # two at a time: a file's digest is mostly reading and SHA-256, neither of which holds the
    # interpreter (the 230 MB of a 1 % sync's exports at 100,000 people, issue 11)
    with ThreadPoolExecutor(max_workers=2) as pool:
        asked = [(app, pool.submit(version_of, app)) for app in read]
        for app, future in asked:
            try:
                version = future.result()
            except Exception:  # noqa: BLE001 - the import will report it properly
                return None
            if version is None:
                return None
            sources[app.id] = version
    return stable_hash(
        {"config": versions, "sources": sources, "manual": manual, "requests": requests}
    )


def load_stamps(session: Session) -> dict[str, str]:
    """The apps' last file-system stamps with their versions (see `sync_signature`)."""
    rows = cast(  # sqlmodel's Session.execute drops the row types
        "Result[str, str]",
        session.execute(
            select(col(Meta.key), col(Meta.value)).where(col(Meta.key).startswith("source_stamp:"))
        ),
    )
    return {key.removeprefix("source_stamp:"): value for key, value in rows}


def save_stamps(session: Session, stamps: dict[str, str], before: dict[str, str]) -> None:
    for app_id, value in stamps.items():
        if before.get(app_id) != value:
            set_meta(session, f"source_stamp:{app_id}", value)


def _last_applied(session: Session) -> Run | None:
    return session.execute(
        select(Run)
        .where(col(Run.status).in_(APPLIED), col(Run.dry_run).is_(False))
        .order_by(col(Run.id).desc())
        .limit(1)
    ).scalar_one_or_none()


def why_everyone(session: Session, run_id: int, versions: dict[str, str]) -> str:
    """Why the attribute stage must reconsider every person, as a run says it ("" when it
    need not; NO_APPLIED_RUN for a store's first): its configuration changed since the last
    applied run, or the last run that set out to apply did not finish (its earlier stages may
    be committed without their attribute consequences)."""
    # a run the threshold blocked, or whose confirmed plan had changed, applied nothing:
    # what matters is the one before it (a killed run, then a blocked one, left the killed
    # run's writes to the third: review)
    previous = session.execute(
        select(Run)
        .where(
            col(Run.id) < run_id,
            col(Run.dry_run).is_(False),
            col(Run.status).not_in(("blocked-by-threshold", "plan-changed")),
        )
        .order_by(col(Run.id).desc())
        .limit(1)
    ).scalar_one_or_none()
    last_applied = _last_applied(session)
    if previous is None or last_applied is None:
        return NO_APPLIED_RUN
    if previous.status not in APPLIED:
        return f"run {previous.id}, which set out to apply, ended {previous.status}"
    before = (last_applied.config_versions or {}).get("attributes") or ""
    now = versions.get("attributes") or ""
    if before != now:
        if before.partition("+")[0] == now.partition("+")[0]:
            return (
                "this version of Roster computes attributes differently from the one that "
                f"applied run {last_applied.id} (an upgrade): every plan computes everyone "
                "until a sync applies"
            )
        return f"the attributes' configuration changed since run {last_applied.id}"
    return ""


#: `why_everyone` of a store no run has applied to: everyone is new, nothing to explain.
NO_APPLIED_RUN = "no applied run yet"


def section_changed(session: Session, versions: dict[str, str], section: str) -> bool:
    """Whether a configuration section differs from the one the last applied run used."""
    last_applied = _last_applied(session)
    if last_applied is None:
        return True
    return (last_applied.config_versions or {}).get(section) != versions.get(section)


def config_changed(session: Session, versions: dict[str, str]) -> bool:
    """Whether any configuration section differs from the one the last applied run used."""
    last_applied = _last_applied(session)
    return last_applied is None or (last_applied.config_versions or {}) != versions


#: The meta key of what the push stage of the last applied run left to look at again.
PUSH_REVISIT = "push_revisit"
#: The meta key of the directory accounts the last applied run's merge rules found nobody for
#: (WorkState.found_nobody), each walked against the people as its identify left them.
FOUND_NOBODY = "identify_found_nobody"
#: The meta key of the directory accounts whose filter failed in the last applied run that
#: ran identify (WorkState.filter_failed): decided again by the next, not taken as decided.
FILTER_FAILED = "identify_filter_failed"


def load_found_nobody(session: Session, scope: str) -> set[tuple[str, str]] | None:
    """The accounts the last applied run found nobody for, or None (then every such account
    is walked): when there is no note, it cannot be read, it was made under another SCOPE
    (`found_nobody_scope`: another configuration, cost budget or Roster), or an applied run
    changed something since (a run of a Roster that keeps no note)."""
    try:
        raw = json.loads(get_meta(session, FOUND_NOBODY) or "null")
        if not isinstance(raw, dict) or raw.get("scope") != scope:
            return None
        accounts = {(str(app), str(external)) for app, external in raw["accounts"]}
        since = int(raw["run"])
    except (ValueError, TypeError, KeyError):
        return None
    later: Any = session.scalars(
        select(col(Run.counts)).where(
            col(Run.id) > since, col(Run.dry_run).is_(False), col(Run.status).in_(APPLIED)
        )
    )
    if any(not isinstance(counts, dict) or counts.get("changes") != 0 for counts in later):
        return None
    return accounts


def found_nobody_scope(versions: Mapping[str, str], limits: Any) -> str:
    """What the merge rules' findings depend on besides the data: the configuration (rules,
    filters, the CEL budget in settings), the CEL semantics and Roster itself."""
    return stable_hash([dict(versions), repr(limits), SEMANTICS, roster_version()])


def save_found_nobody(session: Session, state: WorkState, run_id: int) -> None:
    """What the next run may take as found again (identify._found_nobody_again): each was
    last walked against the people as this run's identify left them, also in a run that
    created or changed someone (identify._walk_found_nobody_again walks again those found
    nobody for before a move). Kept only after a run that created or changed someone, the
    next run walked them all again, with an index of everyone's keys: half a second at
    100,000 people, after every sync that hired anyone."""
    if state.found_nobody_scope is None:
        set_meta(session, FOUND_NOBODY, "")
        return
    note = {"scope": state.found_nobody_scope, "run": run_id}
    set_meta(session, FOUND_NOBODY, json.dumps({**note, "accounts": sorted(state.found_nobody)}))


def load_filter_failed(session: Session) -> set[tuple[str, str]]:
    """The accounts whose directory filter failed in the last applied run (none when there
    is no note or it cannot be read: a run before the note was kept reported its own)."""
    try:
        raw = json.loads(get_meta(session, FILTER_FAILED) or "[]")
        return {(str(app), str(external)) for app, external in raw}
    except (ValueError, TypeError):
        return set()


def save_filter_failed(session: Session, state: WorkState) -> None:
    """A failing filter leaves its account's decision as it was, and an incremental run
    takes a stored decision as decided: without the note, the next run would count the old
    decision and report nothing until the account's data changed (hostile review). Every
    run now reports the failure until the filter or the account is fixed."""
    set_meta(session, FILTER_FAILED, json.dumps(sorted(state.filter_failed)))


@dataclass
class PushRevisit:
    """What the last applied run's push stage must see again in the next incremental plan,
    though no data of theirs changes: the accounts it pushed to, created, or failed to write
    (an app that ignored or refused a value, a new account the rules now reach), and the
    people whose targeting or values failed (reported again by every run until fixed).

    `confirmed`: those of the accounts whose every pushed value the app listed back as sent,
    in a run whose read-back moved no value. The ownership stage still looks at them again
    (their data changed), but their owners' push plans are up to date: the push stage need not
    plan them again (after a first sync that pushed to 20,000 people, doing so cost the next
    sync 2 s at 100,000 people)."""

    accounts: set[tuple[str, str]] = field(default_factory=set)
    people: set[int] = field(default_factory=set)
    confirmed: set[tuple[str, str]] = field(default_factory=set)
    # of `accounts`, those whose data changed in the fields the built-in ownership strategies
    # read, or which are new (None: not known, a note from before it was kept: all of them)
    rewalk: set[tuple[str, str]] | None = None

    def owners(self, accounts: dict[tuple[str, str], AccountRecord]) -> set[int]:
        """The people the push stage plans again."""
        found = {
            accounts[key].owner_id for key in self.accounts - self.confirmed if key in accounts
        }
        return {owner for owner in found if owner is not None} | self.people


def confirmed_pushes(
    pushes: list[Any],
    accounts: dict[tuple[str, str], AccountRecord],
    moved: AbstractSet[tuple[str, str]] = frozenset(),
) -> set[tuple[str, str]]:
    """The accounts pushed to (engine.sync.push.PushItem) that now hold every value sent to
    them, as the read-back left them in ACCOUNTS, and nothing else new (MOVED: those whose
    read-back changed more); an account pushed under several rules must hold the values of
    all of them. The caller confirms nothing when a rule's expressions read the accounts'
    data (engine.sync.push.reads_pushed_accounts): a value sent then changes what is wanted."""
    held: dict[tuple[str, str], bool] = {}
    for item in pushes:
        key = (item.app_id, item.external_id)
        account = accounts.get(key)
        ok = (
            not item.error
            and key not in moved
            and account is not None
            and all(same_value(account.profile.get(t), new) for t, (_, new) in item.changes.items())
        )
        held[key] = held.get(key, True) and ok
    return {key for key, ok in held.items() if ok}


def load_push_revisit(session: Session) -> PushRevisit | None:
    """None when there is none (a store from before it was kept) or it cannot be read: then
    the push stage reconsiders everyone."""
    try:
        raw = json.loads(get_meta(session, PUSH_REVISIT) or "null")
        return PushRevisit(
            {(str(app), str(external)) for app, external in raw.get("accounts", [])},
            {int(person) for person in raw.get("people", [])},
            {(str(app), str(external)) for app, external in raw.get("confirmed", [])},
            None
            if raw.get("rewalk") is None
            else {(str(app), str(external)) for app, external in raw["rewalk"]},
        )
    except (ValueError, TypeError, AttributeError):
        return None


def save_push_revisit(session: Session, revisit: PushRevisit) -> None:
    set_meta(
        session,
        PUSH_REVISIT,
        json.dumps(
            {
                "accounts": sorted(revisit.accounts),
                "people": sorted(revisit.people),
                "confirmed": sorted(revisit.confirmed),
                **({} if revisit.rewalk is None else {"rewalk": sorted(revisit.rewalk)}),
            }
        ),
    )
