"""An organisation whose data is hostile to a terminal: markup, escape sequences, bidi overrides,
zero-width characters, a NUL byte and a megabyte string, in people, accounts, departments, job
titles, app names, rule names and CEL. Shared by the Pilot, CLI and tmux tests."""

from __future__ import annotations

import json
import re
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import yaml

from engine.services import Services, open_services

DEPARTMENT = "R&D [/EMEA]"
BOLD = "[bold]x[/]"
CLOSE = "[/]"
CLICK = "[@click=app.quit]q[/]"
LINK = "[link=file:///etc/passwd]x[/link]"
TITLE_OSC = "Chief \x1b]0;pwned\x07Officer"  # renames the terminal if it reaches it
CLEAR = "Wipe\x1b[2Jout"  # clears the terminal if it reaches it
RTL = "שרה כהן"  # a right-to-left name, shown as it is
OVERRIDE = "Eve \u202etxt.exe"  # Trojan Source: the override must be visible
ZERO_WIDTH = "zero\u200bwidth"
NUL = "nul\x00byte"
BIG = "B" * 1_000_000

#: How each string must look on screen (and in the CLI): markup as typed, controls escaped.
SHOWN = {
    DEPARTMENT: "R&D [/EMEA]",
    BOLD: "[bold]x[/]",
    CLOSE: "[/]",
    CLICK: "[@click=app.quit]q[/]",
    LINK: "[link=file:///etc/passwd]x[/link]",
    TITLE_OSC: "Chief \\x1b]0;pwned\\x07Officer",
    CLEAR: "Wipe\\x1b[2Jout",
    RTL: "שרה כהן",
    OVERRIDE: "Eve \\u202etxt.exe",
    ZERO_WIDTH: "zero\\u200bwidth",
    NUL: "nul\\x00byte",
}

#: What must never reach a terminal: C0 controls (but the line break of multi-line text), DEL,
#: C1 controls, bidi controls, zero-width space.
RAW_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200b]")

HR = {
    "accounts": [
        {
            "id": "E1",
            "display_name": f"Ann {BOLD}",
            "given_name": "Ann",
            "family_name": CLOSE,
            "email": "ann@example.com",
            "employee_ids": ["E1"],
            "profile": {"department": DEPARTMENT, "job_title": TITLE_OSC, "note": LINK},
        },
        {
            "id": "E2",
            "display_name": RTL,
            "given_name": "Sara",
            "family_name": "Cohen",
            "email": "sara@example.com",
            "employee_ids": ["E2"],
            "profile": {"department": CLICK, "job_title": CLEAR, "note": NUL},
        },
        {
            "id": "E3",
            "display_name": OVERRIDE,
            "given_name": "Eve",
            "family_name": ZERO_WIDTH,
            "email": "eve@example.com",
            "employee_ids": ["E3"],
            "profile": {"department": LINK, "job_title": BIG, "note": ZERO_WIDTH},
        },
    ],
}
CHAT = {
    "accounts": [
        {"id": CLICK, "email": "ann@example.com", "display_name": f"Ann in chat {LINK}"},
        {"id": "c2", "email": "nobody@example.com", "display_name": f"Ghost {TITLE_OSC}"},
    ],
    "entitlements": [{"id": "admins", "name": f"Admins {CLOSE}"}],
    "grants": [{"account": CLICK, "entitlement": "admins"}],
}
AD: dict[str, Any] = {
    "accounts": [
        {
            "id": "ad1",
            "email": "ann@example.com",
            "username": "ann",
            "profile": {"title": "Old", "department": "Old"},
        },
        {
            "id": "ad2",
            "email": "sara@example.com",
            "username": "sara",
            "profile": {"title": "Old", "department": "Old"},
        },
    ],
}

#: A CEL mapping whose text is markup-like and whose value holds an escape sequence.
CEL_JOIN = '[subject.department, "[/]"].join(" ")'
CEL_OSC = 'subject.jobTitle + "\\x1b]0;cel\\x07"'

