"""Stage 6, provision (docs/provisioning.md): for every app whose provisioning is proactive, an
account for every approved access request whose person has no account in the app yet.

The requests live in the store (table access_request); the file `settings.access_requests`
names is imported into it at each applied sync (by request id, idempotent), and a request is
marked FULFILLED, with its run and account, when its account is created.

Planning evaluates every field (all or nothing, the same checks as `roster provision`); the
accounts are created after the store is committed, each linked at once and journalled, and a
connector's refusal is reported for that person while the others go on."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlmodel import Session

from engine.cel import CelEngine
from engine.config.model import RosterConfig
from engine.connectors.base import ListedAccount
from engine.connectors.fileio import YamlRefused, load_yaml_text
from engine.errors import ConnectorError
from engine.files import ContentDigest, FileRefused, app_file_limit, read_regular_file
from engine.provision import claim_unique, plan_account, schema_of
from engine.records import AccountRecord, UserRecord
from engine.store.models import AccessRequest
from engine.sync.state import StageReport, WorkState
from engine.text import one_line

STAGE = "provision"

#: What became of the accounts a sync set out to create (SyncResult.accounts,
#: RunSummary.accounts): its keys -> the provision stage's counts
ACCOUNT_COUNTS = {
    "planned": "to_create",
    "created": "created",
    "refused": "refused",
    "invalid": "invalid",  # requests (or accounts asked for by hand) no valid plan serves
}


@dataclass
class Creation:
    app_id: str
    user: UserRecord  # the record itself: its id becomes real when new people are written
    user_label: str
    request_id: str
    values: dict[str, Any]
    # the entitlement the request asked for, granted through the creation's `groups` field;
    # "" when none was asked. `granted` False: the app has no way to grant it on creation, so
    # the request is not fulfilled by the account alone (reported).
    entitlement: str = ""
    granted: bool = True
    # further requests of the same person for the same app, answered by the same account:
    # (request id, entitlement, granted with the account)
    also: list[tuple[str, str, bool]] = field(default_factory=list)
    # asked for by an admin in a run that was killed before it was made (recovery's
    # Requeued): that run, and its intent this creation settles
    asked_in: int | None = None
    intent_id: int | None = None

    @property
    def groups(self) -> list[str]:
        return [str(g) for g in self.values.get("groups") or []]

    def fulfils(self) -> list[str]:
        """The requests the created account fulfils (those whose entitlement it carries)."""
        first = [self.request_id] if self.granted else []
        return first + [request_id for request_id, _, granted in self.also if granted]


@dataclass(frozen=True)
class Satisfied:
    """An approved request whose person already has a live account in the app that carries
    what was asked: fulfilled by that account, nothing to create."""

    request_id: str
    account: str  # APP:EXTERNAL_ID
    record: AccountRecord

    @property
    def user_id(self) -> int | None:
        # read when the request is written, not when it is planned: a person created by this
        # run has a temporary (negative) id until the identities are written
        return self.record.owner_id


def planned_creation_id(creation: Creation) -> str:
    """How a planned creation is named in the run's changes (its account has no id yet)."""
    return f"{creation.app_id}:(new for {creation.user_label})"


def requests_path(config: RosterConfig, base_dir: Path) -> Path | None:
    name = config.settings.access_requests
    if not name:
        return None
    return Path(name) if Path(name).is_absolute() else base_dir / name


def _request_bytes(path: Path) -> bytes:
    """The access-requests file, read as an app's file is: a regular file only, never larger
    than ROSTER_MAX_APP_FILE_MB (hostile review: `/dev/zero` read until the machine ran out of
    memory, and a named pipe hung the sync with its lock held)."""
    return read_regular_file(path, app_file_limit(), "ROSTER_MAX_APP_FILE_MB")


def requests_digest(config: RosterConfig, base_dir: Path) -> str:
    """A digest of the access-requests file: a new request must wake a settled store."""
    path = requests_path(config, base_dir)
    if path is None:
        return ""
    try:
        return ContentDigest(_request_bytes(path)).hexdigest()
    except (OSError, FileRefused):
        return "unreadable"  # the provision stage says why


#: How a run's failures name the access-requests file (in the place of an app)
REQUESTS_SETTING = "settings.access_requests"


