"""What every area of the facade shares: the store, the cached records and the CEL engine."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlmodel import col

from engine.collector import collector_paused
from engine.errors import RosterError
from engine.records import Directory, Population
from engine.store.db import Database
from engine.store.directory import StoreDirectory
from engine.store.models import Run
from engine.store.repo import (
    config_versions,
    get_meta,
    load_accounts,
    load_config,
    load_population,
    load_users,
    stable_hash,
)

if TYPE_CHECKING:
    from engine.cel import CelEngine, CelLimits
    from engine.config.model import RosterConfig


class ServiceContext:
    """One per open store. Each call opens its own session, so calls from several threads
    are safe; the population and the CEL engine are cached until `invalidate()`."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._population: Population | None = None
        self._cel: CelEngine | None = None
        # before the population is loaded: lookups of a few records, from the store
        self._store_directory: StoreDirectory | None = None
        self._lookup_cel: CelEngine | None = None
        self._lock = threading.Lock()
        self._stamp: str | None = None
        # the facade's role check (engine.roles), asked again where a change is written: a
        # check made before a long edit (an $EDITOR session) must hold when it is saved
        self.guard: Callable[[str, str, str | None], None] | None = None

    def require(self, needed: str, what: str, actor: str | None = None) -> None:
        if self.guard is not None:
            self.guard(needed, what, actor)

    def population(self) -> Population:
        with self._lock:
            if self._population is None:
                with self.db.session() as session, collector_paused():
                    self._population = load_population(session)
            return self._population

    def directory(self) -> Directory:
        """The loaded population when there is one, else the store read one query at a time
        (finding one person must not load everyone)."""
        with self._lock:
            if self._population is not None:
                return self._population
            if self._store_directory is None:
                self._store_directory = StoreDirectory(self.db.session)
            return self._store_directory

    def identity_population(self, stop: Callable[[], bool] | None = None) -> Population:
        """Everyone and every account with their identity fields: what checks over everyone
        read (the dashboard's care lists). The loaded population when there is one; else read
        for the call without profiles or grants (a third of the time and memory on a large
        store) and not kept. `stop`: see `load_accounts`."""
        with self._lock:
            if self._population is not None:
                return self._population
        with self.db.session() as session, collector_paused():
            users = load_users(session, stop=stop)
            return Population(users, load_accounts(session, details=False, stop=stop), {})

    def population_or_none(self) -> Population | None:
        try:
            return self.population()
        except RosterError:
            return None

    def cel(self) -> CelEngine:
        from engine.cel import CelEngine  # cel-python is imported when CEL is first needed

        population = self.population()
        with self._lock:
            if self._cel is None:
                self._cel = CelEngine(population, limits=self._limits())
            elif self._cel.population is not population:
                self._cel.population = population
                self._cel.clear_cache()
                self._cel.limits = self._limits()  # the configuration may have changed too
            return self._cel

    def cel_for_one(self) -> CelEngine:
        """A CEL engine for evaluating against one record: the population's engine when the
        population is loaded, else one over the store's directory (`directory()`)."""
        from engine.cel import CelEngine

        directory = self.directory()
        if isinstance(directory, Population):
            return self.cel()
        with self._lock:
            if self._lookup_cel is None or self._lookup_cel.population is not directory:
                self._lookup_cel = CelEngine(directory, limits=self._limits())
            return self._lookup_cel

    def sweep_cel(self, population: Population) -> CelEngine:
        """A CEL engine of its own for one pass over POPULATION (a count or a plan over
        everyone): it keeps at most SWEEP_CACHE_LIMIT converted records, where the shared one
        (`cel()`) keeps every record it converted for the previews that follow."""
        from engine.cel import SWEEP_CACHE_LIMIT, CelEngine

        return CelEngine(population, limits=self._limits(), cache_limit=SWEEP_CACHE_LIMIT)

    def _limits(self) -> CelLimits:
        """The CEL budgets of the stored configuration (settings.cel)."""
        from engine.cel import CelLimits

        try:
            return CelLimits.of(self.config().settings.cel)
        except RosterError:  # a damaged configuration is reported where it is read
            return CelLimits.of()

    def invalidate(self) -> None:
        """Forget cached records after the store changed (a sync, an import, a link)."""
        with self._lock:
            self._population = None
            self._store_directory = None
            self._lookup_cel = None

    def store_stamp(self) -> str:
        """What the screens show depends on: the last finished run, the manual decisions and
        the configuration. Cheap (three small queries), so a console can ask every few seconds
        whether another process (the CLI, a second console) changed the store."""
        with self.db.session() as session:
            finished = session.scalar(select(func.max(Run.id)).where(col(Run.status) != "running"))
            manual = get_meta(session, "manual_generation")
            versions = config_versions(session)
        return stable_hash({"run": finished or 0, "manual": manual, "config": versions})

    def changed_since_last_look(self) -> bool:
        """Whether the store changed since the previous call (False on the first); a change
        drops the cached records, so the next read sees it."""
        stamp = self.store_stamp()
        with self._lock:
            changed = self._stamp is not None and stamp != self._stamp
            self._stamp = stamp
        if changed:
            self.invalidate()
        return changed

    def config(self) -> RosterConfig:
        """The stored configuration, typed (empty before the first import)."""
        with self.db.session() as session:
            return load_config(session)
