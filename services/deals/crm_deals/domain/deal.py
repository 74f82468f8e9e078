"""Deals: the entity, its derived values, its changes and the events they raise, exit
criteria and stage history entries.

Derived values are stored at write time (FerretDB has no `$cond`/`$dateTrunc`): the
effective probability, the weighted amount, the close month, `close_sort` and `stale_at`
(properties here, written by the store's codec), so a board total is a `$sum` and a stale
filter is a range query. `stale_at` depends on the stage's rotting threshold, so every
change that can move it is given the stage.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from crm_kit.entity import Entity

from .money import weighted_minor
from .pipeline import LOST, WON, Pipeline, Stage

OPEN = "open"
STATUSES = (OPEN, WON, LOST)
# Sort key for deals without an expected close date: after every real date.
NO_CLOSE_DATE = "9999-12-31"
# Kinds of activity the consumers record (the win model counts them).
INTERACTION = "interaction"
TASK = "task"


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
    # Exit criteria that did not hold and were passed anyway: an admin's explicit override,
    # or an import placing a deal where its history says it was (the audit of the bypass).
    overridden: list[str] = field(default_factory=list)


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


@dataclass(frozen=True)
class FieldChange:
    """The record history the win model reads: a tracked field (`TRACKED` names) changed
    at `at`, replacing `previous`."""

    at: datetime
    field: str
    previous: Any


@dataclass(frozen=True)
class Activity:
    """Activity a consumer saw on the deal: an interaction or a completed task."""

    at: datetime
    kind: str  # INTERACTION | TASK


# Attribute -> the record-history name the win model reads (win_features.TRACKED_FIELDS).
TRACKED = {
    "amount_minor": "amount",
    "currency": "currency",
    "product": "product",
    "source": "source",
    "company_id": "companyId",
    "custom_fields": "customFields",
}
# Attribute -> the name clients know it by (events' `changedFields`).
API_NAMES = {
    "amount_minor": "amount",
    "company_id": "companyId",
    "primary_contact_id": "primaryContactId",
    "contact_ids": "contactIds",
    "owner_id": "ownerId",
    "next_step": "nextStep",
    "next_step_date": "nextStepDate",
    "expected_close_date": "expectedCloseDate",
    "probability_override": "probabilityOverride",
    "probability_model": "modelProbability",
    "custom_fields": "customFields",
}


@dataclass
class Deal(Entity):
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
    # Record history for the win model's as-of features.
    field_changes: list[FieldChange] = field(default_factory=list)
    activity_log: list[Activity] = field(default_factory=list)
    external_id: str | None = None
    # The import job that created it (`crm_contracts.import_batches`: its undo removes it).
    import_job: str | None = None
    # The revision: every write of the deal is conditional on it and increments it.
    rev: int = 1
    created_at: datetime | None = None
    created_by: str | None = None
    updated_at: datetime | None = None
    updated_by: str | None = None
    deleted_at: datetime | None = None
    # When the deal goes stale (see `compute_stale_at`), None if it cannot.
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

    @property
    def close_sort(self) -> str:
        """The sort key of "by close date": deals without one last."""
        return self.close_date or NO_CLOSE_DATE

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None

    def compute_stale_at(self, stage: Stage | None) -> datetime | None:
        """When the deal goes stale: idle (no activity, no stage change) for longer than
        its stage's rotting threshold. Closed deals never do."""
        if self.status != OPEN or stage is None or stage.rotting_days is None:
            return None
        marks = [m for m in (self.stage_entered_at, self.last_activity_at) if m is not None]
        if not marks:
            return None
        return max(marks) + timedelta(days=stage.rotting_days)

    # --- behaviour -----------------------------------------------------------------------

    def opened(self, stage: Stage, change: StageChange) -> None:
        """A new deal entered its first stage (`change`, kind create): it raises its
        creation and, as any other entry, the stage change (which starts the playbook)."""
        self.stage_history.append(change)
        self.stale_at = self.compute_stale_at(stage)
        self.raise_event(DealCreated(self))
        self.raise_event(DealStageChanged(self, change, stage))

    def imported(self, stage: Stage | None) -> Deal:
        """A deal brought in by an import: its creation is announced, but not a stage
        change (history that already happened must not start playbooks)."""
        self.stale_at = self.compute_stale_at(stage)
        self.raise_event(DealCreated(self))
        return self

    def revise(
        self,
        changed: Mapping[str, Any],
        stage: Stage | None,
        *,
        at: datetime,
        by: str | None,
        handover_id: str | None = None,
        note: str | None = None,
    ) -> list[str]:
        """Apply validated values (attribute -> value); returns the changed fields (client
        names), empty when nothing changed. An owner change is kept in `owner_changes`
        (with the handover's id and note), tracked fields in the record history."""
        changes = {key: value for key, value in changed.items() if getattr(self, key) != value}
        if not changes:
            return []
        previous_owner = self.owner_id
        if "owner_id" in changes:
            self.owner_changes.append(
                OwnerChange(previous_owner, changes["owner_id"], at, by, handover_id, note)
            )
        self.field_changes.extend(
            FieldChange(at, name, getattr(self, key))
            for key, name in TRACKED.items()
            if key in changes
        )
        for key, value in changes.items():
            setattr(self, key, value)
        self.updated_at, self.updated_by = at, by
        self.stale_at = self.compute_stale_at(stage)
        names = sorted(API_NAMES.get(key, key) for key in changes)
        owner_before = previous_owner if "owner_id" in changes else None
        self.raise_event(DealUpdated(self, names, owner_before))
        return names

    def delete(self, at: datetime) -> None:
        self.deleted_at = at
        self.raise_event(DealDeleted(self))

    def enter_stage(
        self,
        pipeline: Pipeline,
        target: Stage,
        *,
        change_id: str,
        kind: str,
        at: datetime,
        by: str | None,
        lost_reason: str | None = None,
        overridden: list[str] | None = None,
    ) -> StageChange:
        """Move to `target` of the pipeline's current version (a move, a close, a reopen):
        the history entry, and its events (a close or a reopen raises its own too)."""
        change = StageChange(
            id=change_id,
            from_stage=self.stage_key,
            to_stage=target.key,
            at=at,
            by=by,
            seconds_in_from_stage=seconds_between(self.stage_entered_at, at),
            pipeline_id=pipeline.id,
            pipeline_version=pipeline.version,
            from_pipeline_version=self.pipeline_version,
            kind=kind,
            overridden=list(overridden or []),
        )
        self.stage_key = target.key
        self.pipeline_version = pipeline.version
        self.stage_probability = target.probability
        self.forecast_category = target.forecast_category
        self.stage_entered_at = at
        self.status = target.key if target.terminal else OPEN
        self.closed_at = at if target.terminal else None
        self.lost_reason = lost_reason
        self.updated_at, self.updated_by = at, by
        self.stage_history.append(change)
        self.stale_at = self.compute_stale_at(target)
        self.raise_event(DealStageChanged(self, change, target))
        if kind in (WON, LOST):
            self.raise_event(DealClosed(self, change))
        elif kind == "reopen":
            self.raise_event(DealReopened(self, change))
        return change

    def record_activity(
        self, at: datetime | None, kind: str, playbook_key: str | None, stage: Stage | None
    ) -> bool:
        """Activity seen by a consumer (an interaction, a completed task with its playbook
        key): returns whether anything changed, so a repeated event writes nothing."""
        changed = False
        if playbook_key and playbook_key not in self.completed_playbook_keys:
            self.completed_playbook_keys.append(playbook_key)
            changed = True
        if at is not None:
            entry = Activity(at, kind)
            if entry not in self.activity_log:
                self.activity_log.append(entry)
                changed = True
            if self.last_activity_at is None or at > self.last_activity_at:
                self.last_activity_at = at
                changed = True
            stale_at = self.compute_stale_at(stage)
            if stale_at is not None and (self.stale_at is None or stale_at > self.stale_at):
                self.stale_at = stale_at
                changed = True
        return changed

    def repoint_contact(self, merged_id: str, survivor_id: str) -> bool:
        """A merged contact's references go to the survivor."""
        if merged_id not in self.contact_ids and self.primary_contact_id != merged_id:
            return False
        if self.primary_contact_id == merged_id:
            self.primary_contact_id = survivor_id
        ids = [survivor_id if i == merged_id else i for i in self.contact_ids]
        self.contact_ids = list(dict.fromkeys(ids))
        self.raise_event(DealUpdated(self, ["contactIds", "primaryContactId"], None))
        return True

    def contact_deleted(self, contact_id: str) -> bool:
        if contact_id in self.deleted_contact_ids:
            return False
        self.deleted_contact_ids.append(contact_id)
        return True

    def company_was_deleted(self) -> bool:
        if self.company_deleted:
            return False
        self.company_deleted = True
        return True


