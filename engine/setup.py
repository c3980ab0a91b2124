"""Creating a store: empty, or loaded with the demo organisation through the same paths an admin
uses (configuration import, then a sync)."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

from engine.errors import StoreError
from engine.store.db import Database


def sample_dir() -> Path:
    """The demo organisation shipped with Roster (read-only: it is copied before use)."""
    return Path(str(resources.files("sample_data")))


def demo_folder_for(db: Database) -> Path:
    """Where the demo's app files live for this store: beside the database, so pushes and new
    accounts write there and never into the installed package. A server's store has a folder
    of its own in the user's data directory, named after its database and a digest of its URL
    (password left out): every PostgreSQL demo shared one, and a second `init` replaced the
    first store's files (a newcomer's review)."""
    path = db.sqlite_path
    if path is not None:
        return path.with_name(path.stem + "-demo")
    import hashlib
    import re

    from platformdirs import user_data_path
    from sqlalchemy.engine import make_url

    url = make_url(db.url)
    shown = url.render_as_string(hide_password=True)
    digest = hashlib.blake2b(shown.encode(), digest_size=4).hexdigest()
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", url.database or "store")[:40]
    return user_data_path("roster") / f"demo-{name}-{digest}"


def copy_demo_files(target: Path) -> Path:
    source = sample_dir() / "apps"
    if not source.is_dir():
        raise StoreError(f"The demo organisation is missing from this installation ({source}).")
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target / "apps")
    shutil.copy2(sample_dir() / "roster.yaml", target / "roster.yaml")
    return target


# The demo's AD app and its push rule, as sample_data/roster.yaml writes them: the sample-ldap
# demo rewrites exactly these lines (a test holds them in step with the file).
_AD_APP = (
    "  - id: ad\n    name: Active Directory\n    connector: file\n"
    "    settings: {path: apps/ad.yaml, flavour: active_directory}\n"
)
_AD_PUSH = "  - name: ad-core\n    app: ad\n    enabled: true\n"


def point_demo_at_ldap(folder: Path, settings: dict[str, object]) -> None:
    """Make the copied demo's AD app read a real directory (`roster init --sample-ldap URL`):
    connector ldap with `settings` (url, bind_dn, base_dn, password_env…, never a password).
    Its push rule is switched off, so trying Roster never writes to a real directory; the
    admin turns it on with `roster config enable push_rules.ad-core` when ready."""
    import json

    config_file = folder / "roster.yaml"
    text = config_file.read_text(encoding="utf-8")
    if _AD_APP not in text or _AD_PUSH not in text:
        raise StoreError(
            f"The demo configuration in {config_file} does not have the AD app this option "
            "rewrites; reinstall Roster."
        )
    flow = ", ".join(f"{key}: {json.dumps(value)}" for key, value in settings.items())
    text = text.replace(
        _AD_APP,
        f"  - id: ad\n    name: Active Directory\n    connector: ldap\n    settings: {{{flow}}}\n",
    )
    text = text.replace(
        _AD_PUSH,
        "  - name: ad-core\n    app: ad\n"
        "    # off in the sample-ldap demo: nothing is written to a real directory until you\n"
        "    # turn it on (roster config enable push_rules.ad-core)\n"
        "    enabled: false\n",
    )
    config_file.write_text(text, encoding="utf-8")
