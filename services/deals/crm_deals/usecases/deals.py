"""Deal use cases: create, update, delete, and every stage change (move, won, lost, reopen).

A stage change is one single-document write: the new state, the appended history entry
and the outbox events together. The update filter carries the stage, pipeline version and
revision read before, so of two concurrent moves exactly one applies.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from crm_kit.errors import BadUserInput, Conflict, NotFound, PreconditionFailed
from crm_kit.ids import new_id

from ..domain.deal import (
    OPEN,
    Deal,
    OwnerChange,
    StageChange,
    seconds_between,
    unmet_exit_criteria,
)
from ..domain.pipeline import LOST, WON, Pipeline, Stage
from ..events import publish
from ..store.protocol import DEALS, DealStore
from . import deal_input as parse
from .context import Actor
from .pipelines import PipelineService

MAX_REASON = 500


class Estimator(Protocol):
    """The learned win model (usecases/win_model.py): an open deal's estimate in its
    current stage, or None while the pipeline has no trained model."""

    async def estimate(self, deal: Deal, now: datetime, pipeline: Pipeline) -> int | None: ...


class DealService:
    def __init__(self, store: DealStore, actor: Actor, estimator: Estimator | None = None) -> None:
        self.store = store
        self.actor = actor
        self.pipelines = PipelineService(store, actor)
        self.estimator = estimator

    # --- reads -----------------------------------------------------------------------------

    async def find(self, deal_id: str) -> Deal | None:
        doc = await self.store.get_deal(deal_id)
        return Deal.from_doc(doc) if doc else None

    async def get(self, deal_id: str, field: str = "id") -> Deal:
        deal = await self.find(deal_id)
        if deal is None:
            raise NotFound(f"no deal {deal_id!r}", field=field)
        return deal

    async def many(self, deal_ids: list[str]) -> list[Deal | None]:
        docs = {d["_id"]: d for d in await self.store.get_deals(list(dict.fromkeys(deal_ids)))}
        return [Deal.from_doc(docs[i]) if i in docs else None for i in deal_ids]

    # --- create / update / delete ------------------------------------------------------------

    def new_deal(
        self, values: dict[str, Any], pipeline: Pipeline, stage: Stage, deal_id: str | None = None
    ) -> Deal:
        """Build a valid open deal from API-shaped values (no write)."""
        amount_minor, currency = parse.money(values.get("amount"), values.get("currency") or "USD")
        primary = parse.optional_text(values.get("primaryContactId"), "input.primaryContactId")
        now = self.actor.clock()
        deal_id = deal_id or new_id()
        deal = Deal(
            id=deal_id,
            workspace_id=self.store.workspace_id,
            title=parse.title(values.get("title")),
            amount_minor=amount_minor,
            currency=currency,
            pipeline_id=pipeline.id,
            pipeline_version=pipeline.version,
            stage_key=stage.key,
            stage_probability=stage.probability,
            forecast_category=stage.forecast_category,
            owner_id=parse.optional_text(values.get("ownerId"), "input.ownerId")
            or self.actor.subject,
            company_id=parse.optional_text(values.get("companyId"), "input.companyId"),
            primary_contact_id=primary,
            contact_ids=parse.contact_ids(primary, values.get("contactIds")),
            probability_override=parse.probability(
                values.get("probabilityOverride"), "input.probabilityOverride"
            ),
            expected_close_date=parse.iso_date(
                values.get("expectedCloseDate"), "input.expectedCloseDate"
            ),
            next_step=parse.optional_text(values.get("nextStep"), "input.nextStep"),
            next_step_date=parse.iso_date(values.get("nextStepDate"), "input.nextStepDate"),
            source=parse.optional_text(values.get("source"), "input.source"),
            product=parse.optional_text(values.get("product"), "input.product"),
            custom_fields=parse.custom_fields(values.get("customFields")),
            stage_entered_at=now,
            external_id=f"crm:{deal_id}",
            created_at=now,
            created_by=self.actor.subject,
            updated_at=now,
            updated_by=self.actor.subject,
        )
        deal.stage_history.append(
            StageChange(
                id=new_id(),
                from_stage=None,
                to_stage=stage.key,
                at=now,
                by=self.actor.subject,
                seconds_in_from_stage=None,
                pipeline_id=pipeline.id,
                pipeline_version=pipeline.version,
                kind="create",
            )
        )
        return deal

    async def create(self, values: dict[str, Any]) -> Deal:
        self.actor.require_write()
        pipeline = await self.pipelines.get(values.get("pipelineId"), field="input.pipelineId")
        stage_key = values.get("stageKey")
        if stage_key:
            stage = pipeline.stage(stage_key)
            if stage is None or stage.terminal:
                raise BadUserInput(
                    f"{stage_key!r} is not an open stage of {pipeline.name!r}",
                    field="input.stageKey",
                )
        else:
            stage = pipeline.first_stage
        deal = self.new_deal(values, pipeline, stage)
        await self._estimate(deal, pipeline)
        change = deal.stage_history[0]
        # Entering the first stage starts its playbook like any other entry.
        events = [publish.deal_created(deal), publish.stage_changed(deal, change, stage)]
        await self.store.insert_deal(deal.to_doc(stage), events)
        self.actor.notify(DEALS, deal.id)
        return deal

    async def update(
        self,
        deal_id: str,
        values: dict[str, Any],
        *,
        expect: dict[str, Any] | None = None,
        handover_id: str | None = None,
        note: str | None = None,
    ) -> Deal:
        """Only the given fields change. `expect` (stored field -> value) must hold on the
        deal read, else PRECONDITION_FAILED; the write is conditional on the revision read,
        so it holds at the write too. An owner change appends to `owner_changes` (with the
        `handover_id` and `note` of a handover) in the same write."""
        self.actor.require_write()
        deal = await self.get(deal_id)
        unmet = [key for key, value in (expect or {}).items() if getattr(deal, key) != value]
        if unmet:
            raise PreconditionFailed(
                "the deal is no longer as expected",
                unmet=[{"criterion": key, "detail": "changed meanwhile"} for key in unmet],
            )
        changed: dict[str, Any] = {}
        if "title" in values:
            changed["title"] = parse.title(values["title"])
        if "amount" in values or "currency" in values:
            amount = values.get("amount")
            currency = values.get("currency") or deal.currency
            if amount is None:
                raise BadUserInput(
                    "amount is required with a currency change", field="input.amount"
                )
            changed["amount_minor"], changed["currency"] = parse.money(amount, currency)
        for key, stored in parse.TEXT_FIELDS.items():
            if key in values:
                changed[stored] = parse.optional_text(values[key], f"input.{key}")
        for key, stored in (
            ("expectedCloseDate", "expected_close_date"),
            ("nextStepDate", "next_step_date"),
        ):
            if key in values:
                changed[stored] = parse.iso_date(values[key], f"input.{key}")
        for key, stored in (
            ("probabilityOverride", "probability_override"),
            ("modelProbability", "probability_model"),
        ):
            if key in values:
                changed[stored] = parse.probability(values[key], f"input.{key}")
        if "contactIds" in values or "primaryContactId" in values:
            primary = changed.get("primary_contact_id", deal.primary_contact_id)
            others = values.get("contactIds", deal.contact_ids)
            changed["contact_ids"] = parse.contact_ids(primary, others)
        if "customFields" in values:
            changed["custom_fields"] = parse.custom_fields(values["customFields"])
        changed = {k: v for k, v in changed.items() if getattr(deal, k) != v}
        if not changed:
            return deal
        expected = {"rev": deal.rev}
        owner_change = None
        if "owner_id" in changed:
            owner_change = OwnerChange(
                from_owner_id=deal.owner_id,
                to_owner_id=changed["owner_id"],
                at=self.actor.clock(),
                by=self.actor.subject,
                handover_id=handover_id,
                note=note,
            )
            deal.owner_changes.append(owner_change)
        history = _field_changes(deal, changed, self.actor.clock())
        deal.field_changes.extend(history)
        for key, value in changed.items():
            setattr(deal, key, value)
        deal.rev += 1
        deal.updated_at = self.actor.clock()
        deal.updated_by = self.actor.subject
        pipeline = await self.pipelines.get(deal.pipeline_id)
        stage = pipeline.stage_at(deal.pipeline_version, deal.stage_key)
        fields = {
            **changed,
            "rev": deal.rev,
            "updated_at": deal.updated_at,
            "updated_by": deal.updated_by,
            **deal.derived(stage),
        }
        previous_owner = owner_change.from_owner_id if owner_change is not None else None
        event = publish.deal_updated(deal, sorted(_api_names(changed)), previous_owner)
        update: dict[str, Any] = {"$set": fields}
        if owner_change is not None:
            update["$push"] = {"owner_changes": owner_change.to_doc()}
        if history:
            update.setdefault("$push", {})["field_changes"] = {"$each": history}
        if not await self.store.update_deal(deal.id, expected, update, [event]):
            raise Conflict("the deal changed meanwhile; reload it and retry", field="id")
        self.actor.notify(DEALS, deal.id)
        return deal

    async def delete(self, deal_id: str) -> Deal:
        self.actor.require_write()
        deal = await self.get(deal_id)
        deal.deleted_at = self.actor.clock()
        update = {"$set": {"deleted_at": deal.deleted_at, "rev": deal.rev + 1}}
        if not await self.store.update_deal(
            deal.id, {"rev": deal.rev}, update, [publish.deal_deleted(deal)]
        ):
            raise Conflict("the deal changed meanwhile; reload it and retry", field="id")
        self.actor.notify(DEALS, deal.id)
        return deal

    # --- stage changes ---------------------------------------------------------------------

    async def move(self, deal_id: str, stage_key: str) -> Deal:
        self.actor.require_write()
        deal = await self.get(deal_id)
        if stage_key == WON:
            return await self.close_won(deal_id)
        if stage_key == LOST:
            raise BadUserInput(
                "closing as lost needs a reason: use closeDealLost", field="stageKey"
            )
        self._require_open(deal)
        pipeline = await self.pipelines.get(deal.pipeline_id)
        target = pipeline.stage(stage_key)
        if target is None:
            raise BadUserInput(
                f"{stage_key!r} is not a stage of {pipeline.name!r} v{pipeline.version}",
                field="stageKey",
            )
        if target.key == deal.stage_key and deal.pipeline_version == pipeline.version:
            return deal
        leaving = pipeline.stage_at(deal.pipeline_version, deal.stage_key)
        if leaving is not None and self._forward(pipeline, deal.stage_key, target.key):
            unmet = unmet_exit_criteria(deal, leaving, pipeline)
            if unmet:
                raise PreconditionFailed(
                    f"the exit criteria of {leaving.name!r} are not met", unmet=unmet
                )
        return await self._change_stage(deal, pipeline, target, kind="move")

    async def close_won(self, deal_id: str) -> Deal:
        self.actor.require_write()
        deal = await self.get(deal_id)
        self._require_open(deal)
        pipeline = await self.pipelines.get(deal.pipeline_id)
        return await self._change_stage(deal, pipeline, _require_stage(pipeline, WON), kind=WON)

    async def close_lost(self, deal_id: str, reason: str) -> Deal:
        self.actor.require_write()
        reason = (reason or "").strip()
        if not reason:
            raise BadUserInput("a reason is required to close a deal as lost", field="reason")
        if len(reason) > MAX_REASON:
            raise BadUserInput(f"reason is longer than {MAX_REASON} characters", field="reason")
        deal = await self.get(deal_id)
        self._require_open(deal)
        pipeline = await self.pipelines.get(deal.pipeline_id)
        return await self._change_stage(
            deal, pipeline, _require_stage(pipeline, LOST), kind=LOST, lost_reason=reason
        )

    async def reopen(self, deal_id: str, stage_key: str | None) -> Deal:
        self.actor.require_write()
        deal = await self.get(deal_id)
        if deal.status == OPEN:
            raise PreconditionFailed(
                "the deal is open; only a won or lost deal can be reopened",
                unmet=[{"criterion": "status", "detail": "deal must be won or lost"}],
            )
        pipeline = await self.pipelines.get(deal.pipeline_id)
        target = pipeline.stage(stage_key) if stage_key else pipeline.first_stage
        if target is None or target.terminal:
            raise BadUserInput(f"{stage_key!r} is not an open stage", field="stageKey")
        return await self._change_stage(deal, pipeline, target, kind="reopen")

    async def _estimate(self, deal: Deal, pipeline: Pipeline) -> None:
        """A deal entering a stage gets the trained model's estimate for it at once (a
        closed deal keeps the estimate it had: what was predicted before the outcome)."""
        if self.estimator is None:
            return
        estimate = await self.estimator.estimate(deal, self.actor.clock(), pipeline)
        if estimate is not None:
            deal.probability_model = estimate

    @staticmethod
    def _require_open(deal: Deal) -> None:
        if deal.status != OPEN:
            raise PreconditionFailed(
                f"the deal is {deal.status}; reopen it first",
                unmet=[{"criterion": "status", "detail": f"deal is {deal.status}, not open"}],
            )

    @staticmethod
    def _forward(pipeline: Pipeline, from_key: str, to_key: str) -> bool:
        """Exit criteria guard progress; moving a deal back never needs them. A stage that
        no longer exists in the current version counts as 'before' every stage."""
        return pipeline.index(to_key) > pipeline.index(from_key)

    async def _change_stage(
        self,
        deal: Deal,
        pipeline: Pipeline,
        target: Stage,
        *,
        kind: str,
        lost_reason: str | None = None,
    ) -> Deal:
        now = self.actor.clock()
        expected = {
            "stage_key": deal.stage_key,
            "pipeline_version": deal.pipeline_version,
            "rev": deal.rev,
        }
        change = StageChange(
            id=new_id(),
            from_stage=deal.stage_key,
            to_stage=target.key,
            at=now,
            by=self.actor.subject,
            seconds_in_from_stage=seconds_between(deal.stage_entered_at, now),
            pipeline_id=pipeline.id,
            pipeline_version=pipeline.version,
            from_pipeline_version=deal.pipeline_version,
            kind=kind,
        )
        deal.stage_key = target.key
        deal.pipeline_version = pipeline.version
        deal.stage_probability = target.probability
        deal.forecast_category = target.forecast_category
        deal.stage_entered_at = now
        deal.status = target.key if target.terminal else OPEN
        deal.closed_at = now if target.terminal else None
        deal.lost_reason = lost_reason
        deal.rev += 1
        deal.updated_at = now
        deal.updated_by = self.actor.subject
        deal.stage_history.append(change)
        if not target.terminal:
            await self._estimate(deal, pipeline)
        fields = {
            key: getattr(deal, key)
            for key in (
                "probability_model",
                "stage_key",
                "pipeline_version",
                "stage_probability",
                "forecast_category",
                "stage_entered_at",
                "status",
                "closed_at",
                "lost_reason",
                "rev",
                "updated_at",
                "updated_by",
            )
        }
        events = [publish.stage_changed(deal, change, target)]
        if kind in (WON, LOST):
            events.append(publish.deal_closed(deal, change))
        elif kind == "reopen":
            events.append(publish.deal_reopened(deal, change))
        update = {
            "$set": {**fields, **deal.derived(target)},
            "$push": {"stage_history": change.to_doc()},
        }
        if not await self.store.update_deal(deal.id, expected, update, events):
            raise Conflict(
                "the deal changed while this stage change was made; reload it and retry",
                field="id",
            )
        self.actor.notify(DEALS, deal.id)
        return deal


def _require_stage(pipeline: Pipeline, key: str) -> Stage:
    stage = pipeline.stage(key)
    assert stage is not None, f"pipeline {pipeline.id} lacks terminal stage {key}"
    return stage


_API_NAMES = {
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


# Stored field -> the record-history name the win model reads (win_features.TRACKED_FIELDS).
_TRACKED = {
    "amount_minor": "amount",
    "currency": "currency",
    "product": "product",
    "source": "source",
    "company_id": "companyId",
    "custom_fields": "customFields",
}


def _field_changes(deal: Deal, changed: dict[str, Any], at: datetime) -> list[dict[str, Any]]:
    """The record history entries of a change: the value each tracked field had before,
    so the win model can see the deal as it was at any earlier moment."""
    return [
        {"at": at, "field": name, "previous": getattr(deal, key)}
        for key, name in _TRACKED.items()
        if key in changed
    ]


def _api_names(changed: dict[str, Any]) -> list[str]:
    return [_API_NAMES.get(key, key) for key in changed]