def _unreadable(report: StageReport, path: Path, why: str) -> list[AccessRequestItem]:
    """A failure of the run (exit 5, the dashboard's errors), not a note: an unreadable file
    stopped every approved request's account in silence, the run "applied" (day-two
    review)."""
    why = why.replace('in "<unicode string>", ', "")  # PyYAML's name for the text it read
    report.fail(
        REQUESTS_SETTING,
        f"cannot read the access requests {path}: {why}; fix the file or the setting. No "
        "account was requested this run.",
    )
    return []


@dataclass(frozen=True)
class AccessRequestItem:
    """An access request as proactive provisioning reads it."""

    request_id: str
    user_email: str
    app_id: str
    entitlement: str
    status: str  # PENDING, APPROVED, DENIED, FULFILLED

    @property
    def pending(self) -> bool:
        """Approved and not fulfilled yet: the account is still to be created."""
        return self.status == "APPROVED"


def read_request_file(
    config: RosterConfig, base_dir: Path, report: StageReport
) -> list[AccessRequestItem]:
    """The requests in the file `settings.access_requests` names (none when it names none)."""
    path = requests_path(config, base_dir)
    if path is None:
        return []
    try:
        data = load_yaml_text(_request_bytes(path).decode("utf-8-sig"))[0] or {}
    except FileRefused as exc:
        return _unreadable(report, path, f"{exc.reason}; {exc.hint}")
    except YamlRefused as exc:
        where = f" (line {exc.line})" if exc.line else ""
        return _unreadable(report, path, f"{exc.message}{where}; {exc.hint}")
    except UnicodeDecodeError as exc:
        return _unreadable(report, path, f"it is not UTF-8 text (byte {exc.start})")
    except (OSError, ValueError, yaml.YAMLError) as exc:
        return _unreadable(report, path, one_line(exc, 300))
    requests = data.get("requests") if isinstance(data, dict) else None
    if not isinstance(requests, list):
        return _unreadable(report, path, "it must hold a list under `requests:`")
    items, seen = [], set()
    for raw in requests:
        if not isinstance(raw, dict):
            continue
        request_id = str(raw.get("id") or "").strip()
        if not request_id:
            report.problems.append(
                f"access requests: {path}: a request without an id is left out: {raw!r}"
            )
            continue
        if request_id in seen:
            report.problems.append(
                f"access requests: {path}: {request_id} appears twice; the first one counts"
            )
            continue
        seen.add(request_id)
        items.append(
            AccessRequestItem(
                request_id,
                str(raw.get("user_email") or ""),
                str(raw.get("app") or ""),
                str(raw.get("entitlement") or ""),
                str(raw.get("status") or "PENDING").upper(),
            )
        )
    return items


def known_entitlements(session: Session, state: WorkState) -> dict[str, set[str]]:
    """Each app's entitlement ids: as this run imported them, else as the store has them."""
    from engine.store.models import Entitlement

    known: dict[str, set[str]] = {}
    e = Entitlement.__table__.c  # type: ignore[attr-defined]
    for app_id, external_id in session.execute(select(e.app_id, e.external_id)):
        known.setdefault(str(app_id), set()).add(str(external_id))
    for app_id, listing in state.listings.items():
        if getattr(listing, "complete", True):
            known[app_id] = {e.external_id for e in listing.entitlements}
    return known


def load_requests(
    session: Session, config: RosterConfig, base_dir: Path, report: StageReport
) -> list[AccessRequestItem]:
    """Every access request: the store's (table access_request) with the file's current
    content laid over them, as the next applied sync imports it. A request the store has
    fulfilled stays fulfilled whatever the file says. Nothing is written here."""
    stored = {
        row.request_id: AccessRequestItem(
            row.request_id,
            row.user_email,
            row.app_id,
            row.entitlement_external_id or "",
            row.status,
        )
        for row in session.scalars(select(AccessRequest))
    }
    merged = dict(stored)
    for item in read_request_file(config, base_dir, report):
        known = stored.get(item.request_id)
        merged[item.request_id] = (
            replace(item, status="FULFILLED")
            if known is not None and known.status == "FULFILLED"
            else item
        )
    return list(merged.values())


