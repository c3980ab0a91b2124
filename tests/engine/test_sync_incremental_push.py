"""The incremental push plan: an incremental sync must plan and apply what a sync that
reconsiders everyone plans and applies, and a failure must not go silent after one run. Each
test keeps two copies of the demo organisation with the same changes: one syncs
incrementally, the other is forced to reconsider everyone (a manual decision, as in
test_sync_incremental.py); their stores, app files and journals are compared."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from engine.services import Services
from engine.sync.by_hand import bump as bump_manual_generation
from tests.conftest import demo_copy
from tests.engine.test_sync_incremental import _by_id, _load, _save, snapshot

Edit = Callable[[Path], None]


class Pair:
    """Two copies of the demo: `inc` syncs incrementally, `full` reconsiders everyone."""

    def __init__(self, template: Path, tmp_path: Path) -> None:
        self.folders: list[Path] = []
        self.services: list[Services] = []
        self._quiet = 0
        self.last: Any = None
        for name in ("inc", "full"):
            folder = tmp_path / name
            folder.mkdir()
            self.folders.append(folder)
            self.services.append(demo_copy(template, folder))

    @property
    def inc(self) -> Services:
        return self.services[0]

    @property
    def full(self) -> Services:
        return self.services[1]

    def close(self) -> None:
        for services in self.services:
            services.db.dispose()

    def edit_config(self, edit: Callable[[dict[str, Any]], None]) -> None:
        for services, folder in zip(self.services, self.folders, strict=True):
            path = folder / "r-demo" / "roster.yaml"
            data = _load(path)
            edit(data)
            text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
            path.write_text(text, encoding="utf-8")
            result = services.import_config(text, source=str(path), base_dir=folder / "r-demo")
            assert result.applied, result

    def edit_apps(self, edit: Edit) -> None:
        for folder in self.folders:
            edit(folder / "r-demo" / "apps")

    def sync_both(self, **options: Any) -> tuple[Any, Any]:
        """One sync of each copy; the full copy reconsiders everyone."""
        with self.full.db.session() as session, session.begin():
            bump_manual_generation(session)
        return self.inc.sync(**options), self.full.sync(**options)

    def quiet_down(self) -> None:
        """Sync both after an unrelated change, so that what the next incremental run revisits
        is small (a run after a configuration change revisits every account it pushed to)."""
        self._quiet += 1
        marker = f"Quiet {self._quiet}"

        def unrelated(apps: Path) -> None:
            slack = _load(apps / "slack.yaml")
            slack["accounts"][3]["profile"]["title"] = marker
            _save(apps / "slack.yaml", slack)

        self.edit_apps(unrelated)
        inc, full = self.sync_both()
        # (a push a rule could not make is a failure of the run, as a refused one is)
        assert inc.status == full.status, (inc.error, full.error)
        assert inc.status in ("applied", "applied-with-failures"), inc.error
        assert _planned_pushes(inc) == _planned_pushes(full)
        assert sorted(_push(inc).problems) == sorted(_push(full).problems)
        self.assert_same()
        self.last = inc

    def quiet_down_inc_only(self) -> None:
        self._quiet += 1
        marker = f"Quiet {self._quiet}"
        apps = self.folders[0] / "r-demo" / "apps"
        slack = _load(apps / "slack.yaml")
        slack["accounts"][3]["profile"]["title"] = marker
        _save(apps / "slack.yaml", slack)
        result = self.inc.sync()
        assert result.status == "applied", result.error

    def snapshots(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return (
            snapshot(self.inc, self.folders[0] / "r-demo"),
            snapshot(self.full, self.folders[1] / "r-demo"),
        )

    def assert_same(self) -> None:
        left, right = self.snapshots()
        for part in left:
            assert left[part] == right[part], part


def _push(result: Any) -> Any:
    return next(s for s in result.stages if s.name == "push")


def _planned_pushes(result: Any) -> list[tuple[str, str, Any, Any]]:
    return sorted(
        (c.object_id, c.field, repr(c.old), repr(c.new))
        for c in result.planned
        if c.stage == "push"
    )


def _pair(demo_template: Path, tmp_path: Path) -> Pair:
    return Pair(demo_template, tmp_path)


def _problems(result: Any) -> list[str]:
    return sorted(_push(result).problems)


def _same_runs(pair: Pair, **options: Any) -> tuple[Any, Any]:
    """One sync of each copy: the same status, push plan, push problems and store."""
    inc, full = pair.sync_both(**options)
    assert inc.status == full.status, (inc.status, inc.error, full.status, full.error)
    assert _planned_pushes(inc) == _planned_pushes(full)
    assert _problems(inc) == _problems(full)
    pair.assert_same()
    return inc, full


def _hr_person(
    employee_id: str, given: str, family: str, manager_email: str = ""
) -> dict[str, Any]:
    email = f"{given.lower()}.{family.lower()}@example.com"
    return {
        "id": employee_id,
        "display_name": f"{given} {family}",
        "given_name": given,
        "family_name": family,
        "email": email,
        "employee_ids": [employee_id],
        "status": "ENABLED",
        "type": "USER",
        "profile": {
            "cost_center": "CC-2100",
            "country": "GB",
            "department": "Engineering",
            "employment_status": "ACTIVE",
            "employment_type": "FULL_TIME",
            "job_title": "Engineer",
            "location": "London",
            "manager_email": manager_email,
        },
    }


def test_a_push_mapping_reading_subject_manager_id_follows_a_new_manager(
    demo_template: Path, tmp_path: Path
) -> None:
    """`subject.managerId` looks the manager up among the other people (by email) but is not
    a c1.* function, so the checker does not mark it as reading the directory: the incremental
    push plan never reconsiders a person whose manager appears, leaves or changes address."""
    pair = _pair(demo_template, tmp_path)
    try:

        def add_mapping(config: dict[str, Any]) -> None:
            rule = next(r for r in config["push_rules"] if r["name"] == "ad-core")
            rule["mappings"].append(
                {
                    "target": "extensionAttribute4",
                    "cel": 'subject.managerId != "" ? "managed" : "no manager"',
                }
            )

        pair.edit_config(add_mapping)

        def boss_unknown(apps: Path) -> None:
            hr = _load(apps / "hr.yaml")
            _by_id(hr)["E10005"]["profile"]["manager_email"] = "nora.boss@example.com"
            _save(apps / "hr.yaml", hr)

        pair.edit_apps(boss_unknown)
        for result in pair.sync_both():
            assert result.status == "applied", result.error
        pair.assert_same()
        ad = _load(pair.folders[0] / "r-demo" / "apps" / "ad.yaml")
        assert _by_id(ad)["william.weiss"]["profile"]["extensionAttribute4"] == "no manager"
        pair.quiet_down()

        def boss_hired(apps: Path) -> None:  # only the manager's own record is new
            hr = _load(apps / "hr.yaml")
            hr["accounts"].append(_hr_person("E19001", "Nora", "Boss"))
            _save(apps / "hr.yaml", hr)

        pair.edit_apps(boss_hired)
        inc, full = pair.sync_both()
        assert inc.status == full.status == "applied", (inc.error, full.error)
        planned = (_planned_pushes(inc), _planned_pushes(full))
        pair.quiet_down_inc_only()  # and a later incremental run does not catch up either
        values = [
            _by_id(_load(folder / "r-demo" / "apps" / "ad.yaml"))["william.weiss"]["profile"][
                "extensionAttribute4"
            ]
            for folder in pair.folders
        ]
        assert values == ["managed", "managed"], (values, planned)
    finally:
        pair.close()


def test_an_attribute_from_has_app_on_subject_follows_a_gone_account_to_the_push(
    demo_template: Path, tmp_path: Path
) -> None:
    """An attribute whose CEL asks `c1.user.v1.HasApp(subject, "github")` is no longer
    volatile: the attributes and push stages reconsider only the person whose GitHub account
    went, and that is enough."""
    pair = _pair(demo_template, tmp_path)
    try:

        def configure(config: dict[str, Any]) -> None:
            config["attributes"].append(
                {
                    "name": "has_github",
                    "custom": True,
                    "multi_valued": False,
                    "sources": [{"cel": 'c1.user.v1.HasApp(subject, "github") ? "yes" : "no"'}],
                }
            )
            rule = next(r for r in config["push_rules"] if r["name"] == "ad-core")
            rule["mappings"].append({"target": "extensionAttribute4", "attribute": "has_github"})

        pair.edit_config(configure)
        for result in pair.sync_both():
            assert result.status == "applied", result.error
        pair.assert_same()
        pair.quiet_down()

        def github_gone(apps: Path) -> None:
            github = _load(apps / "github.yaml")
            gone = next(
                a for a in github["accounts"] if a.get("email") == "alex.morgan@example.com"
            )
            github["accounts"].remove(gone)
            github["grants"] = [g for g in github.get("grants") or [] if g["account"] != gone["id"]]
            _save(apps / "github.yaml", github)

        pair.edit_apps(github_gone)
        inc, _ = _same_runs(pair)
        assert ("ad:alex.morgan", "extensionAttribute4", "'yes'", "'no'") in _planned_pushes(inc)
    finally:
        pair.close()


def test_a_filter_rule_follows_a_grant_alone(demo_template: Path, tmp_path: Path) -> None:
    """`targeting.kind: filter` on an Entra group: a person whose only change is the grant
    becomes targeted, and their stale Entra title is pushed."""
    pair = _pair(demo_template, tmp_path)
    try:
        who = "william.weiss@example.com"

        def ungranted_and_stale(apps: Path) -> None:
            entra = _load(apps / "entra.yaml")
            _by_id(entra)[who]["profile"]["jobTitle"] = "Stale title"
            entra["grants"] = [
                g
                for g in entra["grants"]
                if not (g["account"] == who and g["entitlement"] == "grp-all-staff")
            ]
            _save(apps / "entra.yaml", entra)

        pair.edit_apps(ungranted_and_stale)
        _same_runs(pair)
        pair.quiet_down()

        def granted(apps: Path) -> None:
            entra = _load(apps / "entra.yaml")
            entra["grants"].append({"account": who, "entitlement": "grp-all-staff"})
            _save(apps / "entra.yaml", entra)

        pair.edit_apps(granted)
        inc, _ = _same_runs(pair)
        assert any(c[0] == f"entra:{who}" and c[1] == "jobTitle" for c in _planned_pushes(inc))
    finally:
        pair.close()


def test_a_targeting_error_is_reported_by_every_run(demo_template: Path, tmp_path: Path) -> None:
    pair = _pair(demo_template, tmp_path)
    try:

        def configure(config: dict[str, Any]) -> None:
            rule = next(r for r in config["push_rules"] if r["name"] == "ad-core")
            rule["targeting"]["cel"] = (
                '(subject.email != "amara.martinez@example.com" || int("x") == 0) && '
                + rule["targeting"]["cel"]
            )

        pair.edit_config(configure)
        for result in pair.sync_both():
            assert result.status == "applied-with-failures", result.error
            assert "amara.martinez@example.com: targeting" in result.error
        for _ in range(3):  # unrelated changes: incremental runs
            pair.quiet_down()
            assert any("amara.martinez" in p and "targeting" in p for p in _problems(pair.last))
            assert pair.last.status == "applied-with-failures"
    finally:
        pair.close()


def test_a_refused_value_of_a_person_created_in_the_run_is_reported_again(
    demo_template: Path, tmp_path: Path
) -> None:
    """The run that creates a person records their refused value under their stored id."""
    pair = _pair(demo_template, tmp_path)
    try:

        def hired(apps: Path) -> None:
            hr = _load(apps / "hr.yaml")
            person = _hr_person("E19002", "Quinn", "Longtitle")
            person["profile"]["job_title"] = "Chief " + "very " * 40 + "important officer"
            hr["accounts"].append(person)
            _save(apps / "hr.yaml", hr)
            ad = _load(apps / "ad.yaml")
            ad["accounts"].append(
                {
                    "id": "quinn.longtitle",
                    "display_name": "Quinn Longtitle",
                    "email": "quinn.longtitle@example.com",
                    "username": "quinn.longtitle",
                    "employee_ids": ["E19002"],
                    "status": "ENABLED",
                    "type": "USER",
                    "profile": {"sAMAccountName": "quinn.longtitle", "title": "Engineer"},
                }
            )
            _save(apps / "ad.yaml", ad)

        pair.edit_apps(hired)
        inc, _ = _same_runs(pair)
        assert any("quinn.longtitle" in p and "at most 128" in p for p in _problems(inc))
        for _ in range(3):  # unrelated changes: incremental runs
            pair.quiet_down()
            assert any("quinn.longtitle" in p and "at most 128" in p for p in _problems(pair.last))
    finally:
        pair.close()


def test_an_account_provisioning_created_is_pushed_to_by_the_next_run(
    demo_template: Path, tmp_path: Path
) -> None:
    """A run creates an Entra account for an approved request (with the all-staff group the
    filter rule targets); the next, incremental, run pushes the rule's values to it."""
    pair = _pair(demo_template, tmp_path)
    try:

        def requested(apps: Path) -> None:
            path = apps / "access_requests.yaml"
            data = _load(path)
            data["requests"].append(
                {
                    "id": "REQ-9001",
                    "user_email": "john.bjork@example.com",
                    "app": "entra",
                    "entitlement": "grp-all-staff",
                    "status": "APPROVED",
                    "requested_at": "2025-06-01",
                    "reason": "review",
                }
            )
            _save(path, data)

        pair.edit_apps(requested)
        _same_runs(pair)
        entra = _load(pair.folders[0] / "r-demo" / "apps" / "entra.yaml")
        assert "john.bjork@example.com" in _by_id(entra)
        pair.quiet_down()
        created = [c for c in _planned_pushes(pair.last) if c[0] == "entra:john.bjork@example.com"]
        assert ("entra:john.bjork@example.com", "employeeId", "None", "'E10003'") in created
        pair.quiet_down()
    finally:
        pair.close()


