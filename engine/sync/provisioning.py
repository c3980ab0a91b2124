"""Stage 6, provision (DESIGN §6): for every app whose provisioning is proactive, an account for
every approved access request whose person has no account in the app yet.

Planning evaluates every field (all or nothing, the same checks as `roster provision`); the
accounts are created after the store is committed, each linked at once and journalled, and a
connector's refusal is reported for that person while the others go on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from engine.cel import CelEngine
from engine.config.model import RosterConfig
from engine.connectors.base import ListedAccount
from engine.errors import ConnectorError
from engine.provision import plan_account
from engine.records import UserRecord
from engine.sync.state import StageReport, WorkState

STAGE = "provision"


@dataclass
class Creation:
    app_id: str
    user: UserRecord  # the record itself: its id becomes real when new people are written
    user_label: str
    request_id: str
    values: dict[str, Any]


def _requests_path(config: RosterConfig, base_dir: Path) -> Path | None:
    name = config.settings.access_requests
    if not name:
        return None
    return Path(name) if Path(name).is_absolute() else base_dir / name


def requests_digest(config: RosterConfig, base_dir: Path) -> str:
    """A digest of the access-requests file: a new request must wake a settled store."""
    import hashlib

    path = _requests_path(config, base_dir)
    if path is None:
        return ""
    try:
        return hashlib.blake2b(path.read_bytes(), digest_size=16).hexdigest()
    except OSError:
        return "unreadable"


def load_requests(config: RosterConfig, base_dir: Path, report: StageReport) -> list[dict]:
    """The approved access requests, from the file `settings.access_requests` names."""
    path = _requests_path(config, base_dir)
    if path is None:
        return []
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        report.problems.append(
            f"access requests: cannot read {path}: {exc}; fix settings.access_requests or the "
            "file; no account was requested this run"
        )
        return []
    requests = data.get("requests") if isinstance(data, dict) else None
    if not isinstance(requests, list):
        report.problems.append(f"access requests: {path} must hold a list under `requests:`")
        return []
    return [r for r in requests if isinstance(r, dict)]


def plan_provisioning(
    state: WorkState,
    config: RosterConfig,
    app_rows: dict[str, Any],
    cel: CelEngine,
    requests: list[dict],
    report: StageReport,
) -> list[Creation]:
    creations: list[Creation] = []
    proactive = {
        app.id: dict(app.provisioning.fields)
        for app in config.apps
        if app.provisioning is not None and app.provisioning.proactive
    }
    if not proactive:
        return creations
    by_email: dict[str, UserRecord] = {}
    for user in state.users.values():
        for email in [user.email, *user.emails]:
            if email and user.status != "DELETED":
                by_email.setdefault(email.casefold(), user)
    planned: set[tuple[str, int]] = set()
    owned = state.accounts_by_owner()
    for request in requests:
        app_id = str(request.get("app", ""))
        if app_id not in proactive or str(request.get("status", "")).upper() != "APPROVED":
            continue
        request_id = str(request.get("id", "?"))
        user = by_email.get(str(request.get("user_email", "")).casefold())
        if user is None:
            report.bump("requests_without_person")
            report.problems.append(
                f"access request {request_id}: no person has the email "
                f"{request.get('user_email')!r}"
            )
            continue
        has_account = any(
            a.app_id == app_id and a.status != "DELETED" for a in owned.get(user.id, ())
        )
        if has_account or (app_id, user.id) in planned:
            report.bump("already_provisioned")
            continue
        entitlement = {
            "id": request.get("entitlement", ""),
            "appId": app_id,
            "app_id": app_id,
            "requestId": request_id,
        }
        plan = plan_account(
            cel, app_rows.get(app_id), proactive[app_id], user, entitlement, app_id=app_id
        )
        label = state.user_label(user)
        if not plan.ok:
            report.bump("invalid")
            report.problems.append(
                f"{app_id} for {label} (request {request_id}): no account: "
                + "; ".join(plan.reasons())
            )
            continue
        planned.add((app_id, user.id))
        values = plan.values()
        creations.append(Creation(app_id, user, label, request_id, values))
        report.bump("to_create")
        state.journal(
            STAGE,
            "account",
            f"{app_id}:(new for {label})",
            "",
            None,
            values,
            f"approved access request {request_id}",
        )
    return creations


def create(
    creations: list[Creation], connectors: dict[str, Any], report: StageReport
) -> list[tuple[Creation, ListedAccount]]:
    """Ask each app to create its accounts; a refusal is reported and the rest go on."""
    created: list[tuple[Creation, ListedAccount]] = []
    for creation in creations:
        try:
            listed = connectors[creation.app_id].create_account(creation.values)
        except ConnectorError as exc:
            report.bump("refused")
            report.problems.append(
                f"{creation.app_id} refused the account for {creation.user_label} "
                f"(request {creation.request_id}): {exc.message}"
            )
            continue
        report.bump("created")
        created.append((creation, listed))
    return created
