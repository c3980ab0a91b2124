"""A tiny stand-in for `engine.services.Services`, for widget tests that need no database."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.errors import Problem


@dataclass
class AppSummary:
    id: str
    name: str
    connector: str
    accounts: int
    last_import_at: datetime | None
    last_import_status: str


@dataclass
class RunSummary:
    id: int
    kind: str
    status: str
    dry_run: bool
    started_at: datetime
    started_by: str


@dataclass
class Dashboard:
    people: int
    accounts: int
    unowned: int
    unmerged: int
    errors: int
    apps: list[AppSummary]
    last_runs: list[RunSummary]
    warnings: list[str]


@dataclass
class ContextSpec:
    name: str
    variables: tuple[str, ...]
    returns: str
    subject_kind: str


@dataclass
class RecordRef:
    kind: str
    id: int
    label: str
    detail: str


@dataclass
class OnePreview:
    ok: bool
    value: Any = None
    type: str = ""
    error: Problem | None = None
    caret: str = ""
    elapsed_ms: float = 0.0
    warnings: list[Problem] = field(default_factory=list)


@dataclass
class PopulationPreview:
    ok: bool
    error: Problem | None = None
    caret: str = ""
    count: int = 0
    errors: int = 0
    first_errors: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    samples: list[dict[str, Any]] = field(default_factory=list)
    elapsed_ms: float = 0.0
    warnings: list[Problem] = field(default_factory=list)


@dataclass
class Completions:
    variables: list[str]
    fields: dict[str, list[str]]
    functions: list[str]
    profile_keys: dict[str, list[str]]


USER_FIELDS = ["department", "displayName", "email", "emails", "familyName", "givenName",
               "jobTitle", "manager", "profile", "attributes", "status"]
ACCOUNT_FIELDS = ["appId", "displayName", "email", "profile", "status", "username"]
FUNCTIONS = ["c1.user.v1.HasApp", "c1.directory.users.v1.FindByEmail", "lowerAscii", "trim",
             "UserStatus.ENABLED", "now"]


class FakeServices:
    def __init__(self, slow: float = 0.0) -> None:
        self.slow = slow
        self.users = [RecordRef("user", i, f"User {i} <u{i}@example.com>", f"hr:E{i:05}")
                      for i in range(1, 31)]
        self.accounts = [RecordRef("account", i, f"acct{i}", f"ad:{i}") for i in range(1, 11)]

    def dashboard(self) -> Dashboard:
        return Dashboard(
            people=30, accounts=10, unowned=2, unmerged=1, errors=0,
            apps=[AppSummary("hr", "HR", "file", 30, datetime(2026, 1, 2, 3, 4), "ok")],
            last_runs=[RunSummary(1, "sync", "succeeded", True, datetime(2026, 1, 2), "ann")],
            warnings=["2 accounts have no owner"],
        )

    def contexts(self) -> dict[str, ContextSpec]:
        return {
            "directory_filter": ContextSpec("directory_filter", ("account", "subject"),
                                            'bool or "CREATE" / "MATCH_ONLY" / "IGNORE"',
                                            "account"),
            "user_key": ContextSpec("user_key", ("user", "subject"), "string or list",
                                    "user"),
        }

    def find_records(self, kind: str, query: str = "", limit: int = 50) -> list[RecordRef]:
        pool = self.users if kind == "user" else self.accounts
        return [r for r in pool if query.lower() in r.label.lower()][:limit]

    def completions(self, context: str) -> Completions:
        return Completions(
            variables=list(self.contexts()[context].variables),
            fields={"user": USER_FIELDS, "account": ACCOUNT_FIELDS},
            functions=FUNCTIONS,
            profile_keys={"user": ["costCenter", "location"], "account": ["extensionAttribute1"]},
        )

    def preview_one(self, context: str, text: str, ref: RecordRef) -> OnePreview:
        if "departmnt" in text:
            return OnePreview(False, error=Problem("unknown field `departmnt`", line=1,
                              column=text.index("departmnt") + 1,
                              hint="did you mean `department`?"),
                              caret=text + "\n" + " " * text.index("departmnt") + "^")
        return OnePreview(True, value=f"{text}@{ref.id}", type="string", elapsed_ms=0.3)

    def preview_all(self, context: str, text: str, *, progress=None, cancelled=None):
        total = 30
        for done in range(0, total, 10):
            if cancelled and cancelled():
                break
            time.sleep(self.slow)
            if progress:
                progress(done + 10, total)
        return PopulationPreview(True, count=total, errors=1,
                                 first_errors=[{"record": "u1@example.com", "message": "boom"}],
                                 summary={"distinct": 2, "empty": 0, "top": [["a", 20], ["b", 9]]},
                                 samples=[{"record": "u2@example.com", "value": "a"}],
                                 elapsed_ms=12.0)
