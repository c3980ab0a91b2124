"""Impact before saving and the match matrix: the identify and ownership stages over the
stored records, with the saved configuration or an edited one, and nothing written.

No lock is taken: a preview never waits for a sync (it reads the records as they are). The
saved configuration's outcome and the last matrices are kept until the records or the saved
configuration change, so an editor asking again while the admin types pays for one side only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Literal, cast

from sqlalchemy import Result, select

from engine.config.model import RosterConfig
from engine.errors import InvalidInput, NotFound
from engine.records import Population
from engine.services.context import ServiceContext
from engine.store.models import Account
from engine.sync.matrix import (
    KINDS,
    MatchMatrix,
    MatrixListing,
    MatrixMemo,
    MatrixResult,
    compute_matrix,
    listing,
    only,
)
from engine.sync.simulate import IdentityImpact, Outcome, SimulationCancelled, compare, simulate
from engine.sync.state import AccountKey

ImpactProgress = Callable[[str, int, int], None]  # what, done, total
ListKind = Literal["ambiguous", "unmatched", "unowned"]
KEEP_MATRICES = 4


class ImpactService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self._lock = threading.Lock()
        self._decisions: tuple[Population, dict[AccountKey, str]] | None = None
        self._baseline: tuple[Population, RosterConfig, Outcome] | None = None
        self._matrices: list[tuple[Population, RosterConfig, MatrixResult]] = []
        self._memo: tuple[Population, MatrixMemo] | None = None

    # --- the records and the stored decisions ----------------------------------------------
    def _records(self) -> tuple[Population, dict[AccountKey, str]]:
        """The cached records and the directory accounts' stored filter decisions (which an
        account whose filter fails keeps, as in a sync)."""
        population = self.ctx.population()
        with self._lock:
            if self._decisions is not None and self._decisions[0] is population:
                return self._decisions
        a = Account.__table__.c  # type: ignore[attr-defined]
        with self.ctx.db.session() as session:
            rows = cast(  # sqlmodel's Session.execute drops the row types
                "Result[str, str, str | None]",
                session.execute(select(a.app_id, a.external_id, a.filter_result)),
            )
            decisions = {(app, ext): d for app, ext, d in rows if d}
        with self._lock:
            self._decisions = (population, decisions)
        return population, decisions

    # --- impact ----------------------------------------------------------------------------
    def identity_impact(
        self,
        edited: RosterConfig,
        *,
        progress: ImpactProgress | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> IdentityImpact:
        """EDITED's identify + ownership outcome against the saved configuration's, over the
        same stored records. Cancelled: an IdentityImpact with `cancelled=True`."""
        total = 4

        def step(what: str, done: int) -> Callable[[str], None]:
            def report(stage: str) -> None:
                if progress is not None:
                    progress(f"{what}: {stage}", done + (stage == "ownership"), total)

            return report

        try:
            population, decisions = self._records()
            saved = self.ctx.config()
            before = self._saved_outcome(population, decisions, saved, step("saved", 0), cancelled)
            if edited == saved:
                after = before
            else:
                after = simulate(
                    population, decisions, edited, cancelled=cancelled, progress=step("edited", 2)
                )
        except SimulationCancelled:
            return IdentityImpact.stopped()
        result = compare(before, after)
        if progress is not None:
            progress("done", total, total)
        return result

    def _saved_outcome(
        self,
        population: Population,
        decisions: dict[AccountKey, str],
        saved: RosterConfig,
        progress: Callable[[str], None],
        cancelled: Callable[[], bool] | None,
    ) -> Outcome:
        with self._lock:
            cached = self._baseline
        if cached is not None and cached[0] is population and cached[1] == saved:
            return cached[2]
        outcome = simulate(population, decisions, saved, cancelled=cancelled, progress=progress)
        with self._lock:
            self._baseline = (population, saved, outcome)
        return outcome

    # --- the match matrix ------------------------------------------------------------------
    def _matrix(
        self, config: RosterConfig | None, cancelled: Callable[[], bool] | None = None
    ) -> tuple[RosterConfig, MatrixResult]:
        population = self.ctx.population()
        config = config if config is not None else self.ctx.config()
        with self._lock:
            for known_population, known_config, result in self._matrices:
                if known_population is population and known_config == config:
                    return config, result
        with self._lock:
            if self._memo is None or self._memo[0] is not population:
                self._memo = (population, MatrixMemo())
            memo = self._memo[1]
        result = compute_matrix(population, config, cancelled=cancelled, memo=memo)
        with self._lock:
            kept = [m for m in self._matrices if m[0] is population][-(KEEP_MATRICES - 1) :]
            self._matrices = [*kept, (population, config, result)]
        return config, result

    def _check_app(self, config: RosterConfig, app: str | None) -> None:
        if app is not None and config.app(app) is None:
            names = ", ".join(a.id for a in config.apps) or "none"
            raise NotFound(f"No app {app!r} in the configuration; the apps are: {names}.")

    def merge_matrix(
        self, app: str | None = None, *, config: RosterConfig | None = None
    ) -> MatchMatrix:
        config, result = self._matrix(config)
        self._check_app(config, app)
        return only(result.matrix, app)

    def matrix_accounts(
        self,
        kind: ListKind,
        app: str | None = None,
        *,
        rule: str | None = None,
        config: RosterConfig | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> MatrixListing:
        if kind not in KINDS:  # before any work
            raise InvalidInput(f"Unknown list {kind!r}; use one of: {', '.join(KINDS)}.")
        config, result = self._matrix(config)
        self._check_app(config, app)
        return listing(result, kind, app, rule, offset, limit)
