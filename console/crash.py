"""When the console meets an error nobody expected: the details go to a file only the admin can
read, and the terminal gets a short report (what failed, where the details are), never a
traceback whose local variables hold people's data."""

from __future__ import annotations

import os
import traceback
from datetime import UTC, datetime
from pathlib import Path

from rich.text import Text


def crash_dir() -> Path:
    from platformdirs import user_log_path

    return user_log_path("roster")


def write_crash_report(
    error: BaseException, directory: Path | None = None, where: str = ""
) -> Path | None:
    """Write the error and its traceback (no local variables) to a new file readable by its
    owner only; None when it cannot be written."""
    folder = directory if directory is not None else crash_dir()
    now = datetime.now(UTC)
    path = folder / f"crash-{now:%Y%m%dT%H%M%S}-{os.getpid()}.txt"
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as out:
            out.write(f"Roster stopped on an unexpected error at {now.isoformat()}\n")
            if where:
                out.write(f"Where: {where}\n")
            out.write("\n")
            out.write("".join(traceback.format_exception(error)))
    except OSError:
        return None
    return path


def crash_message(error: BaseException, report: Path | None, where: str = "") -> Text:
    """The few lines the terminal shows: the kind of error (not its message, which may quote
    data), where it happened, where the details are, what to do."""
    text = Text()
    text.append("Roster stopped: an unexpected error", style="bold red")
    text.append(f" ({type(error).__name__})")
    if where:
        text.append(f" in {where}")
    text.append(".\n")
    text.append("This is a bug in Roster, not something you did. ")
    if report is not None:
        text.append("The details for a bug report are in\n  ")
        text.append(str(report), style="bold")
        text.append("\n(readable only by you; they may contain names from your data).\n")
    else:
        text.append("The details could not be written to a file.\n")
    text.append("Start roster again; if it happens again, send that file to whoever supports it.")
    return text
