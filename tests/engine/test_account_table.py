"""WorkState's accounts keep their per-app groups in step with every change (issue 11: a
stage asks for one app's accounts without scanning every account)."""

from __future__ import annotations

import pytest

from engine.records import AccountRecord
from engine.sync.state import AccountTable, WorkState


def _account(app: str, ext: str, n: int) -> AccountRecord:
    return AccountRecord(n, app, ext, display_name=f"[bold]{ext}\x00[/]")


@pytest.mark.parametrize("grouped", [False, True], ids=["listed", "grouped by the read"])
def test_groups_follow_every_way_the_table_changes(grouped: bool) -> None:
    accounts = [_account("a", "1", 1), _account("b", "1", 2), _account("a", "2", 3)]
    groups: dict[str, dict[tuple[str, str], AccountRecord]] | None = None
    if grouped:  # as the store's read hands them over (DeferredAccounts.records)
        groups = {}
        for account in accounts:
            groups.setdefault(account.app_id, {})[(account.app_id, account.external_id)] = account
    state = WorkState(accounts, [], {}, {}, groups)
    table = state.accounts
    assert sorted(table) == [("a", "1"), ("a", "2"), ("b", "1")]
    assert isinstance(table, AccountTable)
    assert [x.id for x in state.accounts_of_app("a")] == [1, 3]
    table[("a", "3")] = _account("a", "3", 4)  # as an import adds one
    table[("a", "1")] = _account("a", "1", 5)  # replaced in place: keeps its position
    assert [x.id for x in state.accounts_of_app("a")] == [5, 3, 4]
    del table[("a", "2")]
    assert table.pop(("b", "1")).id == 2 and table.pop(("b", "1"), None) is None
    assert state.accounts_of_app("b") == []
    table.update({("c", "1"): _account("c", "1", 6)})
    table.setdefault(("c", "2"), _account("c", "2", 7))
    table |= {("c", "3"): _account("c", "3", 8)}
    assert [x.id for x in state.accounts_of_app("c")] == [6, 7, 8]
    key, last = table.popitem()
    assert key == ("c", "3") and last.id == 8
    for app in ("a", "b", "c", "nowhere"):  # every group is exactly the dict's, in its order
        assert state.accounts_of_app(app) == [x for (k, _), x in table.items() if k == app]
    table.clear()
    assert state.accounts_of_app("a") == [] and not table
