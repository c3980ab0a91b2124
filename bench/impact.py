"""Impact and match-matrix benchmark: what an editor's preview costs, next to a dry-run sync of
the same store measured in the same run.

    python bench/impact.py                  # the demo (roster init --sample) and 10,000 people
    python bench/impact.py --people 10000   # one generated size (0 = the demo)

For each store: `identity_impact` of an edited HR filter (leavers kept) cold (records loaded,
both configurations simulated) and warm (the saved side cached, as while an admin types), the
saved configuration against itself, `merge_matrix` cold and warm, and a dry-run sync forced to
run every stage (its identify and ownership phases are what the impact runs twice).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.generate import generate  # noqa: E402

LEAVERS_STAY = (
    'account.profile.employment_type in ["FULL_TIME", "CONTRACTOR", "INTERN"]'
    ' ? "CREATE" : "MATCH_ONLY"'
)


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = call()
    return time.perf_counter() - started, value


def store(people: int, workdir: Path) -> Path:
    from engine.services import open_services

    db_file = workdir / f"roster{people or 'demo'}.db"
    if db_file.exists():  # --keep: a store built by an earlier run (previews never write)
        return db_file
    if people == 0:
        open_services(db_path=db_file, init="sample").db.dispose()
        return db_file
    org = workdir / f"org{people}"
    config = generate(org, people)
    services = open_services(db_path=db_file, init="empty")
    services.import_config(config.read_text(encoding="utf-8"), source=str(config), base_dir=org)
    result = services.sync()
    assert result.status == "applied", result.error
    services.db.dispose()
    return db_file


def bench(people: int, workdir: Path) -> None:
    from engine.config import from_document, to_document
    from engine.services import open_services
    from engine.store.repo import set_meta

    started = time.perf_counter()
    db_file = store(people, workdir)
    services = open_services(db_path=db_file)
    dashboard = services.dashboard()
    print(
        f"\n{'the demo' if people == 0 else f'{people:,} people'}: {dashboard.people:,} people, "
        f"{dashboard.accounts:,} accounts (store built in {time.perf_counter() - started:.1f} s)"
    )
    saved = services.ctx.config()
    document = to_document(saved)
    next(d for d in document["directories"] if d["app"] == "hr")["filter"] = LEAVERS_STAY
    edited = from_document(document)

    rows: list[tuple[str, float, str]] = []
    seconds, impact = timed(lambda: services.identity_impact(edited))
    rows.append(("impact, cold (load + both sides)", seconds, f"{impact.people_created} created"))
    seconds, impact = timed(lambda: services.identity_impact(edited))
    rows.append(("impact, warm (edited side only)", seconds, f"{impact.owner_changed} moved"))
    seconds, _ = timed(lambda: services.identity_impact(saved))
    rows.append(("impact, saved vs saved (cached)", seconds, ""))
    seconds, matrix = timed(lambda: services.merge_matrix(config=edited))
    rows.append(("merge_matrix, edited, first", seconds, f"{len(matrix.apps)} apps"))
    seconds, _ = timed(lambda: services.merge_matrix(config=edited))
    rows.append(("merge_matrix, edited, again", seconds, "cached"))
    seconds, page = timed(lambda: services.matrix_accounts("unowned", limit=50))
    rows.append(("matrix_accounts unowned, 1 page", seconds, f"{page.total} in all"))

    # the baseline: a dry run made to run every stage (a settled store would skip them)
    with services.db.session() as session, session.begin():
        set_meta(session, "last_sync_signature", "")
    seconds, plan = timed(lambda: services.sync(dry_run=True))
    phases = plan.seconds
    stages = phases.get("identify", 0.0) + phases.get("ownership", 0.0)
    rows.append(("baseline: dry-run sync, every stage", seconds, plan.status))
    rows.append(("  of which identify + ownership", stages, ""))
    print(f"{'measure':<40}{'seconds':>9}  note")
    for name, value, note in rows:
        print(f"{name:<40}{value:>9.3f}  {note}")
    cold, warm = rows[0][1], rows[1][1]
    print(
        f"impact cold / dry-run sync: {cold / seconds:.2f}×; warm / dry-run sync: "
        f"{warm / seconds:.2f}×; warm / its identify + ownership: {warm / max(stages, 1e-9):.2f}×"
    )
    services.db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--people",
        type=int,
        action="append",
        help="organisation size (repeatable; 0 = the demo); default the demo and 10,000",
    )
    parser.add_argument(
        "--keep", type=Path, help="work in this folder and keep it (its stores are reused)"
    )
    args = parser.parse_args()
    sizes = args.people if args.people is not None else [0, 10_000]
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        for people in sizes:
            bench(people, args.keep)
        return
    with tempfile.TemporaryDirectory() as folder:
        for people in sizes:
            bench(people, Path(folder))


if __name__ == "__main__":
    main()