# --- events ------------------------------------------------------------------------------
# They name the deal as it is when written (events are encoded in the same write).


@dataclass(frozen=True)
class DealCreated:
    deal: Deal


@dataclass(frozen=True)
class DealUpdated:
    deal: Deal
    changed: list[str]
    previous_owner_id: str | None = None


@dataclass(frozen=True)
class DealDeleted:
    deal: Deal


@dataclass(frozen=True)
class DealStageChanged:
    deal: Deal
    change: StageChange
    entered: Stage | None


@dataclass(frozen=True)
class DealClosed:
    deal: Deal
    change: StageChange


@dataclass(frozen=True)
class DealReopened:
    deal: Deal
    change: StageChange


# --- exit criteria -----------------------------------------------------------------------

FIELD_CHECKS: dict[str, tuple[str, Callable[[Deal], bool]]] = {
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
    # The titles only where a playbook criterion needs one: an import judges every row
    # against each stage it passed.
    titles = (
        {t.key: t.title for s in pipeline.stages_of(deal.pipeline_version) for t in s.playbook}
        if criteria.playbook_keys
        else {}
    )
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


def unmet_before(deal: Deal, pipeline: Pipeline, target: Stage) -> list[dict[str, str]]:
    """The unmet exit criteria of every open stage before `target`: what a deal that enters
    the pipeline at `target` (a create, a reopen, an import) has passed on its way."""
    unmet: list[dict[str, str]] = []
    for stage in pipeline.stages[: max(pipeline.index(target.key), 0)]:
        if not stage.terminal:
            unmet.extend(unmet_exit_criteria(deal, stage, pipeline))
    return unmet


def stages_skipped(pipeline: Pipeline, from_key: str, target: Stage) -> list[Stage]:
    """The open stages of the current version strictly between `from_key` and `target` (a
    stage the current version no longer has counts as before every stage)."""
    start = pipeline.index(from_key) + 1
    between = pipeline.stages[start : max(pipeline.index(target.key), 0)]
    return [stage for stage in between if not stage.terminal]


def unmet_passing(
    deal: Deal, pipeline: Pipeline, leaving: Stage | None, target: Stage
) -> list[dict[str, str]]:
    """The unmet exit criteria of a forward move to `target`: those of the stage left (as
    defined in the version the deal is on) and of every open stage skipped on the way (a
    deal that jumps over a stage has passed it too)."""
    unmet = unmet_exit_criteria(deal, leaving, pipeline) if leaving is not None else []
    for stage in stages_skipped(pipeline, deal.stage_key, target):
        unmet.extend(unmet_exit_criteria(deal, stage, pipeline))
    return unmet


def criteria_names(unmet: list[dict[str, str]]) -> list[str]:
    """The criteria of `unmet`, each once, in order (what an override records)."""
    return list(dict.fromkeys(item["criterion"] for item in unmet))


def seconds_between(start: datetime | None, end: datetime) -> int | None:
    if start is None:
        return None
    return max(0, int((end - start).total_seconds()))