def test_a_push_the_app_refused_is_sent_again_by_an_incremental_run(
    demo_template: Path, tmp_path: Path, monkeypatch: Any
) -> None:
    from engine.connectors.file.connector import FileConnector
    from engine.errors import ConnectorError

    pair = _pair(demo_template, tmp_path)
    try:
        update = FileConnector.update_accounts

        def refusing(self: Any, changes: Any) -> Any:
            refused = {
                key: ConnectorError("refused for the review")
                for key in changes
                if key == "william.weiss"
            }
            rest = {k: v for k, v in changes.items() if k not in refused}
            return {**refused, **(update(self, rest) if rest else {})}

        monkeypatch.setattr(FileConnector, "update_accounts", refusing)

        pair.edit_apps(_retitle_e10005)
        inc, _ = _same_runs(pair)
        assert inc.status == "applied-with-failures"
        monkeypatch.setattr(FileConnector, "update_accounts", update)
        pair.quiet_down()
        assert ("ad:william.weiss", "title") in {c[:2] for c in _planned_pushes(pair.last)}
        ad = _load(pair.folders[0] / "r-demo" / "apps" / "ad.yaml")
        assert _by_id(ad)["william.weiss"]["profile"]["title"] == "VP Marketing"
    finally:
        pair.close()


def test_a_run_that_failed_after_pushing_is_followed_by_the_same_store(
    demo_template: Path, tmp_path: Path, monkeypatch: Any
) -> None:
    """A run that fails after its pushes (here: settling raises; a SIGKILL leaves the run
    "running", which the next sync marks failed) is followed by a run reconsidering everyone."""
    from engine.sync import pipeline

    pair = _pair(demo_template, tmp_path)
    try:

        def broken(*args: Any, **kwargs: Any) -> None:
            raise RuntimeError("killed after the push")

        settle = pipeline._settle
        monkeypatch.setattr(pipeline, "_settle", broken)

        pair.edit_apps(_retitle_e10005)
        for result in pair.sync_both():
            assert result.status == "failed"
        monkeypatch.setattr(pipeline, "_settle", settle)
        pair.quiet_down()
        assert not pair.last.stages[4].counts.get("people_unchanged")  # everyone
        pair.quiet_down()
    finally:
        pair.close()


