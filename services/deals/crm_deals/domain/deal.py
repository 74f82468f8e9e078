"""Deals: their stored shape, derived fields, exit criteria and stage history entries.

Derived values are stored at write time (FerretDB has no `$cond`/`$dateTrunc`): the
effective probability, the weighted amount, the close month and `stale_at`, so a board
total is a `$sum` and a stale filter is a range query.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .money import weighted_minor
from .pipeline import LOST, WON, Pipeline, Stage

OPEN = "open"
STATUSES = (OPEN, WON, LOST)
# Sort key for deals without an expected close date: after every real date.
NO_CLOSE_DATE = "9999-12-31"


@dataclass
class StageChange:
    id: str
    from_stage: str | None
    to_stage: str
    at: datetime
    by: str | None
    seconds_in_from_stage: int | None
    pipeline_id: str
    pipeline_version: int
    from_pipeline_version: int | None = None
    kind: str = "move"  # create | move | won | lost | reopen | import

    def to_doc(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> StageChange:
        return cls(**{k: doc.get(k) for k in cls.__dataclass_fields__})


@dataclass
class OwnerChange:
    """One change of owner, appended whenever `owner_id` changes (`updateDeal` or a
    handover). Kept apart from the stage history: that one is the funnel's clock (time in
    stage, conversion), which an owner change must not disturb."""

    from_owner_id: str | None
    to_owner_id: str | None
    at: datetime
    by: str | None
    handover_id: str | None = None  # set when `handOverDeals` made the change
    note: str | None = None

    def to_doc(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> OwnerChange:
        return cls(**{k: doc.get(k) for k in cls.__dataclass_fields__})


@dataclass
class Deal:
    id: str
    workspace_id: str
    title: str
    amount_minor: int
    currency: str
    pipeline_id: str
    pipeline_version: int
    stage_key: str
    stage_probability: int
    forecast_category: str
    status: str = OPEN
    owner_id: str | None = None
    company_id: str | None = None
    company_deleted: bool = False
    primary_contact_id: str | None = None
    contact_ids: list[str] = field(default_factory=list)  # includes the primary contact
    deleted_contact_ids: list[str] = field(default_factory=list)
    probability_override: int | None = None
    probability_model: int | None = None
    expected_close_date: str | None = None  # YYYY-MM-DD
    next_step: str | None = None
    next_step_date: str | None = None
    source: str | None = None
    product: str | None = None
    lost_reason: str | None = None
    closed_at: datetime | None = None
    custom_fields: dict[str, Any] = field(default_factory=dict)
    stage_entered_at: datetime | None = None
    last_activity_at: datetime | None = None
    completed_playbook_keys: list[str] = field(default_factory=list)
    stage_history: list[StageChange] = field(default_factory=list)
    owner_changes: list[OwnerChange] = field(default_factory=list)
    # Record history for the win model's as-of features: each change of a tracked field
    # (`win_features.TRACKED_FIELDS`) as {at, field, previous}; and the activity the
    # consumers saw, as {at, kind: interaction | task} (`usecases/activity.py`).
    field_changes: list[dict[str, Any]] = field(default_factory=list)
    activity_log: list[dict[str, Any]] = field(default_factory=list)
    external_id: str | None = None
    rev: int = 1
    created_at: datetime | None = None
    created_by: str | None = None
    updated_at: datetime | None = None
    updated_by: str | None = None
    deleted_at: datetime | None = None
    # Stored derived value (see `derived`): when the deal goes stale, None if it cannot.
    stale_at: datetime | None = None

    # --- derived -------------------------------------------------------------------------

    @property
    def probability(self) -> int:
        """Effective probability: the outcome once closed, else manual override, else the
        model's estimate, else the stage default."""
        if self.status == WON:
            return 100
        if self.status == LOST:
            return 0
        for candidate in (self.probability_override, self.probability_model):
            if candidate is not None:
                return candidate
        return self.stage_probability

    @property
    def weighted_minor(self) -> int:
        return weighted_minor(self.amount_minor, self.probability)

    @property
    def close_date(self) -> str | None:
        """The actual close date once closed, else the expected one (YYYY-MM-DD)."""
        if self.closed_at is not None:
            return self.closed_at.strftime("%Y-%m-%d")
        return self.expected_close_date

    @property
    def close_month(self) -> str | None:
        return self.close_date[:7] if self.close_date else None

    def compute_stale_at(self, stage: Stage | None) -> datetime | None:
        """When the deal goes stale: idle (no activity, no stage change) for longer than
        its stage's rotting threshold. Closed deals never do."""
        if self.status != OPEN or stage is None or stage.rotting_days is None:
            return None
        marks = [m for m in (self.stage_entered_at, self.last_activity_at) if m is not None]
        if not marks:
            return None
        return max(marks) + timedelta(days=stage.rotting_days)

    def derived(self, stage: Stage | None) -> dict[str, Any]:
        """The stored derived fields, recomputed (and `stale_at` refreshed on self)."""
        self.stale_at = self.compute_stale_at(stage)
        return {
            "probability": self.probability,
            "weighted_minor": self.weighted_minor,
            "close_date": self.close_date,
            "close_month": self.close_month,
            "close_sort": self.close_date or NO_CLOSE_DATE,
            "stale_at": self.stale_at,
        }

    # --- documents -----------------------------------------------------------------------

    def to_doc(self, stage: Stage | None) -> dict[str, Any]:
        derived = self.derived(stage)
        doc = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "id"}
        doc["_id"] = self.id
        doc["stage_history"] = [c.to_doc() for c in self.stage_history]
        doc["owner_changes"] = [c.to_doc() for c in self.owner_changes]
        doc.update(derived)
        return doc

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Deal:
        values = {k: doc[k] for k in cls.__dataclass_fields__ if k in doc and k != "id"}
        values["stage_history"] = [StageChange.from_doc(c) for c in doc.get("stage_history") or []]
        values["owner_changes"] = [OwnerChange.from_doc(c) for c in doc.get("owner_changes") or []]
        return cls(id=doc["_id"], **values)


