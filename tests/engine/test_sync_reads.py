"""Attributes that read other people are recomputed only for the readers of what changed
(engine/sync/reads.py), and the store they leave is the one computing everyone gives.

The demo organisation (with its pushes to AD and Entra, whose read-back moves values after
the attributes stage) gets attributes reading others through every kind of lookup, then
rounds of random HR edits: departments, titles, managers, names, emails, leavers and joiners. After
each round the store is synced until it settles; then a run made to compute everyone must
change nothing. (A store built anew from the same files is not the comparison: who is who
depends on history, such as an HR email changed while the IdP still has the old one.)"""

from __future__ import annotations

import copy
import random
from pathlib import Path

import pytest
import yaml
from sqlmodel import select

from bench.generate import generate
from engine.services import Services, open_services
from engine.store.models import AttributeValue, Meta
from engine.store.repo import set_meta
from engine.sync import pipeline, reads
from engine.sync.pipeline import SyncResult
from tests.engine.org import CONFIG, edit, open_org

LOOKUPS = {
    "manager_department": 'c1.directory.users.v1.GetManagers(subject)[?0].department.orValue("")',
    "manager_id": "subject.managerId",
    # the manager's own reading attribute: moves with no data of the manager's changing
    "skip_department": (
        'c1.directory.users.v1.GetManagers(subject)[?0].attributes.manager_department.orValue("")'
    ),
    # the manager's manager: GetManagers reads the manager's own manager_email
    "grand_manager": (
        "c1.directory.users.v1.GetManagers(subject).size() > 0 ? c1.directory.users.v1."
        'GetManagers(c1.directory.users.v1.GetManagers(subject)[0])[?0].email.orValue("-") : ""'
    ),
    "reports": "string(size(c1.directory.users.v1.DirectReports(subject)))",
    "peers": (
        "string(c1.directory.users.v1.GetManagers(subject).map(m, "
        "size(c1.directory.users.v1.DirectReports(m))))"
    ),
    "namesakes": "string(size(c1.directory.users.v1.FindByName(subject.displayName)))",
    "first_hire": (
        'c1.directory.users.v1.FindByEmail("people0001@example.com")[?0].department.orValue("-")'
    ),
    # the manager's AD account, which the push rewrites after the attributes stage
    "manager_ad_title": (
        "c1.directory.users.v1.GetManagers(subject).size() > 0 ? c1.user.v1.ListAppUsersForUser("
        'c1.directory.users.v1.GetManagers(subject)[0], "ad")[?0].profile.title.orValue("-") : ""'
    ),
    # anything can change the members: only a few people ask, so as not to read everyone
    "admins": (
        'subject.department == "Legal" ? '
        'string(size(c1.directory.apps.v1.GetEntitlementMembers("slack", "admins"))) : ""'
    ),
}


def _organisation(folder: Path, people: int = 60) -> tuple[Services, Path]:
    config = generate(folder / "org", people, seed=3, formats="yaml")
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    for name, cel in LOOKUPS.items():
        data["attributes"].append({"name": name, "custom": True, "sources": [{"cel": cel}]})
    config.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    services = open_services(db_path=folder / "roster.db", init="empty")
    services.import_config(config.read_text(), source=str(config), base_dir=config.parent)
    return services, config.parent


def _settle(services: Services, most: int = 6) -> list[SyncResult]:
    runs: list[SyncResult] = []
    while not runs or not runs[-1].settled:
        assert len(runs) < most, [r.changes[:5] for r in runs]
        runs.append(services.sync(allow_deletes=True))
        assert runs[-1].status in ("applied", "applied-with-failures"), runs[-1].error
        _check_the_plan(runs[-1])
        # the history says it too (`roster runs N --json`)
        assert services.runs(limit=1)[0].to_json()["settled"] is runs[-1].settled
    return runs


