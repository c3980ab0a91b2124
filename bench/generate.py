"""Write a synthetic organisation of any size with the demo's configuration: in the reference
workload's formats (README.md: HR as CSV, the other apps as JSON Lines) or the demo's YAML.

python bench/generate.py --people 100000 /tmp/org100k            # the reference formats
python bench/generate.py --people 100000 --formats yaml /tmp/org100k-yaml
roster init --empty --db /tmp/org100k.db
roster config import /tmp/org100k/roster.yaml --db /tmp/org100k.db
roster sync --db /tmp/org100k.db
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from engine.setup import sample_dir
from sample_data.build import FORMATS, build_organisation


def generate(out_dir: Path, people: int, seed: int = 7, formats: str = "reference") -> Path:
    """The organisation's folder, holding apps/ and roster.yaml; returns the config file."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = build_organisation(out_dir, people=people, seed=seed, formats=formats)
    config = out_dir / "roster.yaml"
    shutil.copy2(sample_dir() / "roster.yaml", config)
    text = config.read_text(encoding="utf-8")
    for app, path in written.items():  # the demo's configuration names its YAML files
        text = text.replace(f"path: apps/{app}.yaml", f"path: apps/{path.name}")
    config.write_text(text, encoding="utf-8")
    return config


def build_store(folder: Path, people: int, seed: int = 7) -> Path:
    """A synced store of PEOPLE in FOLDER (its organisation beside it), built once: an existing
    `roster.db` there whose last sync was applied is reused. Returns the store's file. A
    100,000-person store takes minutes (the first sync; see bench/sync.py)."""
    from engine.services import open_services

    db = folder / "roster.db"
    if db.exists():
        services = open_services(db_path=db)
        runs = services.runs(limit=1)
        services.db.dispose()
        if runs and runs[0].status.startswith("applied"):
            return db
        db.unlink()
    config = generate(folder / "org", people, seed)
    services = open_services(db_path=db, init="empty")
    services.import_config(
        config.read_text(encoding="utf-8"), source=str(config), base_dir=folder / "org"
    )
    result = services.sync()
    services.db.dispose()
    if not result.status.startswith("applied"):
        raise SystemExit(f"building the {people:,}-person store failed: {result.error}")
    return db


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out_dir", type=Path, help="the folder to write (roster.yaml, apps/)")
    parser.add_argument(
        "--people", type=int, default=10_000, help="how many people (default 10,000)"
    )
    parser.add_argument(
        "--seed", type=int, default=7, help="the same seed writes the same data (default 7)"
    )
    parser.add_argument(
        "--formats",
        choices=FORMATS,
        default="reference",
        help="reference: HR as CSV, the rest JSON Lines (default); yaml: the demo's",
    )
    args = parser.parse_args()
    started = time.perf_counter()
    config = generate(args.out_dir, args.people, args.seed, args.formats)
    print(
        f"wrote {args.people:,} people to {args.out_dir} in "
        f"{time.perf_counter() - started:.1f} s; configuration: {config}"
    )


if __name__ == "__main__":
    main()
