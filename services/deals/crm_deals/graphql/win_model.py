"""GraphQL shape of the learned win model: `winModel`, `winModelVersions`,
`winModelTrainingJob`, `trainWinModel` (a job), `Deal.winExplanation`. Definitions in the
README, "Win probability model"."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry
from strawberry.types import Info

from ..domain import deal as d
from ..domain import records as r
from ..domain import win_model as m
from ..domain.win_features import FEATURE_LABELS, display_value
from ..domain.win_metrics import Scores
from ..usecases import win_model as training


@strawberry.enum(
    description="MODEL: the feature model predicts; STAGE_DEFAULTS: the history "
    "cannot support one (see `reasons`), every deal keeps its stage default."
)
class WinModelStatus(Enum):
    MODEL = "MODEL"
    STAGE_DEFAULTS = "STAGE_DEFAULTS"


@strawberry.enum
class TrainingJobStatus(Enum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


@strawberry.enum(description="Where a deal's win probability came from.")
class ProbabilitySource(Enum):
    MODEL = "MODEL"
    STAGE_DEFAULT = "STAGE_DEFAULT"


def feature_label(name: str) -> str:
    if name.startswith("custom."):
        return f"custom field {name[7:]}"
    return FEATURE_LABELS.get(name, name)


@strawberry.type(description="A reason the model fell back, or a caution about it.")
class WinModelNote:
    code: str = strawberry.field(
        description="MISSING_DATES, TOO_FEW_CLOSED, SINGLE_CLASS, NO_FEATURES (reasons); "
        "SOME_MISSING_DATES, NO_BACKTEST, NOT_BETTER_THAN_CONSTANT, OUTCOME_ONLY_FIELDS "
        "(warnings)."
    )
    message: str


def _notes(reasons: tuple[m.Reason, ...]) -> list[WinModelNote]:
    return [WinModelNote(code=r.code, message=r.message) for r in reasons]


@strawberry.type(description="What the model was trained on.")
class WinModelTraining:
    deals: int = strawberry.field(description="Deals of the pipeline read.")
    closed_deals: int
    dated_closed_deals: int = strawberry.field(
        description="Closed deals with a recorded open period (a date before their close)."
    )
    won_deals: int
    lost_deals: int
    rows: int = strawberry.field(
        description="Labelled snapshots of open deals (one per deal open at each snapshot "
        "time) the estimator was fitted on."
    )
    won_rows: int
    censored_rows: int = strawberry.field(
        description="Snapshots left out because their horizon had not passed yet."
    )
    snapshot_step_days: int
    base_rate: float | None = strawberry.field(description="wonRows / rows.")


@strawberry.type(description="One open stage in the training data.")
class WinModelStage:
    key: str
    name: str
    default_probability: int
    training_rows: int
    won_share: float | None = strawberry.field(
        description="Share of the stage's training snapshots won within the horizon; null "
        "without any (deals in the stage keep their stage default)."
    )


@strawberry.type(description="How much a feature moves predictions.")
class WinFeatureImportance:
    feature: str = strawberry.field(description="Feature name, e.g. `industry`, `custom.tier`.")
    label: str = strawberry.field(description="The feature as a person reads it.")
    importance: float = strawberry.field(
        description="Mean absolute contribution to the calibrated log-odds over the training rows."
    )
    share: float = strawberry.field(description="importance / the sum over all features.")


@strawberry.type(description="Rows whose prediction fell in [lower, upper).")
class ReliabilityBin:
    lower: float
    upper: float
    count: int
    mean_predicted: float
    won_share: float


@strawberry.type(description="One predictor's scores over the backtest's predictions.")
class PredictorScores:
    predictions: int
    brier_score: float = strawberry.field(description="Mean squared error (lower is better).")
    log_loss: float = strawberry.field(description="Predictions clipped to [0.001, 0.999].")
    auc: float | None = strawberry.field(
        description="Ranking quality (0.5 = none); null with one outcome class."
    )
    expected_calibration_error: float = strawberry.field(
        description="Row-weighted mean |mean predicted - won share| over the reliability bins."
    )
    reliability: list[ReliabilityBin]

    @classmethod
    def of(cls, s: Scores) -> PredictorScores:
        return cls(
            predictions=s.rows,
            brier_score=s.brier,
            log_loss=s.log_loss,
            auc=s.auc,
            expected_calibration_error=s.ece,
            reliability=[ReliabilityBin(**b.to_doc()) for b in s.reliability],
        )


@strawberry.type(description="One backtest cut-off.")
class WinModelBacktestFold:
    cutoff: datetime
    training_rows: int
    scored_deals: int = strawberry.field(description="Deals open at the cut-off, scored.")
    censored_deals: int
    model_brier_score: float
    constant_brier_score: float
    stage_default_brier_score: float


@strawberry.type(
    description="Time-ordered backtest: at each cut-off a model trained on what was known "
    "then scores every deal open then whose outcome (won within the horizon) is known now; "
    "compared on the same predictions with the constant historical rate and the stage "
    "defaults."
)
class WinModelEvaluation:
    folds: list[WinModelBacktestFold]
    model: PredictorScores
    constant_rate: PredictorScores = strawberry.field(
        description="Every deal gets the won share of the fold's training rows."
    )
    stage_defaults: PredictorScores = strawberry.field(
        description="Every deal gets its stage's documented probability."
    )
    censored_deals: int


@strawberry.type(description="A background training of the win model.")
class WinModelTrainingJob:
    id: strawberry.ID
    pipeline_id: strawberry.ID
    status: TrainingJobStatus
    progress: float = strawberry.field(description="0 to 1.")
    step: str
    requested_by: str | None
    requested_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    model_version: int | None = strawberry.field(description="The version it produced.")
    deals_updated: int | None = strawberry.field(
        description="Open deals whose modelProbability it changed."
    )
    error: str | None

    @classmethod
    def of(cls, job: r.TrainingJob) -> WinModelTrainingJob:
        return cls(
            id=strawberry.ID(job.id),
            pipeline_id=strawberry.ID(job.pipeline_id),
            status=TrainingJobStatus(job.status),
            progress=float(job.progress or 0.0),
            step=job.step or "",
            requested_by=job.requested_by,
            requested_at=job.requested_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            model_version=job.model_version,
            deals_updated=job.deals_updated,
            error=job.error,
        )


@strawberry.type(
    description="A pipeline's win model: the chance that an open deal is won within "
    "`horizonDays`, from its features as of now."
)
class WinModel:
    pipeline_id: strawberry.ID
    version: int
    pipeline_version: int
    status: WinModelStatus
    reasons: list[WinModelNote] = strawberry.field(
        description="Why the model fell back to the stage defaults (empty for MODEL)."
    )
    warnings: list[WinModelNote]
    trained_at: datetime
    trained_by: str | None
    horizon_days: int = strawberry.field(
        description="Probabilities are of a win within this many days; a deal still open "
        "that long counts as not won."
    )
    activity_window_days: int
    estimator: str | None = strawberry.field(
        description="The fitted estimator, library and regularisation."
    )
    training: WinModelTraining
    stages: list[WinModelStage]
    feature_importances: list[WinFeatureImportance]
    evaluation: WinModelEvaluation | None = strawberry.field(
        description="Null when the history is too short for a backtest (see warnings)."
    )
    _model: strawberry.Private[m.WinModel]

    @strawberry.field(description="The most recent training job of the pipeline.")
    async def latest_job(self, info: Info) -> WinModelTrainingJob | None:
        found = await training.latest_job(info.context.scope, str(self.pipeline_id))
        return WinModelTrainingJob.of(found) if found else None

    @classmethod
    def of(cls, model: m.WinModel) -> WinModel:
        total = sum(v for _, v in model.importances) or 1.0
        e = model.evaluation
        estimator = None
        if model.library:
            estimator = (
                f"logistic regression ({model.library}), L2 C={model.regularization}, "
                f"Platt calibration slope {model.calibration.slope:.3f} "
                f"shift {model.calibration.shift:.3f}"
            )
        return cls(
            pipeline_id=strawberry.ID(model.pipeline_id),
            version=model.version,
            pipeline_version=model.pipeline_version,
            status=WinModelStatus(model.status),
            reasons=_notes(model.reasons),
            warnings=_notes(model.warnings),
            trained_at=model.trained_at,
            trained_by=model.trained_by,
            horizon_days=model.horizon_days,
            activity_window_days=model.activity_days,
            estimator=estimator,
            training=WinModelTraining(
                **{
                    k if k != "step_days" else "snapshot_step_days": v
                    for k, v in model.training.to_doc().items()
                }
            ),
            stages=[
                WinModelStage(
                    key=s.key,
                    name=s.name,
                    default_probability=s.default_probability,
                    training_rows=s.rows,
                    won_share=s.won_share,
                )
                for s in model.stages
            ],
            feature_importances=[
                WinFeatureImportance(
                    feature=f,
                    label=feature_label(f),
                    importance=v,
                    share=round(v / total, 4),
                )
                for f, v in model.importances
            ],
            evaluation=None
            if e is None
            else WinModelEvaluation(
                folds=[
                    WinModelBacktestFold(
                        cutoff=f.cutoff,
                        training_rows=f.training_rows,
                        scored_deals=f.scored_deals,
                        censored_deals=f.censored_deals,
                        model_brier_score=f.model_brier,
                        constant_brier_score=f.constant_brier,
                        stage_default_brier_score=f.stage_default_brier,
                    )
                    for f in e.folds
                ],
                model=PredictorScores.of(e.model),
                constant_rate=PredictorScores.of(e.constant),
                stage_defaults=PredictorScores.of(e.stage_defaults),
                censored_deals=e.censored_deals,
            ),
            _model=model,
        )


@strawberry.type(description="One feature's signed part in a deal's probability.")
class WinFactor:
    feature: str
    label: str
    value: str | None = strawberry.field(
        description="The deal's value of the feature now (null: not recorded)."
    )
    log_odds: float = strawberry.field(
        description="Signed contribution to the calibrated log-odds: positive raises the "
        "probability, negative lowers it, relative to a deal at the training average."
    )


@strawberry.type(description="A deal's win probability and why.")
class WinExplanation:
    probability: int
    source: ProbabilitySource
    reason: str | None = strawberry.field(description="Why the stage default was used.")
    model_version: int | None
    horizon_days: int | None
    base_probability: float | None = strawberry.field(
        description="The probability of a deal at the training average (before the factors)."
    )
    factors: list[WinFactor] = strawberry.field(
        description="The largest contributions first (at most 8)."
    )


MAX_FACTORS = 8


async def explain_deal(info: Info, deal: d.Deal) -> WinExplanation | None:
    """`Deal.winExplanation`: null for a closed deal or before any training."""
    explained = await training.explain(info.context.scope, deal)
    if explained is None:
        return None
    model, found = explained
    return WinExplanation(
        probability=found.probability,
        source=ProbabilitySource(found.source),
        reason=found.reason,
        model_version=model.version,
        horizon_days=model.horizon_days,
        base_probability=found.base_probability,
        factors=[
            WinFactor(
                feature=c.feature,
                label=feature_label(c.feature),
                value=display_value(c.feature, c.value),
                log_odds=round(c.log_odds, 4),
            )
            for c in found.contributions[:MAX_FACTORS]
        ],
    )


def _pid(pipeline_id: strawberry.ID | None) -> str | None:
    return None if pipeline_id is None else str(pipeline_id)


async def win_model(info: Info, pipeline_id: strawberry.ID | None) -> WinModel | None:
    found = await training.get_model(info.context.scope, _pid(pipeline_id))
    return WinModel.of(found) if found else None


async def win_model_versions(
    info: Info, pipeline_id: strawberry.ID | None, first: int
) -> list[WinModel]:
    found = await training.model_versions(info.context.scope, _pid(pipeline_id), first)
    return [WinModel.of(v) for v in found]


async def training_job(info: Info, job_id: strawberry.ID) -> WinModelTrainingJob | None:
    found = await training.training_job(info.context.scope, str(job_id))
    return WinModelTrainingJob.of(found) if found else None


async def train_win_model(info: Info, pipeline_id: strawberry.ID | None) -> WinModelTrainingJob:
    job = await training.start_training(info.context.scope, _pid(pipeline_id))
    return WinModelTrainingJob.of(job)
