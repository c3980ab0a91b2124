"""An incremental sync computes, of a person touched only through their accounts' data, the
attributes that read what moved (engine.sync.attributes.narrowed), and leaves the store a sync
reconsidering everyone leaves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from engine.services import Services
from engine.store.models import Person
from engine.sync import attributes
from engine.sync.writer import bump_manual_generation
from tests.conftest import demo_copy
from tests.engine.test_sync_incremental import snapshot

# the demo's attributes with an expression: computed for everyone touched (they may read
# anything of the person)
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

    assert computed[margaret] == EXPRESSIONS
    assert "job_title" in computed[amara]
    assert computed[amara] <= EXPRESSIONS | {"job_title"}
    assert computed[john] == EXPRESSIONS | {"department", "manager_email", "employee_id"}


def test_the_narrowed_sync_leaves_the_store_a_full_sync_leaves(
    demo: Services, demo_template: Path, tmp_path: Path, computed: dict[int, set[str]]
) -> None:
    other_folder = tmp_path / "full"
    other_folder.mkdir()
    full = demo_copy(demo_template, other_folder)
    try:
        for folder in (tmp_path, other_folder):
            _changes(folder / "r-demo" / "apps")
        with full.db.session() as session, session.begin():
            bump_manual_generation(session)  # the other copy reconsiders everyone
        incremental = demo.sync()
        narrowed_people = len(computed)
        everyone = full.sync()
        assert incremental.status == everyone.status == "applied"
        assert len(computed) > narrowed_people  # the full run did compute everyone
        left = snapshot(demo, tmp_path / "r-demo")
        right = snapshot(full, other_folder / "r-demo")
        for part in left:
            assert left[part] == right[part], part
        job_titles = {
            p["email"]: p["attributes"].get("job_title") for p in left["persons"].values()
        }
        assert job_titles["amara.martinez@example.com"] == "VP Engineering"
        assert demo.sync().changes == []
    finally:
        full.db.dispose()
