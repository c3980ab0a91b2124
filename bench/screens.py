"""What each console screen costs on a large store (issue 11, "console at 100k"): from starting
the process on that screen until every worker it started has finished, and the process's peak
memory.

    python bench/screens.py [--people N] [--store DIR] [--screens a,b,…] [--limit SECONDS]

One fresh process per screen (`RosterApp(start=…)`, headless at 120×40, the store not polled),
each screen once: a screen that computes over everyone takes its time in a worker while the
screen is already up, and this measures that worker, what the admin waits for before the
screen's figures show. The row also says whether the screen loaded the population (every
person and account as objects). `--limit` stops waiting for a screen (default 600 s).

The large store is bench/startup.py's (generated and synced once into DIR, default a folder
under the system's temporary directory, kept for the next run).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SCREENS = (
    "dashboard",
    "directories",
    "merge",
    "attributes",
    "push",
    "provisioning",
    "users",
    "sync",
    "playground",
)

# One screen, headless; prints when its workers are done.
CHILD = """
import asyncio, json, resource, sys, time
started = float(sys.argv[3])
from engine.services import open_services
from console.app import RosterApp

services = open_services(db_path=sys.argv[1])
RosterApp.STORE_POLL_SECONDS = 0
app = RosterApp(services, start=sys.argv[2])
limit = float(sys.argv[4])

async def main():
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        while any(w.is_running for w in app.workers) and time.time() - started < limit:
            await asyncio.sleep(0.02)
        print(json.dumps({
            "idle": time.time() - started,
            "finished": not any(w.is_running for w in app.workers),
            "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "population": services.ctx._population is not None,
        }))

asyncio.run(main())
"""


def main() -> None:
    arguments = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    arguments.add_argument("--people", type=int, default=100_000)
    arguments.add_argument("--store", type=Path, help="where the large store is built and kept")
    arguments.add_argument("--screens", default=",".join(SCREENS))
    arguments.add_argument("--limit", type=float, default=600.0)
    options = arguments.parse_args()
    from bench.generate import build_store

    store_dir = options.store or Path(tempfile.gettempdir()) / f"roster-bench-{options.people}"
    store_dir.mkdir(parents=True, exist_ok=True)
    print(f"large store: {store_dir} ({options.people:,} people)…", flush=True)
    db = build_store(store_dir, options.people)
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "HOME": folder, "XDG_CACHE_HOME": f"{folder}/cache"}
        print(f"{'screen':<14} {'until idle':>11} {'peak MiB':>9}  population")
        for screen in options.screens.split(","):
            out = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    CHILD,
                    str(db),
                    screen,
                    repr(time.time()),
                    repr(options.limit),
                ],
                check=True,
                capture_output=True,
                text=True,
                env=env,
            )
            seen = json.loads(out.stdout.strip().splitlines()[-1])
            idle = f"{seen['idle']:.2f} s" if seen["finished"] else f"> {options.limit:.0f} s"
            loaded = "loaded" if seen["population"] else "not loaded"
            print(f"{screen:<14} {idle:>11} {seen['peak_mib']:>9,.0f}  {loaded}", flush=True)


if __name__ == "__main__":
    main()
