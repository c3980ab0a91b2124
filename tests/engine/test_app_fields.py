"""`Services.app_fields`: the fields an app's stored accounts really have, with counts and
samples, on a real store (tests/engine/org.py); expected numbers are counted from its files."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import NotFound
from engine.records import AccountRecord
from engine.services import Services
from engine.services.attributes import MAX_PROFILE_KEYS, SAMPLE_LENGTH, app_fields
from tests.engine.org import open_org


@pytest.fixture
def org(tmp_path: Path) -> Services:
    services = open_org(tmp_path)
    assert services.sync().status == "applied"
    return services


def test_account_fields_then_profile_keys_most_filled_first(org: Services) -> None:
    found = org.app_fields("hr")
    assert found.accounts == 5
    names = [f.name for f in found.fields]
    # the account fields in their fixed order, then the profile keys
    assert names[:3] == ["external_id", "display_name", "given_name"]
    profile = [n for n in names if n.startswith("profile.")]
    # department and employment_status: 5 accounts; job_title: 4; manager_email, phone: 1
    assert profile == [
        "profile.department",
        "profile.employment_status",
        "profile.job_title",
        "profile.manager_email",
        "profile.phone",
    ]
    department = found.field("profile.department")
    assert department is not None and department.kind == "profile"
    assert department.with_value == 5
    # Engineering and Sales twice, Finance once: the most common first
    assert department.samples == ["Engineering", "Sales", "Finance"]
    ids = found.field("employee_ids")
    assert ids is not None and ids.kind == "list" and ids.with_value == 5
    status = found.field("status")
    assert status is not None and status.kind == "choice" and status.samples[0] == "ENABLED"
    given = found.field("given_name")
    assert given is not None and given.with_value == 4  # E5 has none


def test_an_app_with_empty_profiles_and_an_unknown_app(org: Services) -> None:
    github = org.app_fields("github")
    assert github.accounts == 2
    assert not [f for f in github.fields if f.name.startswith("profile.")]
    username = github.field("username")
    assert username is not None and username.with_value == 2
    assert sorted(username.samples) == ["bchen", "sp"]
    with pytest.raises(NotFound) as error:
        org.app_fields("nope")
    assert "hr" in error.value.message and "nope" in error.value.message


def test_samples_and_keys_are_bounded() -> None:
    big = "x" * 1_000_000
    accounts = [
        AccountRecord(
            id=1,
            app_id="a",
            external_id="1",
            display_name=big,
            profile={f"k{i:04d}": "v" for i in range(MAX_PROFILE_KEYS + 5)} | {"empty": ""},
        )
    ]
    found = app_fields(accounts, "a")
    display = found.field("display_name")
    assert display is not None and len(display.samples[0]) == SAMPLE_LENGTH
    assert found.truncated
    assert len([f for f in found.fields if f.kind == "profile"]) == MAX_PROFILE_KEYS
    # an empty value counts as no value
    assert found.field("external_id") is not None
    assert app_fields([], "a").accounts == 0


def test_an_account_gone_from_its_app_is_neither_counted_nor_sampled() -> None:
    """Add source said "266 accounts in slack" where the dashboard said 265: the one gone
    from Slack was counted, and its values offered as samples (newcomer review)."""
    live = AccountRecord(id=1, app_id="slack", external_id="U1", profile={"title": "Live"})
    gone = AccountRecord(
        id=2, app_id="slack", external_id="U2", status="DELETED", profile={"title": "Gone"}
    )
    found = app_fields([live, gone], "slack")
    assert found.accounts == 1
    title = found.field("profile.title")
    assert title is not None and title.with_value == 1 and "Gone" not in title.samples