def _check_the_plan(result: SyncResult) -> None:
    """One change per value, none that changes nothing, and the stage's counts of values set
    and cleared are those of its changes (a value computed twice is counted once)."""
    mine = [c for c in result.changes if c["stage"] == "attributes"]
    keys = [(c["object_id"], c["field"]) for c in mine]
    assert len(keys) == len(set(keys)), keys
    assert all(c["old"] != c["new"] for c in mine)
    values = [
        value
        for c in mine
        for value in (c["new"].values() if c["field"] == "attributes" else [c["new"]])
    ]
    counts = next(s for s in result.stages if s.name == "attributes").counts
    cleared = sum(1 for v in values if v in ("", [], None))
    assert (counts.get("set", 0), counts.get("cleared", 0)) == (len(values) - cleared, cleared)


def _everyone(services: Services) -> int:
    return sum(1 for p in services.population().users if p.status != "DELETED")


def _edit_hr(org: Path, rng: random.Random, round_no: int) -> None:
    path = org / "apps" / "hr.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    accounts = data["accounts"]
    emails = [a["email"] for a in accounts if a.get("email")]
    for account in rng.sample(accounts, 6):
        profile = account.setdefault("profile", {})
        what = rng.choice(["department", "title", "manager", "name", "email", "leave"])
        if what == "department":
            profile["department"] = rng.choice(["Research", "Legal", "Sales", "Ops"])
        elif what == "title":  # pushed to AD, where the manager_ad_title readers read it
            profile["job_title"] = rng.choice(["Lead", "Principal", "Head"])
        elif what == "manager":
            profile["manager_email"] = rng.choice(emails)
        elif what == "name":
            account["display_name"] = rng.choice(["Sam Park", "Ann Lee", account["display_name"]])
        elif what == "email" and account.get("email"):
            account["email"] = f"moved{round_no}.{account['email']}"
        elif what == "leave":
            accounts.remove(account)
    # a manager gets another manager (their HR record alone changes): whoever reads their
    # reports' manager's manager reads it again
    named = {(a.get("profile") or {}).get("manager_email") for a in accounts}
    bosses = [a for a in accounts if a.get("email") in named]
    if bosses:
        rng.choice(bosses).setdefault("profile", {})["manager_email"] = rng.choice(emails)
    # someone names a manager nobody is yet: the next round's joiner (a lookup that found
    # nobody must be made again when someone has that email)
    rng.choice(accounts).setdefault("profile", {})["manager_email"] = f"j{round_no + 1}@example.com"
    if round_no:  # and someone reports to the last joiner, computed after them (the
        # direct reports are indexed once per stage)
        rng.choice(accounts).setdefault("profile", {})["manager_email"] = f"j{round_no}@example.com"
    joiner = dict(rng.choice(accounts))
    joiner["id"] = f"J{round_no}"
    joiner["employee_ids"] = [joiner["id"]]
    joiner["email"] = f"j{round_no}@example.com"
    joiner["profile"] = dict(joiner.get("profile") or {}, manager_email=rng.choice(emails))
    accounts.append(joiner)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def _compute_everyone(services: Services) -> SyncResult:
    """A sync made to compute everyone: as if the last run had kept no record of who reads
    whom (and had not settled the store, or the sync would end at once)."""
    with services.db.session() as session:
        set_meta(session, reads.META_KEY, "")
        set_meta(session, "last_sync_signature", "")
        session.commit()
    result = services.sync(allow_deletes=True)
    assert result.status in ("applied", "applied-with-failures"), result.error
    attributes = next(s for s in result.stages if s.name == "attributes")
    assert attributes.notes[0].startswith("computed everyone: the last run left no record")
    return result


def test_only_readers_are_computed_and_computing_everyone_changes_nothing(
    tmp_path: Path,
) -> None:
    services, org = _organisation(tmp_path / "synced")
    _settle(services)
    everyone = _everyone(services)
    rng = random.Random(5)
    considered = []
    for round_no in range(6):
        _edit_hr(org, rng, round_no)
        runs = _settle(services)
        considered.append(
            [
                next(s for s in r.stages if s.name == "attributes").counts.get(
                    "users_considered", 0
                )
                for r in runs
            ]
        )
        again = _compute_everyone(services)
        moved = [c for c in again.changes if c["stage"] in ("attributes", "push")]
        assert moved == [], (round_no, moved[:5])
    # no run computed everyone (in so small an organisation, with attributes reading their
    # manager's reports and their namesakes, a few edits reach many)
    assert all(max(runs) < everyone for runs in considered), (considered, everyone)


