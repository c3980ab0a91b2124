"""What every area of the facade shares: the store, the cached records and the CEL engine."""

from __future__ import annotations

import threading

from engine.cel import CelEngine
from engine.config.model import RosterConfig
from engine.errors import RosterError
from engine.records import Population
from engine.store.db import Database
from engine.store.repo import load_config, load_population


class ServiceContext:
    """One per open store. Each call opens its own session, so calls from several threads
    are safe; the population and the CEL engine are cached until `invalidate()`."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._population: Population | None = None
        self._cel: CelEngine | None = None
        self._lock = threading.Lock()

    def population(self) -> Population:
        with self._lock:
            if self._population is None:
                with self.db.session() as session:
                    self._population = load_population(session)
            return self._population

    def population_or_none(self) -> Population | None:
        try:
            return self.population()
        except RosterError:
            return None

    def cel(self) -> CelEngine:
        population = self.population()
        with self._lock:
            if self._cel is None:
                self._cel = CelEngine(population)
            elif self._cel.population is not population:
                self._cel.population = population
                self._cel.clear_cache()
            return self._cel

    def invalidate(self) -> None:
        """Forget cached records after the store changed (a sync, an import, a link)."""
        with self._lock:
            self._population = None

    def config(self) -> RosterConfig:
        """The stored configuration, typed (empty before the first import)."""
        with self.db.session() as session:
            return load_config(session)
