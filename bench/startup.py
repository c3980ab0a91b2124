"""How fast Roster answers (issue 11, README.md): `roster --help`, a one-record preview and the
console's first screen on a large store, next to `python -c pass` measured in the same run.

    python bench/startup.py [--runs N] [--people N] [--store DIR]

Rows (each the best of N runs in a fresh process: the machine's noise only ever adds time):

- `python -c pass`: the interpreter's own start, the baseline;
- `roster --help`: target ≤ 0.25 s;
- `roster preview --context cel 1`: the language alone, no record;
- `roster preview --user … EXPR` (one record, the demo store): target ≤ 0.6 s;
- the same one-record preview on the large store;
- console start to first screen (large store): from starting the process until the dashboard
  has shown its figures, headless (the same `open_services` + `RosterApp` as `roster`); target
  ≤ 1.5 s. The row also says whether the population (every person and account as objects)
  had been loaded by then: the first screen must not wait for it;
- a first sync's run in the Sync screen's tree (large store): its journal's stages counted and
  each stage's first page of objects read, as the history opens it (`journal_tree`, in the
  process that has opened the store); the note gives the changes, the time of the largest
  stage's next page and the process's peak memory. Reading the whole journal, as the tree
  did before, took 28 s and 2.7 GB for the 1.3 million changes of 100,000 people;
- console to the Directories screen's counts (large store): from starting the process with
  the Directories screen until it shows what each filter decides, and the process's peak
  memory. Running identify and ownership around the filters to count them, as the screen
  did before, and the dashboard's care lists beside them, took 44 s and 2.5 GB at 100,000
  people.

Python caches the bytecode of the modules it imports, as it does for anyone who runs `roster`
twice: the runs are measured so even where the environment says PYTHONDONTWRITEBYTECODE (some
sandboxes do; compiling Roster's own modules from source then adds ≈ 0.1 s to every start).

Each row shows the wall time, the CPU time of the process (user + system: less sensitive to
other work on a shared machine) and the wall time as a multiple of `python -c pass`.

The large store (`--people`, default 100,000) is generated and synced once into DIR (default
a folder under the system's temporary directory, kept for the next run): minutes the first
time. `--people 0` skips the large-store rows.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ROSTER = str(Path(sys.executable).with_name("roster"))
EMAIL = "ann.lee@example.com"

# The console as `roster` opens it, headless; prints when the first screen showed its data.
CONSOLE = """
import json, sys, time
from engine.services import open_services
from console.app import RosterApp
from screens.dashboard import DashboardScreen

services = open_services(db_path=sys.argv[1])
loaded = DashboardScreen.on_dashboard_screen_loaded
seen = {}

def shown(self, message):
    loaded(self, message)
    if not seen:
        seen["at"] = time.time()
        seen["people"] = message.dashboard.people
        seen["population_loaded"] = services.ctx._population is not None
        self.app.exit()

DashboardScreen.on_dashboard_screen_loaded = shown
RosterApp.STORE_POLL_SECONDS = 0
RosterApp(services).run(headless=True, size=(120, 40))
print(json.dumps(seen))
"""


# The Directories screen as `roster` opens it, headless; prints when its counts showed.
DIRECTORIES = """
import json, resource, sys, time
from engine.services import open_services
from console.app import RosterApp
from screens.directories import DirectoriesScreen

services = open_services(db_path=sys.argv[1])
loaded = DirectoriesScreen.on_directories_screen_counts_loaded
seen = {}