def _stored(services: Services) -> str:
    with services.db.session() as session:
        return session.exec(select(Meta.value).where(Meta.key == reads.META_KEY)).one()


def test_the_record_of_who_reads_whom_is_kept_and_cleared_with_the_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stored with the run that computed it; cleared when values are written, so a run
    stopped before it stored its own leaves none (the next computes everyone); an
    unreadable one is no record."""
    services, org = _organisation(tmp_path, people=40)
    _settle(services)
    stored = reads.load(_stored(services))
    assert stored is not None and stored.reads and not stored.pending
    for bad in (
        "{",
        "[]",
        '{"format": 99}',
        '{"format": 1, "reads": {}, "pending": []}',  # of an older Roster
        f'{{"format": {reads.FORMAT}, "reads": {{"7": 1}}, "pending": []}}',
        f'{{"format": {reads.FORMAT}, "reads": {{"7": [1]}}, "pending": []}}',
        f'{{"format": {reads.FORMAT}, "reads": {{"x": ["i:1"]}}, "pending": []}}',
        f'{{"format": {reads.FORMAT}, "reads": {{}}, "pending": ["a"]}}',
        # ids no store holds (hostile review: they reached SQL and failed the sync)
        f'{{"format": {reads.FORMAT}, "reads": {{}}, "pending": [9223372036854775808]}}',
        f'{{"format": {reads.FORMAT}, "reads": {{}}, "pending": [1e308]}}',
        f'{{"format": {reads.FORMAT}, "reads": {{}}, "pending": [true]}}',
        f'{{"format": {reads.FORMAT}, "reads": {{"-3": ["i:1"]}}, "pending": []}}',
    ):
        assert reads.load(bad) is None
    with services.db.session() as session:
        set_meta(session, reads.META_KEY, "{")
        session.commit()
    _edit_hr(org, random.Random(1), 0)
    run = services.sync(allow_deletes=True)
    attributes = next(s for s in run.stages if s.name == "attributes")
    assert attributes.notes[0].startswith("computed everyone: the last run left no record")
    assert reads.load(_stored(services)) is not None  # that run kept one again

    # a run that stops after writing values, before keeping who read whom, leaves none
    def stopped(*args: object) -> set[int]:
        raise RuntimeError("stopped here")

    _edit_hr(org, random.Random(2), 1)
    with monkeypatch.context() as patch:
        patch.setattr(pipeline, "_keep_reads", stopped)
        assert services.sync(allow_deletes=True).status == "failed"
    assert _stored(services) == ""
    run = services.sync(allow_deletes=True)
    attributes = next(s for s in run.stages if s.name == "attributes")
    assert attributes.notes[0].startswith("computed everyone: run ")
    assert attributes.counts["users_considered"] == _everyone(services)
    assert reads.load(_stored(services)) is not None


def _small(tmp_path: Path, name: str, cel: str) -> Services:
    config = copy.deepcopy(CONFIG)
    config["attributes"].append({"name": name, "custom": True, "sources": [{"cel": cel}]})
    return open_org(tmp_path, config)


def _value(services: Services, email: str, name: str) -> object:
    user = next(u for u in services.population().users if u.email == email)
    return user.attributes.get(name)


def test_a_lookup_that_found_nobody_is_made_again_when_someone_has_that_email(
    tmp_path: Path,
) -> None:
    """Ann names a manager HR does not have yet; when Zed joins, Ann (whose own data did not
    change) reads Zed's department."""
    services = _small(
        tmp_path,
        "manager_department",
        'c1.directory.users.v1.GetManagers(subject)[?0].department.orValue("none")',
    )

    def point_ann_at_zed(data: dict) -> None:
        data["accounts"][0]["profile"]["manager_email"] = "zed@example.com"

    edit(tmp_path / "org", "hr", point_ann_at_zed)
    _settle(services)
    assert _value(services, "ann.lee@example.com", "manager_department") == "none"

    def zed_joins(data: dict) -> None:
        data["accounts"].append(
            {
                "id": "E9",
                "display_name": "Zed Ray",
                "email": "zed@example.com",
                "employee_ids": ["E9"],
                "profile": {"department": "Legal", "employment_status": "ACTIVE"},
            }
        )

    edit(tmp_path / "org", "hr", zed_joins)
    runs = _settle(services)
    assert _value(services, "ann.lee@example.com", "manager_department") == "Legal"
    first = next(s for s in runs[0].stages if s.name == "attributes")
    assert first.counts["users_considered"] == 2  # Zed, and Ann who looked for him


