"""An attribute is computed after the person's attributes its expressions read, whatever
their order in the configuration (hostile review: one listed ahead of what it read kept last
run's value, and the run said it had settled)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from engine.cel import CelEngine
from engine.services import ConfigEdit, Services
from engine.sync.attributes import AttributeDef, Source, in_reading_order
from tests.engine.org import CONFIG, edit, open_org
from tests.engine.test_sync_reads import _settle, _value


def _attribute(cel: CelEngine, name: str, text: str) -> AttributeDef:
    program = cel.compile("attribute_source", text)
    return AttributeDef(name, False, [Source("cel[0]", None, None, program)], authority=False)


def _order(*attributes: tuple[str, str]) -> list[str]:
    cel = CelEngine()
    return [a.name for a in in_reading_order([_attribute(cel, n, t) for n, t in attributes])]


def test_an_attribute_comes_after_what_it_reads() -> None:
    assert _order(
        ("greeting", '"Hi " + subject.attributes.team'),
        ("team", 'subject.jobTitle + "/" + subject.profile.floor'),
        ("floor", '"3"'),
        ("job_title", '"Clerk"'),
    ) == ["floor", "job_title", "team", "greeting"]
    # a key computed at run time may be any of them
    assert _order(
        ("any", 'subject.attributes["fl" + "oor"]'), ("floor", '"3"'), ("other", '"x"')
    ) == ["floor", "other", "any"]
    # managerId shows manager_email
    assert _order(("mid", "subject.managerId"), ("manager_email", '"a@b.c"')) == [
        "manager_email",
        "mid",
    ]


def test_attributes_that_read_each_other_keep_their_order() -> None:
    # c reads a, which reads b, which reads a: the first of the cycle as listed comes first
    # (reading last run's b), then whatever what it read is done for
    assert _order(
        ("c", "subject.attributes.a"),
        ("a", "subject.attributes.b"),
        ("b", "subject.attributes.a"),
    ) == ["a", "c", "b"]


def test_a_custom_attribute_reading_one_listed_after_it_settles_in_one_sync(
    tmp_path: Path,
) -> None:
    config = copy.deepcopy(CONFIG)
    config["attributes"] += [
        {
            "name": "badge",
            "custom": True,
            "sources": [{"cel": '"[" + subject.attributes.team + "]"'}],
        },
        {"name": "team", "custom": True, "sources": [{"cel": 'subject.department + "-team"'}]},
    ]
    services = open_org(tmp_path, config)
    assert len(_settle(services)) == 1
    department = _value(services, "ann.lee@example.com", "department")
    assert _value(services, "ann.lee@example.com", "badge") == f"[{department}-team]"

    def ann_moves(data: dict) -> None:
        data["accounts"][0]["profile"]["department"] = "Finance"

    edit(tmp_path / "org", "hr", ann_moves)
    assert len(_settle(services)) == 1
    assert _value(services, "ann.lee@example.com", "badge") == "[Finance-team]"
    for user in services.population().users:
        team = user.attributes.get("team")
        assert team == f"{user.attributes.get('department', '')}-team", user.email
        assert user.attributes.get("badge") == f"[{team}]", user.email


def _pair(tmp_path: Path, ca: str) -> Services:
    """The test organisation with `ca` (CEL CA) and `cb`, which copies `ca`."""
    config = copy.deepcopy(CONFIG)
    config["attributes"] += [
        {"name": "ca", "custom": True, "sources": [{"cel": ca}]},
        {"name": "cb", "custom": True, "sources": [{"cel": "subject.attributes.ca"}]},
    ]
    return open_org(tmp_path, config)


def test_attributes_that_read_each_other_settle_only_once_they_agree(tmp_path: Path) -> None:
    """`ca` reads `cb`, which reads `ca`: `ca` is computed first, with last run's `cb`. A run
    that sets `cb` after `ca` read it left `ca` stale and still settled the store, so the next
    sync (nothing changed) never computed it again (review). Now such a run does not settle,
    and the next one computes those people again, until the values agree."""
    services = _pair(tmp_path, 'subject.attributes.cb == "" ? "A" : "A2"')
    runs = _settle(services)
    assert len(runs) == 3, [r.settled for r in runs]
    assert not runs[0].settled and not runs[1].settled
    note = next(n for s in runs[1].stages for n in s.notes if "read each other" in n)
    assert "ca read cb before this run set it" in note and "not settled" in note
    assert not any("alternate" in n for run in runs for s in run.stages for n in s.notes)
    for user in services.population().users:
        if user.status == "DELETED":
            continue
        assert (user.attributes.get("ca"), user.attributes.get("cb")) == ("A2", "A2"), user.email
    # settled means what it says: computed again, nobody's value moves
    assert services.explain("ann.lee@example.com", "ca").to_json()["value"] == "A2"
    assert services.sync(dry_run=True).planned == []


IS_SET = 'subject.attributes.{0} == "" ? "A" : "A2"'


@pytest.mark.parametrize(
    "attributes",
    [
        # reads itself: its own value as the last run left it
        [{"name": "ca", "custom": True, "sources": [{"cel": IS_SET.format("ca")}]}],
        # reads the other through the whole map of attributes, naming none
        [
            {
                "name": "ca",
                "custom": True,
                "sources": [{"cel": 'subject.attributes.exists(k, k == "cb") ? "A2" : "A"'}],
            },
            {"name": "cb", "custom": True, "sources": [{"cel": "subject.attributes.ca"}]},
        ],
    ],
    ids=["itself", "whole-map"],
)
def test_an_attribute_reading_itself_or_the_whole_map_settles_once_it_agrees(
    tmp_path: Path, attributes: list[dict]
) -> None:
    """Neither was seen as reading a value set after it: the store settled with "A" where a
    computation gives "A2" (review)."""
    config = copy.deepcopy(CONFIG)
    config["attributes"] += attributes
    services = open_org(tmp_path, config)
    runs = _settle(services)
    assert len(runs) > 1 and not runs[0].settled
    for user in services.population().users:
        if user.status != "DELETED":
            assert user.attributes.get("ca") == "A2", user.email
    assert services.sync(dry_run=True).planned == []


def test_attributes_whose_values_answer_each_other_say_they_alternate(tmp_path: Path) -> None:
    """`ca` is the opposite of `cb`, which copies `ca`: no computation agrees with the last,
    and every sync wrote (and pushed) the other value, saying only that the next sync
    computes them again. From the second run on, each says the values alternate and what to
    do; a pair that settles in two runs never says so."""
    services = _pair(tmp_path, 'subject.attributes.cb == "1" ? "0" : "1"')
    runs = [services.sync() for _ in range(4)]
    notes = [[n for s in run.stages for n in s.notes if "read each other" in n] for run in runs]
    assert all(notes) and not any(run.settled for run in runs)
    assert "5 of them (ann.lee@example.com" in notes[3][0]
    # (the first run creates the people: their values were none before; the second sets
    # them from the first's, so only the third can tell they went back)
    assert not any("alternate" in n[0] for n in notes[:2])
    for later in notes[2:]:
        assert "went back to the values they had before the last sync" in later[0]
        assert "make one of the attributes stop reading the other" in later[0]
    # a dry run says it too, of what it would do
    planned = services.sync(dry_run=True)
    assert any("their values alternate at every sync" in n for s in planned.stages for n in s.notes)


def test_alternating_values_are_named_also_when_every_run_computes_everyone(
    tmp_path: Path,
) -> None:
    """An attribute reading the clock has every run compute everyone: the people the last run
    left were not loaded then, and the note never came (review)."""
    services = _pair(tmp_path, 'subject.attributes.cb == "1" ? "0" : "1"')
    clock = {"name": "year", "custom": True, "sources": [{"cel": "string(now().getFullYear())"}]}
    services.config_edit(ConfigEdit("set", "attributes.year", clock))
    runs = [services.sync() for _ in range(4)]
    notes = [n for s in runs[-1].stages for n in s.notes if "read each other" in n]
    assert notes and "their values alternate at every sync" in notes[0]