def shown(self, message):
    loaded(self, message)
    if not seen:
        seen["at"] = time.time()
        seen["accounts"] = sum(sum(c.values()) for c in message.counts.values())
        seen["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        self.app.exit()

DirectoriesScreen.on_directories_screen_counts_loaded = shown
RosterApp.STORE_POLL_SECONDS = 0
RosterApp(services, start="directories").run(headless=True, size=(120, 40))
print(json.dumps(seen))
"""


# A first sync's run in the Sync screen's tree, as the history opens it; prints its figures.
JOURNAL = """
import json, resource, sys, time
from engine.services import open_services
from screens.widgets.plan_tree import journal_tree

services = open_services(db_path=sys.argv[1])
run = min(r.id for r in services.runs(limit=None) if r.kind == "sync" and not r.dry_run)
cpu, started = time.process_time(), time.perf_counter()
summary, outline, stages = journal_tree(services, run, 50)
wall, cpu = time.perf_counter() - started, time.process_time() - cpu
largest = max(stages, key=lambda stage: stage.object_count)
started = time.perf_counter()
page = largest.pages.more(largest, 50)
print(json.dumps({
    "wall": wall, "cpu": cpu, "changes": sum(s.changes for s in outline),
    "page": time.perf_counter() - started, "page_objects": len(page),
    "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""


def journal_open(db: Path, runs: int, env: dict[str, str]) -> tuple[float, float, dict]:
    """Best time to count a first sync's journal and read each stage's first page."""
    results = [_child(JOURNAL, db, env) for _ in range(runs)]
    best_run = min(results, key=lambda r: r["wall"])
    return best_run["wall"], min(r["cpu"] for r in results), best_run


def _child(script: str, db: Path, env: dict[str, str]) -> dict:
    """What SCRIPT, run on the store DB in a fresh process, printed last (one JSON object)."""
    out = subprocess.run(
        [sys.executable, "-c", script, str(db)], check=True, capture_output=True, text=True, env=env
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds until the process ended, its CPU seconds, its output."""
    cpu = _cpu()
    started = time.perf_counter()
    out = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
    return time.perf_counter() - started, _cpu() - cpu, out.stdout


def best(command: list[str], runs: int, env: dict[str, str]) -> tuple[float, float]:
    times = [run_once(command, env) for _ in range(runs)]
    return min(t[0] for t in times), min(t[1] for t in times)


def console_start(
    db: Path, runs: int, env: dict[str, str], script: str = CONSOLE
) -> tuple[float, float, dict]:
    """Best wall time from starting the process to the screen SCRIPT opens showing its data
    (by default the dashboard)."""
    results = []
    for _ in range(runs):
        cpu = _cpu()
        started = time.time()
        seen = _child(script, db, env)
        results.append((seen["at"] - started, _cpu() - cpu, seen))
    wall = min(results, key=lambda r: r[0])
    return wall[0], min(r[1] for r in results), wall[2]


def main() -> None:
    arguments = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    arguments.add_argument("--runs", type=int, default=5)
    arguments.add_argument("--people", type=int, default=100_000)
    arguments.add_argument("--store", type=Path, help="where the large store is built and kept")
    options = arguments.parse_args()
    runs = options.runs
    with tempfile.TemporaryDirectory() as folder:
        # a private home: the demo store, the CEL parser cache and crash reports stay here
        env = {**os.environ, "HOME": folder, "XDG_CACHE_HOME": f"{folder}/cache"}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        demo = f"{folder}/r.db"
        subprocess.run([ROSTER, "init", "--db", demo], check=True, capture_output=True, env=env)
        preview = [ROSTER, "preview", "--context"]
        one = ["push_mapping", "--user", EMAIL, "subject.department"]
        rows: list[tuple[str, list[str] | Path | tuple[str, Path]]] = [
            ("python -c pass", [sys.executable, "-c", "pass"]),
            ("roster --help", [ROSTER, "--help"]),
            ("roster preview --context cel", [*preview, "cel", "--db", demo, "1"]),
            ("roster preview --user (demo)", [*preview, *one, "--db", demo]),
        ]
        if options.people:
            from bench.generate import build_store

            store_dir = options.store or Path(tempfile.gettempdir()) / (
                f"roster-bench-{options.people}"
            )
            store_dir.mkdir(parents=True, exist_ok=True)
            print(f"large store: {store_dir} ({options.people:,} people)…", flush=True)
            started = time.perf_counter()
            db = build_store(store_dir, options.people)
            print(f"  ready in {time.perf_counter() - started:.1f} s", flush=True)
            big = f"{options.people // 1000}k"
            rows += [
                (f"roster preview --user ({big})", [*preview, *one, "--db", str(db)]),
                (f"console to first screen ({big})", db),
                (f"a first sync's run in the tree ({big})", ("journal", db)),
                (f"console to Directories' counts ({big})", ("directories", db)),
            ]
        baseline = 0.0
        print(f"{'':<36} {'wall, best of ' + str(runs):>18} {'CPU':>8} {'÷ python':>9}")
        for name, command in rows:
            note = ""
            if isinstance(command, tuple) and command[0] == "directories":
                wall, cpu, seen = console_start(command[1], runs, env, DIRECTORIES)
                note = f"  ({seen['accounts']:,} accounts; peak {seen['peak_mib']:,.0f} MiB)"
            elif isinstance(command, tuple):
                wall, cpu, seen = journal_open(command[1], runs, env)
                note = (
                    f"  ({seen['changes']:,} changes; the next {seen['page_objects']} objects "
                    f"{seen['page']:.3f} s; peak {seen['peak_mib']:,.0f} MiB)"
                )
            elif isinstance(command, Path):
                wall, cpu, seen = console_start(command, runs, env)
                loaded = "loaded" if seen["population_loaded"] else "not loaded"
                note = f"  ({seen['people']:,} people shown; population {loaded})"
            else:
                wall, cpu = best(command, runs, env)
            baseline = baseline or wall
            print(f"{name:<36} {wall:>17.3f}s {cpu:>7.3f}s {wall / baseline:>8.1f}×{note}")


if __name__ == "__main__":
    main()
