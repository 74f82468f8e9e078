"""Win probability learned from a pipeline's closed deals (pure: no I/O).

Two factors, both read from the stage history (`StageChange` entries):

- **Stage.** For each open stage, the closed (won or lost) deals that were ever in it and
  the share of them that was won, smoothed toward the stage's documented default with a
  pseudo-count prior: `(wins + k * default) / (samples + k)`. With few samples the rate
  stays near the default; with many it follows the data.
- **Age in the stage.** How long a deal has been in its stage is evidence too. The stage's
  closed deals are split at whole-day boundaries (quantiles of their time in the stage);
  a bucket starting at `min_days` holds the closed deals that were *still in the stage*
  after `min_days` days, i.e. what an open deal of that age is known to have done. Its
  rate is smoothed toward the stage rate the same way. The first bucket (from day 0) is
  the whole stage population, so its rate is the stage rate itself.

An open deal's estimate is the rate of its stage's bucket for its current age, as an
integer percentage. Accuracy is measured by a time-ordered backtest (`backtest`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .deal import StageChange
from .pipeline import LOST, TERMINAL, WON, Pipeline

PRIOR_WEIGHT = 10  # pseudo-count k of the smoothing
AGE_BUCKETS = 4  # at most this many age buckets per stage (quartiles)
MIN_BUCKET_SAMPLES = 20  # a bucket needs this many closed deals still in the stage
MIN_CLOSED_FOR_BACKTEST = 10
TRAIN_SHARE = 0.8
LOG_EPSILON = 1e-3  # predictions are clipped to [eps, 1 - eps] for the log loss
DAY = 86400.0


# --- what the model is trained on ------------------------------------------------------------


def stage_days(history: Sequence[StageChange], now: datetime | None = None) -> dict[str, float]:
    """Total days spent in each non-terminal stage, over every visit, from the history
    (oldest first). The last visit counts until `now` when given (an open deal), else not
    at all (a closed deal's last entry is its close)."""
    days: dict[str, float] = {}
    for i, change in enumerate(history):
        if change.to_stage in TERMINAL:
            continue
        end = history[i + 1].at if i + 1 < len(history) else now
        if end is None:
            days.setdefault(change.to_stage, 0.0)
            continue
        spent = max(0.0, (end - change.at).total_seconds() / DAY)
        days[change.to_stage] = days.get(change.to_stage, 0.0) + spent
    return days


@dataclass(frozen=True)
class DealRecord:
    """What the model needs of one deal."""

    id: str
    status: str  # open | won | lost
    stage_key: str
    stage_probability: int
    closed_at: datetime | None
    stage_days: dict[str, float]
    probability_model: int | None = None

    @property
    def closed(self) -> bool:
        return self.status in (WON, LOST)

    @classmethod
    def from_doc(cls, doc: dict[str, Any], now: datetime) -> DealRecord:
        """From a stored deal (or a projection with these fields)."""
        history = [StageChange.from_doc(c) for c in doc.get("stage_history") or []]
        status = doc.get("status") or "open"
        return cls(
            id=doc["_id"],
            status=status,
            stage_key=doc.get("stage_key") or "",
            stage_probability=int(doc.get("stage_probability") or 0),
            closed_at=doc.get("closed_at"),
            stage_days=stage_days(history, None if status in (WON, LOST) else now),
            probability_model=doc.get("probability_model"),
        )


# --- the model -------------------------------------------------------------------------------


def smoothed(wins: int, samples: int, prior: float, weight: float = PRIOR_WEIGHT) -> float:
    return (wins + weight * prior) / (samples + weight)


def percent(rate: float) -> int:
    """A rate as the integer percentage stored on deals (half up)."""
    return max(0, min(100, math.floor(rate * 100 + 0.5)))


@dataclass(frozen=True)
class AgeBucket:
    min_days: int  # closed deals still in the stage after this many days...
    max_days: int | None  # ...up to the next bucket's start (None: no upper bound)
    samples: int
    wins: int
    win_rate: float

    def to_doc(self) -> dict[str, Any]:
        return {
            "min_days": self.min_days,
            "max_days": self.max_days,
            "samples": self.samples,
            "wins": self.wins,
            "win_rate": self.win_rate,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> AgeBucket:
        return cls(
            int(doc["min_days"]),
            None if doc.get("max_days") is None else int(doc["max_days"]),
            int(doc["samples"]),
            int(doc["wins"]),
            float(doc["win_rate"]),
        )


@dataclass(frozen=True)
class StageModel:
    key: str
    name: str
    default_probability: int
    samples: int
    wins: int
    win_rate: float
    age_buckets: tuple[AgeBucket, ...]

    def rate_at(self, age_days: float) -> float:
        rate = self.win_rate
        for bucket in self.age_buckets:
            if age_days >= bucket.min_days:
                rate = bucket.win_rate
        return rate

    def to_doc(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            "default_probability": self.default_probability,
            "samples": self.samples,
            "wins": self.wins,
            "win_rate": self.win_rate,
            "age_buckets": [b.to_doc() for b in self.age_buckets],
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> StageModel:
        return cls(
            key=doc["key"],
            name=doc.get("name") or doc["key"],
            default_probability=int(doc["default_probability"]),
            samples=int(doc["samples"]),
            wins=int(doc["wins"]),
            win_rate=float(doc["win_rate"]),
            age_buckets=tuple(AgeBucket.from_doc(b) for b in doc.get("age_buckets") or []),
        )


@dataclass(frozen=True)
class CalibrationBucket:
    lower: float
    upper: float
    mean_predicted: float
    actual_win_share: float
    count: int


@dataclass(frozen=True)
class Accuracy:
    """Backtest: trained on the earliest-closed deals, scored on the later-closed ones."""

    test_deals: int
    predictions: int  # one per (test deal, stage it was in, age bucket it reached)
    cutoff: datetime | None  # close date of the last training deal
    brier_score: float
    baseline_brier_score: float  # the stage defaults
    stage_only_brier_score: float  # the stage rates without the age factor
    log_loss: float
    baseline_log_loss: float
    calibration: tuple[CalibrationBucket, ...] = ()

    def to_doc(self) -> dict[str, Any]:
        return {
            "test_deals": self.test_deals,
            "predictions": self.predictions,
            "cutoff": self.cutoff,
            "brier_score": self.brier_score,
            "baseline_brier_score": self.baseline_brier_score,
            "stage_only_brier_score": self.stage_only_brier_score,
            "log_loss": self.log_loss,
            "baseline_log_loss": self.baseline_log_loss,
            "calibration": [vars(c) for c in self.calibration],
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Accuracy:
        return cls(
            test_deals=int(doc["test_deals"]),
            predictions=int(doc["predictions"]),
            cutoff=doc.get("cutoff"),
            brier_score=float(doc["brier_score"]),
            baseline_brier_score=float(doc["baseline_brier_score"]),
            stage_only_brier_score=float(doc["stage_only_brier_score"]),
            log_loss=float(doc["log_loss"]),
            baseline_log_loss=float(doc["baseline_log_loss"]),
            calibration=tuple(CalibrationBucket(**c) for c in doc.get("calibration") or []),
        )


@dataclass(frozen=True)
class WinModel:
    workspace_id: str
    pipeline_id: str
    pipeline_version: int
    trained_at: datetime
    training_deals: int  # closed deals the model was trained on
    stages: tuple[StageModel, ...]
    prior_weight: int = PRIOR_WEIGHT
    accuracy: Accuracy | None = None
    trained_by: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return model_id(self.workspace_id, self.pipeline_id)

    def stage(self, key: str) -> StageModel | None:
        return next((s for s in self.stages if s.key == key), None)

    def estimate(self, stage_key: str, default_probability: int, age_days: float) -> int:
        """The integer percentage for a deal in `stage_key` for `age_days`; a stage the
        model does not know (added after training) has no samples: its default."""
        stage = self.stage(stage_key)
        if stage is None:
            return default_probability
        return percent(stage.rate_at(age_days))

    def estimate_deal(self, record: DealRecord) -> int:
        return self.estimate(
            record.stage_key, record.stage_probability, record.stage_days.get(record.stage_key, 0)
        )

    def to_doc(self) -> dict[str, Any]:
        return {
            "_id": self.id,
            "workspace_id": self.workspace_id,
            "pipeline_id": self.pipeline_id,
            "pipeline_version": self.pipeline_version,
            "trained_at": self.trained_at,
            "trained_by": self.trained_by,
            "training_deals": self.training_deals,
            "prior_weight": self.prior_weight,
            "stages": [s.to_doc() for s in self.stages],
            "accuracy": self.accuracy.to_doc() if self.accuracy else None,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> WinModel:
        return cls(
            workspace_id=doc["workspace_id"],
            pipeline_id=doc["pipeline_id"],
            pipeline_version=int(doc.get("pipeline_version") or 1),
            trained_at=doc["trained_at"],
            trained_by=doc.get("trained_by"),
            training_deals=int(doc["training_deals"]),
            prior_weight=int(doc.get("prior_weight") or PRIOR_WEIGHT),
            stages=tuple(StageModel.from_doc(s) for s in doc.get("stages") or []),
            accuracy=Accuracy.from_doc(doc["accuracy"]) if doc.get("accuracy") else None,
        )


def model_id(workspace_id: str, pipeline_id: str) -> str:
    return f"{workspace_id}:{pipeline_id}"


# --- training ----------------------------------------------------------------------------------


def _boundaries(days: list[float], buckets: int, min_samples: int) -> list[int]:
    """Whole-day starts of the age buckets: 0 and the quantiles of the time in the stage,
    keeping only starts that enough closed deals survived to."""
    if buckets < 2 or len(days) < 2 * min_samples:
        return [0]
    ordered = sorted(days)
    starts = {0}
    for j in range(1, buckets):
        starts.add(math.floor(ordered[len(ordered) * j // buckets]))
    return [s for s in sorted(starts) if s == 0 or sum(d >= s for d in ordered) >= min_samples]


def train_stage(
    key: str,
    name: str,
    default_probability: int,
    outcomes: list[tuple[float, bool]],  # (days in the stage, won) per closed deal
    *,
    prior_weight: float = PRIOR_WEIGHT,
    buckets: int = AGE_BUCKETS,
    min_bucket_samples: int = MIN_BUCKET_SAMPLES,
) -> StageModel:
    samples = len(outcomes)
    wins = sum(won for _, won in outcomes)
    rate = smoothed(wins, samples, default_probability / 100, prior_weight)
    starts = _boundaries([d for d, _ in outcomes], buckets, min_bucket_samples)
    age_buckets = []
    for i, start in enumerate(starts):
        still_in = [won for d, won in outcomes if d >= start]
        n, w = len(still_in), sum(still_in)
        age_buckets.append(
            AgeBucket(
                min_days=start,
                max_days=starts[i + 1] if i + 1 < len(starts) else None,
                samples=n,
                wins=w,
                # From day 0 the population is the stage's own: its rate is the stage rate.
                win_rate=round(rate if start == 0 else smoothed(w, n, rate, prior_weight), 6),
            )
        )
    return StageModel(
        key=key,
        name=name,
        default_probability=default_probability,
        samples=samples,
        wins=wins,
        win_rate=round(rate, 6),
        age_buckets=tuple(age_buckets),
    )


def train(
    pipeline: Pipeline,
    deals: Iterable[DealRecord],
    now: datetime,
    *,
    prior_weight: int = PRIOR_WEIGHT,
    buckets: int = AGE_BUCKETS,
    min_bucket_samples: int = MIN_BUCKET_SAMPLES,
    with_accuracy: bool = True,
    trained_by: str | None = None,
) -> WinModel:
    """The model of `pipeline` from its closed deals (open ones are ignored)."""
    closed = [d for d in deals if d.closed]
    stages = []
    for stage in pipeline.open_stages:
        outcomes = [
            (d.stage_days[stage.key], d.status == WON) for d in closed if stage.key in d.stage_days
        ]
        stages.append(
            train_stage(
                stage.key,
                stage.name,
                stage.probability,
                outcomes,
                prior_weight=prior_weight,
                buckets=buckets,
                min_bucket_samples=min_bucket_samples,
            )
        )
    accuracy = None
    if with_accuracy:
        accuracy = backtest(
            pipeline,
            closed,
            prior_weight=prior_weight,
            buckets=buckets,
            min_bucket_samples=min_bucket_samples,
        )
    return WinModel(
        workspace_id=pipeline.workspace_id,
        pipeline_id=pipeline.id,
        pipeline_version=pipeline.version,
        trained_at=now,
        training_deals=len(closed),
        stages=tuple(stages),
        prior_weight=prior_weight,
        accuracy=accuracy,
        trained_by=trained_by,
    )


# --- measured accuracy -------------------------------------------------------------------------


def brier(pairs: Sequence[tuple[float, bool]]) -> float:
    return sum((p - y) ** 2 for p, y in pairs) / len(pairs)


def log_loss(pairs: Sequence[tuple[float, bool]]) -> float:
    total = 0.0
    for p, y in pairs:
        p = min(max(p, LOG_EPSILON), 1 - LOG_EPSILON)
        total -= math.log(p) if y else math.log(1 - p)
    return total / len(pairs)


def calibration(
    pairs: Sequence[tuple[float, bool]], bins: int = 10
) -> tuple[CalibrationBucket, ...]:
    grouped: dict[int, list[tuple[float, bool]]] = {}
    for p, y in pairs:
        grouped.setdefault(min(int(p * bins), bins - 1), []).append((p, y))
    return tuple(
        CalibrationBucket(
            lower=i / bins,
            upper=(i + 1) / bins,
            mean_predicted=round(sum(p for p, _ in members) / len(members), 6),
            actual_win_share=round(sum(y for _, y in members) / len(members), 6),
            count=len(members),
        )
        for i, members in sorted(grouped.items())
    )


def backtest(
    pipeline: Pipeline,
    closed: Sequence[DealRecord],
    *,
    train_share: float = TRAIN_SHARE,
    prior_weight: int = PRIOR_WEIGHT,
    buckets: int = AGE_BUCKETS,
    min_bucket_samples: int = MIN_BUCKET_SAMPLES,
) -> Accuracy | None:
    """Train on the earliest `train_share` of the closed deals by close date, predict the
    later-closed ones as an open deal would have been predicted: for each stage it was in,
    at the start of each age bucket it stayed in that stage long enough to reach. Scores
    the model, the stage rates alone (no age factor) and the stage defaults (baseline).
    None with fewer than MIN_CLOSED_FOR_BACKTEST closed deals."""
    ordered = sorted(
        (d for d in closed if d.closed and d.closed_at is not None),
        key=lambda d: (d.closed_at, d.id),
    )
    cut = int(len(ordered) * train_share)
    if len(ordered) < MIN_CLOSED_FOR_BACKTEST or cut == 0 or cut == len(ordered):
        return None
    training, testing = ordered[:cut], ordered[cut:]
    model = train(
        pipeline,
        training,
        training[-1].closed_at or datetime.min,
        prior_weight=prior_weight,
        buckets=buckets,
        min_bucket_samples=min_bucket_samples,
        with_accuracy=False,
    )
    scored: list[tuple[float, bool]] = []
    stage_only: list[tuple[float, bool]] = []
    baseline: list[tuple[float, bool]] = []
    deals = 0
    for deal in testing:
        won = deal.status == WON
        before = len(scored)
        for stage in model.stages:
            if stage.key not in deal.stage_days:
                continue
            for bucket in stage.age_buckets:
                if deal.stage_days[stage.key] < bucket.min_days:
                    continue
                scored.append((percent(bucket.win_rate) / 100, won))
                stage_only.append((percent(stage.win_rate) / 100, won))
                baseline.append((stage.default_probability / 100, won))
        deals += len(scored) > before
    if not scored:
        return None
    return Accuracy(
        test_deals=deals,
        predictions=len(scored),
        cutoff=training[-1].closed_at,
        brier_score=round(brier(scored), 6),
        baseline_brier_score=round(brier(baseline), 6),
        stage_only_brier_score=round(brier(stage_only), 6),
        log_loss=round(log_loss(scored), 6),
        baseline_log_loss=round(log_loss(baseline), 6),
        calibration=calibration(scored),
    )
