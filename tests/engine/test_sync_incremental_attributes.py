"""An incremental sync computes, of a person touched only through their accounts' data, the
attributes that read what moved (engine.sync.attributes.narrowed), and those that read them, and
leaves the store a sync reconsidering everyone leaves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from engine.services import Services
from engine.store.models import Person
from engine.sync import attributes
from tests.engine.test_sync_incremental import everyone_next, full_copy, same_stores

# the demo's attributes with an expression, each reading fields of the person's accounts
# (`accounts.github.emails`, `accounts.ad.profile.sAMAccountName`, the badge's site and HR's
# location) and their status
EXPRESSIONS = {"additional_email", "additional_username", "badge_site"}


def _edit(path: Path, external_id: str, edit: Any) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    (item,) = [a for a in data["accounts"] if a["id"] == external_id]
    edit(item)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")


def _changes(apps: Path) -> None:
    # Amara's HR title (read by job_title), Margaret's Slack title (read by no attribute),
    # John's AD status (read by every AD source: it decides which of the accounts counts)
    _edit(apps / "hr.yaml", "E10002", lambda a: a["profile"].update(job_title="VP Engineering"))
    _edit(apps / "slack.yaml", "U0EZQC5FKUJ", lambda a: a["profile"].update(title="Chair"))
    _edit(apps / "ad.yaml", "john.bjork", lambda a: a.update(status="DISABLED"))


def _person(services: Services, email: str) -> int:
    with services.db.session() as session:
        person_id = session.scalars(select(Person.id).where(Person.email == email)).one()
    assert person_id is not None
    return person_id


@pytest.fixture
def computed(monkeypatch: pytest.MonkeyPatch) -> dict[int, set[str]]:
    """Person id -> the attributes the run decided for them."""
    seen: dict[int, set[str]] = {}
    real = attributes.decide_or_hold

    def spy(attribute: Any, user: Any, *args: Any, **kwargs: Any) -> Any:
        seen.setdefault(user.id, set()).add(attribute.name)
        return real(attribute, user, *args, **kwargs)

    monkeypatch.setattr(attributes, "decide_or_hold", spy)
    return seen


def test_a_person_whose_account_changed_has_only_what_reads_it_computed(
    demo: Services, tmp_path: Path, computed: dict[int, set[str]]
) -> None:
    _changes(tmp_path / "r-demo" / "apps")
    amara = _person(demo, "amara.martinez@example.com")
    margaret = _person(demo, "margaret.okafor@example.com")
    john = _person(demo, "john.bjork@example.com")

    result = demo.sync()
    assert result.status == "applied", result.error

    assert margaret not in computed  # nothing reads a Slack title
    # (and the AD title the push gave her, read back, is read by nothing either)
    assert computed[amara] == {"job_title"}
    assert computed[john] == EXPRESSIONS | {"department", "manager_email", "employee_id"}


def test_the_narrowed_sync_leaves_the_store_a_full_sync_leaves(
    demo: Services, demo_template: Path, tmp_path: Path, computed: dict[int, set[str]]
) -> None:
    with full_copy(demo_template, tmp_path) as full:
        for folder in (tmp_path, tmp_path / "full"):
            _changes(folder / "r-demo" / "apps")
        everyone_next(full)
        incremental = demo.sync()
        narrowed_people = len(computed)
        everyone = full.sync()
        assert incremental.status == everyone.status == "applied"
        assert len(computed) > narrowed_people  # the full run did compute everyone
        left = same_stores(demo, full, tmp_path)
        job_titles = {
            p["email"]: p["attributes"].get("job_title") for p in left["persons"].values()
        }
        assert job_titles["amara.martinez@example.com"] == "VP Engineering"
        assert demo.sync().changes == []


def test_an_attribute_reading_a_computed_one_is_computed_with_it(
    demo: Services, tmp_path: Path, computed: dict[int, set[str]]
) -> None:
    document = yaml.safe_load(demo.export_config())
    document["attributes"].append(
        {
            "name": "title_shout",
            "custom": True,
            "sources": [{"cel": "subject.jobTitle.upperAscii()"}],
        }
    )
    demo.import_config(yaml.safe_dump(document), source="x.yaml", base_dir=tmp_path / "r-demo")
    assert demo.sync().status == "applied"  # another configuration: everyone
    computed.clear()
    _changes(tmp_path / "r-demo" / "apps")
    assert demo.sync().status == "applied"
    amara = _person(demo, "amara.martinez@example.com")
    assert computed[amara] == {"job_title", "title_shout"}
    with demo.db.session() as session:
        person = session.get(Person, amara)
        assert person is not None
        assert person.attributes["title_shout"] == "VP ENGINEERING"


def _profile(**values: Any) -> Any:
    return lambda account: account["profile"].update(values)


@pytest.mark.parametrize(
    ("before", "after", "shown"),
    [
        ({"cost_center": 4100}, {"cost_center": 4100.0, "job_title": "VP"}, "4100.0"),
        ({"cost_center": 4100}, {"cost_center": 4100.0}, "4100.0"),  # alone: not the same data
        ({"cost_center": 1}, {"cost_center": True, "job_title": "VP"}, "true"),
    ],
)
def test_a_value_equal_in_python_but_shown_otherwise_has_moved(
    demo: Services,
    demo_template: Path,
    tmp_path: Path,
    before: dict[str, Any],
    after: dict[str, Any],
    shown: str,
) -> None:
    """An export that starts writing 4100.0 for 4100, or true for 1 (equal in Python), changed
    the value an attribute shows: the incremental run finds it moved (hostile review)."""
    with full_copy(demo_template, tmp_path) as full:
        for values in (before, after):
            for folder in (tmp_path, tmp_path / "full"):
                _edit(
                    folder / "r-demo" / "apps" / "hr.yaml",
                    "E10002",
                    lambda account, v=values: account["profile"].update(v),
                )
            everyone_next(full)
            assert demo.sync().status == full.sync().status == "applied"
            left = same_stores(demo, full, tmp_path)
        values = {p["email"]: p["attributes"] for p in left["persons"].values()}
        assert values["amara.martinez@example.com"]["cost_center"] == shown
        assert demo.sync().changes == []


@pytest.mark.parametrize(
    ("expression", "email", "expected"),
    [
        # an account reached through an optional: what is read of it is not told apart
        ('accounts.?slack.profile.tz.orValue("")', "margaret.okafor@example.com", "Asia/Tokyo"),
        ('accounts[?"slack"].profile.tz.orValue("")', "margaret.okafor@example.com", "Asia/Tokyo"),
        # the person's attributes read whole: whichever of them the run computes
        (
            'subject.profile.exists(k, v, v == "VP Engineering") ? "vp" : "no"',
            "amara.martinez@example.com",
            "vp",
        ),
        (
            '"%s".format([subject.attributes]).contains("CC-9999") ? "cc" : "no"',
            "amara.martinez@example.com",
            "cc",
        ),
    ],
)
def test_an_expression_reading_more_than_it_names_is_computed(
    demo: Services,
    tmp_path: Path,
    computed: dict[int, set[str]],
    expression: str,
    email: str,
    expected: str,
) -> None:
    """What the checker cannot tell field by field counts as read whole (hostile review)."""
    document = yaml.safe_load(demo.export_config())
    document["attributes"].append(
        {"name": "probe", "custom": True, "sources": [{"cel": expression}]}
    )
    demo.import_config(yaml.safe_dump(document), source="x.yaml", base_dir=tmp_path / "r-demo")
    assert demo.sync().status == "applied"
    apps = tmp_path / "r-demo" / "apps"
    _edit(
        apps / "hr.yaml",
        "E10002",
        lambda a: a["profile"].update(job_title="VP Engineering", cost_center="CC-9999"),
    )
    _edit(apps / "slack.yaml", "U0EZQC5FKUJ", lambda a: a["profile"].update(tz="Asia/Tokyo"))
    assert demo.sync().status == "applied"
    with demo.db.session() as session:
        person = session.scalars(select(Person).where(Person.email == email)).one()
        assert person.attributes["probe"] == expected
