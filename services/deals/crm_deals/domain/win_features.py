"""What a deal looked like at a given moment, for the win model (pure: no I/O).

Every feature is rebuilt **as of** a time `t` from what was recorded before `t`: the stage
history (stage, time in it, moves, backward moves), the owner changes, the record history
of the model's fields (`field_changes`: the value each change replaced) and the activity
log (interactions and completed tasks with their times). Never from the outcome: a deal
closed after `t` looks exactly as it did while open at `t`, so training rows, backtests
and live predictions see the same thing.

Company attributes (industry, size) come from `CompanyFacts`, the deals service's copy of
the contacts service's companies (kept from their events, see `usecases/company_facts.py`);
they are the company's current attributes, not as of `t` (companies rarely change
industry or size; documented in the README).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .deal import INTERACTION, TASK, Deal
from .money import CURRENCY_EXPONENTS
from .pipeline import LOST, TERMINAL, WON

DAY = 86400.0
# Interactions and completed tasks are counted over this many days before `t`.
ACTIVITY_WINDOW_DAYS = 30
# Record history kept for these deal fields (GraphQL names of `field_changes.field`).
TRACKED_FIELDS = ("amount", "currency", "product", "source", "companyId", "customFields")

Value = str | float | None  # categorical (str), numeric (float) or missing (None)


@dataclass(frozen=True)
class CompanyFact:
    industry: str | None = None
    size: int | None = None  # employees


CompanyFacts = Mapping[str, CompanyFact]


@dataclass(frozen=True)
class DealHistory:
    """What the model reads of one deal (a projection of the stored document)."""

    id: str
    status: str  # open | won | lost
    stage_key: str
    stage_probability: int
    created_at: datetime | None
    closed_at: datetime | None
    entries: tuple[tuple[str, datetime], ...]  # (stage entered, at), oldest first
    owner_id: str | None
    owner_changes: tuple[tuple[datetime, str | None], ...]  # (at, previous owner)
    values: dict[str, Any]  # current values of TRACKED_FIELDS
    field_changes: tuple[tuple[datetime, str, Any], ...]  # (at, field, previous value)
    activity: tuple[tuple[datetime, str], ...]  # (at, interaction | task), any order
    probability_model: int | None = None

    @property
    def closed(self) -> bool:
        return self.status in (WON, LOST)

    @property
    def open_from(self) -> datetime | None:
        """When the deal was first seen open: its first entry into an open stage. None when
        the history records no open stage before the outcome (e.g. imported without dates):
        such a deal was never observed open, so it teaches nothing about open deals."""
        for stage, at in self.entries:
            if stage not in TERMINAL:
                if self.closed_at is not None and at >= self.closed_at:
                    return None
                return at
        return None

    def open_at(self, t: datetime) -> bool:
        start = self.open_from
        if start is None or t < start:
            return False
        return self.closed_at is None or t < self.closed_at

    @classmethod
    def of(cls, deal: Deal) -> DealHistory:
        """What the model reads of a deal as it is stored now."""
        history = sorted(((c.to_stage or "", c.at) for c in deal.stage_history), key=lambda e: e[1])
        return cls(
            id=deal.id,
            status=deal.status or "open",
            stage_key=deal.stage_key or "",
            stage_probability=int(deal.stage_probability or 0),
            created_at=deal.created_at,
            closed_at=deal.closed_at,
            entries=tuple(history),
            owner_id=deal.owner_id,
            owner_changes=tuple(sorted((c.at, c.from_owner_id) for c in deal.owner_changes)),
            values={
                "amount": deal.amount_minor,
                "currency": deal.currency,
                "product": deal.product,
                "source": deal.source,
                "companyId": deal.company_id,
                "customFields": dict(deal.custom_fields),
            },
            field_changes=tuple(
                sorted(
                    ((c.at, c.field, c.previous) for c in deal.field_changes), key=lambda c: c[0]
                )
            ),
            activity=tuple((a.at, a.kind or INTERACTION) for a in deal.activity_log),
            probability_model=deal.probability_model,
        )


@dataclass(frozen=True)
class StageState:
    stage: str
    entered_at: datetime
    moves: int  # stage changes between open stages so far
    backward_moves: int


def stage_state(deal: DealHistory, t: datetime, order: Mapping[str, int]) -> StageState | None:
    """The deal's open stage at `t` and its moves up to `t` (None if not open then)."""
    current: tuple[str, datetime] | None = None
    moves = backward = 0
    previous: str | None = None
    for stage, at in deal.entries:
        if at > t:
            break
        if stage in TERMINAL:
            current = None
            previous = None
            continue
        if previous is not None and stage != previous:
            moves += 1
            if order.get(stage, -1) < order.get(previous, -1):
                backward += 1
        previous = stage
        current = (stage, at)
    if current is None:
        return None
    return StageState(current[0], current[1], moves, backward)


def value_at(deal: DealHistory, name: str, t: datetime) -> Any:
    """A tracked field's value at `t`: the value the first change after `t` replaced, or
    the current value when nothing changed since."""
    for at, changed, previous in deal.field_changes:
        if at > t and changed == name:
            return previous
    return deal.values.get(name)


