"""`roster backup`: a checked copy of the store while it is in use (engine.store.backup)."""

from __future__ import annotations

from pathlib import Path

import click

from console.cli import _count, _emit, _guard, _services, _store_options, echo, main


@main.command()
@_store_options
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_guard
def backup(file: Path, as_json: bool) -> None:
    """Copy the identity store to FILE (a new file), consistent even while a sync or a
    console uses it, and checked before it takes its name. Copying the store's file with cp
    while it is in use can give a damaged copy. A PostgreSQL store: pg_dump."""
    done = _services().backup(file)
    if as_json:
        _emit(done.as_dict())
        return
    megabytes = done.bytes / 1_048_576
    people = f"{done.people:,} {'person' if done.people == 1 else 'people'}"
    echo(
        f"Backed up to {done.path} ({megabytes:,.1f} MB: {people}, "
        f"{_count(done.accounts, 'account')}) in {done.seconds:.1f} s. It is checked and "
        "readable only by you; docs/recovery.md says how to restore it."
    )
