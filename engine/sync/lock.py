"""The sync lock: one sync (or provisioning write) at a time per store, across processes and
hosts. A lock whose process died on this host is stale: the next sync clears it and marks the
run it held as interrupted."""

from __future__ import annotations

import os
import socket

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from engine.errors import SyncLocked
from engine.store.db import Database
from engine.store.models import Run, SyncLock, utcnow


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
            if held.host != host or _pid_alive(held.pid):
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


def release_lock(db: Database) -> None:
    """Give the lock back, if this process holds it."""
    with db.session() as session:
        held = session.get(SyncLock, "sync")
        if held is not None and held.pid == os.getpid():
            session.delete(held)
            session.commit()
