"""Preview speed (issue 11, README.md): an expression over everyone, the first time (cold) and
again (warm), at 10,000 and 100,000 people, and the CEL playground's CPU per keystroke, next to
the baselines of the same run.

    python bench/preview.py [--runs N] [--store DIR] [--no-typing]

Rows:

- `load the population`: reading every person and account from the store into records, what
  a console pays once before its first population preview (and again after a sync);
- `cold`: a fresh CEL engine (nothing compiled, no record converted) previews the expression
  over everyone in scope: what the first preview after opening the console costs; target
  ≤ 300 ms at 10,000 people, ≤ 2 s at 100,000 (with progress: the callback's calls are
  counted);
- `warm`: the same engine previews it again (programs and converted records cached);
- `baseline`: a plain Python loop reading the same field of every record, the floor any
  preview stands on;
- the playground: CPU per key press while typing an 89-character expression, net of what any
  key costs under a Textual pilot, next to a plain TextArea (bench/cel_editor_typing.py);
  target ≤ 10 ms.

The 10,000-person store is generated and synced once into DIR (default a folder under the
system's temporary directory, kept for the next run). The 100,000-person rows evaluate the same
records repeated ten times (new ids): the evaluation cost of 100,000 people without minutes of
building a store; loading 100,000 from a store is bench/startup.py's business.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

EXPRESSIONS = (
    ("push_condition", 'subject.department == "Engineering" && subject.status == "ENABLED"'),
    ("attribute_source", 'subject.given_name + " " + subject.family_name.upperAscii()'),
)


def _best(values: list[float]) -> float:
    return min(values)


def scaled(population: Any, times: int) -> Any:
    """The population repeated TIMES (new ids): the evaluation cost of a larger store."""
    from engine.records import Population

    step = max([u.id for u in population.users] + [a.id for a in population.accounts]) + 1
    users = []
    accounts = []
    for k in range(times):
        users += [dataclasses.replace(u, id=u.id + k * step) for u in population.users]
        accounts += [
            dataclasses.replace(
                a,
                id=a.id + k * step,
                owner_id=None if a.owner_id is None else a.owner_id + k * step,
            )
            for a in population.accounts
        ]
    return Population(users, accounts, population.entitlement_names)


def preview_rows(services: Any, population: Any, label: str, runs: int) -> None:
    from engine.cel import CelEngine
    from engine.preview import preview_all

    users = [u for u in population.users if u.status != "DELETED"]
    limits = services.ctx.cel().limits
    for context, text in EXPRESSIONS:
        cold: list[float] = []
        warm: list[float] = []
        steps = 0
        for _ in range(runs):
            engine = CelEngine(population, limits=limits)
            calls: list[int] = []

            def progress(done: int, total: int, calls: list[int] = calls) -> None:
                calls.append(done)

            started = time.perf_counter()
            result = preview_all(engine, context, text, users, progress=progress)
            cold.append(time.perf_counter() - started)
            if not result.ok or result.timed_out:
                raise SystemExit(f"{context}: {result.error or result.note}")
            started = time.perf_counter()
            preview_all(engine, context, text, users)
            warm.append(time.perf_counter() - started)
            steps = len(calls)
        started = time.perf_counter()
        floor = [u.attributes.get("department") for u in users]
        baseline = time.perf_counter() - started
        assert len(floor) == len(users)
        print(
            f"{label:<8} {context:<17} {len(users):>8,} {_best(cold) * 1000:>9.0f} "
            f"{_best(warm) * 1000:>9.0f} {baseline * 1000:>9.1f} {steps:>9}",
            flush=True,
        )


def typing_rows(folder: Path) -> None:
    from bench import cel_editor_typing as typing_bench

    services = typing_bench._demo_store(folder)
    factories = {
        "textarea": typing_bench._textarea_app,
        "playground": lambda: typing_bench._roster_app(services, "playground"),
    }
    print(f"\nCEL playground, typing {len(typing_bench.EXPRESSION)} characters (CPU ms per key):")
    print(f"{'scenario':<12} {'floor':>6} {'net mean':>9} {'median':>7} {'p90':>7} {'max':>7}")
    for name, factory in factories.items():
        result = asyncio.run(typing_bench.measure(name, factory, 0.05, False))
        net = [ms - result.floor[0] for ms in result.process]
        print(
            f"{name:<12} {result.floor[0]:>6.1f} {statistics.mean(net):>9.1f} "
            f"{statistics.median(net):>7.1f} {typing_bench._p90(net):>7.1f} {max(net):>7.1f}",
            flush=True,
        )
    services.db.dispose()


def main() -> None:
    arguments = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    arguments.add_argument("--runs", type=int, default=3)
    arguments.add_argument("--store", type=Path, help="where the 10,000-person store is kept")
    arguments.add_argument("--no-typing", action="store_true", help="skip the playground rows")
    options = arguments.parse_args()

    from bench.generate import build_store
    from engine.services import open_services

    store_dir = options.store or Path(tempfile.gettempdir()) / "roster-bench-10000"
    store_dir.mkdir(parents=True, exist_ok=True)
    print(f"store: {store_dir} (10,000 people)…", flush=True)
    services = open_services(db_path=build_store(store_dir, 10_000))
    loads = []
    for _ in range(options.runs):
        services.invalidate()
        started = time.perf_counter()
        population = services.population()
        loads.append(time.perf_counter() - started)
    print(
        f"load the population: {_best(loads):.2f} s ({len(population.users):,} people, "
        f"{len(population.accounts):,} accounts)\n"
    )
    print(
        f"{'size':<8} {'context':<17} {'records':>8} {'cold ms':>9} {'warm ms':>9} "
        f"{'loop ms':>9} {'progress':>9}"
    )
    preview_rows(services, population, "10k", options.runs)
    preview_rows(services, scaled(population, 10), "100k", max(1, options.runs - 1))
    services.db.dispose()
    if not options.no_typing:
        with tempfile.TemporaryDirectory() as folder:
            typing_rows(Path(folder))


if __name__ == "__main__":
    main()