def owner_at(deal: DealHistory, t: datetime) -> str | None:
    for at, previous in deal.owner_changes:
        if at > t:
            return previous
    return deal.owner_id


def activity_counts(deal: DealHistory, t: datetime, days: int) -> tuple[int, int]:
    """(interactions, completed tasks) in the `days` days up to `t`."""
    start = t.timestamp() - days * DAY
    end = t.timestamp()
    interactions = tasks = 0
    for at, kind in deal.activity:
        stamp = at.timestamp()
        if start < stamp <= end:
            if kind == TASK:
                tasks += 1
            else:
                interactions += 1
    return interactions, tasks


def _log_days(seconds: float) -> float:
    return math.log1p(max(0.0, seconds) / DAY)


def _amount(minor: Any, currency: Any) -> float | None:
    if not isinstance(minor, int) or isinstance(minor, bool):
        return None
    digits = CURRENCY_EXPONENTS.get(currency or "", 2)
    return math.log1p(max(0, minor) / 10**digits)


def custom_features(custom: Mapping[str, Any]) -> dict[str, Value]:
    """Typed custom fields: booleans as 0/1, numbers as numbers, strings as categories.
    Lists (multi-valued fields) are left out: one category per combination would be
    noise."""
    out: dict[str, Value] = {}
    for key, value in sorted(custom.items()):
        name = f"custom.{key}"
        if isinstance(value, bool | int | float):
            out[name] = float(value)
        elif isinstance(value, str):
            out[name] = value.strip()[:80] or None
    return out


@dataclass(frozen=True)
class FeatureContext:
    """What features need beyond the deal: stage order, company facts, activity window."""

    order: Mapping[str, int]
    companies: CompanyFacts = field(default_factory=dict)
    activity_days: int = ACTIVITY_WINDOW_DAYS


def features_at(deal: DealHistory, t: datetime, ctx: FeatureContext) -> dict[str, Value] | None:
    """The deal's features as of `t`; None if it was not open at `t`."""
    state = stage_state(deal, t, ctx.order)
    start = deal.open_from
    if state is None or start is None:
        return None
    company_id = value_at(deal, "companyId", t)
    company = ctx.companies.get(company_id) if company_id else None
    interactions, tasks = activity_counts(deal, t, ctx.activity_days)
    size = company.size if company else None
    features: dict[str, Value] = {
        "stage": state.stage,
        "daysInStage": _log_days((t - state.entered_at).total_seconds()),
        "ageDays": _log_days((t - start).total_seconds()),
        "stageMoves": float(state.moves),
        "backwardMoves": float(state.backward_moves),
        "amount": _amount(value_at(deal, "amount", t), value_at(deal, "currency", t)),
        "currency": value_at(deal, "currency", t),
        "product": value_at(deal, "product", t),
        "source": value_at(deal, "source", t),
        "owner": owner_at(deal, t),
        "industry": (company.industry or None) if company else None,
        "companySize": math.log10(1 + size) if size is not None and size >= 0 else None,
        "interactions": math.log1p(interactions),
        "tasksCompleted": math.log1p(tasks),
    }
    features.update(custom_features(value_at(deal, "customFields", t) or {}))
    return features


# How each feature is shown to people (explanations, importances).
FEATURE_LABELS: dict[str, str] = {
    "stage": "stage",
    "daysInStage": "days in the current stage",
    "ageDays": "days since the deal opened",
    "stageMoves": "stage changes",
    "backwardMoves": "moves back to an earlier stage",
    "amount": "amount",
    "currency": "currency",
    "product": "product",
    "source": "source",
    "owner": "owner",
    "industry": "company industry",
    "companySize": "company size (employees)",
    "interactions": f"interactions in the last {ACTIVITY_WINDOW_DAYS} days",
    "tasksCompleted": f"tasks completed in the last {ACTIVITY_WINDOW_DAYS} days",
}


def display_value(name: str, value: Value) -> str | None:
    """The raw value behind an encoded feature, as a person reads it."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if name in ("daysInStage", "ageDays"):
        return f"{math.expm1(value):.0f}"
    if name in ("interactions", "tasksCompleted"):
        return f"{math.expm1(value):.0f}"
    if name == "amount":
        return f"{math.expm1(value):.2f}"
    if name == "companySize":
        return f"{10**value - 1:.0f}"
    if value == int(value):
        return f"{int(value)}"
    return f"{value:.4g}"


def label(deal: DealHistory, t: datetime, known_at: datetime, horizon_days: float) -> int | None:
    """Whether a deal open at `t` was won within `horizon_days` after `t`, as known at
    `known_at` (the censoring rule): won by `t + horizon` -> 1; lost, or still open at
    `t + horizon`, or won later -> 0 (a lead nobody closes is not a pending win); None
    while `t + horizon` is after `known_at` (censored: not known yet, left out)."""
    end = t.timestamp() + horizon_days * DAY
    if end > known_at.timestamp():
        return None
    if deal.status == WON and deal.closed_at is not None and deal.closed_at.timestamp() <= end:
        return 1
    return 0


def stage_order(keys: Sequence[str]) -> dict[str, int]:
    return {key: i for i, key in enumerate(keys)}
