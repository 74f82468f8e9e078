"""Exit criteria: every unmet one is listed; derived fields stored at write time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from crm_deals.domain.deal import Deal, unmet_exit_criteria
from crm_deals.domain.default_pipeline import default_pipeline
from crm_deals.store.documents import deal_to_doc

NOW = datetime(2026, 1, 1, tzinfo=UTC)
PIPELINE = default_pipeline("w1", NOW)


def _deal(**kwargs: object) -> Deal:
    stage = PIPELINE.stage(str(kwargs.pop("stage_key", "qualification")))
    values = {
        "id": "d1",
        "workspace_id": "w1",
        "title": "T",
        "amount_minor": 1000,
        "currency": "USD",
        "pipeline_id": PIPELINE.id,
        "pipeline_version": 1,
        "stage_key": stage.key,
        "stage_probability": stage.probability,
        "forecast_category": stage.forecast_category,
        "stage_entered_at": NOW,
        **kwargs,
    }
    return Deal(**values)  # type: ignore[arg-type]


def test_every_unmet_criterion_is_listed() -> None:
    deal = _deal()
    unmet = unmet_exit_criteria(deal, PIPELINE.stage("qualification"), PIPELINE)
    assert [u["criterion"] for u in unmet] == [
        "field:expectedCloseDate",
        "playbook:discovery_call",
        "primaryContact",
    ]
    assert all(u["detail"] for u in unmet)


def test_met_criteria_leave_nothing() -> None:
    deal = _deal(
        expected_close_date="2026-03-01",
        completed_playbook_keys=["discovery_call"],
        primary_contact_id="c1",
        contact_ids=["c1"],
    )
    assert unmet_exit_criteria(deal, PIPELINE.stage("qualification"), PIPELINE) == []


def test_a_deleted_company_or_contact_does_not_count() -> None:
    deal = _deal(stage_key="prospecting", company_id="co1", company_deleted=True)
    assert [
        u["criterion"] for u in unmet_exit_criteria(deal, PIPELINE.stage("prospecting"), PIPELINE)
    ] == ["field:company"]
    deal = _deal(primary_contact_id="c1", deleted_contact_ids=["c1"])
    criteria = [
        u["criterion"] for u in unmet_exit_criteria(deal, PIPELINE.stage("qualification"), PIPELINE)
    ]
    assert "primaryContact" in criteria


def test_derived_fields() -> None:
    deal = _deal(expected_close_date="2026-03-15", amount_minor=125050)
    stage = PIPELINE.stage("qualification")
    assert deal.probability == 25
    assert deal.weighted_minor == 31262  # 31262.5 -> even
    assert deal.close_month == "2026-03" and deal.close_sort == "2026-03-15"
    assert deal.compute_stale_at(stage) == NOW + timedelta(days=21)
    deal.probability_override = 90
    assert deal.probability == 90
    deal.last_activity_at = NOW + timedelta(days=5)
    assert deal.compute_stale_at(stage) == NOW + timedelta(days=26)
    deal.status = "won"
    deal.closed_at = NOW
    assert deal.probability == 100
    assert deal.compute_stale_at(stage) is None
    assert deal.close_month == "2026-01"
    # The codec stores them, so queries filter and sort on them.
    doc = deal_to_doc(deal)
    assert (doc["probability"], doc["close_month"]) == (100, "2026-01")
