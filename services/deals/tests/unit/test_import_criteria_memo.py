"""An import judges each row's deal against the exit criteria of every open stage it
passed; `RowMapper` remembers the unmet criteria's names by what they follow from. Here:
the same names as judging each deal afresh, for deals meeting every combination of the
field checks, with and without a (deleted) primary contact and completed playbook tasks,
at every stage of the default pipeline and of one whose stages require every field."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, datetime

import pytest

from crm_deals.domain.deal import FIELD_CHECKS, Deal, criteria_names, unmet_before
from crm_deals.domain.default_pipeline import default_pipeline
from crm_deals.domain.pipeline import ExitCriteria, Pipeline
from crm_deals.usecases.deal_rows import Options, RowMapper

NOW = datetime(2024, 6, 1, tzinfo=UTC)
FIELDS = {  # a value meeting each field check
    "amount_minor": 1000,
    "expected_close_date": "2030-01-01",
    "company_id": "c1",
    "next_step": "call",
    "next_step_date": "2030-01-01",
    "source": "web",
    "owner_id": "ann",
    "product": "GTX",
}
EMPTY = {"amount_minor": 0, "expected_close_date": None, "company_id": None, "next_step": None,
         "next_step_date": None, "source": None, "owner_id": None, "product": None}  # fmt: skip


def _every_field_required(pipeline: Pipeline) -> Pipeline:
    stages = tuple(
        dataclasses.replace(
            stage,
            exit_criteria=ExitCriteria(
                required_fields=tuple(FIELD_CHECKS),
                playbook_keys=stage.exit_criteria.playbook_keys,
                primary_contact_required=True,
            ),
        )
        for stage in pipeline.stages
    )
    return dataclasses.replace(pipeline, stages=stages)


def _deals(pipeline: Pipeline) -> list[Deal]:
    base = Deal(
        id="d", workspace_id="ws", title="T", amount_minor=0, currency="USD",
        pipeline_id=pipeline.id, pipeline_version=pipeline.version, stage_key="prospecting",
        stage_probability=10, forecast_category="pipeline",
    )  # fmt: skip
    deals = []
    names = list(FIELDS)
    for met in itertools.product((False, True), repeat=len(names)):
        values = {n: FIELDS[n] if m else EMPTY[n] for n, m in zip(names, met, strict=True)}
        deals.append(dataclasses.replace(base, **values))
    contacts = [
        {"primary_contact_id": "p1", "contact_ids": ["p1"]},
        {"primary_contact_id": "p1", "contact_ids": ["p1"], "deleted_contact_ids": ["p1"]},
        {"completed_playbook_keys": ["discovery_call", "product_demo"]},
        {"company_id": "c1", "company_deleted": True},
    ]
    deals += [dataclasses.replace(deals[n], **c) for n in (0, 77, 255) for c in contacts]
    return deals


@pytest.mark.parametrize("every_field", [False, True])
def test_remembered_names_are_those_judged_afresh(every_field: bool) -> None:
    pipeline = default_pipeline("ws", NOW)
    if every_field:
        pipeline = _every_field_required(pipeline)
    mapper = RowMapper(Options({}, {}, {}, currency="USD"), pipeline, "ws", NOW)
    deals = _deals(pipeline)
    for _ in range(2):  # the second round from the memo
        for deal, stage in itertools.product(deals, pipeline.stages):
            expected = criteria_names(unmet_before(deal, pipeline, stage))
            names = mapper._unmet_names(deal, stage)
            assert names == expected, (stage.key, deal)
            names.append("changed")  # a copy: the memo keeps its own
    # The deals differ in what they miss (the memo is not one answer for all).
    assert len({tuple(mapper._unmet_names(d, pipeline.stages[-1])) for d in deals}) > 4
    assert [] in [mapper._unmet_names(d, pipeline.stages[1]) for d in deals]
