"""GraphQL shape of the learned win model (`winModel`, `trainWinModel`)."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from ..domain import win_model as m


@strawberry.type(
    description="Closed deals still in the stage after `minDays` days (up to `maxDays`, the "
    "next bucket's start) and their win rate, smoothed toward the stage rate."
)
class WinModelAgeBucket:
    min_days: int
    max_days: int | None
    samples: int
    wins: int
    win_rate: float
    estimate: int = strawberry.field(description="win_rate as the percentage deals get.")

    @classmethod
    def of(cls, b: m.AgeBucket) -> WinModelAgeBucket:
        return cls(
            min_days=b.min_days,
            max_days=b.max_days,
            samples=b.samples,
            wins=b.wins,
            win_rate=b.win_rate,
            estimate=m.percent(b.win_rate),
        )


@strawberry.type(description="One open stage: closed deals that were in it, and how many won.")
class WinModelStage:
    key: str
    name: str
    default_probability: int
    samples: int
    wins: int
    win_rate: float = strawberry.field(
        description="(wins + k x default) / (samples + k), k = priorWeight."
    )
    estimate: int = strawberry.field(description="win_rate as a percentage (age 0).")
    age_buckets: list[WinModelAgeBucket]

    @classmethod
    def of(cls, s: m.StageModel) -> WinModelStage:
        return cls(
            key=s.key,
            name=s.name,
            default_probability=s.default_probability,
            samples=s.samples,
            wins=s.wins,
            win_rate=s.win_rate,
            estimate=m.percent(s.win_rate),
            age_buckets=[WinModelAgeBucket.of(b) for b in s.age_buckets],
        )


@strawberry.type
class WinModelCalibrationBucket:
    lower: float
    upper: float
    mean_predicted: float
    actual_win_share: float
    count: int


@strawberry.type(
    description="Time-ordered backtest: trained on the earliest 80% of closed deals by close "
    "date, scored on the rest, once per stage a test deal was in and age bucket it reached."
)
class WinModelAccuracy:
    test_deals: int
    predictions: int
    cutoff: datetime | None
    brier_score: float
    baseline_brier_score: float = strawberry.field(description="The stage defaults' score.")
    stage_only_brier_score: float = strawberry.field(description="Without the age factor.")
    log_loss: float
    baseline_log_loss: float
    calibration: list[WinModelCalibrationBucket]

    @classmethod
    def of(cls, a: m.Accuracy) -> WinModelAccuracy:
        return cls(
            test_deals=a.test_deals,
            predictions=a.predictions,
            cutoff=a.cutoff,
            brier_score=a.brier_score,
            baseline_brier_score=a.baseline_brier_score,
            stage_only_brier_score=a.stage_only_brier_score,
            log_loss=a.log_loss,
            baseline_log_loss=a.baseline_log_loss,
            calibration=[WinModelCalibrationBucket(**vars(c)) for c in a.calibration],
        )


@strawberry.type(description="Win probability learned from a pipeline's closed deals.")
class WinModel:
    pipeline_id: strawberry.ID
    pipeline_version: int
    trained_at: datetime
    trained_by: str | None
    training_deals: int
    prior_weight: int
    stages: list[WinModelStage]
    accuracy: WinModelAccuracy | None

    @classmethod
    def of(cls, model: m.WinModel) -> WinModel:
        return cls(
            pipeline_id=strawberry.ID(model.pipeline_id),
            pipeline_version=model.pipeline_version,
            trained_at=model.trained_at,
            trained_by=model.trained_by,
            training_deals=model.training_deals,
            prior_weight=model.prior_weight,
            stages=[WinModelStage.of(s) for s in model.stages],
            accuracy=WinModelAccuracy.of(model.accuracy) if model.accuracy else None,
        )


async def win_model(info: Info, pipeline_id: strawberry.ID | None) -> WinModel | None:
    found = await info.context.win_model.get(None if pipeline_id is None else str(pipeline_id))
    return WinModel.of(found) if found else None


async def train_win_model(info: Info, pipeline_id: strawberry.ID | None) -> WinModel:
    trained = await info.context.win_model.train(None if pipeline_id is None else str(pipeline_id))
    return WinModel.of(trained)
