"""One line on stderr that says what a long command is doing while it works.

At 100,000 people `roster status` takes seconds, `roster sync` a minute and a preview over
everyone longer: a command that prints nothing meanwhile looks hung (newcomer review). The
line is for a person at a terminal only: when stderr is not a terminal, or with `--json`
(where stderr carries the error's JSON and nothing else), nothing is written. It is cleared
before the command prints its answer, so the answer reads as it always did.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from console.cli_wrap import terminal_columns

#: Nothing is shown for a command that answers within this (no flicker for the quick ones)
QUIET_SECONDS = 0.5
#: How often the elapsed seconds are brought up to date
TICK_SECONDS = 1.0
_CLEAR = "\r\x1b[K"


class StatusLine:
    """What the command is doing, and for how long, rewritten in place on STREAM."""

    def __init__(self, stream: TextIO, what: str) -> None:
        self._stream = stream
        self._what = what
        self._detail = ""
        self._started = time.monotonic()
        self._shown = False
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._ticker = threading.Thread(target=self._tick, name="status-line", daemon=True)

    def start(self) -> None:
        self._ticker.start()

    def update(self, detail: str) -> None:
        """DETAIL after the command's own words: its stage, or how many of how many."""
        with self._lock:
            self._detail = detail
        self._draw()

    def stop(self) -> None:
        self._done.set()
        self._ticker.join()
        with self._lock:
            if self._shown:
                self._write(_CLEAR)
                self._shown = False

    def _tick(self) -> None:
        if self._done.wait(QUIET_SECONDS):
            return
        while True:
            self._draw()
            if self._done.wait(TICK_SECONDS):
                return

    def _draw(self) -> None:
        with self._lock:
            if self._done.is_set():
                return
            elapsed = time.monotonic() - self._started
            if elapsed < QUIET_SECONDS:
                return
            if not _in_the_foreground(self._stream):
                return  # a command sent to the background must not write over the prompt
            detail = f" · {self._detail}" if self._detail else ""
            seconds = f" · {elapsed:,.0f} s"
            text = f"{self._what}{detail}"
            # a line that wraps is cleared only from its last row: never wider than the
            # terminal (the stream's own: stdout may be a file), and the seconds, which show
            # the command is alive, are kept when the words are cut
            width = _columns(self._stream) - 1
            if len(text) + len(seconds) > width:
                text = text[: max(width - len(seconds) - 1, 0)] + "…"
            self._write(_CLEAR + (text + seconds)[:width])
            self._shown = True

    def _write(self, text: str) -> None:
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):  # the terminal went away: the command goes on
            self._done.set()


def _columns(stream: TextIO) -> int:
    return terminal_columns(stream) or 80


def _in_the_foreground(stream: TextIO) -> bool:
    """Whether this process may write to the terminal now: not a job in the background
    (`roster sync > out.txt &`), whose line would overwrite what the person is typing."""
    try:
        return os.tcgetpgrp(stream.fileno()) == os.getpgrp()
    except (AttributeError, OSError, ValueError):
        return True  # not a terminal we can ask: `isatty` said it is one


def _for_a_person(stream: TextIO, as_json: bool) -> bool:
    if as_json:
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


@contextmanager
def working(
    what: str, *, as_json: bool = False, stream: TextIO | None = None
) -> Iterator[Callable[[str], None]]:
    """`with working("Syncing") as say: …; say("import, stage 1 of 6")`: while the block
    runs, stderr (a terminal, not `--json`) shows "Syncing · import, stage 1 of 6 · 12 s",
    cleared when the block ends however it ends. `say` does nothing when nothing is shown."""
    stream = sys.stderr if stream is None else stream
    if not _for_a_person(stream, as_json):
        yield lambda detail: None
        return
    line = StatusLine(stream, what)
    line.start()
    try:
        yield line.update
    finally:
        line.stop()


def stage_reporter(say: Callable[[str], None]) -> Callable[[str, int, int], None]:
    """A sync's `progress(stage, done, total)` as words for `say`: a stage named a second
    time is the run writing what it planned there."""
    planned: set[str] = set()

    def report(stage: str, done: int, total: int) -> None:
        if stage == "load":
            say("reading the identity store")
        elif stage in planned:
            say(f"writing: {stage}")
        elif stage != "done":
            planned.add(stage)
            say(f"{stage} (stage {min(done + 1, total)} of {total})")

    return report


def count_reporter(
    say: Callable[[str], None], noun: str, then: str = ""
) -> Callable[[int, int], None]:
    """A `progress(done, total)` as "12,000 of 100,000 NOUN" for `say`; THEN: what the
    command does once all are done (it says nothing more of its own)."""

    def report(done: int, total: int) -> None:
        if then and done >= total:
            say(f"{total:,} {noun} evaluated; {then}")
        else:
            say(f"{done:,} of {total:,} {noun}")

    return report
