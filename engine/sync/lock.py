"""The sync lock: one sync (or provisioning write) at a time per store, across processes and
hosts. A lock whose process died on this host is stale: the next sync clears it and marks the
run it held as interrupted."""

from __future__ import annotations

import os
import socket

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from engine.errors import StoreError, SyncLocked
from engine.store.db import Database
from engine.store.location import pid_alive
from engine.store.models import Run, SyncLock, utcnow

#: The stores whose lock this process holds now. A lock row naming this process for a store
#: not in it was left by a run of ours that could not give it back (the store stayed locked by
#: another process): it is stale like a dead process's.
_HELD: set[str] = set()


def _locked_message(held: SyncLock | None) -> str:
    who = f"{held.holder} on {held.host} (pid {held.pid})" if held else "another process"
    since = held.since.strftime("%Y-%m-%d %H:%M:%S UTC") if held else "just now"
    return (
        f"Another sync is running: started by {who} since {since}. Wait for it to finish; "
        "if that process is gone, run the sync again from the same host to clear the stale "
        "lock."
    )


def acquire_lock(db: Database, actor: str) -> None:
    """Take the store's sync lock for this process; raises SyncLocked when another holds it."""
    host = socket.gethostname()
    with db.session() as session:
        held = session.get(SyncLock, "sync")
        if held is not None:
            if not _stale(db, held):
                raise SyncLocked(_locked_message(held))
            session.delete(held)  # its process died: the lock is stale, and so is its run
            session.execute(
                update(Run)
                .where(col(Run.status) == "running")
                .values(
                    status="failed",
                    ended_at=utcnow(),
                    error="interrupted: the process running it stopped before it finished",
                )
            )
            session.commit()
        session.add(SyncLock(name="sync", holder=actor, host=host, pid=os.getpid(), since=utcnow()))
        try:
            session.commit()
        except IntegrityError:  # another process took it between our read and our write
            session.rollback()
            session.expunge_all()
            raise SyncLocked(_locked_message(session.get(SyncLock, "sync"))) from None
        # every run that records "running" holds this lock: one still running now ended
        # without saying how, as when its store could not be written at the end (a full
        # disk) and it gave the lock back; it stayed "interrupted" for good (day-two review)
        session.execute(
            update(Run)
            .where(col(Run.status) == "running")
            .values(status="failed", ended_at=utcnow(), error=ENDED_UNRECORDED)
        )
        session.commit()
    _HELD.add(db.url)


#: A run found running by the next sync: its process died, or could not record its end
ENDED_UNRECORDED = (
    "interrupted: it ended without recording how (its process was stopped, or the store "
    "could not be written when it finished)"
)


def release_lock(db: Database) -> None:
    """Give the lock back, if this process holds it. When the store cannot be written (another
    process holds SQLite's write lock past the busy timeout) the row stays, and the next sync,
    from this process or another, finds it stale and marks its run failed."""
    _HELD.discard(db.url)
    try:
        with db.session() as session:
            held = session.get(SyncLock, "sync")
            if held is not None and held.pid == os.getpid():
                session.delete(held)
                session.commit()
    except StoreError:
        pass


def live_lock(db: Database, session: Session) -> SyncLock | None:
    """The sync lock while a live process holds it (one on another host is taken as live: its
    process cannot be asked), else None."""
    held = session.get(SyncLock, "sync")
    return None if held is None or _stale(db, held) else held


def _stale(db: Database, held: SyncLock) -> bool:
    """A lock whose process died on this host, or one this process left and does not hold."""
    if held.host != socket.gethostname():
        return False
    return not pid_alive(held.pid) or (held.pid == os.getpid() and db.url not in _HELD)


def sync_lock_held(db: Database) -> bool:
    """Whether a sync (of any process) holds the store's lock now; a stale lock does not."""
    with db.session() as session:
        held = session.get(SyncLock, "sync")
        return held is not None and not _stale(db, held)


def refuse_while_applying(db: Database, session: Session, what: str) -> None:
    """Raise SyncLocked, naming who runs it and since when, when a sync (or provisioning run)
    is applying: `what` (a link, a pin, a configuration change) would race its writes. A dry
    run writes nothing, so it stops nothing; a stale lock does not either."""
    held = session.get(SyncLock, "sync")
    if held is None or _stale(db, held):
        return
    running = set(session.scalars(select(col(Run.dry_run)).where(col(Run.status) == "running")))
    if running == {True}:  # only a dry run: it plans, and writes nothing
        return
    since = held.since.strftime("%Y-%m-%d %H:%M:%S UTC")
    raise SyncLocked(
        f"{what} is refused: a sync is applying, started by {held.holder} on {held.host} "
        f"(pid {held.pid}) since {since}. Nothing was changed; wait for it to finish and try "
        "again."
    )