CONFIG: dict[str, Any] = {
    "version": 1,
    "apps": [
        {
            "id": "hr",
            "name": f"HR {DEPARTMENT}",
            "connector": "file",
            "settings": {"path": "hr.yaml"},
        },
        {
            "id": "chat",
            "name": f"Chat {BOLD}",
            "connector": "file",
            "settings": {"path": "chat.yaml"},
        },
        {
            "id": "ad",
            "name": f"AD {CLICK}",
            "connector": "file",
            "settings": {"path": "ad.yaml", "flavour": "active_directory"},
            "provisioning": {
                "proactive": False,
                "fields": {
                    "sAMAccountName": CEL_JOIN,
                    "displayName": CEL_OSC,
                    "userPrincipalName": "subject.email",
                    "givenName": "subject.givenName",
                    "sn": "subject.familyName",
                    "mail": "subject.email",
                },
            },
        },
    ],
    "directories": [
        {
            "app": "hr",
            "merge_rules": [
                {
                    "name": CLOSE,
                    "account": {"preset": "primary_email"},
                    "user": {"preset": "all_emails"},
                },
            ],
        },
    ],
    "attributes": [
        {"name": "department", "sources": [{"app": "hr", "field": "profile.department"}]},
        {"name": "job_title", "sources": [{"app": "hr", "field": "profile.job_title"}]},
        {"name": "note", "custom": True, "sources": [{"app": "hr", "field": "profile.note"}]},
        {"name": "badge", "custom": True, "sources": [{"cel": CEL_OSC}]},
    ],
    "push_rules": [
        {
            "name": BOLD,
            "app": "ad",
            "enabled": True,
            "targeting": {"kind": "cel", "cel": f'subject.department != "{CLOSE}"'},
            "mappings": [
                {"target": "title", "cel": CEL_OSC},
                {"target": "department", "cel": CEL_JOIN},
            ],
        },
    ],
}


#: The file connector refuses control characters and values over its size limit (a located
#: error: data quality at the boundary), but LDAP and SCIM deliver what their servers hold, and
#: CEL can build anything: the screens must still show such values literally. So the files carry
#: stand-ins, and the synced store gets the real values back (`_put_back`), as if another
#: connector had delivered them.
STAND_INS = {
    TITLE_OSC: "Chief OSC-STAND-IN Officer",
    CLEAR: "Wipe CLEAR-STAND-IN out",
    NUL: "nul NUL-STAND-IN byte",
    BIG: "BIG-STAND-IN",
}


def _stand_ins(value: Any) -> Any:
    if isinstance(value, str):
        for real, stand_in in STAND_INS.items():
            value = value.replace(real, stand_in)
        return value
    if isinstance(value, dict):
        return {_stand_ins(k): _stand_ins(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_stand_ins(v) for v in value]
    return value


def _put_back(db: Path) -> None:
    """Every stand-in in the store replaced by the value it stands for (JSON-escaped inside
    JSON columns), in every table."""
    tables = "SELECT name FROM sqlite_master WHERE type = 'table'"
    with closing(sqlite3.connect(db)) as connection, connection:
        for (table,) in list(connection.execute(tables)):
            for _, column, kind, *_ in list(connection.execute(f'PRAGMA table_info("{table}")')):
                if kind.upper() not in ("VARCHAR", "TEXT", "JSON"):
                    continue
                for real, stand_in in STAND_INS.items():
                    value = json.dumps(real)[1:-1] if kind.upper() == "JSON" else real
                    connection.execute(
                        f'UPDATE "{table}" SET "{column}" = replace("{column}", ?, ?) '
                        f'WHERE instr("{column}", ?) > 0',
                        (stand_in, value, stand_in),
                    )


def write_hostile_org(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in {"hr": HR, "chat": CHAT, "ad": AD}.items():
        (folder / f"{name}.yaml").write_text(
            yaml.safe_dump(_stand_ins(content), sort_keys=False, allow_unicode=True),
            encoding="utf-8",
        )
    path = folder / "roster.yaml"
    path.write_text(yaml.safe_dump(CONFIG, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def open_hostile_org(folder: Path, *, sync: bool = True) -> Services:
    """A store over the hostile organisation in `folder` (roster.db), synced once."""
    config_path = write_hostile_org(folder / "org")
    services = open_services(db_path=folder / "roster.db", init="empty")
    services.import_config(
        config_path.read_text(encoding="utf-8"),
        source=str(config_path),
        base_dir=config_path.parent,
    )
    if sync:
        services.sync(dry_run=False, allow_deletes=True)
        _put_back(folder / "roster.db")
        services.invalidate()
    return services