def test_a_dry_run_plans_what_the_incremental_apply_and_a_full_run_do(
    demo_template: Path, tmp_path: Path
) -> None:
    pair = _pair(demo_template, tmp_path)
    try:
        pair.quiet_down()

        pair.edit_apps(_retitle_e10005)
        dry = pair.inc.sync(dry_run=True)
        assert dry.status == "planned", dry.error
        inc, full = pair.inc.sync(expect_plan=dry.plan), None
        with pair.full.db.session() as session, session.begin():
            bump_manual_generation(session)
        full = pair.full.sync()
        assert inc.status == full.status == "applied", (inc.error, full.error)
        assert _planned_pushes(dry) == _planned_pushes(inc) == _planned_pushes(full)
        assert _planned_pushes(inc)
        pair.assert_same()
    finally:
        pair.close()


def test_a_run_blocked_by_the_deletion_threshold_then_allowed(
    demo_template: Path, tmp_path: Path
) -> None:
    pair = _pair(demo_template, tmp_path)
    try:

        def strict(config: dict[str, Any]) -> None:
            config["settings"]["deletion_threshold"] = {"max_objects": 3, "max_percent": 100}

        pair.edit_config(strict)
        for result in pair.sync_both():
            assert result.status == "applied", result.error
        pair.quiet_down()

        def leavers(apps: Path) -> None:
            hr = _load(apps / "hr.yaml")
            gone = {"E10006", "E10008", "E10010", "E10026"}
            emails = {a["email"] for a in hr["accounts"] if a["id"] in gone}
            hr["accounts"] = [a for a in hr["accounts"] if a["id"] not in gone]
            _by_id(hr)["E10005"]["profile"]["job_title"] = "VP Marketing"
            _save(apps / "hr.yaml", hr)
            idp = _load(apps / "idp.yaml")
            idp["accounts"] = [a for a in idp["accounts"] if a.get("email") not in emails]
            _save(apps / "idp.yaml", idp)

        pair.edit_apps(leavers)
        blocked, _ = _same_runs(pair)
        assert blocked.status == "blocked-by-threshold"
        inc, _ = _same_runs(pair, allow_deletes=True)
        assert inc.status == "applied"
        assert ("ad:william.weiss", "title") in {c[:2] for c in _planned_pushes(inc)}
        pair.quiet_down()
    finally:
        pair.close()


