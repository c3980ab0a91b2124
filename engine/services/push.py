"""Push: the push rules, what they would write now, and what they wrote."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlmodel import col

from engine.cel import SWEEP_CACHE_LIMIT, CelEngine
from engine.collector import collector_paused
from engine.config.model import PushRule, RosterConfig
from engine.errors import NotFound
from engine.services.context import ServiceContext
from engine.store.models import Account, App, Person, PushExecution, Run
from engine.store.repo import load_config


@dataclass(frozen=True)
class ValueChange:
    old: Any
    new: Any


@dataclass(frozen=True)
class PushPlanItem:
    """One account a rule would write to: per target attribute old → new, or why it cannot."""

    account: str  # APP:EXTERNAL_ID
    user: str
    changes: dict[str, ValueChange]
    error: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "user": self.user,
            "changes": {t: {"old": c.old, "new": c.new} for t, c in self.changes.items()},
            "error": self.error,
        }


@dataclass(frozen=True)
class PushPlan:
    rules: dict[str, list[PushPlanItem]]  # by rule name
    without_account: list[str]  # people a rule targets who have no account in its app
    counts: dict[str, int]
    problems: list[str]
    notes: list[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "rules": {name: [i.to_json() for i in items] for name, items in self.rules.items()},
            "without_account": self.without_account,
            "counts": self.counts,
            "problems": self.problems,
            "notes": self.notes,
        }


@dataclass(frozen=True)
class PushExecutionRow:
    """One push a sync sent: which attributes old → new, and whether the app took it."""

    run_id: int | None
    rule: str
    at: datetime
    account: str  # APP:EXTERNAL_ID, "" when the account is gone
    user: str
    changes: dict[str, Any]  # target: [old, new]
    success: bool
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "rule": self.rule,
            "at": self.at.isoformat(),
            "account": self.account,
            "user": self.user,
            "changes": self.changes,
            "success": self.success,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class PushRules:
    """The configured push rules (as configured), the app names, and the latest run id:
    together they say whether a plan computed earlier is still current."""

    rules: list[PushRule]
    apps: dict[str, str]  # app id: name
    latest_run: int


class PushService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def push_rules(self) -> PushRules:
        config = self.ctx.config()
        with self.ctx.db.session() as session:
            latest = session.execute(select(func.max(Run.id))).scalar() or 0
        return PushRules(
            list(config.push_rules),
            {app.id: app.title for app in config.apps},
            int(latest),
        )

    @collector_paused()  # hundreds of thousands of CEL values, kept until the end
    def push_plan(self, rule: str | None = None, *, config: RosterConfig | None = None) -> PushPlan:
        """What push rules would write now, from the store as it is (no import): per rule,
        per account, per attribute old → new; failures with their reason.

        CONFIG plans with an edited configuration instead of the saved one (an editor's rule
        before it is saved, from `config_edit(..., dry_run=True).config`). The attributes the
        rules read are computed first, as the sync's attribute stage would before it pushes
        (an attribute saved since the last sync has no stored values yet), unless the store is
        settled under the saved configuration (`values_settled`) and CONFIG differs from it
        in its push rules alone: then the stored values are those."""
        from engine.sync.incremental import AFTER_VALUES, values_settled

        before = [s for s in RosterConfig.model_fields if s not in AFTER_VALUES]
        from engine.sync.loading import load_attribute_states, load_state
        from engine.sync.push import plan_push
        from engine.sync.state import StageReport
        from engine.sync.values import (
            attributes_computed_with,
            pushed_attributes,
            refresh_attributes,
        )

        with self.ctx.db.session() as session:
            # the saved configuration over a settled store: the stored values are the ones
            # the next sync would compute (a third of planning a rule at 100,000 people)
            saved = load_config(session)
            # an edited configuration that differs only in what is pushed (a push rule's
            # editor) computes the values the saved one does
            same = config is None or all(getattr(config, s) == getattr(saved, s) for s in before)
            settled = same and values_settled(session)
            if config is None:
                config = saved
            names = [r.name for r in config.push_rules]
            if rule is not None and rule not in names:
                raise NotFound(
                    f"No push rule {rule!r}; the rules are: {', '.join(names) or 'none'}."
                )
            read = set() if settled else pushed_attributes(config, None if rule is None else [rule])
            state = load_state(session, attributes=False)
            # the states of the attributes computed below, no others (everyone's 1.4 million
            # were half of planning a rule at 100,000 people)
            load_attribute_states(session, state, None, only=read)
            apps = {row.id: row for row in session.scalars(select(App))}
        cel = CelEngine(state.population(), cache_limit=SWEEP_CACHE_LIMIT)
        if read:
            # and those of what they read, computed with them: decided without its stored
            # state, an authority attribute lost its holder (review: manager_email, read by a
            # pushed count of reports, planned a write the sync did not make)
            more = attributes_computed_with(config, read, cel) - read
            if more:
                with self.ctx.db.session() as session:
                    load_attribute_states(session, state, None, only=more)
            users = [u for u in state.users.values() if u.status != "DELETED"]
            fresh = refresh_attributes(
                config, read, users, state.accounts_by_owner(), state.attributes, cel
            )
            state.users.update({user.id: user for user in fresh})
            # the rules' own lookups of other people read the values just computed too
            cel.population = state.population()
            cel.clear_cache()
        report = StageReport("push")
        missing: list[str] = []
        items = plan_push(state, config, apps, cel, report, only_rule=rule, without_account=missing)
        rules: dict[str, list[PushPlanItem]] = {}
        for item in items:
            rules.setdefault(item.rule, []).append(
                PushPlanItem(
                    item.account_key,
                    item.user_label,
                    {t: ValueChange(old, new) for t, (old, new) in item.changes.items()},
                    item.error,
                )
            )
        return PushPlan(rules, missing, dict(report.counts), report.problems, report.notes)

    def count_executions(self, rule: str) -> tuple[int, int]:
        """How many executions RULE has, and how many of them failed (the history lists only
        the latest)."""
        with self.ctx.db.session() as session:
            row = session.execute(
                select(
                    func.count(),
                    func.count().filter(col(PushExecution.success).is_(False)),
                ).where(col(PushExecution.push_rule) == rule)
            ).one()
        return int(row[0] or 0), int(row[1] or 0)

    def push_history(
        self, limit: int = 200, rule: str | None = None, run_id: int | None = None
    ) -> list[PushExecutionRow]:
        """The latest push executions: who, which attributes old → new, success or reason."""
        with self.ctx.db.session() as session:
            statement = select(PushExecution).order_by(col(PushExecution.id).desc()).limit(limit)
            if rule is not None:
                statement = statement.where(col(PushExecution.push_rule) == rule)
            if run_id is not None:
                statement = statement.where(col(PushExecution.run_id) == run_id)
            rows = session.scalars(statement).all()
            accounts = {
                a.id: f"{a.app_id}:{a.external_id}"
                for a in session.scalars(
                    select(Account).where(
                        col(Account.id).in_([r.account_id for r in rows if r.account_id])
                    )
                )
            }
            people = {
                p.id: p.email or p.display_name
                for p in session.scalars(
                    select(Person).where(col(Person.id).in_([r.user_id for r in rows if r.user_id]))
                )
            }
        return [
            PushExecutionRow(
                run_id=r.run_id,
                rule=r.push_rule,
                at=r.at,
                account=accounts.get(r.account_id or 0, ""),
                user=people.get(r.user_id or 0, ""),
                changes=r.changes,
                success=r.success,
                reason=r.reason,
            )
            for r in rows
        ]
