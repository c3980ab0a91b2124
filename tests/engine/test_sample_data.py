"""The demo organisation (README.md): deterministic, committed as generated, every awkward case
present, and every file readable by the file connector."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from engine.connectors.base import ConnectorSpec, Listing
from engine.connectors.registry import make_connector
from engine.services import open_services
from engine.store.models import Account
from sample_data.build import MIN_PEOPLE, build_organisation, main

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"
APPS = SAMPLE / "apps"
FILES = [
    "hr.yaml",
    "idp.yaml",
    "hr_feed.csv",
    "ad.yaml",
    "entra.yaml",
    "github.yaml",
    "slack.yaml",
    "badge.csv",
    "access_requests.yaml",
]
SETTINGS = {
    "hr": {"path": "apps/hr.yaml"},
    "idp": {"path": "apps/idp.yaml"},
    "hr_feed": {"path": "apps/hr_feed.csv"},
    "ad": {"path": "apps/ad.yaml", "flavour": "active_directory"},
    "entra": {"path": "apps/entra.yaml", "flavour": "entra_id"},
    "github": {"path": "apps/github.yaml"},
    "slack": {"path": "apps/slack.yaml"},
    "badge": {"path": "apps/badge.csv"},
}


def listing(app: str, base: Path = SAMPLE) -> Listing:
    return make_connector(ConnectorSpec(app, "file", SETTINGS[app], base)).list_all()


@pytest.fixture(scope="module")
def apps() -> dict[str, Listing]:
    return {app: listing(app) for app in SETTINGS}


def test_generator_is_deterministic(tmp_path: Path) -> None:
    build_organisation(tmp_path / "one", people=60, seed=3)
    build_organisation(tmp_path / "two", people=60, seed=3)
    build_organisation(tmp_path / "other", people=60, seed=4)
    for name in FILES:
        assert (tmp_path / "one/apps" / name).read_bytes() == (
            tmp_path / "two/apps" / name
        ).read_bytes(), name
    assert (tmp_path / "one/apps/hr.yaml").read_bytes() != (
        tmp_path / "other/apps/hr.yaml"
    ).read_bytes()


def test_committed_files_are_the_generator_output(tmp_path: Path) -> None:
    written = build_organisation(tmp_path)
    assert sorted(p.name for p in written.values()) == sorted(FILES)
    for name in FILES:
        assert (APPS / name).read_bytes() == (tmp_path / "apps" / name).read_bytes(), (
            f"sample_data/apps/{name} differs from the generator's output: run "
            "`python -m sample_data.build sample_data`"
        )


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--people", "45", "--seed", "1", str(tmp_path)]) == 0
    assert "hr" in capsys.readouterr().out
    assert len(yaml.safe_load((tmp_path / "apps/hr.yaml").read_text())["accounts"]) == 45
    with pytest.raises(ValueError, match=str(MIN_PEOPLE)):
        build_organisation(tmp_path, people=MIN_PEOPLE - 1)


def test_bigger_organisations_stay_consistent(tmp_path: Path) -> None:
    build_organisation(tmp_path, people=2000, seed=11)
    for app in SETTINGS:
        found = listing(app, tmp_path)  # unique ids, valid grants: no ConnectorError
        assert found.accounts
    hr = listing("hr", tmp_path).accounts
    assert len(hr) == 2000
    assert len({a.email for a in hr if a.email}) == 1999  # unique, except Mei Tanaka's empty one


def test_every_app_lists_cleanly(apps: dict[str, Listing]) -> None:
    assert len(apps["hr"].accounts) == 300
    for app, found in apps.items():
        ids = [a.external_id for a in found.accounts]
        assert len(ids) == len(set(ids)), app
    for app in ("ad", "entra", "github", "slack"):
        assert apps[app].entitlements and apps[app].grants, app


def hr_by_number(apps: dict[str, Listing]) -> dict[str, object]:
    return {a.external_id: a for a in apps["hr"].accounts}


def test_profile_keys_are_the_contract(apps: dict[str, Listing]) -> None:
    expected = {
        "hr": {
            "department",
            "job_title",
            "employment_type",
            "employment_status",
            "manager_email",
            "location",
            "cost_center",
            "phone",
            "country",
            "start_date",
        },
        "idp": {"department", "title", "phone", "login"},
        "hr_feed": {"department", "job_title", "manager_email", "vendor", "cost_center"},
        "ad": {
            "sAMAccountName",
            "userPrincipalName",
            "givenName",
            "sn",
            "displayName",
            "mail",
            "title",
            "department",
            "employeeID",
            "company",
            "c",
            "manager",
            "telephoneNumber",
            "distinguishedName",
            "extensionAttribute1",
            "extensionAttribute2",
            "extensionAttribute3",
            "description",
        },
        "entra": {
            "displayName",
            "mailNickname",
            "userPrincipalName",
            "jobTitle",
            "department",
            "employeeId",
            "accountEnabled",
            "usageLocation",
        },
        "github": {"login", "site_admin"},
        "slack": {"title", "tz"},
        "badge": {"site", "badge_number"},
    }
    for app, keys in expected.items():
        seen = set().union(*(a.profile for a in apps[app].accounts))
        assert seen == keys, app
    hr = apps["hr"].accounts
    assert {a.profile["employment_type"] for a in hr} == {"FULL_TIME", "CONTRACTOR", "INTERN"}
    assert {a.profile["employment_status"] for a in hr} == {"ACTIVE", "TERMINATED", "LEAVE"}
    assert all(len(a.profile["country"]) == 2 for a in hr)
    assert all(a.employee_ids == [a.external_id] for a in hr)


def test_plus_tags_and_the_service_account(apps: dict[str, Listing]) -> None:
    idp = {a.email: a for a in apps["idp"].accounts}
    ann = idp["ann.lee@example.com"]
    assert "ann.lee+backup@example.com" in ann.emails and "ann.lee+it@example.com" in ann.emails
    assert idp["jose.nunez+finance@example.com"].emails == ["jose.nunez+finance@example.com"]
    svc = idp["ann.lee+backup@example.com"]
    assert svc.type == "SERVICE_ACCOUNT" and svc.username == "svc-backup@example.com"
    ad = {a.external_id: a for a in apps["ad"].accounts}
    assert ad["svc-backup"].type == "SERVICE_ACCOUNT"
    assert ad["svc-backup"].email == "ann.lee+backup@example.com"
    assert ad["krbtgt"].type == "SYSTEM_ACCOUNT"
    slack = [a.email for a in apps["slack"].accounts]
    assert "zoe.odegard+slack@example.com" in slack


def test_same_name_non_ascii_and_missing_values(apps: dict[str, Listing]) -> None:
    hr = hr_by_number(apps)
    alexes = [a for a in apps["hr"].accounts if a.display_name == "Alex Morgan"]
    assert [(a.external_id, a.email) for a in alexes] == [
        ("E10013", "alex.morgan@example.com"),
        ("E10014", "alex.morgan2@example.com"),
    ]
    names = {a.display_name for a in apps["hr"].accounts}
    assert {"José Núñez", "Zoë Ødegård", "王芳"} <= names
    assert hr["E10023"].email == "" and hr["E10023"].display_name == "Mei Tanaka"  # type: ignore[attr-defined]
    assert "E10023" in (APPS / "hr.yaml").read_text(encoding="utf-8")
    assert "email: ''" in (APPS / "hr.yaml").read_text(encoding="utf-8")
    no_manager = [a.external_id for a in apps["hr"].accounts if not a.manager]
    assert no_manager == ["E10001", "E10022"]
    github = apps["github"].accounts
    assert sum(1 for a in github if not a.email) > len(github) // 2
    assert [a.display_name for a in github].count("Alex Morgan") == 1
    assert any(a.type == "SERVICE_ACCOUNT" for a in github)
    with (APPS / "badge.csv").open(encoding="utf-8") as fh:
        assert any(not row["email"] for row in csv.DictReader(fh))


def test_workers_leavers_and_conflicts(apps: dict[str, Listing]) -> None:
    hr = hr_by_number(apps)
    types = [a.profile["employment_type"] for a in apps["hr"].accounts]
    assert types.count("CONTRACTOR") >= 5 and types.count("INTERN") >= 5
    assert hr["E10020"].profile["employment_type"] == "CONTRACTOR"  # type: ignore[attr-defined]
    assert hr["E10021"].profile["employment_type"] == "INTERN"  # type: ignore[attr-defined]
    ad = {a.employee_ids[0]: a for a in apps["ad"].accounts if a.employee_ids}
    oliver = hr["E10018"]
    assert oliver.status == "DISABLED"  # type: ignore[attr-defined]
    assert oliver.profile["employment_status"] == "TERMINATED"  # type: ignore[attr-defined]
    assert ad["E10018"].status == "ENABLED"
    leavers_enabled = [
        a
        for a in apps["hr"].accounts
        if a.status == "DISABLED" and a.external_id in ad and ad[a.external_id].status == "ENABLED"
    ]
    assert len(leavers_enabled) >= 5
    assert hr["E10019"].profile["department"] == "Marketing"  # type: ignore[attr-defined]
    assert ad["E10019"].profile["department"] == "Sales"
    assert ad["E10024"].profile["title"] != hr["E10024"].profile["job_title"]  # type: ignore[attr-defined]
    assert "E10023" not in ad  # Mei Tanaka has no AD account yet: provisioning has work


def test_secondary_feed_and_requests(apps: dict[str, Listing]) -> None:
    feed = {a.external_id: a for a in apps["hr_feed"].accounts}
    dana = next(a for a in feed.values() if a.display_name == "Dana Whitaker")
    assert dana.email == "dana.whitaker@acme-staffing.example" and dana.employee_ids == ["E10020"]
    orphans = [
        a for a in feed.values() if not a.employee_ids and not a.email.endswith("@example.com")
    ]
    assert {a.display_name for a in orphans} >= {"Victor Hale", "Lena Novak", "Marco Bianchi"}
    entra_ids = {a.external_id for a in apps["entra"].accounts}
    requests = yaml.safe_load((APPS / "access_requests.yaml").read_text())["requests"]
    approved = [r for r in requests if r["status"] == "APPROVED"]
    assert approved and all(r["app"] == "entra" and r["entitlement"] == "lic-e5" for r in approved)
    assert all(r["user_email"] not in entra_ids for r in approved)
    ent_ids = {e.external_id for e in apps["entra"].entitlements}
    assert {"grp-engineering", "grp-all-staff", "lic-e5", "lic-e3"} <= ent_ids
    idp_only = {"rachel.adeyemi@example.com", "tom.becker@example.com"}
    assert idp_only <= {a.email for a in apps["idp"].accounts}
    assert not idp_only & {a.email for a in apps["hr"].accounts}


def test_unmerged_feed_rows_are_the_feed_only_workers_and_leavers_gone_from_the_idp(
    tmp_path: Path, apps: dict[str, Listing]
) -> None:
    # sample_data/README.md: three feed-only rows match nobody, and so do the rows of
    # contractors who left: HR ignores them and the IdP's filter lets a disabled account only
    # enrich (MATCH_ONLY), so nobody keeps them
    services = open_services(db_path=tmp_path / "r.db", init="sample")
    with services.db.session() as session:
        unmerged = dict(
            session.execute(
                select(Account.external_id, Account.display_name).where(
                    Account.app_id == "hr_feed", Account.owner_id.is_(None)
                )
            ).all()
        )
    assert unmerged == {
        "CW-0003": "Lars Lindqvist",
        "CW-0010": "Åsa White",
        "CW-0014": "Leila Wójcik",
        "CW-0017": "Steven Jackson",
        "CW-0030": "Victor Hale",
        "CW-0031": "Lena Novak",
        "CW-0032": "Marco Bianchi",
    }
    hr = {k: a for a in apps["hr"].accounts for k in (a.email, *a.employee_ids) if k}
    for row in apps["hr_feed"].accounts:
        worker = hr.get(row.email) or next((hr[i] for i in row.employee_ids if i in hr), None)
        if worker is None:
            assert row.external_id in unmerged, row.external_id
            continue
        left = worker.profile["employment_status"] == "TERMINATED"
        assert (row.external_id in unmerged) == left, row.external_id


def test_push_to_the_demo_changes_only_that_account(tmp_path: Path) -> None:
    build_organisation(tmp_path)
    path = tmp_path / "apps" / "ad.yaml"
    before = path.read_text(encoding="utf-8")
    conn = make_connector(ConnectorSpec("ad", "file", SETTINGS["ad"], tmp_path))
    conn.update_account("priya.shah", {"department": "Sales"})  # the value it already has
    assert path.read_text(encoding="utf-8") == before  # a rewrite keeps every byte
    conn.update_account("priya.shah", {"department": "Marketing"})
    after = path.read_text(encoding="utf-8")
    changed = [
        (a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b
    ]
    assert changed == [("    department: Sales", "    department: Marketing")]
