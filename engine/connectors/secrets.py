"""A connector's secret (a bearer token, a bind password) read from where its settings point, never
from the settings themselves (DESIGN §8, §14): `<name>_env: VARIABLE` names an environment
variable, `<name>_file: PATH` a file that only its owner may read.

The secret is read when the connector connects, not when the configuration is validated, so a
configuration can be checked on a machine that does not hold the secret. No message here ever
contains the secret: it names the variable or the file.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.errors import ConnectorError, Problem

MAX_SECRET_BYTES = 64 * 1024  # a token or a password, never a whole file of something else


def secret_reference_problems(
    app_id: str, settings: Mapping[str, Any], name: str, *, required: bool = True
) -> list[Problem]:
    """What is wrong with how the settings name the secret `name` (checked without reading it)."""
    where = f"apps.{app_id}.settings"
    env, file = settings.get(f"{name}_env"), settings.get(f"{name}_file")
    problems: list[Problem] = []
    if env is not None and file is not None:
        problems.append(
            Problem(
                f"both {name}_env and {name}_file are given",
                f"{where}.{name}_file",
                hint=f"keep one: the {name} comes from one place",
            )
        )
    if env is None and file is None and required:
        problems.append(
            Problem(
                f"no {name} is configured",
                f"{where}.{name}_env",
                hint=f"add {name}_env: {(app_id + '_' + name).upper()} (an environment variable "
                f"holding it) or {name}_file: PATH (a file only you can read)",
            )
        )
    if file is not None and (not isinstance(file, str) or not file.strip()):
        problems.append(
            Problem(f"{name}_file must be a path", f"{where}.{name}_file", hint="e.g. ~/.scim")
        )
    return problems


def read_secret(app_id: str, settings: Mapping[str, Any], name: str, base_dir: Path) -> str:
    """The secret `name` as the settings point to it. Raises ConnectorError naming the variable
    or file (never the secret) when it cannot be had."""
    problems = secret_reference_problems(app_id, settings, name)
    if problems:
        raise ConnectorError(f"App '{app_id}': {problems[0]}", problems)
    env = settings.get(f"{name}_env")
    if env is not None:
        value = os.environ.get(str(env), "")
        if not value.strip():
            raise ConnectorError(
                f"App '{app_id}': the environment variable {env} ({name}_env) is not set or "
                f"empty. Set it to the {name} in the environment Roster runs in (the shell of "
                "`roster sync`, the console's, the scheduler's)."
            )
        return value.strip()
    path = Path(str(settings.get(f"{name}_file"))).expanduser()
    if not path.is_absolute():
        path = base_dir / path
    try:
        info = path.stat()
    except OSError as exc:
        raise ConnectorError(
            f"App '{app_id}': cannot read the {name} file {path} ({name}_file): "
            f"{exc.strerror or exc}. Check the path; relative paths follow the configuration "
            "file's folder."
        ) from None
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConnectorError(
            f"App '{app_id}': the {name} file {path} ({name}_file) can be read by other users "
            f"(mode {stat.S_IMODE(info.st_mode):04o}); Roster does not use a secret others can "
            f"read. Run `chmod 600 {path}` and try again."
        )
    if info.st_size > MAX_SECRET_BYTES:
        raise ConnectorError(
            f"App '{app_id}': the {name} file {path} is {info.st_size} bytes; a {name} is at most "
            f"{MAX_SECRET_BYTES}. Check that {name}_file names the right file."
        )
    try:
        value = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
        raise ConnectorError(
            f"App '{app_id}': cannot read the {name} file {path}: {reason or exc}."
        ) from None
    if not value:
        raise ConnectorError(
            f"App '{app_id}': the {name} file {path} ({name}_file) is empty. Put the {name} in it."
        )
    return value
