"""A people search's qualifiers (has:APP, no:APP, status:STATUS) through the CLI and the
service, on the demo organisation."""

from __future__ import annotations

import json

import pytest

from engine.errors import InvalidInput
from engine.services import Services
from engine.services.records import PeopleQuery
from tests.engine.test_identity_decisions import cli


def test_no_app_lists_the_live_people_without_an_account_there(demo: Services) -> None:
    population = demo.population()
    with_slack = {
        a.owner_id for a in population.accounts if a.app_id == "slack" and a.status != "DELETED"
    }
    expected = {u.id for u in population.users if u.id not in with_slack and u.status == "ENABLED"}
    db = str(demo.db.sqlite_path)
    code, out, _ = cli(
        "people", "list", "no:slack status:enabled", "--limit", "1000", "--json", "--db", db
    )
    assert code == 0
    listed = json.loads(out)
    assert {p["id"] for p in listed["people"]} == expected and listed["total"] == len(expected)
    # has: is the rest of them, and the text still narrows by name or email
    code, out, _ = cli("people", "list", "HAS:slack ann.lee", "--json", "--db", db)
    assert [p["email"] for p in json.loads(out)["people"]] == ["ann.lee@example.com"]
    code, out, _ = cli("people", "list", "has:slack no:slack", "--db", db)
    assert (code, out.strip()) == (0, "Nobody matches 'has:slack no:slack'.")


@pytest.mark.parametrize(
    ("search", "message"),
    [
        ("no:slak", "No app 'slak' for no:; the apps are ad, badge, entra, github, hr"),
        ("status:gone", "No status 'gone': status: takes ENABLED, DISABLED, DELETED."),
    ],
)
def test_an_unknown_app_or_status_names_the_known_ones(
    demo: Services, search: str, message: str
) -> None:
    code, out, err = cli("people", "list", search, "--db", str(demo.db.sqlite_path))
    assert code == 1 and out == "" and message in err


def test_words_that_only_look_like_qualifiers_are_searched_as_text() -> None:
    assert PeopleQuery.parse("mailto:ann", ["slack"]) == PeopleQuery("mailto:ann")
    assert PeopleQuery.parse("ann no:slack", ["slack"]) == PeopleQuery("ann", lacks=("slack",))
    assert PeopleQuery.parse("has:Slack", ["slack"]) == PeopleQuery("", has=("slack",))
    with pytest.raises(InvalidInput, match="No app '' for has:"):
        PeopleQuery.parse("has:", ["slack"])
