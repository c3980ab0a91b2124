"""A small organisation written to real files, for sync tests: every awkward case in a few rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from engine.services import Services, open_services

HR = {
    "accounts": [
        {
            "id": "E1",
            "display_name": "Ann Lee",
            "given_name": "Ann",
            "family_name": "Lee",
            "email": "ann.lee@example.com",
            "employee_ids": ["E1"],
            "username": "alee",
            "profile": {
                "department": "Engineering",
                "job_title": "Engineer",
                "phone": "+1 100",
                "employment_status": "ACTIVE",
                "manager_email": "bo.chen@example.com",
            },
        },
        {
            "id": "E2",
            "display_name": "Bo Chen",
            "given_name": "Bo",
            "family_name": "Chen",
            "email": "bo.chen@example.com",
            "employee_ids": ["E2"],
            "profile": {
                "department": "Engineering",
                "job_title": "Director",
                "employment_status": "ACTIVE",
            },
        },
        {
            "id": "E3",
            "display_name": "Sam Park",
            "given_name": "Sam",
            "family_name": "Park",
            "email": "sam.park@example.com",
            "employee_ids": ["E3"],
            "profile": {"department": "Sales", "job_title": "Rep", "employment_status": "ACTIVE"},
        },
        {
            "id": "E4",
            "display_name": "Sam Park",
            "given_name": "Sam",
            "family_name": "Park",
            "email": "sam.park2@example.com",
            "employee_ids": ["E4"],
            "profile": {
                "department": "Finance",
                "job_title": "Analyst",
                "employment_status": "ACTIVE",
            },
        },
        {
            "id": "E5",
            "display_name": "Lea Ver",
            "email": "lea.ver@example.com",
            "employee_ids": ["E5"],
            "status": "DISABLED",
            "profile": {"department": "Sales", "employment_status": "TERMINATED"},
        },
    ],
}
IDP = {
    "accounts": [
        {
            "id": "u1",
            "display_name": "Ann Lee",
            "email": "ann.lee+it@example.com",
            "emails": ["ann.lee+it@example.com"],
            "username": "ann.lee@example.com",
            "profile": {"title": "Senior Engineer", "department": "Platform"},
        },
        {
            "id": "u2",
            "display_name": "Backup Service",
            "email": "ann.lee+backup@example.com",
            "type": "SERVICE_ACCOUNT",
            "profile": {},
        },
        {
            "id": "u3",
            "display_name": "Nina Out",
            "email": "nina@example.com",
            "profile": {"title": "Consultant"},
        },
    ],
}
FEED = {
    "accounts": [
        {"id": "f1", "email": "bo.chen@example.com", "profile": {"vendor": "Acme"}},
        {"id": "f2", "email": "nobody@example.com", "profile": {"vendor": "Acme"}},
    ],
}
SLACK = {
    "accounts": [
        {"id": "s1", "email": "ann.lee@example.com", "username": "ann"},
        {"id": "s2", "email": "ghost@example.com", "username": "ghost"},
        {
            "id": "s3",
            "email": "ann.lee@example.com",
            "username": "deploybot",
            "type": "SERVICE_ACCOUNT",
        },
    ],
    "entitlements": [{"id": "admins", "name": "Workspace admins"}],
    "grants": [{"account": "s1", "entitlement": "admins"}],
}
GITHUB = {
    "accounts": [
        {"id": "g1", "username": "bchen", "display_name": "Bo Chen"},
        {"id": "g2", "username": "sp", "display_name": "Sam Park"},
    ],
}

CONFIG: dict[str, Any] = {
    "version": 1,
    "settings": {"deletion_threshold": {"max_objects": 500, "max_percent": 20}},
    "apps": [
        {"id": "hr", "name": "HR", "connector": "file", "settings": {"path": "hr.yaml"}},
        {"id": "idp", "name": "IdP", "connector": "file", "settings": {"path": "idp.yaml"}},
        {"id": "feed", "name": "Feed", "connector": "file", "settings": {"path": "feed.yaml"}},
        {"id": "slack", "name": "Slack", "connector": "file", "settings": {"path": "slack.yaml"}},
        {
            "id": "github",
            "name": "GitHub",
            "connector": "file",
            "settings": {"path": "github.yaml"},
            "ownership": {"strategy": "broad"},
        },
    ],
    "directories": [
        {
            "app": "hr",
            "filter": 'account.profile.employment_status == "TERMINATED" ? "IGNORE" : "CREATE"',
        },
        {
            "app": "idp",
            "filter": 'account.type == "SERVICE_ACCOUNT" ? "IGNORE" : "CREATE"',
            "merge_rules": [
                {
                    "name": "email",
                    "account": {"preset": "all_emails", "strip_plus_tag": True},
                    "user": {"preset": "all_emails"},
                },
            ],
        },
        {"app": "feed", "filter": '"MATCH_ONLY"'},
    ],
    "attributes": [
        {
            "name": "department",
            "sources": [
                {"app": "hr", "field": "profile.department"},
                {"app": "idp", "field": "profile.department"},
            ],
            "flow_rules": [
                {"app": "hr", "direction": "inbound", "create": 50, "update": 60, "delete": 50},
                {"app": "idp", "direction": "inbound", "create": 40, "update": 45, "delete": 40},
            ],
        },
        {
            "name": "job_title",
            "sources": [
                {"app": "hr", "field": "profile.job_title"},
                {"app": "idp", "field": "profile.title"},
            ],
        },
        {"name": "manager_email", "sources": [{"app": "hr", "field": "profile.manager_email"}]},
        {"name": "vendor", "custom": True, "sources": [{"app": "feed", "field": "profile.vendor"}]},
        {
            "name": "slack_handle",
            "custom": True,
            "sources": [{"cel": 'has(accounts.slack) ? accounts.slack.username : ""'}],
        },
    ],
}


def write_org(folder: Path, config: dict[str, Any] | None = None, **files: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    data = {"hr": HR, "idp": IDP, "feed": FEED, "slack": SLACK, "github": GITHUB, **files}
    for name, content in data.items():
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(content, sort_keys=False))
    path = folder / "roster.yaml"
    path.write_text(yaml.safe_dump(config or CONFIG, sort_keys=False, allow_unicode=True))
    return path


def open_org(tmp_path: Path, config: dict[str, Any] | None = None) -> Services:
    config_path = write_org(tmp_path / "org", config)
    services = open_services(db_path=tmp_path / "roster.db", init="empty")
    services.import_config(
        config_path.read_text(), source=str(config_path), base_dir=config_path.parent
    )
    return services


def edit(folder: Path, name: str, change: Any) -> None:
    """Change one app file in place, the way the app itself would."""
    path = folder / f"{name}.yaml"
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def saves_at_once(first: Services, second: Services, monkeypatch: Any) -> None:
    """Two admins (two Services, as two processes) save different settings at once: the first
    holds its write transaction open while the second reads, checks and saves. Both must end
    saved: the second waits for the first's commit and makes its edit again on what it saved
    (team review: on PostgreSQL one of them was lost, while both were told "Saved")."""
    import threading
    import time

    from engine.services import ConfigEdit, editing

    inside, release = threading.Event(), threading.Event()
    original = editing.refuse_while_applying

    def hold_the_first(db: Any, session: Any, what: str) -> None:
        original(db, session, what)
        if "max_objects" in what:
            inside.set()
            assert release.wait(20)

    monkeypatch.setattr(editing, "refuse_while_applying", hold_the_first)
    errors: list[BaseException] = []

    def run(services: Services, path: str, value: Any) -> None:
        try:
            services.config_edit(ConfigEdit("set", path, value))
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)

    one = threading.Thread(target=run, args=(first, "settings.deletion_threshold.max_objects", 401))
    one.start()
    assert inside.wait(20)
    two = threading.Thread(target=run, args=(second, "settings.deletion_threshold.max_percent", 31))
    two.start()
    time.sleep(1.0)
    assert two.is_alive(), errors  # waiting for the first save, not past it
    release.set()
    one.join(20)
    two.join(20)
    assert not errors, errors
    first.invalidate()
    threshold = yaml.safe_load(first.export_config())["settings"]["deletion_threshold"]
    assert (threshold["max_objects"], threshold["max_percent"]) == (401, 31)
