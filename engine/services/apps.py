"""Testing an app's connection (`roster app test APP`, the dashboard's `t`): connect,
authenticate and read a few accounts with the app's saved settings, so an admin can set an app
up before the first sync. Nothing is written to the store or the app."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.connectors.base import ListedAccount
from engine.errors import ConnectorError, NotFound
from engine.records import ACCOUNT_DATA_FIELDS
from engine.services.context import ServiceContext
from engine.store.repo import config_base_dir

SAMPLE = 5  # accounts an app test reads


@dataclass(frozen=True)
class AppTest:
    """What testing one app found: whether it worked, where it looked, a few accounts."""

    app: str
    kind: str
    ok: bool
    message: str
    server: str  # the URL or file the connector reads ("" when the settings name neither)
    accounts: list[dict[str, Any]] = field(default_factory=list)
    fields: list[str] = field(default_factory=list)  # account fields and profile keys found
    elapsed: float = 0.0  # seconds

    def to_json(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "kind": self.kind,
            "ok": self.ok,
            "message": self.message,
            "server": self.server,
            "accounts": self.accounts,
            "fields": self.fields,
            "elapsed": round(self.elapsed, 3),
        }


def _sample(account: ListedAccount) -> dict[str, Any]:
    return {
        "external_id": account.external_id,
        "display_name": account.display_name,
        "email": account.email,
        "username": account.username,
        "status": account.status,
    }


def _fields(accounts: list[ListedAccount]) -> list[str]:
    """The account fields with a value in any sampled account, then `profile.<key>`s."""
    found = [
        name
        for name in ACCOUNT_DATA_FIELDS
        if name not in ("profile", "status", "type")
        and any(getattr(a, name) not in ("", [], None) for a in accounts)
    ]
    profile = sorted({key for a in accounts for key in a.profile}, key=str.casefold)
    return found + [f"profile.{key}" for key in profile]


class AppsService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def app_test(self, app_id: str) -> AppTest:
        """Connect to APP with its saved settings and read up to SAMPLE accounts. A failure
        (bad settings, a wrong password, an unreachable server) is the result's message, never
        an exception; an unknown app raises NotFound."""
        from engine.connectors.registry import make_connector
        from engine.sync.importer import connector_spec

        config = self.ctx.config()
        app = next((a for a in config.apps if a.id == app_id), None)
        if app is None:
            known = ", ".join(a.id for a in config.apps) or "none"
            raise NotFound(f"No app {app_id!r} in the configuration (apps: {known}).")
        with self.ctx.db.session() as session:
            base_dir = config_base_dir(session) or Path(".")
        spec = connector_spec(app, base_dir)
        server = _server(spec.settings, base_dir)
        started = time.monotonic()
        try:
            connector = make_connector(spec)
            server = _described_server(connector) or server
            listing = connector.probe(SAMPLE)
        except ConnectorError as exc:
            return AppTest(
                app_id,
                app.connector,
                False,
                exc.message,
                server,
                elapsed=time.monotonic() - started,
            )
        except Exception as exc:  # noqa: BLE001 - a broken connector is reported, not raised
            return AppTest(
                app_id,
                app.connector,
                False,
                f"App '{app_id}': the {app.connector} connector failed unexpectedly: "
                f"{type(exc).__name__}. Check the app's settings; if they look right, report "
                "this as a Roster bug.",
                server,
                elapsed=time.monotonic() - started,
            )
        accounts = listing.accounts[:SAMPLE]
        count = len(accounts)
        # at most SAMPLE are asked for: as many means there may be more (the sync reads all)
        read = (
            f"the first {count} accounts (a sample: a sync reads them all)"
            if count == SAMPLE
            else f"{count} account{'' if count == 1 else 's'}"
        )
        message = (
            f"Connected to {server or app_id} and read {read}."
            if count
            else f"Connected to {server or app_id}, but it lists no accounts: check the "
            "filter and base (or the file's content)."
        )
        return AppTest(
            app_id,
            app.connector,
            True,
            message,
            server,
            [_sample(a) for a in accounts],
            _fields(accounts),
            time.monotonic() - started,
        )


def _server(settings: dict[str, Any], base_dir: Path) -> str:
    for key in ("url", "base_url"):
        value = settings.get(key)
        if isinstance(value, str) and value:
            return value
    path = settings.get("path")
    if isinstance(path, str) and path:
        resolved = Path(path).expanduser()
        return str(resolved if resolved.is_absolute() else base_dir / resolved)
    return ""


def _described_server(connector: Any) -> str:
    """The server as the connector resolved it (an LDAP URL with its port)."""
    settings = getattr(connector, "settings", None)
    url = getattr(settings, "url", None)
    return url if isinstance(url, str) else ""