def plan_provisioning(
    state: WorkState,
    config: RosterConfig,
    app_rows: dict[str, Any],
    cel: CelEngine,
    requests: list[AccessRequestItem],
    report: StageReport,
    satisfied: list[Satisfied] | None = None,
    entitlements: dict[str, set[str]] | None = None,
) -> list[Creation]:
    """The accounts to create for the approved requests. A request whose person already has
    a live account in the app is answered by it (`satisfied`) when it asks for no entitlement
    or one the account has; else it stays open, and the admin is told to grant it in the app.
    Several requests of one person for one app are answered by one account. A request for an
    entitlement the app does not have (`entitlements`: each app's ids) is reported and left
    open, alone: it must not make the app refuse the account the person's other requests get."""
    creations: list[Creation] = []
    proactive = {
        app.id: dict(app.provisioning.fields)
        for app in config.apps
        if app.provisioning is not None and app.provisioning.proactive
    }
    pending = [r for r in requests if r.pending]
    if not pending:
        return creations
    apps = {app.id for app in config.apps}
    by_email: dict[str, UserRecord] = {}
    for user in state.users.values():
        for email in [user.email, *user.emails]:
            if email and user.status != "DELETED":
                by_email.setdefault(email.casefold(), user)
    planned: dict[tuple[str, int], Creation] = {}
    claimed: dict[tuple[str, str, str], str] = {}  # unique values of the accounts planned
    owned = state.accounts_by_owner()
    for request in pending:
        app_id = request.app_id
        request_id = request.request_id
        if app_id not in apps:
            report.bump("unknown_app")
            report.problems.append(
                f"access request {request_id}: no app {app_id!r} in the configuration (apps: "
                f"{', '.join(sorted(apps)) or 'none'}); fix the request — nothing serves it "
                "until then"
            )
            continue
        person = by_email.get(request.user_email.casefold())
        if person is None:
            if app_id in proactive:  # a request waiting for an admin waits for its person too
                report.bump("requests_without_person")
                report.problems.append(
                    f"access request {request_id}: no person has the email {request.user_email!r}"
                )
            continue
        user = person
        label = state.user_label(user)
        known = (entitlements or {}).get(app_id) if entitlements is not None else None
        if request.entitlement and known is not None and request.entitlement not in known:
            report.bump("unknown_entitlement")
            report.problems.append(
                f"{app_id} for {label} (request {request_id}): {app_id} has no entitlement "
                f"{request.entitlement!r}; fix the request — it stays open"
            )
            continue
        live = [a for a in owned.get(user.id, ()) if a.app_id == app_id and a.status != "DELETED"]
        if live:
            # whatever made the account (this app's proactive provisioning, `roster provision`,
            # the app itself), it answers the request: closed, or told what is missing
            carrying = [a for a in live if request.entitlement in a.entitlements]
            account = (carrying or live)[0]
            _answer_with_existing(state, request, account, label, report, satisfied)
            continue
        if app_id not in proactive:
            continue  # waits for an admin to create the account (`roster provision`)
        earlier = planned.get((app_id, user.id))
        if earlier is not None:
            _answer_with_planned(earlier, request, app_rows.get(app_id), label, report)
            continue
        entitlement = {
            "id": request.entitlement,
            "appId": app_id,
            "app_id": app_id,
            "requestId": request_id,
        }
        plan = plan_account(
            cel,
            app_rows.get(app_id),
            proactive[app_id],
            user,
            entitlement,
            app_id=app_id,
            claimed=claimed,
        )
        if not plan.ok:
            report.bump("invalid")
            report.problems.append(
                f"{app_id} for {label} (request {request_id}): no account: "
                + "; ".join(plan.reasons())
            )
            continue
        values = plan.values()
        granted = True
        if request.entitlement:
            # the requested entitlement is granted with the account: the creation schema's
            # `groups` field is every connector's way to grant at creation
            if _can_grant_on_creation(app_rows.get(app_id)):
                groups = [str(g) for g in values.get("groups") or []]
                values = {**values, "groups": list(dict.fromkeys([*groups, request.entitlement]))}
            else:
                granted = False
                report.bump("entitlements_not_granted")
                report.problems.append(
                    f"{app_id} for {label} (request {request_id}): the account is created, but "
                    f"{app_id} has no groups field to grant {request.entitlement!r} with it; "
                    "grant it in the app — the request stays open"
                )
        creations.append(
            Creation(app_id, user, label, request_id, values, request.entitlement, granted)
        )
        planned[(app_id, user.id)] = creations[-1]
        claim_unique(schema_of(app_rows.get(app_id)), app_id, values, label, claimed)
        report.bump("to_create")
        state.journal(
            STAGE,
            "account",
            planned_creation_id(creations[-1]),
            "",
            None,
            values,
            f"approved access request {request_id}",
        )
    answered = report.counts.get("fulfilled_by_existing_account", 0)
    if answered:
        report.notes.append(
            f"{answered} approved access request{'s' if answered != 1 else ''} answered by an "
            "account the person already has: fulfilled by it, nothing to create (each is in "
            "the run's changes, with the account)"
        )
    return creations


