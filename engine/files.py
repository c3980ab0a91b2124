"""Reading a file Roster was pointed at — a configuration, an app's YAML or CSV — without
hanging or running out of memory: only a regular file is read (never a FIFO, which blocks, or a
device such as `/dev/zero`, which never ends, even behind a symlink), and only up to a size
limit, checked before reading.

The limits are generous and set from the environment, since they guard the reading of the
configuration itself: `ROSTER_MAX_CONFIG_MB` (default 64) and `ROSTER_MAX_APP_FILE_MB`
(default 2048).
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from engine.text import printable

DEFAULT_MAX_CONFIG_MB = 64
DEFAULT_MAX_APP_FILE_MB = 2048
_MB = 1024 * 1024


class FileRefused(Exception):  # noqa: N818 - a refusal, with the reason for people
    """The file is not read: `reason` says why, `hint` what to do."""

    def __init__(self, reason: str, hint: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.hint = hint


def _megabytes(variable: str) -> float | None:
    """The variable's megabytes; None when it is not set or not a number above 0."""
    text = os.environ.get(variable, "").strip()
    try:
        megabytes = float(text)
    except ValueError:
        return None
    return megabytes if 0 < megabytes < 1e12 else None  # not 0, negative, nan or inf


def _limit(variable: str, default_mb: int) -> int:
    megabytes = _megabytes(variable)
    return int((megabytes if megabytes is not None else default_mb) * _MB)


def limit_problems() -> list[str]:
    """What is wrong with the file limits' variables: each one set to what is not a number of
    megabytes above 0 is named, and its default used (0 or -1 refused every changed app as
    over a limit of 1,048 bytes, "abc" was used as the default without a word: hostile
    review)."""
    problems = []
    for variable, default in (
        ("ROSTER_MAX_APP_FILE_MB", DEFAULT_MAX_APP_FILE_MB),
        ("ROSTER_MAX_CONFIG_MB", DEFAULT_MAX_CONFIG_MB),
    ):
        text = os.environ.get(variable, "").strip()
        if text and _megabytes(variable) is None:
            shown = printable(text, 40, one_line=True)
            problems.append(
                f"{variable} is {shown!r}, not a number of megabytes above 0: {default} is used"
            )
    return problems


def config_file_limit() -> int:
    """The largest configuration file read, in bytes (`ROSTER_MAX_CONFIG_MB`)."""
    return _limit("ROSTER_MAX_CONFIG_MB", DEFAULT_MAX_CONFIG_MB)


def app_file_limit() -> int:
    """The largest app data file (YAML or CSV) read, in bytes (`ROSTER_MAX_APP_FILE_MB`)."""
    return _limit("ROSTER_MAX_APP_FILE_MB", DEFAULT_MAX_APP_FILE_MB)


def _size(count: float) -> str:
    return f"{count:,.0f} bytes" if count < _MB else f"{count / _MB:,.1f} MB"


def file_kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def read_regular_file(path: Path, limit: int, variable: str) -> bytes:
    """The bytes of `path`; FileRefused when it is not a regular file or is larger than
    `limit` bytes (`variable` is the environment variable that sets the limit); OSError when
    it cannot be opened. Opened without blocking, so a FIFO is refused, never waited on."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    descriptor = os.open(path, flags | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(descriptor)  # of what was opened, so a swapped symlink cannot fool it
        if not stat.S_ISREG(info.st_mode):
            shown = file_kind(info.st_mode)
            raise FileRefused(
                f"it is {shown}, not a regular file" if shown[0] == "a" else f"it is {shown}",
                "point Roster at a regular file (a symlink to one is fine)",
            )
        if info.st_size > limit:
            raise FileRefused(
                f"the file is {_size(info.st_size)}, over the limit of {_size(limit)}",
                f"split it, or raise the limit with the environment variable {variable}",
            )
        chunks: list[bytes] = []
        left = limit + 1  # a file that grows while being read is caught too
        # the whole file in one read (and the read that finds its end): joining 1 MiB reads
        # copied an 80 MB export twice
        step = max(info.st_size + 1, 1 << 20)
        while left > 0:
            chunk = os.read(descriptor, min(left, step))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        if left <= 0:
            raise FileRefused(
                f"the file grew past the limit of {_size(limit)} while being read",
                f"raise the limit with the environment variable {variable}",
            )
        return b"".join(chunks)
    finally:
        os.close(descriptor)


class ContentDigest:
    """The digest of what files hold, as a source version compares them (32 hex digits).

    SHA-256, not BLAKE2: CPUs with SHA extensions (most x86 since 2017, every recent ARM) hash
    with it 2.7 times as fast (1.23 against 0.46 GB/s here), and a 1 % sync of 100,000 people
    digests 230 MB of exports before it knows what changed (issue 11)."""

    __slots__ = ("_hash",)

    def __init__(self, data: bytes = b"") -> None:
        self._hash = hashlib.sha256(data)

    def update(self, data: bytes) -> None:
        self._hash.update(data)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()[:32]
