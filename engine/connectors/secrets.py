"""Secrets a connector needs (a bind password, a bearer token), read by reference only
(docs/connectors.md): `<name>_env: VARIABLE` names an environment variable, `<name>_file: PATH`
a file that only its owner may read. The value is read when the connector connects, never
stored, never put in a message: every message names the setting and the variable or file, not
the secret.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.errors import ConnectorError, Problem
from engine.files import FileRefused, read_regular_file

MAX_SECRET_BYTES = 64 * 1024  # a secret file larger than this is not a password or a token


def secret_references(
    app_id: str, settings: Mapping[str, Any], name: str, *, required: bool
) -> list[Problem]:
    """Problems with how `<name>_env` / `<name>_file` are given (checked without reading them):
    both given, neither given when `required`, or not a non-empty text."""
    where = f"apps.{app_id}.settings"
    env, file = settings.get(f"{name}_env"), settings.get(f"{name}_file")
    problems = []
    for key, value in ((f"{name}_env", env), (f"{name}_file", file)):
        if value is not None and (not isinstance(value, str) or not value.strip()):
            problems.append(Problem(f"'{key}' must be a non-empty text", f"{where}.{key}"))
    if env is not None and file is not None:
        problems.append(
            Problem(
                f"give the {name} either by '{name}_env' or by '{name}_file', not both",
                f"{where}.{name}_file",
            )
        )
    if required and env is None and file is None:
        problems.append(
            Problem(
                f"the {name} is missing",
                f"{where}.{name}_env",
                hint=f"write {name}_env: {(app_id + '_' + name).upper()} and set that "
                f"environment variable, or {name}_file: PATH to a file only you can read",
            )
        )
    return problems


def read_secret(
    app_id: str, settings: Mapping[str, Any], name: str, base_dir: Path | str
) -> str | None:
    """The secret `name` of an app, from its environment variable or its file; None when the
    settings give neither. Raises ConnectorError (without the value) when the variable is not
    set, or the file is missing, readable by others or not text."""
    env, file = settings.get(f"{name}_env"), settings.get(f"{name}_file")
    if isinstance(env, str) and env:
        value = os.environ.get(env)
        if value is None or value == "":
            raise ConnectorError(
                f"App '{app_id}': the environment variable {env} ({name}_env) is not set or "
                "empty. Set it in the environment Roster runs in (the console, the CLI or the "
                "scheduler)."
            )
        return value
    if isinstance(file, str) and file:
        path = Path(file).expanduser()
        if not path.is_absolute():
            path = Path(base_dir) / path
        return _read_file(app_id, name, path)
    return None


def _read_file(app_id: str, name: str, path: Path) -> str:
    try:
        info = path.stat()
    except OSError as exc:
        raise ConnectorError(
            f"App '{app_id}': cannot read the {name} file {path} ({name}_file): "
            f"{exc.strerror or exc}. Create it (chmod 600) or fix the path."
        ) from None
    # its owner's, or shared with a team's group (an operator syncs with it: docs/roles.md);
    # never readable by everyone, nor writable by the group
    if info.st_mode & (stat.S_IRWXO | stat.S_IWGRP | stat.S_IXGRP):
        who = "other users" if info.st_mode & stat.S_IRWXO else "its group"
        can = "read" if info.st_mode & stat.S_IROTH else "changed"
        raise ConnectorError(
            f"App '{app_id}': the {name} file {path} ({name}_file) can be {can} by {who} "
            f"(mode {stat.S_IMODE(info.st_mode):o}); Roster only reads secrets from a file its "
            f"owner alone can change and no one outside its group can read. Run: chmod 640 "
            f"{path} (the team's group reads it) or chmod 600 {path} (you alone)"
        )
    if info.st_size > MAX_SECRET_BYTES:
        raise ConnectorError(
            f"App '{app_id}': the {name} file {path} is {info.st_size} bytes; a {name} file "
            "holds only the secret. Check the path."
        )
    try:
        # opened without waiting and only if a regular file (hostile review: a named pipe
        # hung `app test` and the sync, its lock held; a device read without end)
        text = read_regular_file(path, MAX_SECRET_BYTES, "").decode("utf-8")
    except FileRefused as exc:
        raise ConnectorError(
            f"App '{app_id}': cannot read the {name} file {path} ({name}_file): {exc.reason}. "
            f"Put the {name} alone in a regular file (chmod 600) and point {name}_file at it."
        ) from None
    except OSError as exc:
        raise ConnectorError(
            f"App '{app_id}': cannot read the {name} file {path}: {exc.strerror or exc}."
        ) from None
    except UnicodeDecodeError:
        raise ConnectorError(
            f"App '{app_id}': the {name} file {path} is not UTF-8 text. Put the secret alone "
            "in it, as text."
        ) from None
    value = text.rstrip("\r\n")  # editors add a final newline; the secret is the first line
    if not value:
        raise ConnectorError(f"App '{app_id}': the {name} file {path} is empty.")
    return value