def test_direct_reports_read_after_a_manager_moved_are_read_again(tmp_path: Path) -> None:
    """Sam's manager becomes Nina. Ann, Sam and Nina are computed in that order (each has a
    change of their own): Ann's count builds the stage's index of direct reports before Sam's
    manager moves, and Nina's is counted from it. The next run counts Nina's again."""
    services = _small(
        tmp_path, "reports", "string(size(c1.directory.users.v1.DirectReports(subject)))"
    )
    _settle(services)
    assert _value(services, "nina@example.com", "reports") == "0"

    def sam_reports_to_nina(data: dict) -> None:
        data["accounts"][0]["profile"]["phone"] = "+1 101"
        data["accounts"][2]["profile"]["manager_email"] = "nina@example.com"

    def nina_is_promoted(data: dict) -> None:
        data["accounts"][2]["profile"]["title"] = "Partner"

    edit(tmp_path / "org", "hr", sam_reports_to_nina)
    edit(tmp_path / "org", "idp", nina_is_promoted)
    runs = _settle(services)
    first = next(s for s in runs[0].stages if s.name == "attributes")
    assert first.counts["users_considered"] == 3  # not Bo: Ann still reports to him
    assert _value(services, "nina@example.com", "reports") == "1"
    assert _value(services, "bo.chen@example.com", "reports") == "1"  # Ann


def test_a_managers_id_read_through_someone_else_is_noted_for_its_own_person(
    tmp_path: Path,
) -> None:
    """Bo counts his reports who have a manager, which converts Sam's `managerId` (kept with
    Sam's CEL value) before Sam is computed. Sam's own `subject.managerId` must still be noted
    as Sam's lookup of Bo's email, so that when Bo's email changes Sam's is computed again
    (hostile review: it was charged to Bo, and Sam kept Bo's id)."""
    config = copy.deepcopy(CONFIG)
    for name, cel in (
        ("mid", "subject.managerId"),
        (
            "managed_reports",
            "string(size(c1.directory.users.v1.DirectReports(subject)"
            '.filter(r, r.managerId != "")))',
        ),
    ):
        config["attributes"].append({"name": name, "custom": True, "sources": [{"cel": cel}]})
    services = open_org(tmp_path, config)

    def sam_reports_to_bo(data: dict) -> None:
        data["accounts"][2]["profile"]["manager_email"] = "bo.chen@example.com"

    edit(tmp_path / "org", "hr", sam_reports_to_bo)
    _settle(services)
    bo = next(u for u in services.population().users if u.email == "bo.chen@example.com")
    assert _value(services, "sam.park@example.com", "mid") == str(bo.id)

    def bo_changes_email(data: dict) -> None:
        data["accounts"][1]["email"] = "bo.c@example.com"

    def feed_too(data: dict) -> None:
        data["accounts"][0]["email"] = "bo.c@example.com"

    edit(tmp_path / "org", "hr", bo_changes_email)
    edit(tmp_path / "org", "feed", feed_too)
    _settle(services)
    assert _value(services, "sam.park@example.com", "mid") == ""
    again = _compute_everyone(services)
    assert [c for c in again.changes if c["stage"] == "attributes"] == []


def test_the_members_of_an_entitlement_are_read_again_when_an_account_moves(
    tmp_path: Path,
) -> None:
    """Everyone counts Slack's admins: a grant removed makes them all read it again, in the
    run that removed it, which settles the store (their own values moving does not change who
    holds what)."""
    services = _small(
        tmp_path,
        "admins",
        'string(size(c1.directory.apps.v1.GetEntitlementMembers("slack", "admins")))',
    )
    _settle(services)
    assert _value(services, "bo.chen@example.com", "admins") == "1"

    def revoke(data: dict) -> None:
        data["grants"] = []

    edit(tmp_path / "org", "slack", revoke)
    runs = _settle(services)
    assert len(runs) == 1 and _value(services, "bo.chen@example.com", "admins") == "0"
    assert _compute_everyone(services).changes == []


