"""`roster status` (the dashboard as text) and `roster people show` (one person, as the Users
screen shows them): the same engine calls as the console."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

import click

from console.cli import (
    Number,
    _count,
    _emit,
    _guard,
    _services,
    _store_options,
    echo,
    echo_line,
    main,
)
from console.cli_progress import working
from engine.text import one_line, value_text

if TYPE_CHECKING:
    from engine.services import Dashboard
    from engine.services.care import CareList


@main.command()
@_store_options
@click.option(
    "--all", "every", is_flag=True,
    help="List every item of the lists that need an eye, not only the first ones.",
)  # fmt: skip
@click.option(
    "--check", is_flag=True,
    help="Exit with status 6 when a run or an import failed or any of the lists that need an "
    "eye has an item (for a scheduled job that alerts; unowned accounts alone do not count: "
    "most organisations always have some).",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_guard
def status(every: bool, check: bool, as_json: bool) -> None:
    """The dashboard: people, accounts, apps, the last runs, warnings, and the identity
    decisions that need an eye (people who lost their primary-directory record, leavers
    still enabled in other apps, manager cycles)."""
    services = _services()
    # the counts first: working out who needs an eye reads everyone (seconds at 100,000)
    board = services.dashboard(with_care=False)
    if not as_json:
        _print_counts(board)
    with working("Checking who needs an eye", as_json=as_json):
        care, problems = services.care()
    if every:
        care = [replace(one, items=one.every) for one in care]
    board = replace(board, care=care, warnings=[*board.warnings, *problems])
    if as_json:
        _emit(board.to_json())
    else:
        _print_care(board.care, problems)
    # a check that could not run (a damaged configuration) is not an all-clear
    if check and (board.errors or problems or any(care.total for care in board.care)):
        sys.exit(NEEDS_AN_EYE)


#: `roster status --check`'s exit status when something needs an eye
NEEDS_AN_EYE = 6


def _print_counts(board: Dashboard) -> None:
    echo(
        f"{board.people:,} people · {board.accounts:,} accounts · {board.unowned:,} unowned · "
        f"{board.unmerged:,} unmerged · {_count(board.errors, 'error')}"
    )
    echo(f"  store: {board.store}")
    if board.config_folder:
        echo(f"  relative paths (the app files) from: {board.config_folder}")
    for app in board.apps:
        state = app.last_import_status or "never imported"
        if app.removed:
            state = "removed from the configuration: the next sync marks these DELETED"
        elif state not in ("ok", "never imported"):
            from engine.changes import HELD_BACK

            # the warning says it whole, once
            held = state.startswith(HELD_BACK)
            state = f"last import {'held back entries' if held else 'failed'} (why: below)"
        echo(f"  {app.id:<12} {app.accounts:>7,} accounts  {one_line(state, 200)}")
    for run in board.last_runs[:3]:
        mode = ", dry run" if run.dry_run else ""
        echo(
            f"  run {run.id} ({run.kind}{mode}, {run.started_at:%Y-%m-%d %H:%M} by "
            f"{run.started_by}): {run.status}"
        )
    for warning in board.warnings:
        echo(f"! {warning}")


def _print_care(lists: list[CareList], problems: list[str]) -> None:
    for problem in problems:
        echo(f"! {problem}")
    for care in lists:
        if not care.total:
            continue
        echo(f"{care.title}: {care.total:,}")
        for item in care.items:
            # prose naming several accounts: broken between words at a terminal, under itself
            echo(f"  {one_line(item, 400)}", wrap=True)
        if care.more:
            echo(f"  … and {care.more:,} more (roster status --all lists them all)")


def _width(texts: Iterable[str]) -> int:
    """The width of a column holding TEXTS (printable already: as the terminal shows them)."""
    return max((len(text) for text in texts), default=0)


@main.group()
def people() -> None:
    """Look at people."""


#: The most people one `roster people list` prints (its memory is bounded, whatever the store).
MOST_LISTED = 100_000


@people.command("list")
@_store_options
@click.argument("search", required=False, default="")
@click.option(
    "--limit", default=50, show_default=True, type=Number(0, MOST_LISTED),
    help=f"List at most this many people; 0 lists them all, up to {MOST_LISTED:,}.",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_guard
def people_list(search: str, limit: int, as_json: bool) -> None:
    """People whose email or display name holds SEARCH (any case), by display name; everyone
    when SEARCH is left out. SEARCH may also hold has:APP (a live account in APP), no:APP
    (no linked account there: an unowned one may still exist, `roster merge-matrix APP`
    lists those) and status:ENABLED|DISABLED|DELETED, as in "no:slack status:enabled".
    `roster people show EMAIL` shows one of them."""
    services = _services()
    limit = limit or MOST_LISTED  # 0: all, as `roster runs --limit 0`, within the bound
    found = services.find_people(search, limit + 1)  # one more: tells that more are left
    shown, more = found[:limit], len(found) > limit
    total = services.count_people(search) if more else len(shown)
    if as_json:
        _emit({"people": [p.to_json() for p in shown], "more": more, "total": total})
        return
    if not shown:
        echo(f"Nobody matches {search!r}." if search else "The store has no people.")
        sys.exit(0)
    echo(f"{'person':>7}  {'status':<8}  {'email':<36}  name")
    for person in shown:
        echo(
            f"{person.id:>7}  {person.status:<8}  {one_line(person.email or '(no email)', 60):<36}"
            f"  {one_line(person.display_name, 60)}"
        )
    if more:
        echo(f"{len(shown):,} of {total:,} people shown: narrow the search, or give --limit")
    else:
        echo(f"{total:,} {'person' if total == 1 else 'people'}")
    sys.exit(0)


@people.command("show")
@_store_options
@click.argument("who")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_guard
def people_show(who: str, as_json: bool) -> None:
    """The person WHO (an email or a person id): core fields, flags, attributes with their
    source, and linked accounts with how each was linked (labelled as the console's Linked by
    column labels them)."""
    from engine.records import link_label

    services = _services()
    # an id is digits (no email is): people without an email have only their id
    detail = services.user_detail(services.person(who).id)  # an email, or an id
    if as_json:
        _emit(detail.to_json())
        return
    user = detail.user
    # no email: the name alone (it printed "Mei Tanaka <>")
    email = f" <{user.email}>" if user.email and user.display_name else ""
    name = user.display_name or user.email or f"person {user.id}"
    echo_line(f"{name}{email} · {user.status} · person {user.id}")  # a name's line breaks: \\n
    for flag in detail.flags:
        echo(f"! {flag}")
    echo("attributes:")
    name_width = _width(row.name for row in detail.attributes)
    for row in detail.attributes:
        source = f"  ({row.source})" if row.source else ""
        if row.held_from:
            source += (
                f"  [held: {', '.join(row.held_from)} gone; roster sync --allow-deletes clears it]"
            )
        echo(f"  {row.name:<{name_width}} {one_line(value_text(row.value), 200)}{source}")
    echo("accounts:")
    links = [
        link_label(account.link_kind) + (", pinned" if account.pinned else "")
        for account in detail.accounts
    ]
    key_width = _width(one_line(account.key, 60) for account in detail.accounts)
    status_width = _width(account.status for account in detail.accounts)
    link_width = _width(links)
    for account, link in zip(detail.accounts, links, strict=True):
        echo(
            f"  {one_line(account.key, 60):<{key_width}} {account.status:<{status_width}} "
            f"{link:<{link_width}}  {one_line(account.display_name or account.email, 80)}"
        )
    sys.exit(0)