def _ownership(result: Any) -> Any:
    return next(s for s in result.stages if s.name == "ownership")


def test_an_incremental_ownership_stage_links_what_a_full_one_links(
    demo_template: Path, tmp_path: Path
) -> None:
    """Ownership looks again only at new and changed accounts of the built-in strategies while
    no person moved in identify: an account that now carries another person's address moves to
    them, one that carries nobody's is unlinked, a new one is linked, and the store is the one
    a full run leaves; when a person's address changes, every account is looked at again."""
    pair = _pair(demo_template, tmp_path)
    try:
        pair.quiet_down()  # the next runs are incremental

        def move_and_add(apps: Path) -> None:
            github = _load(apps / "github.yaml")
            first, second = github["accounts"][0], github["accounts"][1]
            first["email"] = "amara.martinez@example.com"
            first["emails"] = ["amara.martinez@example.com"]
            second["email"], second["emails"] = "nobody@example.com", []
            second["username"], second["display_name"] = "nobody-here", "Nobody Here"
            github["accounts"].append(
                {
                    "id": "9999001",
                    "username": "ann-lee-new",
                    "display_name": "Ann Lee",
                    "email": "ann.lee@example.com",
                    "status": "ENABLED",
                    "type": "USER",
                    "profile": {},
                }
            )
            _save(apps / "github.yaml", github)

        pair.edit_apps(move_and_add)
        inc, full = _same_runs(pair)
        assert _ownership(inc).counts.get("unchanged", 0) > 100  # really incremental
        assert "unchanged" not in _ownership(full).counts
        owners = {(c.object_id, c.new) for c in inc.planned if c.stage == "ownership"}
        assert any(o.startswith("github:9999001") and n for o, n in owners)

        def new_address(apps: Path) -> None:  # a person's keys change: everyone is looked at
            hr = _load(apps / "hr.yaml")
            _by_id(hr)["E10003"]["email"] = "j.bjork@example.com"
            _save(apps / "hr.yaml", hr)

        pair.edit_apps(new_address)
        inc, _ = _same_runs(pair)
        assert "unchanged" not in _ownership(inc).counts
    finally:
        pair.close()