def test_what_a_second_computation_resolves_is_not_reported(tmp_path: Path) -> None:
    """Ann divides by the length of Bo's department, which Bo, computed after her, does not
    have yet on the first sync: her first computation fails, her second (in the same run)
    does not. The run reports no error."""
    services = _small(
        tmp_path,
        "ratio",
        'string(10 / size(c1.directory.users.v1.FindByEmail("bo.chen@example.com").department))',
    )
    first = services.sync()
    attributes = next(s for s in first.stages if s.name == "attributes")
    assert "errors" not in attributes.counts, attributes.problems
    assert attributes.problems == []
    assert _value(services, "ann.lee@example.com", "ratio") == "0"


def test_a_value_computed_back_to_what_it_was_keeps_when_it_was_set(tmp_path: Path) -> None:
    """Ann's manager becomes Sam, and Sam moves to Engineering, in one edit: Ann, computed
    before Sam, first reads Sales, then (a second time) Engineering, which she had. No change
    is planned for her, and her value keeps the run that set it."""
    services = _small(
        tmp_path,
        "manager_department",
        'c1.directory.users.v1.GetManagers(subject)[?0].department.orValue("")',
    )
    first = _settle(services)[0]

    def ann_under_sam(data: dict) -> None:
        data["accounts"][0]["profile"]["manager_email"] = "sam.park@example.com"
        data["accounts"][2]["profile"]["department"] = "Engineering"

    edit(tmp_path / "org", "hr", ann_under_sam)
    moved = _settle(services)[0]
    notes = next(s for s in moved.stages if s.name == "attributes").notes
    assert any(n.startswith("1 person computed a second time (ann.lee@example.com)") for n in notes)
    assert not any(
        c["object_id"] == "ann.lee@example.com" and c["field"] == "manager_department"
        for c in moved.changes
    )
    ann = next(u for u in services.population().users if u.email == "ann.lee@example.com")
    with services.db.session() as session:
        run_id = session.exec(
            select(AttributeValue.run_id).where(
                AttributeValue.user_id == ann.id, AttributeValue.attribute == "manager_department"
            )
        ).one()
    assert run_id == first.run_id


def test_a_managers_manager_is_read_again_when_the_manager_gets_one(tmp_path: Path) -> None:
    """Ann reads her manager's manager: GetManagers(Bo) reads Bo's manager_email, a value of
    Bo's that no field of his CEL value shows. When Bo gets a manager, Ann is computed again
    (hostile review: she kept "none", and the run said it had settled)."""
    gm = "c1.directory.users.v1.GetManagers"
    services = _small(
        tmp_path,
        "grand_manager",
        f'{gm}(subject).size() > 0 ? {gm}({gm}(subject)[0])[?0].displayName.orValue("none") : ""',
    )

    _settle(services)  # (Ann reports to Bo, who reports to nobody)
    assert _value(services, "ann.lee@example.com", "grand_manager") == "none"

    def bo_under_sam(data: dict) -> None:
        data["accounts"][1]["profile"]["manager_email"] = "sam.park@example.com"

    edit(tmp_path / "org", "hr", bo_under_sam)
    runs = _settle(services)
    assert len(runs) == 1
    assert _value(services, "ann.lee@example.com", "grand_manager") == "Sam Park"