# --- exit criteria -----------------------------------------------------------------------

FIELD_CHECKS: dict[str, tuple[str, Any]] = {
    "amount": ("an amount above zero", lambda d: d.amount_minor > 0),
    "expectedCloseDate": ("an expected close date", lambda d: bool(d.expected_close_date)),
    "company": ("a company", lambda d: bool(d.company_id) and not d.company_deleted),
    "nextStep": ("a next step", lambda d: bool(d.next_step)),
    "nextStepDate": ("a next step date", lambda d: bool(d.next_step_date)),
    "source": ("a source", lambda d: bool(d.source)),
    "owner": ("an owner", lambda d: bool(d.owner_id)),
    "product": ("a product", lambda d: bool(d.product)),
}


def unmet_exit_criteria(deal: Deal, stage: Stage, pipeline: Pipeline) -> list[dict[str, str]]:
    """Every exit criterion of `stage` the deal does not meet, in a stable order."""
    unmet: list[dict[str, str]] = []
    criteria = stage.exit_criteria
    for name in criteria.required_fields:
        label, check = FIELD_CHECKS[name]
        if not check(deal):
            unmet.append(
                {
                    "criterion": f"field:{name}",
                    "detail": f"leaving {stage.name!r} requires {label}",
                }
            )
    titles = {t.key: t.title for s in pipeline.stages_of(deal.pipeline_version) for t in s.playbook}
    for key in criteria.playbook_keys:
        if key not in deal.completed_playbook_keys:
            unmet.append(
                {
                    "criterion": f"playbook:{key}",
                    "detail": f"playbook task {titles.get(key, key)!r} is not completed",
                }
            )
    if criteria.primary_contact_required and (
        not deal.primary_contact_id or deal.primary_contact_id in deal.deleted_contact_ids
    ):
        unmet.append(
            {
                "criterion": "primaryContact",
                "detail": f"leaving {stage.name!r} requires a primary contact",
            }
        )
    return unmet


def seconds_between(start: datetime | None, end: datetime) -> int | None:
    if start is None:
        return None
    return max(0, int((end - start).total_seconds()))