def test_a_custom_ownership_stage_walks_only_changed_accounts_while_keys_stay(
    demo_template: Path, tmp_path: Path, monkeypatch: Any
) -> None:
    """The badge app's custom rules key people by their AD badge number (CEL, kept by the key
    memo): while every person's keys are those the last run matched with, an incremental run
    walks only the badge accounts that changed, and links what a full run links; once a
    person's keys move, it walks them all again."""
    from engine.sync import ownership

    walked: list[list[str]] = []
    walk = ownership._walk

    def recording(accounts: Any, *rest: Any) -> Any:
        walked.append([a.external_id for a in accounts if a.app_id == "badge"])
        return walk(accounts, *rest)

    monkeypatch.setattr(ownership, "_walk", recording)
    pair = _pair(demo_template, tmp_path)
    try:
        pair.quiet_down()
        badges = len(_badge_rows(pair.folders[0] / "r-demo" / "apps"))

        def new_site_and_title(apps: Path) -> None:
            rows = _badge_rows(apps)
            rows[4]["site"] = "NYC-2"  # no rule reads the site: not walked again
            rows[5]["email"] = "badge.printer@example.com"  # the email rule reads it
            _save_badge_rows(apps, rows)
            ad = _load(apps / "ad.yaml")
            ad["accounts"][6]["profile"]["title"] = "Badge Reader"
            _save(apps / "ad.yaml", ad)

        walked.clear()
        pair.edit_apps(new_site_and_title)
        inc, _ = _same_runs(pair)
        assert inc.status == "applied", inc.error
        badge_walks = [w for w in walked if w]
        # the incremental run walked the one badge changed in what the rules read, the full
        # run every one
        assert badge_walks[0] == [_badge_rows(pair.folders[0] / "r-demo" / "apps")[5]["id"]]
        assert len(badge_walks[1]) == badges

        def swap_badge_numbers(apps: Path) -> None:  # two people's keys move
            ad = _load(apps / "ad.yaml")
            found = [
                item
                for item in ad["accounts"]
                if (item.get("profile") or {}).get("extensionAttribute2") in ("070007", "070014")
            ]
            first, second = (item["profile"] for item in found)
            first["extensionAttribute2"], second["extensionAttribute2"] = (
                second["extensionAttribute2"],
                first["extensionAttribute2"],
            )
            _save(apps / "ad.yaml", ad)

        walked.clear()
        pair.edit_apps(swap_badge_numbers)
        inc, _ = _same_runs(pair)
        assert [len(w) for w in walked if w] == [badges, badges]
        moved = {c.object_id for c in inc.planned if c.stage == "ownership"}
        assert {"badge:BDG-00001", "badge:BDG-00002"} <= {m.split(" ")[0] for m in moved}
    finally:
        pair.close()


