"""A person with several accounts in one app: what their attributes read of them does not
depend on the order a run holds the accounts in (hostile review: a person with two GitHub
accounts got one or the other's username from run to run, and a sync finishing a killed run
gave another store than an uninterrupted one)."""

from __future__ import annotations

from engine.cel import CelEngine, to_python
from engine.config.model import Attribute
from engine.config.model import Source as SourceSpec
from engine.records import AccountRecord, Population, UserRecord
from engine.sync.attributes import SourceReader, compile_attributes

ANN = UserRecord(id=1, email="ann@example.com")


def _accounts() -> list[AccountRecord]:
    return [
        AccountRecord(id=9, app_id="github", external_id="b", username="ann-b", owner_id=1),
        AccountRecord(id=8, app_id="github", external_id="a", username="ann-a", owner_id=1),
        AccountRecord(
            id=7, app_id="github", external_id="0", username="old", owner_id=1, status="DISABLED"
        ),
    ]


def test_every_account_feeds_a_multi_valued_attribute_and_one_the_single_valued() -> None:
    cel = CelEngine()
    handles, handle = compile_attributes(
        [
            Attribute(
                name="handles",
                custom=True,
                multi_valued=True,
                sources=[SourceSpec(app="github", field="username")],
            ),
            Attribute(
                name="handle", custom=True, sources=[SourceSpec(app="github", field="username")]
            ),
        ],
        cel,
    )
    for accounts in (_accounts(), list(reversed(_accounts()))):
        reader = SourceReader(cel, {1: accounts})
        # enabled first, then by id; the disabled account's value counts too
        assert reader.read(handles, handles.sources[0], ANN) == ["ann-a", "ann-b", "old"]
        assert reader.read(handle, handle.sources[0], ANN) == "ann-a"


def test_cel_sees_a_persons_accounts_of_one_app_in_one_order() -> None:
    seen = set()
    for accounts in (_accounts(), list(reversed(_accounts()))):
        cel = CelEngine(population=Population([ANN], accounts))
        first = cel.compile("attribute_source", "accounts.github.username")
        listed = cel.compile(
            "attribute_source",
            'c1.user.v1.ListAppUsersForUser(subject, "github").map(a, a.username)',
        )
        activation = cel.activation_for("attribute_source", ANN)
        seen.add(
            (
                to_python(cel.evaluate(first, activation)),
                tuple(to_python(cel.evaluate(listed, activation))),
            )
        )
    assert seen == {("ann-a", ("ann-a", "ann-b", "old"))}
