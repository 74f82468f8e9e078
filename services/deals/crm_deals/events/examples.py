"""One example payload per published event, built by the real publishers from a sample
deal. The README shows them and the contract test validates them (and the README's
copies) against `crm_contracts.deals`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from crm_contracts import deals as contract
from crm_contracts.base import Payload

from ..domain.deal import Deal, StageChange
from ..domain.default_pipeline import default_pipeline
from ..domain.win_features import DealHistory
from ..domain.win_training import train
from . import publish

MODELS: dict[str, type[Payload]] = {
    contract.DEAL_CREATED: contract.DealCreated,
    contract.DEAL_UPDATED: contract.DealUpdated,
    contract.DEAL_STAGE_CHANGED: contract.DealStageChanged,
    contract.DEAL_WON: contract.DealClosed,
    contract.DEAL_LOST: contract.DealClosed,
    contract.DEAL_REOPENED: contract.DealReopened,
    contract.DEAL_DELETED: contract.DealDeleted,
    contract.PIPELINE_CREATED: contract.PipelineCreated,
    contract.PIPELINE_UPDATED: contract.PipelineUpdated,
    contract.WIN_MODEL_TRAINED: contract.WinModelTrained,
    contract.DEALS_HANDED_OVER: contract.DealsHandedOver,
}

AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def _deal(**changes: Any) -> Deal:
    deal = Deal(
        id="66f1c0ffee0000000000d001",
        workspace_id="demo",
        title="GTX Pro for Isdom",
        amount_minor=482100,
        currency="USD",
        pipeline_id="demo:default",
        pipeline_version=1,
        stage_key="engaging",
        stage_probability=40,
        forecast_category="best_case",
        owner_id="darcel-schlecht",
        company_id="66f1c0ffee0000000000c001",
        primary_contact_id="66f1c0ffee0000000000a001",
        contact_ids=["66f1c0ffee0000000000a001"],
        expected_close_date="2026-04-30",
    )
    for key, value in changes.items():
        setattr(deal, key, value)
    return deal


def _change(src: str | None, dst: str, kind: str = "move") -> StageChange:
    return StageChange(
        id="66f1c0ffee00000000005c01",
        from_stage=src,
        to_stage=dst,
        at=AT,
        by="darcel-schlecht",
        seconds_in_from_stage=None if src is None else 518400,
        pipeline_id="demo:default",
        pipeline_version=1,
        from_pipeline_version=None if src is None else 1,
        kind=kind,
    )


def _model(pipeline: Any) -> Any:
    """A model trained on 40 closed deals that were in engaging for ten days (26 won)."""
    deals = []
    for i in range(40):
        opened = AT - timedelta(days=300 - 5 * i)
        outcome = "won" if i % 3 else "lost"
        closed = opened + timedelta(days=10)
        deals.append(
            DealHistory(
                id=f"66f1c0ffee0000000000d{i:03d}",
                status=outcome,
                stage_key=outcome,
                stage_probability=0,
                created_at=None,
                closed_at=closed,
                entries=(("engaging", opened), (outcome, closed)),
                owner_id="darcel-schlecht" if i % 2 else "moses-frase",
                owner_changes=(),
                values={"customFields": {}},
                field_changes=(),
                activity=(),
            )
        )
    return train(pipeline, deals, AT, trained_by="darcel-schlecht", with_backtest=False)


def examples() -> dict[str, dict[str, Any]]:
    pipeline = default_pipeline("demo", AT)
    won = _deal(stage_key="won", status="won", stage_probability=100, forecast_category="closed")
    lost = _deal(
        stage_key="lost",
        status="lost",
        stage_probability=0,
        forecast_category="closed",
        lost_reason="Chose a competitor",
    )
    events = [
        publish.deal_created(
            _deal(stage_key="prospecting", stage_probability=10, forecast_category="pipeline")
        ),
        publish.deal_updated(_deal(), ["amount", "expectedCloseDate"]),
        publish.stage_changed(
            _deal(), _change("qualification", "engaging"), pipeline.stage("engaging")
        ),
        publish.deal_closed(won, _change("negotiation", "won", "won")),
        publish.deal_closed(lost, _change("proposal", "lost", "lost")),
        publish.deal_reopened(_deal(), _change("lost", "engaging", "reopen")),
        publish.deal_deleted(_deal()),
        publish.pipeline_created(pipeline),
        publish.pipeline_updated(
            pipeline.new_version(name="Sales pipeline", stages=pipeline.stages, at=AT, by="admin"),
            1,
        ),
        publish.win_model_trained(_model(pipeline)),
        publish.deals_handed_over(
            handover_id="9f86d081884c7d659a2feaa0c55ad015",
            workspace="demo",
            from_owner_id="darcel-schlecht",
            to_owner_id="moses-frase",
            deal_ids=["66f1c0ffee0000000000d001", "66f1c0ffee0000000000d002"],
            pipeline_id=None,
            note="Darcel moves to the EMEA territory",
            by="cara-losch",
            at=AT,
        ),
    ]
    return {event.type: event.data for event in events}