def _owner_pair(pair: Pair, app: str, external_id: str) -> tuple[Any, Any]:
    """The account's owner's email in the incremental and the full copy."""
    found = []
    for services in pair.services:
        account = services.account_by_key(f"{app}:{external_id}")
        owner = services.population().user_by_id(account.owner_id) if account.owner_id else None
        found.append(owner.email if owner else None)
    return found[0], found[1]


def test_keys_that_moved_after_the_custom_stage_are_walked_by_the_next_run(
    demo_template: Path, tmp_path: Path
) -> None:
    """The badge app is listed before AD: a new AD account, linked by AD's ownership after the
    badge stage, gives its person a badge number the stage did not match with. The run's end
    keyed the person again, and the next incremental run took those keys as the ones matched
    with: it never walked the badge (hostile review). The run now leaves the store unsettled,
    and the next one walks every badge, as a full run does."""
    pair = _pair(demo_template, tmp_path)
    try:

        def badge_first(config: dict[str, Any]) -> None:
            apps = config["apps"]
            badge = next(a for a in apps if a["id"] == "badge")
            apps.remove(badge)
            apps.insert([a["id"] for a in apps].index("ad"), badge)

        pair.edit_config(badge_first)
        pair.sync_both()
        pair.quiet_down()

        def new_badge(apps: Path) -> None:  # a number nobody has yet, and no email
            rows = _badge_rows(apps)
            rows.append({**rows[0], "id": "BDG-99001", "email": "", "badge_number": "099001"})
            _save_badge_rows(apps, rows)

        pair.edit_apps(new_badge)
        _same_runs(pair)
        assert _owner_pair(pair, "badge", "BDG-99001") == (None, None)
        hr = _load(pair.folders[0] / "r-demo" / "apps" / "hr.yaml")
        ad = _load(pair.folders[0] / "r-demo" / "apps" / "ad.yaml")
        in_ad = {a.get("email") for a in ad["accounts"]}
        person = next(
            p
            for p in hr["accounts"]
            if p.get("email")
            and p["email"] not in in_ad
            and p["status"] == "ENABLED"
            and p["profile"].get("employment_status") == "ACTIVE"
        )

        def new_ad_account(apps: Path) -> None:
            ad = _load(apps / "ad.yaml")
            ad["accounts"].append(
                {
                    "id": "zz.newbie",
                    "email": person["email"],
                    "username": "zz.newbie",
                    "profile": {"extensionAttribute2": "099001", "sAMAccountName": "zz.newbie"},
                }
            )
            _save(apps / "ad.yaml", ad)

        pair.edit_apps(new_ad_account)
        _same_runs(pair)
        inc, full = pair.sync_both()  # nothing new in the apps: the badge is walked again
        assert inc.status == full.status == "applied", (inc.error, full.error)
        assert _owner_pair(pair, "badge", "BDG-99001") == (person["email"],) * 2
        pair.assert_same()
    finally:
        pair.close()


