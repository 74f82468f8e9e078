"""The stored win model and what it answers for a deal (pure: no I/O, no numpy).

A model is either `MODEL` (a calibrated logistic regression over the deal's features as
of now, `win_training.py`) or `STAGE_DEFAULTS` (the history cannot support a model: the
`reasons` say why, and every deal keeps its stage's documented probability). It predicts
the chance that a deal open now is eventually won, where a deal still open
`horizon_days` after a moment counts as not won from that moment (the censoring rule,
`win_features.label`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .win_encoding import Calibration, Column, Contribution, Encoder, score
from .win_features import DealHistory, FeatureContext, Value, features_at
from .win_metrics import Scores

MODEL = "MODEL"
STAGE_DEFAULTS = "STAGE_DEFAULTS"
# Where a deal's probability came from.
FROM_MODEL = "MODEL"
FROM_STAGE_DEFAULT = "STAGE_DEFAULT"


@dataclass(frozen=True)
class Reason:
    """Why a model fell back or what to be careful about (code + a sentence)."""

    code: str
    message: str

    def to_doc(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True)
class StageSummary:
    key: str
    name: str
    default_probability: int
    rows: int  # training rows (open-deal snapshots) in the stage
    won_share: float | None  # share of them that ended won

    def to_doc(self) -> dict[str, Any]:
        return vars(self).copy()


@dataclass(frozen=True)
class TrainingSummary:
    deals: int  # deals of the pipeline read
    closed_deals: int
    dated_closed_deals: int  # closed deals with a recorded open period
    won_deals: int
    lost_deals: int
    rows: int  # labelled open-deal snapshots trained on
    won_rows: int
    censored_rows: int  # snapshots left out: outcome not known yet
    step_days: int  # snapshot spacing
    base_rate: float | None  # won share of the rows (the constant baseline)

    def to_doc(self) -> dict[str, Any]:
        return vars(self).copy()


@dataclass(frozen=True)
class Fold:
    """One backtest cut-off: a model trained on what was known then, scored on every deal
    open then whose outcome is known now."""

    cutoff: datetime
    training_rows: int
    scored_deals: int
    censored_deals: int
    model_brier: float
    constant_brier: float
    stage_default_brier: float

    def to_doc(self) -> dict[str, Any]:
        return vars(self).copy()


@dataclass(frozen=True)
class Evaluation:
    folds: tuple[Fold, ...]
    model: Scores
    constant: Scores  # the training rows' won share at each cut-off, for every deal
    stage_defaults: Scores  # each deal's stage default probability
    censored_deals: int

    def to_doc(self) -> dict[str, Any]:
        return {
            "folds": [f.to_doc() for f in self.folds],
            "model": self.model.to_doc(),
            "constant": self.constant.to_doc(),
            "stage_defaults": self.stage_defaults.to_doc(),
            "censored_deals": self.censored_deals,
        }

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Evaluation:
        return cls(
            folds=tuple(Fold(**f) for f in doc.get("folds") or []),
            model=Scores.from_doc(doc["model"]),
            constant=Scores.from_doc(doc["constant"]),
            stage_defaults=Scores.from_doc(doc["stage_defaults"]),
            censored_deals=int(doc.get("censored_deals") or 0),
        )


@dataclass(frozen=True)
class Prediction:
    probability: int  # whole percent, 1..99 from the model
    source: str  # FROM_MODEL | FROM_STAGE_DEFAULT
    reason: str | None  # why the stage default was used
    base_probability: float | None  # a deal at the training average
    contributions: tuple[Contribution, ...] = ()


def percent(rate: float) -> int:
    """A probability as the whole percentage stored on deals (half up)."""
    return max(0, min(100, math.floor(rate * 100 + 0.5)))


@dataclass(frozen=True)
class WinModel:
    workspace_id: str
    pipeline_id: str
    pipeline_version: int
    version: int
    trained_at: datetime
    status: str
    horizon_days: int
    activity_days: int
    training: TrainingSummary
    stages: tuple[StageSummary, ...]
    reasons: tuple[Reason, ...] = ()
    warnings: tuple[Reason, ...] = ()
    columns: tuple[Column, ...] = ()
    intercept: float = 0.0
    calibration: Calibration = field(default_factory=Calibration)
    regularization: float | None = None
    library: str | None = None
    importances: tuple[tuple[str, float], ...] = ()  # (feature, mean |log-odds|), largest first
    evaluation: Evaluation | None = None
    trained_by: str | None = None
    # Stages with enough training rows; a deal in another stage keeps its default.
    known_stages: frozenset[str] = frozenset()

    @property
    def id(self) -> str:
        return model_id(self.workspace_id, self.pipeline_id)

    @property
    def usable(self) -> bool:
        return self.status == MODEL and bool(self.columns)

    def predict(
        self, deal: DealHistory, now: datetime, ctx: FeatureContext, encoder: Encoder | None = None
    ) -> Prediction:
        default = deal.stage_probability
        if not self.usable:
            reason = self.reasons[0].message if self.reasons else "no model trained"
            return Prediction(default, FROM_STAGE_DEFAULT, reason, None)
        row = features_at(deal, now, ctx)
        if row is None:
            return Prediction(default, FROM_STAGE_DEFAULT, "the deal is not open", None)
        if row.get("stage") not in self.known_stages:
            return Prediction(
                default,
                FROM_STAGE_DEFAULT,
                f"no training history for stage {row.get('stage')!r}",
                None,
            )
        scored = self.score_row(row, encoder)
        return Prediction(
            percent(scored[0]),
            FROM_MODEL,
            None,
            round(1 / (1 + math.exp(-scored[1])), 6),
            scored[2],
        )

    def score_row(
        self, row: Mapping[str, Value], encoder: Encoder | None = None
    ) -> tuple[float, float, tuple[Contribution, ...]]:
        found = score(row, self.columns, self.intercept, self.calibration, encoder)
        return found.probability, found.base_log_odds, found.contributions

    def encoder(self) -> Encoder:
        return Encoder(self.columns)


def model_id(workspace_id: str, pipeline_id: str) -> str:
    return f"{workspace_id}:{pipeline_id}"
