"""CloudEvents built from the `crm_contracts.deals` payload models. `encode` turns a
domain event into one; the store writes it into the outbox with the change that raised
it (the kit's writer calls `encode`) and the relay publishes it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from crm_contracts import deals as contract
from crm_contracts.envelope import CloudEvent, new_event, wire_event

from ..config import SOURCE
from ..domain import events
from ..domain.deal import Deal, StageChange
from ..domain.handover import Handover
from ..domain.money import format_amount
from ..domain.pipeline import Pipeline, Stage
from ..domain.win_model import WinModel


def snapshot(deal: Deal) -> contract.DealSnapshot:
    return contract.DealSnapshot(
        id=deal.id,
        title=deal.title,
        amount_minor=deal.amount_minor,
        currency=deal.currency,
        owner_id=deal.owner_id,
        company_id=deal.company_id,
        primary_contact_id=deal.primary_contact_id,
        contact_ids=list(deal.contact_ids),
        pipeline_id=deal.pipeline_id,
        pipeline_version=deal.pipeline_version,
        stage_key=deal.stage_key,
        status=deal.status,
        probability=deal.probability,
        forecast_category=deal.forecast_category,
        expected_close_date=deal.expected_close_date,
        amount_text=format_amount(deal.amount_minor, deal.currency),
    )


def snapshot_wire(deal: Deal) -> dict[str, Any]:
    """`snapshot(deal).wire()`, made directly (the same dict, tested): a `deal.created`
    per imported deal, where validating the model and dumping it again cost more than the
    rest of the event."""
    return {
        "id": deal.id,
        "title": deal.title,
        "amountMinor": deal.amount_minor,
        "currency": deal.currency,
        "ownerId": deal.owner_id,
        "companyId": deal.company_id,
        "primaryContactId": deal.primary_contact_id,
        "contactIds": list(deal.contact_ids),
        "pipelineId": deal.pipeline_id,
        "pipelineVersion": deal.pipeline_version,
        "stageKey": deal.stage_key,
        "status": deal.status,
        "probability": deal.probability,
        "forecastCategory": deal.forecast_category,
        "expectedCloseDate": deal.expected_close_date,
        "amountText": format_amount(deal.amount_minor, deal.currency),
    }


def playbook(stage: Stage | None) -> list[contract.TaskTemplate]:
    if stage is None:
        return []
    return [
        contract.TaskTemplate(
            key=t.key,
            title=t.title,
            type=t.type,
            due_offset_days=t.due_offset_days,
            assignee=contract.AssigneeRule(
                rule=t.assignee.rule, team_id=t.assignee.team_id, user_id=t.assignee.user_id
            ),
            description=t.description,
        )
        for t in stage.playbook
    ]


def _event(
    event_type: str, deal_or_id: Deal | str, workspace: str, data: dict[str, Any]
) -> CloudEvent:
    subject = deal_or_id.id if isinstance(deal_or_id, Deal) else deal_or_id
    return new_event(
        event_type=event_type, source=SOURCE, workspace=workspace, subject=subject, data=data
    )


def deal_created(deal: Deal) -> CloudEvent:
    # `contract.DealCreated(deal=snapshot(deal)).wire()`, built as its wire form.
    return wire_event(
        event_type=contract.DEAL_CREATED,
        source=SOURCE,
        workspace=deal.workspace_id,
        subject=deal.id,
        data={"deal": snapshot_wire(deal)},
    )


def deal_updated(
    deal: Deal, changed_fields: list[str], previous_owner_id: str | None = None
) -> CloudEvent:
    payload = contract.DealUpdated(
        deal=snapshot(deal), changed_fields=changed_fields, previous_owner_id=previous_owner_id
    )
    return _event(contract.DEAL_UPDATED, deal, deal.workspace_id, payload.wire())


def deal_deleted(deal: Deal) -> CloudEvent:
    payload = contract.DealDeleted(id=deal.id, owner_id=deal.owner_id)
    return _event(contract.DEAL_DELETED, deal, deal.workspace_id, payload.wire())


def sequence_of(deal: Deal, change: StageChange) -> int | None:
    """The change's place in the deal's stage history (1-based; the history only grows)."""
    for position in range(len(deal.stage_history), 0, -1):
        if deal.stage_history[position - 1].id == change.id:
            return position
    return None


def stage_changed(deal: Deal, change: StageChange, entered: Stage | None) -> CloudEvent:
    payload = contract.DealStageChanged(
        stage_change_id=change.id,
        deal_id=deal.id,
        pipeline_id=change.pipeline_id,
        pipeline_version=change.pipeline_version,
        from_stage=change.from_stage,
        to_stage=change.to_stage,
        changed_at=change.at,
        changed_by=change.by,
        owner_id=deal.owner_id,
        seconds_in_from_stage=change.seconds_in_from_stage,
        playbook=playbook(entered),
        deal=snapshot(deal),
        overridden_criteria=list(change.overridden),
        stage_sequence=sequence_of(deal, change),
    )
    return _event(contract.DEAL_STAGE_CHANGED, deal, deal.workspace_id, payload.wire())


def deal_closed(deal: Deal, change: StageChange) -> CloudEvent:
    payload = contract.DealClosed(
        deal=snapshot(deal),
        stage_change_id=change.id,
        closed_at=change.at,
        lost_reason=deal.lost_reason,
        stage_sequence=sequence_of(deal, change),
    )
    event_type = contract.DEAL_WON if deal.status == "won" else contract.DEAL_LOST
    return _event(event_type, deal, deal.workspace_id, payload.wire())


def deal_reopened(deal: Deal, change: StageChange) -> CloudEvent:
    payload = contract.DealReopened(
        deal=snapshot(deal),
        stage_change_id=change.id,
        stage_sequence=sequence_of(deal, change),
        reopened_at=change.at,
    )
    return _event(contract.DEAL_REOPENED, deal, deal.workspace_id, payload.wire())


def deals_handed_over(
    *,
    handover_id: str,
    workspace: str,
    from_owner_id: str,
    to_owner_id: str,
    deal_ids: list[str],
    pipeline_id: str | None,
    note: str | None,
    by: str,
    at: datetime,
) -> CloudEvent:
    payload = contract.DealsHandedOver(
        handover_id=handover_id,
        workspace_id=workspace,
        from_owner_id=from_owner_id,
        to_owner_id=to_owner_id,
        deal_ids=deal_ids,
        pipeline_id=pipeline_id,
        note=note,
        handed_over_by=by,
        handed_over_at=at,
    )
    # The event id derives from the handover id: a re-sent summary is a duplicate that
    # JetStream drops and consumers skip.
    return new_event(
        event_type=contract.DEALS_HANDED_OVER,
        source=SOURCE,
        workspace=workspace,
        subject=handover_id,
        data=payload.wire(),
        event_id=f"handover-{handover_id}",
    )


def pipeline_snapshot(pipeline: Pipeline) -> contract.PipelineSnapshot:
    return contract.PipelineSnapshot(
        id=pipeline.id,
        name=pipeline.name,
        version=pipeline.version,
        currency=pipeline.currency,
        is_default=pipeline.is_default,
        stages=[
            contract.StageSnapshot(
                key=s.key,
                name=s.name,
                probability=s.probability,
                forecast_category=s.forecast_category,
                rotting_days=s.rotting_days,
                playbook=playbook(s),
            )
            for s in pipeline.stages
        ],
    )


def pipeline_created(pipeline: Pipeline) -> CloudEvent:
    payload = contract.PipelineCreated(pipeline=pipeline_snapshot(pipeline))
    return new_event(
        event_type=contract.PIPELINE_CREATED,
        source=SOURCE,
        workspace=pipeline.workspace_id,
        subject=pipeline.id,
        data=payload.wire(),
    )


def pipeline_updated(pipeline: Pipeline, previous_version: int) -> CloudEvent:
    payload = contract.PipelineUpdated(
        pipeline=pipeline_snapshot(pipeline), previous_version=previous_version
    )
    return new_event(
        event_type=contract.PIPELINE_UPDATED,
        source=SOURCE,
        workspace=pipeline.workspace_id,
        subject=pipeline.id,
        data=payload.wire(),
    )


def win_model_trained(model: WinModel) -> CloudEvent:
    evaluation = model.evaluation
    payload = contract.WinModelTrained(
        pipeline_id=model.pipeline_id,
        pipeline_version=model.pipeline_version,
        trained_at=model.trained_at,
        trained_by=model.trained_by,
        training_deals=model.training.dated_closed_deals,
        stages=[
            contract.WinModelStageSummary(
                key=s.key,
                default_probability=s.default_probability,
                samples=s.rows,
                wins=round((s.won_share or 0) * s.rows),
                win_rate=s.won_share if s.won_share is not None else s.default_probability / 100,
            )
            for s in model.stages
        ],
        test_deals=evaluation.model.rows if evaluation else 0,
        brier_score=evaluation.model.brier if evaluation else None,
        baseline_brier_score=evaluation.stage_defaults.brier if evaluation else None,
        version=model.version,
        status=model.status,
        reasons=[r.code for r in model.reasons],
        horizon_days=model.horizon_days,
        constant_brier_score=evaluation.constant.brier if evaluation else None,
        auc=evaluation.model.auc if evaluation else None,
        expected_calibration_error=evaluation.model.ece if evaluation else None,
    )
    return new_event(
        event_type=contract.WIN_MODEL_TRAINED,
        source=SOURCE,
        workspace=model.workspace_id,
        subject=model.pipeline_id,
        data=payload.wire(),
    )


def handed_over(handover: Handover) -> CloudEvent:
    return deals_handed_over(
        handover_id=handover.id,
        workspace=handover.workspace_id,
        from_owner_id=handover.from_owner_id,
        to_owner_id=handover.to_owner_id,
        deal_ids=list(handover.deal_ids),
        pipeline_id=handover.pipeline_id,
        note=handover.note,
        by=handover.by,
        at=handover.at,
    )


def encode(event: object) -> CloudEvent:
    """The writer's `encode`: a domain event of this service as its CloudEvent."""
    match event:
        case events.DealCreated(deal):
            return deal_created(deal)
        case events.DealUpdated(deal, changed, previous_owner):
            return deal_updated(deal, changed, previous_owner)
        case events.DealDeleted(deal):
            return deal_deleted(deal)
        case events.DealStageChanged(deal, change, entered):
            return stage_changed(deal, change, entered)
        case events.DealClosed(deal, change):
            return deal_closed(deal, change)
        case events.DealReopened(deal, change):
            return deal_reopened(deal, change)
        case events.DealsHandedOver(handover):
            return handed_over(handover)
        case events.PipelineCreated(pipeline):
            return pipeline_created(pipeline)
        case events.PipelineUpdated(pipeline, previous_version):
            return pipeline_updated(pipeline, previous_version)
        case events.WinModelTrained(model):
            return win_model_trained(model)
    raise TypeError(f"not a deals domain event: {type(event).__name__}")