def test_a_push_that_changed_a_custom_key_is_walked_by_the_next_run(
    demo_template: Path, tmp_path: Path
) -> None:
    """A push writes the AD attribute the badge rule keys people by, after the ownership
    stage: the next run walks the badges again (hostile review)."""
    pair = _pair(demo_template, tmp_path)
    try:

        def push_badge_numbers(config: dict[str, Any]) -> None:
            rule = next(r for r in config["push_rules"] if r["name"] == "ad-core")
            rule["mappings"].append({"target": "extensionAttribute2", "attribute": "cost_center"})

        pair.edit_config(push_badge_numbers)
        pair.sync_both()
        pair.quiet_down()

        def unique_badge_number(apps: Path) -> None:
            rows = _badge_rows(apps)
            rows[0]["badge_number"] = "CC-UNIQUE"
            _save_badge_rows(apps, rows)

        pair.edit_apps(unique_badge_number)
        _same_runs(pair)

        def cost_center(apps: Path) -> None:  # pushed to E10005's AD extensionAttribute2
            hr = _load(apps / "hr.yaml")
            _by_id(hr)["E10005"]["profile"]["cost_center"] = "CC-UNIQUE"
            _save(apps / "hr.yaml", hr)

        pair.edit_apps(cost_center)
        _same_runs(pair)
        ad = _load(pair.folders[0] / "r-demo" / "apps" / "ad.yaml")
        assert "CC-UNIQUE" in {a["profile"].get("extensionAttribute2") for a in ad["accounts"]}
        _same_runs(pair)
        pair.quiet_down()
    finally:
        pair.close()


def test_a_custom_rule_reading_entitlements_follows_a_grant(
    demo_template: Path, tmp_path: Path
) -> None:
    """An account side reading the entitlements: a grant gone is a change of the account,
    walked again (hostile review: the walk looked only at accounts whose data changed)."""
    pair = _pair(demo_template, tmp_path)
    try:

        def members_by_email(config: dict[str, Any]) -> None:
            app = next(a for a in config["apps"] if a["id"] == "slack")
            app["ownership"] = {
                "strategy": "custom",
                "rules": [
                    {
                        "name": "members-by-email",
                        "account": {"cel": 'account.entitlements.size() > 0 ? account.email : ""'},
                        "user": {"preset": "all_emails"},
                    }
                ],
            }

        pair.edit_config(members_by_email)
        pair.sync_both()
        pair.quiet_down()
        assert _owner_pair(pair, "slack", "U0EZQC5FKUJ") == ("margaret.okafor@example.com",) * 2

        def drop_grants(apps: Path) -> None:
            slack = _load(apps / "slack.yaml")
            slack["grants"] = [g for g in slack["grants"] if g["account"] != "U0EZQC5FKUJ"]
            _save(apps / "slack.yaml", slack)

        pair.edit_apps(drop_grants)
        _same_runs(pair)
        assert _owner_pair(pair, "slack", "U0EZQC5FKUJ") == (None, None)
    finally:
        pair.close()