def plan_requeued(
    state: WorkState,
    config: RosterConfig,
    app_rows: dict[str, Any],
    cel: CelEngine,
    requeued: list[Any],
    planned: list[Creation],
    report: StageReport,
) -> tuple[list[Creation], list[tuple[int, str, str, str]]]:
    """The accounts admins asked for (`roster provision`) in runs killed before they were
    made (engine.sync.recovery.Requeued), planned again as `roster provision` plans them.
    Returns the creations, and the outcomes of the killed runs' intents that none answers
    (intent id, outcome, reason, external id), each with why; PLANNED (this run's creations
    for access requests) answers a person's account asked for in the same app."""
    creations: list[Creation] = []
    settled: list[tuple[int, str, str, str]] = []
    if not requeued:
        return creations, settled
    fields = {app.id: app.provisioning for app in config.apps}
    by_person = {(c.app_id, c.user.id): c for c in planned}
    claimed: dict[tuple[str, str, str], str] = {}
    for creation in planned:
        schema = schema_of(app_rows.get(creation.app_id))
        claim_unique(schema, creation.app_id, creation.values, creation.user_label, claimed)
    owned = {
        owner: [a for a in accounts if a.status != "DELETED"]
        for owner, accounts in state.accounts_by_owner().items()
    }
    for asked in requeued:
        app_id, again = asked.app_id, f"`roster provision {asked.app_id} --user {asked.label}`"
        lost = f"the app had no such account (run {asked.run_id} was killed before asking)"
        where = f"{app_id} for {asked.label} (asked for by an admin in run {asked.run_id})"
        user = state.users.get(asked.user_id)
        provisioning = fields.get(app_id)
        if user is None or user.status == "DELETED":
            reason = f"{asked.label} is no longer in the store (removed): nothing to create"
            report.notes.append(f"{where}: {reason}")
            settled.append((asked.intent_id, "not sent", f"{lost}; {reason}", ""))
            continue
        if (app_id, user.id) in by_person:
            made_for = by_person[(app_id, user.id)].request_id
            reason = f"the account this run creates for access request {made_for} answers it"
            settled.append((asked.intent_id, "not sent", f"{lost}; {reason}", ""))
            continue
        has = next((a for a in owned.get(user.id, ()) if a.app_id == app_id), None)
        if has is not None:  # made since (asked for again, or in the app by hand)
            reason = f"{asked.label} has {app_id}:{has.external_id} now: nothing to create"
            report.notes.append(f"{where}: {reason}")
            settled.append((asked.intent_id, "not sent", f"{lost}; {reason}", has.external_id))
            continue
        if provisioning is None or app_id not in app_rows:
            reasons = [f"{app_id} has no provisioning config any more"]
        else:
            plan = plan_account(
                cel,
                app_rows[app_id],
                dict(provisioning.fields),
                user,
                None,
                app_id=app_id,
                claimed=claimed,
            )
            reasons = plan.reasons()
            if plan.ok:
                creation = Creation(
                    app_id,
                    user,
                    state.user_label(user),
                    "",
                    plan.values(),
                    asked_in=asked.run_id,
                    intent_id=asked.intent_id,
                )
                creations.append(creation)
                claim_unique(
                    schema_of(app_rows[app_id]),
                    app_id,
                    creation.values,
                    creation.user_label,
                    claimed,
                )
                report.bump("to_create")
                state.journal(
                    STAGE,
                    "account",
                    planned_creation_id(creation),
                    "",
                    None,
                    creation.values,
                    f"asked for by an admin in run {asked.run_id}, which was killed before "
                    f"{app_id} was asked",
                )
                continue
        reason = f"no account: {'; '.join(reasons)}; fix it and run {again} if it is still wanted"
        report.bump("invalid")
        report.problems.append(f"{where}, which was killed first: {reason}")
        settled.append((asked.intent_id, "not sent", f"{lost}; planned again, {reason}", ""))
    return creations, settled


