"""How fast the CLI answers (issue 11): `roster --help` and a one-record preview, next to
`python -c pass` measured in the same run.

    python bench/cli_start.py [--runs N]

Uses a throwaway demo store (created first, not timed). Prints the best of N runs of each
command (the machine's noise only ever adds time) and the ratios to the interpreter's start.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROSTER = str(Path(sys.executable).with_name("roster"))


def best(command: list[str], runs: int, env: dict[str, str]) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, env=env)
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--runs", type=int, default=7)
    runs = arguments.parse_args().runs
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "HOME": folder, "XDG_CACHE_HOME": f"{folder}/cache"}
        db = f"{folder}/r.db"
        subprocess.run([ROSTER, "init", "--db", db], check=True, capture_output=True, env=env)
        email = "ann.lee@example.com"
        preview = [ROSTER, "preview", "--db", db, "--context"]
        rows = [
            ("python -c pass", [sys.executable, "-c", "pass"]),
            ("roster --help", [ROSTER, "--help"]),
            ("roster preview --context cel", [*preview, "cel", "1"]),
            (
                "roster preview --user (one record)",
                [*preview, "push_mapping", "--user", email, "subject.department"],
            ),
        ]
        baseline = 0.0
        print(f"{'command':<36} {'best of ' + str(runs):>10} {'÷ python':>9}")
        for name, command in rows:
            seconds = best(command, runs, env)
            baseline = baseline or seconds
            print(f"{name:<36} {seconds:>9.3f}s {seconds / baseline:>8.1f}×")


if __name__ == "__main__":
    main()