def _badge_rows(apps: Path) -> list[dict[str, str]]:
    import csv

    with (apps / "badge.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _save_badge_rows(apps: Path, rows: list[dict[str, str]]) -> None:
    import csv

    with (apps / "badge.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _retitle_e10005(apps: Path) -> None:
    hr = _load(apps / "hr.yaml")
    _by_id(hr)["E10005"]["profile"]["job_title"] = "VP Marketing"
    _save(apps / "hr.yaml", hr)


def _revisit(services: Services) -> Any:
    from engine.sync.incremental import load_push_revisit

    with services.db.session() as session:
        return load_push_revisit(session)


def test_a_push_the_app_listed_back_is_not_planned_again_by_the_next_run(
    demo_template: Path, tmp_path: Path
) -> None:
    pair = _pair(demo_template, tmp_path)
    try:
        pair.quiet_down()
        pair.edit_apps(_retitle_e10005)
        _same_runs(pair)
        revisit = _revisit(pair.inc)
        assert ("ad", "william.weiss") in revisit.accounts  # ownership looks again
        assert ("ad", "william.weiss") in revisit.confirmed  # the push stage need not
        owner = pair.inc.account_by_key("ad:william.weiss").owner_id
        with pair.inc.db.session() as session:
            from engine.sync.loading import load_state

            assert owner not in revisit.owners(load_state(session).accounts)
        pair.quiet_down()  # the same plan and store as a run reconsidering everyone
        assert ("ad:william.weiss", "title") not in {c[:2] for c in _planned_pushes(pair.last)}
    finally:
        pair.close()


def test_a_push_the_app_took_silently_and_ignored_is_sent_again_by_the_next_run(
    demo_template: Path, tmp_path: Path, monkeypatch: Any
) -> None:
    """An app that answers a push without error but keeps its old value: the read-back shows
    it, so the next incremental run plans the push again, as a full one does."""
    from engine.connectors.file.connector import FileConnector

    pair = _pair(demo_template, tmp_path)
    try:
        pair.quiet_down()
        update = FileConnector.update_accounts

        def ignoring(self: Any, changes: Any) -> Any:
            rest = {k: v for k, v in changes.items() if k != "william.weiss"}
            return update(self, rest) if rest else {}

        monkeypatch.setattr(FileConnector, "update_accounts", ignoring)
        pair.edit_apps(_retitle_e10005)
        inc, _ = _same_runs(pair)
        assert inc.status == "applied"  # nothing was refused
        assert ("ad", "william.weiss") not in _revisit(pair.inc).confirmed
        monkeypatch.setattr(FileConnector, "update_accounts", update)
        pair.quiet_down()
        assert ("ad:william.weiss", "title") in {c[:2] for c in _planned_pushes(pair.last)}
        ad = _load(pair.folders[0] / "r-demo" / "apps" / "ad.yaml")
        assert _by_id(ad)["william.weiss"]["profile"]["title"] == "VP Marketing"
    finally:
        pair.close()


def test_an_account_pushed_under_two_rules_is_confirmed_only_when_both_values_hold() -> None:
    from engine.records import AccountRecord
    from engine.sync.incremental import confirmed_pushes
    from engine.sync.push import PushItem

    account = AccountRecord(id=1, app_id="ad", external_id="ann")
    account.profile = {"title": "Lead", "department": "Ops"}
    held = PushItem("titles", "ad", "ann", 1, "ann", {"title": ("Dev", "Lead")})
    missed = PushItem("departments", "ad", "ann", 1, "ann", {"department": ("Ops", "Sales")})
    failed = PushItem("titles", "ad", "bob", 2, "bob", {}, error="title: too long")
    accounts = {("ad", "ann"): account}
    assert confirmed_pushes([held], accounts) == {("ad", "ann")}
    assert confirmed_pushes([held, missed], accounts) == set()
    assert confirmed_pushes([missed, held], accounts) == set()
    assert confirmed_pushes([failed], accounts) == set()  # an error, and no account


def test_a_mapping_reading_the_pushed_account_is_planned_again_after_the_push(
    demo_template: Path, tmp_path: Path
) -> None:
    """A value computed from the account it is pushed to changes once the push is listed back
    (hostile review): the next incremental run plans it again, as a full one does, and no push
    is taken as settled while such a rule is enabled."""
    pair = _pair(demo_template, tmp_path)
    try:

        def echo_title(config: dict[str, Any]) -> None:
            rule = next(r for r in config["push_rules"] if r["name"] == "ad-core")
            rule["mappings"].append(
                {
                    "target": "extensionAttribute4",
                    "cel": 'c1.user.v1.HasApp(subject, "ad") ? "was:" + '
                    'c1.user.v1.ListAppUsersForUser(subject, "ad")[0].profile.title : ""',
                }
            )

        pair.edit_config(echo_title)
        _same_runs(pair)
        pair.quiet_down()
        pair.edit_apps(_retitle_e10005)
        _same_runs(pair)
        assert _revisit(pair.inc).confirmed == set()
        pair.quiet_down()  # the same plan as a full run: extensionAttribute4 follows the title
        ad = _load(pair.folders[0] / "r-demo" / "apps" / "ad.yaml")
        assert _by_id(ad)["william.weiss"]["profile"]["extensionAttribute4"] == "was:VP Marketing"
    finally:
        pair.close()


def test_an_account_the_app_changed_besides_the_push_is_not_confirmed(
    demo_template: Path, tmp_path: Path, monkeypatch: Any
) -> None:
    from engine.connectors.file.connector import FileConnector

    pair = _pair(demo_template, tmp_path)
    try:
        pair.quiet_down()
        update = FileConnector.update_accounts

        def and_more(self: Any, changes: Any) -> Any:
            extra = {
                key: {**values, "physicalDeliveryOfficeName": "Moved by the app"}
                for key, values in changes.items()
            }
            return update(self, extra)

        monkeypatch.setattr(FileConnector, "update_accounts", and_more)
        pair.edit_apps(_retitle_e10005)
        _same_runs(pair)
        revisit = _revisit(pair.inc)
        assert ("ad", "william.weiss") in revisit.accounts
        assert ("ad", "william.weiss") not in revisit.confirmed
    finally:
        pair.close()
