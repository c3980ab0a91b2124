"""Editing one configuration object through the facade: validated as an import, refused whole,
saved with one audit event, guarded against concurrent changes (real SQLite store)."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest
import yaml
from sqlmodel import select

from engine.config import validate_text
from engine.errors import ConfigConflict, ConfigInvalid, InvalidInput, NotFound
from engine.services import ConfigEdit, Services
from engine.store.models import App, AuditEvent
from tests.engine.org import CONFIG, open_org

HR_FILTER = CONFIG["directories"][0]["filter"]


@pytest.fixture
def org(tmp_path: Path) -> Services:
    services = open_org(tmp_path)
    assert services.sync().status == "applied"
    for admin in ("alice", "bob", "carol", "a", "b"):  # the other admins these tests edit as
        services.grant_role(admin, "admin")
    return services


def _audit_rows(services: Services) -> int:
    with services.db.session() as session:
        return len(session.exec(select(AuditEvent)).all())


def _export_diff(before: str, after: str) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="")
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def test_an_edit_is_saved_audited_and_shows_in_the_export_as_exactly_itself(
    org: Services,
) -> None:
    exported = org.export_config()
    version = org.config_version()
    result = org.config_edit(
        ConfigEdit("set", "directories.hr.filter", '"CREATE"'),
        expected_version=version,
        actor="alice",
    )
    assert result.applied
    assert (result.path, result.before, result.after) == (
        "directories.hr.filter",
        HR_FILTER,
        '"CREATE"',
    )
    assert [c.describe() for c in result.changes] == [
        f'~ directories.hr.filter: "{HR_FILTER.replace(chr(34), chr(92) + chr(34))}" → '
        '"\\"CREATE\\""'
    ]
    assert result.version != version == version
    assert org.config_version() == result.version
    assert org.config().directories[0].filter == '"CREATE"'
    assert org.config_get("directories.hr.filter") == '"CREATE"'
    assert _export_diff(exported, org.export_config()) == [
        f"-    filter: '{HR_FILTER}'",
        "+    filter: '\"CREATE\"'",
    ]
    entry = org.last_change("directories.hr.filter")
    assert entry is not None
    assert (entry.action, entry.actor, entry.path) == (
        "config.edit",
        "alice",
        "directories.hr.filter",
    )
    assert (entry.before, entry.after) == (HR_FILTER, '"CREATE"')
    assert entry.diff() == [f"-{HR_FILTER}", '+"CREATE"']  # a text diffs as its lines
    assert entry.as_dict()["path"] == "directories.hr.filter"
    # the next sync keeps Lea Ver (E5, terminated), whom the old filter ignored
    run = org.sync()
    assert run.status == "applied"
    assert org.user_by_email("lea.ver@example.com").status != "DELETED"


def test_a_refused_edit_changes_nothing_and_names_problems_by_object_path(
    org: Services,
) -> None:
    exported = org.export_config()
    version = org.config_version()
    audit_rows = _audit_rows(org)
    with pytest.raises(ConfigInvalid) as refused:
        org.config_edit(ConfigEdit("set", "directories.hr.filter", "account.nope == 1"))
    assert (
        str(refused.value) == "directories.hr.filter: the edit has 1 problem; nothing was changed."
    )
    [problem] = refused.value.problems
    assert problem.path == "directories.hr.filter"
    # the same message an import of the same document gives
    document = yaml.safe_load(exported)
    document["directories"][0]["filter"] = "account.nope == 1"
    imported = validate_text(yaml.safe_dump(document), population=org.population())
    assert [p.message for p in imported.errors] == [problem.message]
    assert (problem.line, problem.column) == (1, 9)  # inside the expression

    with pytest.raises(ConfigInvalid) as refused:
        org.config_edit(ConfigEdit("delete", "apps.feed"))
    assert sorted(p.path for p in refused.value.problems) == [
        "attributes.vendor.sources.0.app",
        "directories.feed.app",
    ]
    assert "refers to app `feed`, which is not defined" in refused.value.problems[0].message

    with pytest.raises(ConfigInvalid) as refused:
        org.config_edit(ConfigEdit("set", "settings.deletion_threshold.max_objects", "500"))
    assert refused.value.problems[0].path == "settings.deletion_threshold.max_objects"

    with pytest.raises(NotFound, match="there is no directory `nope`; directories has: hr"):
        org.config_edit(ConfigEdit("set", "directories.nope.filter", '"CREATE"'))
    with pytest.raises(InvalidInput, match="its fields are"):
        org.config_edit(ConfigEdit("set", "directories.hr.filtr", '"CREATE"'))

    assert org.export_config() == exported
    assert org.config_version() == version
    assert _audit_rows(org) == audit_rows


def test_an_error_the_saved_configuration_already_has_refuses_no_edit(org: Services) -> None:
    """A check added since the configuration was saved (names with control characters) found
    errors in it: every edit was refused for them, the one fixing the first among them, until
    all were fixed in one go (hostile review). An edit is refused only for errors it brings."""
    from engine.store.repo import load_config_document, save_config_document

    with org.db.session() as session:
        document = load_config_document(session)
        document["apps"][0]["name"] = "Workday\x1b[2J HR"
        document["apps"][1]["name"] = "Okta\u202e"
        save_config_document(session, document, actor="old-version")
        session.commit()
    org.ctx.invalidate()
    first, second = (app["id"] for app in document["apps"][:2])
    done = org.config_edit(ConfigEdit("set", "settings.deletion_threshold.max_objects", 400))
    assert done.applied
    assert org.config_edit(ConfigEdit("set", f"apps.{first}.name", "Workday HR")).applied
    assert org.config_edit(ConfigEdit("set", f"apps.{second}.name", "Okta")).applied
    with pytest.raises(ConfigInvalid) as refused:
        org.config_edit(ConfigEdit("set", f"apps.{second}.name", "Okta\x07"))
    assert "holds an invisible or control character" in refused.value.problems[0].message


def test_a_dry_run_and_a_change_to_nothing_save_nothing(org: Services) -> None:
    exported = org.export_config()
    audit_rows = _audit_rows(org)
    dry = org.config_edit(ConfigEdit("disable", "directories.idp"), dry_run=True)
    assert not dry.applied and len(dry.changes) == 1
    assert dry.config.directories[1].enabled is False  # the edited configuration, for previews
    assert dry.after["enabled"] is False and "enabled" not in dry.before
    same = org.config_edit(ConfigEdit("set", "directories.feed.filter", '"MATCH_ONLY"'))
    assert not same.applied and same.changes == []
    assert org.export_config() == exported
    assert _audit_rows(org) == audit_rows


def test_an_edit_from_an_old_version_is_refused_with_who_and_when(org: Services) -> None:
    opened = org.config_version()
    org.config_edit(ConfigEdit("set", "directories.hr.filter", '"MATCH_ONLY"'), actor="bob")
    exported = org.export_config()
    with pytest.raises(ConfigConflict) as conflict:
        org.config_edit(
            ConfigEdit("set", "directories.hr", {"app": "hr", "filter": '"CREATE"'}),
            expected_version=opened,
            actor="alice",
        )
    message = str(conflict.value)
    # it names the change that touched the object, and the edit that was refused
    assert message.startswith("directories.hr.filter was changed by bob at 20")
    assert message.endswith(
        " UTC since you opened it (your edit of directories.hr was not saved); reload to see it."
    )
    assert org.export_config() == exported
    # reloading gives the current version, and the edit goes through
    result = org.config_edit(
        ConfigEdit("set", "directories.hr.filter", '"CREATE"'),
        expected_version=org.config_version(),
    )
    assert result.applied


def test_an_edit_from_an_old_version_goes_through_when_only_other_objects_changed(
    org: Services,
) -> None:
    # Bob changed another directory meanwhile: Alice's edit of HR loses nothing of his
    opened = org.config_version()
    org.config_edit(ConfigEdit("set", "directories.feed.filter", '"CREATE"'), actor="bob")
    result = org.config_edit(
        ConfigEdit("set", "directories.hr.filter", '"MATCH_ONLY"'),
        expected_version=opened,
        actor="alice",
    )
    assert result.applied
    assert org.config_get("directories.feed.filter") == '"CREATE"'  # Bob's edit kept
    assert org.config_get("directories.hr.filter") == '"MATCH_ONLY"'


def test_adding_moving_and_deleting_refresh_the_app_rows(org: Services) -> None:
    org.config_edit(ConfigEdit("move", "directories.feed", to_index=0))
    with org.db.session() as session:
        feed = session.get(App, "feed")
        assert feed is not None and feed.directory_order == 0
    assert org.config().directory_app_ids() == ["feed", "hr", "idp"]
    entry = org.last_change("directories.feed")
    assert entry is not None
    assert [d["app"] for d in entry.before] == ["hr", "idp", "feed"]
    assert [d["app"] for d in entry.after] == ["feed", "hr", "idp"]

    added = org.config_edit(ConfigEdit("set", "attributes.job_title.flow_rules.hr", {"update": 70}))
    assert added.before is None
    assert added.after == {
        "app": "hr",
        "direction": "inbound",
        "create": 50,
        "update": 70,
        "delete": 50,
    }
    org.config_edit(ConfigEdit("delete", "directories.feed"))
    with org.db.session() as session:
        feed = session.get(App, "feed")
        assert feed is not None and not feed.is_directory
    assert org.config().directory_app_ids() == ["hr", "idp"]

    org.config_edit(
        ConfigEdit("set", "directories.hr.merge_rules.email.account", {"preset": "all_emails"})
    )
    rules = org.config().directories[0].merge_rules
    assert rules is not None and [r.name for r in rules] == ["email", "employee_id"]


def test_the_audit_lists_an_object_what_is_under_it_and_what_changed_it_from_above(
    org: Services,
) -> None:
    org.config_edit(ConfigEdit("set", "directories.hr.filter", '"CREATE"'), actor="a")
    org.config_edit(ConfigEdit("disable", "directories.idp"), actor="b")
    org.config_edit(ConfigEdit("set", "attributes.department.flow_rules.idp.update", 50))
    everything = org.audit()
    assert [e.path for e in everything[:3]] == [
        "attributes.department.flow_rules.idp.update",
        "directories.idp",
        "directories.hr.filter",
    ]
    imports = [e for e in everything if e.action == "config.import"]
    assert {e.path for e in imports} == {
        "settings",
        "apps",
        "directories",
        "attributes",
        "push_rules",
    }
    # the object and the import of its section (which created it); not the idp edit
    assert [(e.action, e.path) for e in org.audit("directories.hr")] == [
        ("config.edit", "directories.hr.filter"),
        ("config.import", "directories"),
    ]
    assert [e.path for e in org.audit("directories", limit=2)] == [
        "directories.idp",
        "directories.hr.filter",
    ]
    assert [e.path for e in org.audit("attributes.department.flow_rules")][:1] == [
        "attributes.department.flow_rules.idp.update"
    ]
    assert org.last_change("push_rules.none") is None  # the import did not make it
    assert org.audit("apps.hr", limit=5)[0].action == "config.import"
    entry = org.last_change("directories.idp")
    assert entry is not None and entry.diff() == [
        " app: idp",
        "+enabled: false",
        ' filter: \'account.type == "SERVICE_ACCOUNT" ? "IGNORE" : "CREATE"\'',
        " merge_rules:",
    ]


def test_a_disabled_directory_removes_the_people_only_it_backs_and_says_why(
    org: Services,
) -> None:
    assert org.user_by_email("nina@example.com").status != "DELETED"  # only IdP has Nina
    org.config_edit(ConfigEdit("disable", "directories.idp"))
    assert "enabled: false" in org.export_config()
    run = org.sync()
    assert run.status == "applied"
    assert org.user_by_email("nina@example.com").status == "DELETED"
    assert org.user_by_email("ann.lee@example.com").status != "DELETED"  # HR still backs Ann
    _, changes = org.run_changes(run.run_id)
    removed = [c for c in changes if c.object_type == "user" and c.new == "DELETED"]
    assert [c.reason for c in removed] == [
        "no directory account creates this person any more (disabled directory: idp)"
    ]
    unlinked = [c for c in changes if c.reason == "directory idp is disabled"]
    assert unlinked  # the accounts it had linked say why they were let go
    # enabling it again brings Nina back
    org.config_edit(ConfigEdit("enable", "directories.idp"))
    assert org.sync().status == "applied"
    assert org.user_by_email("nina@example.com").status != "DELETED"


def test_the_editor_round_trip_refuses_a_stale_text_and_keeps_it(org: Services) -> None:
    kept: list[Path] = []

    def launch(file: Path) -> int:
        # someone else saves a change while the admin is in the editor
        org.config_edit(ConfigEdit("set", "directories.feed.filter", '"CREATE"'), actor="bob")
        file.write_text(file.read_text().replace("MATCH_ONLY", "IGNORE"))
        kept.append(file)
        return 0

    with pytest.raises(ConfigConflict) as conflict:
        org.edit_in_editor("directories.feed", launch=launch)
    assert str(conflict.value).startswith("directories.feed.filter was changed by bob at ")
    assert str(conflict.value).endswith(f"reload to see it. Your text is kept in {kept[0]}.")
    assert "IGNORE" in kept[0].read_text()
    kept[0].unlink()
    assert org.config_get("directories.feed.filter") == '"CREATE"'


def test_the_editor_round_trip_validates_and_saves(org: Services) -> None:
    shown: list[str] = []

    def launch(file: Path) -> int:
        text = file.read_text()
        shown.append(text)
        if len(shown) == 1:
            file.write_text(text.replace("max_objects: 500", "max_objects: -1"))
        else:
            file.write_text(text.replace("max_objects: -1", "max_objects: 250"))
        return 0

    result = org.edit_in_editor("settings", launch=launch, actor="carol")
    assert result is not None and result.applied
    assert (result.before, result.after) == (
        {"deletion_threshold": {"max_objects": 500, "max_percent": 20}},
        {"deletion_threshold": {"max_objects": 250, "max_percent": 20}},
    )
    assert "# ERROR: " in shown[1]
    error_line = next(line for line in shown[1].splitlines() if line.startswith("# ERROR: "))
    assert "settings.deletion_threshold.max_objects" not in error_line  # it sits at its line
    assert shown[1].splitlines().index(error_line) + 1 == next(
        i for i, line in enumerate(shown[1].splitlines()) if "max_objects: -1" in line
    )
    entry = org.last_change("settings.deletion_threshold.max_objects")
    assert entry is not None and (entry.actor, entry.path) == ("carol", "settings")


def test_a_filter_that_decides_nothing_for_any_account_is_refused(org: Services) -> None:
    exported = org.export_config()
    for text in ("account.email", "1 + 1"):
        with pytest.raises(ConfigInvalid) as refused:
            org.config_edit(ConfigEdit("set", "directories.hr.filter", text))
        (problem,) = refused.value.problems
        assert problem.path == "directories.hr.filter"
        assert "the filter decides nothing" in problem.message
        assert '"MATCH_ONLY"' in problem.hint
    # a filter that decides for some accounts and not others is the run's to report, per account
    mixed = 'account.profile.employment_status == "TERMINATED" ? "IGNORE" : account.email'
    org.config_edit(ConfigEdit("set", "directories.hr.filter", mixed), dry_run=True)
    assert org.export_config() == exported


def test_deleting_a_numbered_item_records_no_after(org: Services) -> None:
    sources = org.config_get("attributes.department.sources")
    assert len(sources) >= 2, "the test organisation's department has a fallback source"
    result = org.config_edit(ConfigEdit("delete", "attributes.department.sources.0"))
    assert (result.before, result.after) == (sources[0], None)
    entry = org.last_change("attributes.department.sources.0")
    assert entry is not None and (entry.before, entry.after) == (sources[0], None)
    assert all(line.startswith("-") for line in entry.diff())


def test_the_audit_of_an_object_finds_its_edits_whatever_the_case_of_its_name(
    org: Services,
) -> None:
    # attribute names are matched without regard to case (`config get attributes.DEPARTMENT`)
    org.config_edit(ConfigEdit("move", "attributes.department.sources.1", to_index=0))
    assert org.config_get("attributes.DEPARTMENT") == org.config_get("attributes.department")
    entries = org.audit("attributes.DEPARTMENT")
    assert entries and entries[0].action == "config.edit"
    assert entries[0].path.startswith("attributes.department")


def test_bytes_that_are_not_text_from_the_editor_are_shown_back_not_saved(
    org: Services,
) -> None:
    seen: list[str] = []

    def editor(file: Path) -> int:
        seen.append(file.read_text(encoding="utf-8"))
        if len(seen) == 1:
            file.write_bytes(b'"MATCH\xff_ONLY" // caf\xe9\n')
        elif len(seen) == 2:
            file.write_bytes(b'"MATCH\x00ONLY"\n')
        else:
            file.write_text('"MATCH_ONLY"\n', encoding="utf-8")
        return 0

    result = org.edit_in_editor("directories.hr.filter", launch=editor)
    assert result is not None and result.after == '"MATCH_ONLY"'
    assert "# ERROR: this line held bytes that are not UTF-8 text or a NUL" in seen[1]
    assert "\ufffd" in seen[1] and "\ufffd" in seen[2]
    assert org.config_get("directories.hr.filter") == '"MATCH_ONLY"'


def test_renaming_through_the_key_field_records_the_new_name(org: Services) -> None:
    result = org.config_edit(ConfigEdit("set", "directories.hr.merge_rules.email.name", "mail"))
    assert (result.before, result.after) == ("email", "mail")
    assert org.config_get("directories.hr.merge_rules.mail.name") == "mail"
    entry = org.last_change("directories.hr.merge_rules")
    assert entry is not None and (entry.before, entry.after) == ("email", "mail")


def test_two_admins_saving_at_once_both_keep_their_change(
    org: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.services import open_services
    from tests.engine.org import saves_at_once

    other = open_services(db_path=tmp_path / "roster.db")
    saves_at_once(org, other, monkeypatch)