def test_explain_says_whom_a_value_reads(tmp_path: Path) -> None:
    """`roster explain` names the people an expression read and what of them (the keys a sync
    computes the person again for), and the lookups that found them."""
    services = _small(
        tmp_path,
        "manager_department",
        'c1.directory.users.v1.GetManagers(subject)[?0].department.orValue("none")',
    )
    _settle(services)
    bo = next(u for u in services.population().users if u.email == "bo.chen@example.com")
    explained = services.explain("ann.lee@example.com", "manager_department")
    assert explained.value == bo.attributes["department"]
    assert explained.reads_others == [
        "bo.chen@example.com: department",
        "who has the email bo.chen@example.com",
    ]
    assert explained.to_json()["reads_others"] == explained.reads_others
    # Bo has no manager: the lookup found nobody, and says so
    assert services.explain("bo.chen@example.com", "manager_department").reads_others == []
    # an attribute that reads no one else reads no one
    assert services.explain("ann.lee@example.com", "department").reads_others == []


def test_what_was_read_is_described_by_person_then_by_lookup() -> None:
    labels = {1: "bo@example.com", 2: "Sam Park"}
    described = reads.describe(
        [
            "v:1:department",
            "i:2",
            "a:1",
            "f:2",
            "e:bo@example.com",
            "n:sam park",
            "r:x@y",
            "g:",
            "*",
            "m:9",
            "v:oops:x",
        ],
        lambda person: labels.get(person, f"person {person}"),
    )
    assert described == [
        "Sam Park: their names, profile or other attributes",
        "bo@example.com: department, their accounts",
        "anyone (a lookup Roster cannot follow: any change reads it again)",
        "who has the email bo@example.com",
        "who holds an entitlement",
        "who is named sam park",
        "whose manager is x@y",
    ]


def test_new_people_are_found_by_their_stored_ids_after_the_run_writes_them(
    tmp_path: Path,
) -> None:
    """Nora and Ned join (Nora manages Ned), and the push rewrites Ned's AD title; his value,
    computed again from the read-back after the run wrote both, finds Nora by her stored id
    (hostile review: the run still mapped stored ids to its own, found nobody, kept the old
    title and said it had settled). New people are numbered on from the store's highest id,
    however many accounts the run imported."""
    from engine.setup import demo_folder_for

    services = open_services(db_path=tmp_path / "r.db", init="sample")
    folder = demo_folder_for(services.db)
    config_path = folder / "roster.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["attributes"].append(
        {
            "name": "ad_title_manager",
            "custom": True,
            "sources": [
                {
                    "cel": '("ad" in accounts ? accounts.ad.profile.title : "-") + "/" + '
                    '(subject.managerId == "" ? "" : '
                    "c1.directory.users.v1.GetByID(subject.managerId).displayName)"
                }
            ],
        }
    )
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    services.import_config(config_path.read_text(), source=str(config_path), base_dir=folder)
    _settle(services)
    highest = max(u.id for u in services.population().users)

    def joiner(eid: str, first: str, manager: str, title: str) -> dict:
        return {
            "id": eid,
            "display_name": f"{first} New",
            "given_name": first,
            "family_name": "New",
            "email": f"{first.lower()}.new@example.com",
            "employee_ids": [eid],
            "profile": {
                "department": "Engineering",
                "employment_status": "ACTIVE",
                "employment_type": "FULL_TIME",
                "job_title": title,
                "manager_email": manager,
            },
        }

    def nora_and_ned_join(data: dict) -> None:
        data["accounts"] += [
            joiner("E90001", "Nora", "margaret.okafor@example.com", "Head of New"),
            joiner("E90002", "Ned", "nora.new@example.com", "Newbie"),
        ]

    def neds_ad_account(data: dict) -> None:
        data["accounts"].append(
            {
                "id": "ned.new",
                "display_name": "Ned New",
                "email": "ned.new@example.com",
                "username": "ned.new",
                "employee_ids": ["E90002"],
                "profile": {"sAMAccountName": "ned.new", "title": "old", "employeeID": "E90002"},
            }
        )

    edit(folder / "apps", "hr", nora_and_ned_join)
    edit(folder / "apps", "ad", neds_ad_account)
    _settle(services)
    people = {u.email: u for u in services.population().users}
    nora, ned = people["nora.new@example.com"], people["ned.new@example.com"]
    assert (nora.id, ned.id) == (highest + 1, highest + 2)
    assert ned.attributes["ad_title_manager"] == "Newbie/Nora New"
    again = _compute_everyone(services)
    assert [c for c in again.changes if c["stage"] in ("attributes", "push")] == []
