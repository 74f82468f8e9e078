"""Pipelines: validation, the documented default, versioning."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crm_deals.domain.default_pipeline import default_open_stages, default_pipeline
from crm_deals.domain.pipeline import (
    ExitCriteria,
    Stage,
    TaskTemplate,
    build_stages,
)
from crm_deals.store.documents import pipeline_from_doc, pipeline_to_doc
from crm_kit.errors import BadUserInput

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_default_pipeline_has_the_dataset_stages_and_terminals() -> None:
    pipeline = default_pipeline("w1", NOW)
    keys = [s.key for s in pipeline.stages]
    assert keys == [
        "prospecting",
        "qualification",
        "engaging",
        "proposal",
        "negotiation",
        "won",
        "lost",
    ]
    assert pipeline.id == "w1:default" and pipeline.version == 1
    assert [s.probability for s in pipeline.stages] == [10, 25, 40, 60, 80, 100, 0]
    assert pipeline.stage("negotiation").forecast_category == "commit"
    assert any(not s.exit_criteria.empty for s in pipeline.open_stages)
    assert [s.key for s in pipeline.open_stages if s.playbook] == [
        "qualification",
        "engaging",
        "proposal",
        "negotiation",
    ]


def test_documents_round_trip() -> None:
    pipeline = default_pipeline("w1", NOW)
    assert pipeline_from_doc(pipeline_to_doc(pipeline)) == pipeline


def _stage(**kwargs: object) -> Stage:
    base = {"key": "a", "name": "A", "probability": 10, "forecast_category": "pipeline"}
    return Stage(**{**base, **kwargs})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("stages", "field"),
    [
        ([], "input.stages"),
        ([_stage(key="Bad Key")], "input.stages.0.key"),
        ([_stage(key="won")], "input.stages.0.key"),
        ([_stage(), _stage()], "input.stages.1.key"),
        ([_stage(probability=101)], "input.stages.0.probability"),
        ([_stage(forecast_category="closed")], "input.stages.0.forecastCategory"),
        ([_stage(rotting_days=0)], "input.stages.0.rottingDays"),
        (
            [_stage(exit_criteria=ExitCriteria(required_fields=("nope",)))],
            "input.stages.0.exitCriteria.requiredFields",
        ),
        (
            [_stage(exit_criteria=ExitCriteria(playbook_keys=("later",)))],
            "input.stages.0.exitCriteria.playbookKeys",
        ),
        (
            [_stage(playbook=(TaskTemplate("t", "T", type="fax"),))],
            "input.stages.0.playbook.0.type",
        ),
    ],
)
def test_invalid_stages_name_the_field(stages: list[Stage], field: str) -> None:
    with pytest.raises(BadUserInput) as caught:
        build_stages(stages)
    assert caught.value.field == field


def test_new_version_keeps_the_old_one() -> None:
    v1 = default_pipeline("w1", NOW)
    stages = build_stages(default_open_stages()[:2])
    v2 = v1.new_version(name="Short", stages=stages, at=NOW, by="boss")
    assert v2.version == 2 and v2.name == "Short"
    assert v2.previous[0].version == 1
    assert v2.stage("engaging") is None
    # A deal still on v1 keeps v1's rules for the stage it is in.
    assert v2.stage_at(1, "engaging").probability == 40