def _can_grant_on_creation(app_row: Any) -> bool:
    schema = getattr(app_row, "creation_schema", None) or []
    return any(field.get("key") == "groups" for field in schema)


def _answer_with_existing(
    state: WorkState,
    request: AccessRequestItem,
    account: Any,
    label: str,
    report: StageReport,
    satisfied: list[Satisfied] | None,
) -> None:
    key = f"{account.app_id}:{account.external_id}"
    if request.entitlement and request.entitlement not in account.entitlements:
        report.bump("entitlements_not_granted")
        report.problems.append(
            f"{request.app_id} for {label} (request {request.request_id}): {label} already "
            f"has {key}, without {request.entitlement!r}; grant it in the app — the request "
            "is fulfilled when the app lists the grant"
        )
        return
    report.bump("fulfilled_by_existing_account")
    granted = f", which has {request.entitlement}" if request.entitlement else ""
    state.journal(
        STAGE,
        "access_request",
        request.request_id,
        "status",
        request.status,
        "FULFILLED",
        f"{label} already has {key}{granted}: nothing to create",
    )
    if satisfied is not None:
        satisfied.append(Satisfied(request.request_id, key, account))


def _answer_with_planned(
    creation: Creation,
    request: AccessRequestItem,
    app_row: Any,
    label: str,
    report: StageReport,
) -> None:
    """A second request of the same person for the same app: the account planned for the
    first answers it, with its entitlement added to the groups granted at creation."""
    report.bump("requests_answered_together")
    ent = request.entitlement
    granted = True
    if ent and ent not in creation.groups:
        if _can_grant_on_creation(app_row):
            creation.values = {**creation.values, "groups": [*creation.groups, ent]}
        else:
            granted = False
            report.bump("entitlements_not_granted")
            report.problems.append(
                f"{request.app_id} for {label} (request {request.request_id}): the account "
                f"created for request {creation.request_id} answers it, but "
                f"{request.app_id} has no groups field to grant {ent!r} with it; grant it in "
                "the app — the request stays open"
            )
    creation.also.append((request.request_id, ent, granted))


def _asked_by(creation: Creation) -> str:
    if creation.request_id:
        return f"request {creation.request_id}"
    return f"asked for by an admin in run {creation.asked_in}, which was killed first"


def create(
    creations: list[Creation],
    connectors: dict[str, Any],
    report: StageReport,
    before_write: Callable[[str], None] | None = None,
) -> tuple[list[tuple[Creation, ListedAccount]], dict[int, str]]:
    """Ask each app to create its accounts, all of them in one batch (`create_accounts`: the
    file connector reads and writes its file once); a refusal is reported and the rest go on.
    Returns the created accounts and the refusals (position in CREATIONS -> the app's reason).
    `before_write(app_id)` is called just before each app is asked."""
    created: list[tuple[Creation, ListedAccount]] = []
    refused: dict[int, str] = {}
    if creations:  # what was made and what was not, always both (--json, the run record)
        report.bump("created", 0)
        report.bump("refused", 0)
    by_app: dict[str, list[tuple[int, Creation]]] = {}
    for position, creation in enumerate(creations):
        by_app.setdefault(creation.app_id, []).append((position, creation))
    for app_id, batch in by_app.items():
        if before_write is not None:
            before_write(app_id)
        try:
            outcomes = list(connectors[app_id].create_accounts([c.values for _, c in batch]))
            if len(outcomes) != len(batch):
                raise ConnectorError(
                    f"the connector answered {len(outcomes)} of {len(batch)} creations"
                )
        except ConnectorError as exc:  # the app could not be read or reached: none created
            outcomes = [exc] * len(batch)
        except Exception as exc:  # noqa: BLE001 - a broken connector is a refusal, as by hand
            outcomes = [ConnectorError(f"the connector failed unexpectedly: {exc!r}")] * len(batch)
        for (position, creation), outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, ConnectorError):
                refused[position] = outcome.message
                why = (
                    f"refused the account for {creation.user_label} "
                    f"({_asked_by(creation)}): {outcome.message}"
                )
                report.bump("refused")
                report.problems.append(f"{creation.app_id} {why}")
                report.fail(creation.app_id, why)
                continue
            report.bump("created")
            created.append((creation, outcome))
    return created, refused
