"""Custom ownership rules' CEL keys are kept between syncs by a digest of what they read
(engine.sync.key_memo): an unchanged person is not evaluated again, a changed one is, and what
the memo answers is what evaluating would."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from sqlalchemy import select

from engine.cel import CelEngine, CelEvalError, CelLimits
from engine.config.model import MatchRule
from engine.records import AccountRecord, Population, UserRecord
from engine.services import Services
from engine.store.models import Account, Person
from engine.store.repo import get_meta, set_meta
from engine.sync import key_memo
from engine.sync.by_hand import bump as bump_manual_generation
from engine.sync.key_memo import KeyMemo
from engine.sync.keys import compile_rule


def _ad_swap_badge_numbers(apps: Path, first: str, second: str) -> None:
    """Two people's AD records trade the badge numbers the badge app's first rule reads."""
    path = apps / "ad.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    found = {}
    for item in data["accounts"]:
        number = (item.get("profile") or {}).get("extensionAttribute2")
        if number in (first, second):
            found[number] = item
    assert set(found) == {first, second}
    found[first]["profile"]["extensionAttribute2"] = second
    found[second]["profile"]["extensionAttribute2"] = first
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")


def _owner_email(services: Services, badge: str) -> str | None:
    with services.db.session() as session:
        account = session.scalars(
            select(Account).where(Account.app_id == "badge", Account.external_id == badge)
        ).one()
        if account.owner_id is None:
            return None
        return session.get(Person, account.owner_id).email  # type: ignore[union-attr]


def _count_keys(monkeypatch: pytest.MonkeyPatch, side: str = "user") -> list[int]:
    """How many times a SIDE ("user" or "account") key expression is evaluated (one count
    per call)."""
    calls: list[int] = []
    evaluate = CelEngine.evaluate

    def counting(self: CelEngine, program: Any, variables: dict[str, Any]) -> Any:
        if program.context == f"{side}_key":
            calls.append(1)
        return evaluate(self, program, variables)

    monkeypatch.setattr(CelEngine, "evaluate", counting)
    return calls


def _full_sync(services: Services) -> Any:
    """A sync that reconsiders everyone (a manual decision's generation moved)."""
    with services.db.session() as session, session.begin():
        bump_manual_generation(session)
    result = services.sync()
    assert result.status == "applied", result.error
    return result


def test_a_person_whose_own_accounts_changed_is_keyed_again_and_the_others_are_not(
    demo: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the demo's sync kept its badge rule's keys for the store as it left it
    with demo.db.session() as session:
        stored = key_memo.load(get_meta(session, key_memo.META_KEY))
    user_scopes = [scope for scope in stored if scope.startswith("user:")]
    assert len(user_scopes) == 1 and len(stored[user_scopes[0]]) > 100
    assert _owner_email(demo, "BDG-00001") == "margaret.okafor@example.com"
    calls = _count_keys(monkeypatch)
    # so a sync reconsidering everyone evaluates nobody's key again
    assert not [c for c in _full_sync(demo).changes if c["stage"] == "ownership"]
    assert calls == []

    _ad_swap_badge_numbers(tmp_path / "r-demo" / "apps", "070007", "070014")
    result = demo.sync()
    assert result.status == "applied", result.error
    # the badge numbers moved with the AD records: the first rule follows them
    assert _owner_email(demo, "BDG-00001") == "amara.martinez@example.com"
    assert _owner_email(demo, "BDG-00002") == "margaret.okafor@example.com"
    # only the two people whose AD records changed ran the expression again (in the stage,
    # and once more at the end: their badge accounts moved after the stage had keyed them)
    assert len(calls) == 4

    # and a sync with nothing kept decides the same, evaluating everyone
    with demo.db.session() as session, session.begin():
        set_meta(session, key_memo.META_KEY, "")
    calls.clear()
    assert not [c for c in _full_sync(demo).changes if c["stage"] == "ownership"]
    assert len(calls) > 100
    assert _owner_email(demo, "BDG-00001") == "amara.martinez@example.com"


@pytest.mark.parametrize("stored", ["not json", '{"user:x": 7}', "[1, 2]", '{"a": {"1": [1]}}'])
def test_an_unreadable_memo_is_rebuilt_and_the_sync_decides_as_without_one(
    demo: Services, tmp_path: Path, stored: str
) -> None:
    with demo.db.session() as session, session.begin():
        set_meta(session, key_memo.META_KEY, stored)
    result = _full_sync(demo)
    assert [c for c in result.changes if c["stage"] == "ownership"] == []
    with demo.db.session() as session:
        rebuilt = key_memo.load(get_meta(session, key_memo.META_KEY))
    assert any(scope.startswith("user:") for scope in rebuilt)


ANN = UserRecord(id=1, email="ann@example.com", display_name="Ann")
ANN_AD = AccountRecord(id=10, app_id="ad", external_id="ann", profile={"badge": "7"}, owner_id=1)


def _rule(user_cel: str, account_cel: str = "account.profile.badge") -> MatchRule:
    return MatchRule.model_validate(
        {"name": "badge", "account": {"cel": account_cel}, "user": {"cel": user_cel}}
    )


def _memo(fingerprint: str = "f1", stored: Any = None) -> KeyMemo:
    memo = KeyMemo(stored, fingerprints={("ad", "ann"): fingerprint, ("badge", "b1"): "g1"})
    memo.population = Population([ANN], [ANN_AD])
    return memo


OWN = 'c1.user.v1.ListAppUsersForUser(subject, "ad").map(a, a.profile.badge)'


def test_a_kept_key_is_answered_while_every_input_is_the_same() -> None:
    first = _memo()
    cel = CelEngine(population=first.population)
    rule = compile_rule(_rule(OWN), cel, 0, first)
    assert rule.user_keys(ANN) == {"7"} and first.misses == 1
    stored = orjson.loads(key_memo.dump(first))

    again = _memo(stored=stored)
    rule = compile_rule(_rule(OWN), cel, 0, again)
    assert rule.user_keys(ANN) == {"7"} and (again.hits, again.misses) == (1, 0)
    assert not again.changed

    # the AD account's data changed (its fingerprint with it): evaluated again
    moved = _memo("f2", stored=stored)
    rule = compile_rule(_rule(OWN), cel, 0, moved)
    assert rule.user_keys(ANN) == {"7"} and (moved.hits, moved.misses) == (0, 1)
    assert moved.changed

    # another expression: another scope, nothing reused
    other = _memo(stored=stored)
    rule = compile_rule(_rule(OWN + '.map(k, k + "x")'), cel, 0, other)
    assert rule.user_keys(ANN) == {"7x"} and other.hits == 0


def test_a_memo_whose_entries_are_lists_is_read_as_it_is() -> None:
    """Rosters before entries were kept as text stored them as lists: the same entries, so
    a store keeps its memo across the change (keying everyone again took 39 s at 100,000
    people), and writes them as text the next time."""
    first = _memo()
    cel = CelEngine(population=first.population)
    rule = compile_rule(_rule(OWN), cel, 0, first)
    assert rule.user_keys(ANN) == {"7"}
    stored = orjson.loads(key_memo.dump(first))
    assert all(isinstance(e, str) for scope in stored.values() for e in scope.values())
    as_lists = {
        scope: {record: orjson.loads(entry) for record, entry in entries.items()}
        for scope, entries in stored.items()
    }
    again = _memo(stored=as_lists)
    rule = compile_rule(_rule(OWN), cel, 0, again)
    assert rule.user_keys(ANN) == {"7"} and (again.hits, again.misses) == (1, 0)
    assert orjson.loads(key_memo.dump(again)) == stored


def test_a_failed_key_is_kept_with_its_message_and_a_budget_is_not() -> None:
    failing = "string(int(subject.displayName))"  # "Ann" is no number
    memo = _memo()
    cel = CelEngine(population=memo.population)
    rule = compile_rule(_rule(failing), cel, 0, memo)
    with pytest.raises(CelEvalError) as first:
        rule.user_keys(ANN)
    again = _memo(stored=orjson.loads(key_memo.dump(memo)))
    rule = compile_rule(_rule(failing), cel, 0, again)
    with pytest.raises(CelEvalError) as second:
        rule.user_keys(ANN)
    assert str(second.value) == str(first.value) and again.hits == 1

    # running out of the cost budget says nothing about the record: not kept
    runaway = "subject.displayName" + '.replace("n", "nnnnnnnnnn")' * 8
    memo = _memo()
    cel = CelEngine(population=memo.population, limits=CelLimits(10_000, 5.0, 60.0))
    rule = compile_rule(_rule(runaway), cel, 0, memo)
    with pytest.raises(CelEvalError) as over:
        rule.user_keys(ANN)
    assert over.value.over_budget
    assert memo.misses == 1 and not any(memo.kept.values())


def test_an_account_without_a_fingerprint_or_an_expression_reading_others_is_not_kept() -> None:
    memo = KeyMemo(fingerprints={})  # the AD account is gone: no fingerprint
    memo.population = Population([ANN], [ANN_AD])
    cel = CelEngine(population=memo.population)
    rule = compile_rule(_rule(OWN), cel, 0, memo)
    assert rule.user_keys(ANN) == {"7"}
    assert key_memo.dump(memo) == "{}" and memo.misses == 0

    # a rule that looks other people up may change with them: never kept
    memo = _memo()
    reads_others = 'c1.directory.users.v1.FindByEmail("ann@example.com").email'
    rule = compile_rule(_rule(reads_others), cel, 0, memo)
    assert rule.user_keys(ANN) == {"ann@example.com"}
    assert key_memo.dump(memo) == "{}"


def test_an_account_side_key_is_kept_by_the_accounts_own_digest() -> None:
    badge = AccountRecord(id=20, app_id="badge", external_id="b1", profile={"badge": "7"})
    memo = _memo()
    cel = CelEngine(population=memo.population)
    rule = compile_rule(_rule(OWN), cel, 0, memo)
    assert rule.account_keys(badge) == {"7"} and memo.misses == 1
    again = _memo(stored=orjson.loads(key_memo.dump(memo)))
    rule = compile_rule(_rule(OWN), cel, 0, again)
    assert rule.account_keys(badge) == {"7"} and again.hits == 1
    badge.entitlements = ["door-3"]  # grants are not in the fingerprint: in the digest
    assert rule.account_keys(badge) == {"7"} and again.misses == 1


FIRST_AD = 'c1.user.v1.ListAppUsersForUser(subject, "ad")[0].profile.badge'


def _first_ad_rule() -> MatchRule:
    return _rule(FIRST_AD)


def test_a_persons_accounts_are_seen_and_digested_in_one_order_whatever_the_run() -> None:
    """A run holds new accounts in the order the app listed them, the next run in the store's
    id order: an expression reading "the first AD account" sees them in one order either way
    (records.account_order), and the key kept in one run is answered in the other."""
    ann = UserRecord(id=1, email="ann@example.com")
    a1 = AccountRecord(id=10, app_id="ad", external_id="a", profile={"badge": "1"}, owner_id=1)
    a2 = AccountRecord(id=11, app_id="ad", external_id="b", profile={"badge": "2"}, owner_id=1)
    fps = {("ad", "a"): "f1", ("ad", "b"): "f2"}

    first = KeyMemo(fingerprints=fps)
    first.population = Population([ann], [a2, a1])  # met b before a
    cel = CelEngine(population=first.population)
    assert compile_rule(_first_ad_rule(), cel, 0, first).user_keys(ann) == {"1"}
    stored = orjson.loads(key_memo.dump(first))

    again = KeyMemo(stored, fingerprints=fps)
    again.population = Population([ann], [a1, a2])  # loaded in id order
    cel = CelEngine(population=again.population)
    assert compile_rule(_first_ad_rule(), cel, 0).user_keys(ann) == {"1"}
    assert compile_rule(_first_ad_rule(), cel, 0, again).user_keys(ann) == {"1"}
    assert (again.hits, again.misses) == (1, 0)


def _import(services: Services, folder: Path, edit: Any) -> None:
    path = folder / "r-demo" / "roster.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    edit(data)
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    path.write_text(text, encoding="utf-8")
    result = services.import_config(text, source=str(path), base_dir=folder / "r-demo")
    assert result.applied, result


def _owner_of(services: Services, app: str, ext: str) -> str | None:
    with services.db.session() as session:
        account = session.scalars(
            select(Account).where(Account.app_id == app, Account.external_id == ext)
        ).one()
        if account.owner_id is None:
            return None
        return session.get(Person, account.owner_id).email  # type: ignore[union-attr]


def test_a_rule_reading_the_first_ad_account_decides_with_its_memo_as_without(
    demo: Services, tmp_path: Path
) -> None:
    def order_dependent(data: dict[str, Any]) -> None:
        badge = next(app for app in data["apps"] if app["id"] == "badge")
        badge["ownership"]["rules"][0]["user"]["cel"] = (
            'c1.user.v1.ListAppUsersForUser(subject, "ad")[0].profile.extensionAttribute2'
        )

    _import(demo, tmp_path, order_dependent)
    assert demo.sync().status == "applied"
    apps = tmp_path / "r-demo" / "apps"
    # a person with no AD account
    with demo.db.session() as session:
        owners = set(session.scalars(select(Account.owner_id).where(Account.app_id == "ad")))
        person = next(
            p
            for p in session.scalars(select(Person).order_by(Person.id))
            if p.id not in owners and p.status == "ENABLED" and p.email
        )
        email = person.email
    # two new AD accounts of hers, the later id listed first
    data = yaml.safe_load((apps / "ad.yaml").read_text(encoding="utf-8"))
    for ext, number in (("zz.hostile", "990001"), ("aa.hostile", "990002")):
        data["accounts"].append(
            {"id": ext, "display_name": "H", "email": email, "username": ext, "status": "ENABLED",
             "type": "USER", "profile": {"extensionAttribute2": number}}
        )  # fmt: skip
    (apps / "ad.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    with (apps / "badge.csv").open("a", encoding="utf-8") as fh:
        fh.write("BDG-99001,Nobody,nobody1@nowhere.invalid,ENABLED,LON-1,990001\n")
        fh.write("BDG-99002,Nobody,nobody2@nowhere.invalid,ENABLED,LON-1,990002\n")
    assert demo.sync().status == "applied"
    assert _owner_of(demo, "ad", "zz.hostile") == email
    assert _owner_of(demo, "ad", "aa.hostile") == email

    _full_sync(demo)  # answered from the memo
    with_memo = (_owner_of(demo, "badge", "BDG-99001"), _owner_of(demo, "badge", "BDG-99002"))
    with demo.db.session() as session, session.begin():
        set_meta(session, key_memo.META_KEY, "")
    _full_sync(demo)  # evaluated
    evaluated = (_owner_of(demo, "badge", "BDG-99001"), _owner_of(demo, "badge", "BDG-99002"))
    assert with_memo == evaluated, (with_memo, evaluated)


@pytest.mark.parametrize("value", [[1, 2], "text", 7, None])
def test_a_wrong_shape_under_a_real_scope_does_not_break_the_sync(
    demo: Services, value: Any
) -> None:
    with demo.db.session() as session:
        stored = key_memo.load(get_meta(session, key_memo.META_KEY))
    scope = next(s for s in stored if s.startswith("user:"))
    stored[scope] = value
    with demo.db.session() as session, session.begin():
        set_meta(session, key_memo.META_KEY, orjson.dumps(stored).decode())
    _full_sync(demo)


@pytest.mark.parametrize("entry", ['["d", ["k"]', '{"d": 1}', '["d", 7]', ["d", ["k"]], 7, None])
def test_a_spoiled_entry_is_keyed_again(demo: Services, entry: Any) -> None:
    """Entries are stored as the JSON text of their list (read when needed): one a hand edit
    spoiled (bad JSON, another shape, not text) is keyed again, never taken."""
    with demo.db.session() as session:
        stored = key_memo.load(get_meta(session, key_memo.META_KEY))
    scope = next(s for s in stored if s.startswith("user:"))
    assert all(isinstance(held, str) for held in stored[scope].values())
    good = dict(stored[scope])
    stored[scope] = dict.fromkeys(good, entry)
    with demo.db.session() as session, session.begin():
        set_meta(session, key_memo.META_KEY, orjson.dumps(stored).decode())
    _full_sync(demo)
    with demo.db.session() as session:
        again = key_memo.load(get_meta(session, key_memo.META_KEY))
    # keyed again, each to the very entry it had (the same digest, the same keys)
    assert {r: orjson.loads(e) for r, e in again[scope].items()} == {
        r: orjson.loads(e) for r, e in good.items()
    }


def test_dry_run_then_apply_follows_the_data(demo: Services, tmp_path: Path) -> None:
    _ad_swap_badge_numbers(tmp_path / "r-demo" / "apps", "070007", "070014")
    assert demo.sync(dry_run=True).status.startswith("planned")
    assert _owner_of(demo, "badge", "BDG-00001") == "margaret.okafor@example.com"
    assert demo.sync().status == "applied"
    assert _owner_of(demo, "badge", "BDG-00001") == "amara.martinez@example.com"
    _full_sync(demo)
    assert _owner_of(demo, "badge", "BDG-00001") == "amara.martinez@example.com"


def test_a_persons_digest_is_the_same_whether_their_attributes_were_read_or_not() -> None:
    """The stored attributes are digested as the store's text, not decoded for it; once read
    (and unchanged) the digest is the same, and a change to them changes it."""
    from engine.records import StoredJson, json_text

    attributes = {"department": "R&D <b>", "n": 3, "tags": ["a", "\x00b"], "manager_email": []}
    stored = UserRecord(1, "ann@example.com", attributes=StoredJson(json_text(attributes)))  # type: ignore[arg-type]
    memo = _memo()
    before = memo.user_digest(stored)
    held = UserRecord.__dict__["attributes"].stored(stored)
    assert isinstance(held, StoredJson)  # the digest did not decode them
    assert stored.attributes == attributes  # read now
    assert memo.user_digest(stored) == before
    assert memo.user_digest(UserRecord(1, "ann@example.com", attributes=dict(attributes))) == before
    stored.attributes["department"] = "Sales"
    assert memo.user_digest(stored) != before


def test_an_incremental_sync_digests_only_the_people_it_touched(
    demo: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A digest covers all of a person's accounts (1.5 s for 100,000 people): a sync in which
    nothing but the apps' data changed takes an untouched person's keys as kept, and digests
    only the people whose accounts it changed. The kept entries keep their digests: a sync
    reconsidering everyone afterwards checks every digest and evaluates nobody."""
    digested: list[int] = []
    digest = KeyMemo.user_digest

    def counting(self: KeyMemo, user: Any) -> Any:
        digested.append(user.id)
        return digest(self, user)

    monkeypatch.setattr(KeyMemo, "user_digest", counting)
    _ad_swap_badge_numbers(tmp_path / "r-demo" / "apps", "070007", "070014")
    result = demo.sync()
    assert result.status == "applied", result.error
    assert _owner_email(demo, "BDG-00001") == "amara.martinez@example.com"
    assert _owner_email(demo, "BDG-00002") == "margaret.okafor@example.com"
    with demo.db.session() as session:
        swapped = {
            person.id
            for person in session.scalars(
                select(Person).where(
                    Person.email.in_(  # type: ignore[attr-defined]
                        ["amara.martinez@example.com", "margaret.okafor@example.com"]
                    )
                )
            )
        }
    assert set(digested) == swapped  # the stage, then the end of the run (keep_keys)

    calls = _count_keys(monkeypatch)
    digested.clear()
    assert not [c for c in _full_sync(demo).changes if c["stage"] == "ownership"]
    assert len(set(digested)) > 100 and calls == []


def test_a_record_keyed_twice_in_a_run_from_the_same_inputs_is_evaluated_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The stage keys a changed account, and the end of the run keys it again for the next
    run: with the same digest, the second is the first's answer."""
    calls = _count_keys(monkeypatch, "account")
    badge = AccountRecord(id=20, app_id="badge", external_id="b1", profile={"badge": "7"})
    memo = _memo()
    rule = compile_rule(_rule(OWN), CelEngine(population=memo.population), 0, memo)
    assert rule.account_keys(badge) == {"7"} and rule.account_keys(badge) == {"7"}
    assert (len(calls), memo.misses) == (1, 1)
    badge.entitlements = ["door-3"]  # another digest: evaluated
    assert rule.account_keys(badge) == {"7"} and len(calls) == 2


def test_a_new_account_is_keyed_as_the_stage_keyed_it_unless_a_push_changed_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A new account has no digest in the stage (its id is the run's own); written, it has
    one, and its keys are those the stage found, unless it changed since (a read-back)."""
    calls = _count_keys(monkeypatch, "account")
    badge = AccountRecord(id=-1, app_id="badge", external_id="b1", profile={"badge": "7"})
    memo = _memo()
    rule = compile_rule(_rule(OWN), CelEngine(population=memo.population), 0, memo)
    assert rule.account_keys(badge) == {"7"} and len(calls) == 1  # the stage
    badge.id = 21  # written
    memo.as_staged = lambda account: True
    assert rule.account_keys(badge) == {"7"} and len(calls) == 1
    assert memo.kept[rule.account_scope or ""]["21"][1] == ["7"]  # kept for the next run
    other = AccountRecord(id=-2, app_id="badge", external_id="b2", profile={"badge": "8"})
    memo.fingerprints[("badge", "b2")] = "g2"
    assert rule.account_keys(other) == {"8"} and len(calls) == 2
    other.id, other.profile = 22, {"badge": "9"}  # a push changed it after the stage
    memo.as_staged = lambda account: account is not other
    assert rule.account_keys(other) == {"9"} and len(calls) == 3


@pytest.mark.parametrize(
    "account_cel",
    [
        'int(account.id) > 0 ? account.profile.badge : "new"',
        'account["i" + "d"].startsWith("-") ? "new" : account.profile.badge',
    ],
)
def test_an_account_side_that_may_read_the_id_is_evaluated_again_once_written(
    monkeypatch: pytest.MonkeyPatch, account_cel: str
) -> None:
    """The id a new account has in the stage is the run's own; written, it has another
    (hostile review: the memo kept "new" for an account whose keys were "7")."""
    calls = _count_keys(monkeypatch, "account")
    badge = AccountRecord(id=-1, app_id="badge", external_id="b1", profile={"badge": "7"})
    memo = _memo()
    rule = compile_rule(_rule(OWN, account_cel), CelEngine(population=memo.population), 0, memo)
    assert rule.account_keys(badge) == {"new"}
    badge.id = 21
    memo.as_staged = lambda account: True
    assert rule.account_keys(badge) == {"7"} and len(calls) == 2
