"""Training and honest evaluation of the win model (pure apart from the estimator fit).

**Rows.** Not one row per closed deal: one row per deal *open* at each snapshot time of a
regular grid (every `step_days`, anchored at the epoch), with its features as of that
moment (`win_features.features_at`). So the rows are what the open pipeline looked like
at many past moments, the very population the model is asked about today, and long-open
deals weigh in as often as they sat in the pipeline. A deal contributes snapshots for at
most `MAX_AGE_HORIZONS` horizons after it opened (older deals look alike; the age
features are clamped to the range trained on).

**Labels and censoring** (`win_features.label`): a snapshot at `t` is labelled 1 if the
deal was won within `horizon_days` after `t`, else 0 (lost, still open then: stalled, an
unconverted lead nobody closes is not a pending win, or won later). Only snapshots whose
horizon has fully passed when the labels are read (`t + horizon <= known_at`) are used;
the later ones are *censored* and left out whole, so no row is kept just because its deal
happened to close quickly (which would bias the rates). `horizon_days` is the 95th
percentile of how long won deals stayed open, within [MIN_HORIZON_DAYS,
MAX_HORIZON_DAYS]; the model's probability reads "won within the horizon".

**Backtest.** At each of up to `FOLDS` cut-offs `c` (spread over the later closes, each at
least a horizon before now), a model is trained on the snapshots up to `c` labelled with
what was known at `c`, then every deal open at `c` is scored with its features as of `c`
against its outcome known now (censored ones are counted and left out). The constant
baseline is the won share of that fold's training rows; the stage baseline is each
deal's stage default.

**Guardrails.** Fewer than `MIN_CLOSED` closed deals with a recorded open period, fewer
than `MIN_CLASS_DEALS` deals of either outcome among the labelled rows (e.g. every closed
deal won and no lead old enough to count as stalled), or closed deals whose history has
no date before their close (imported without dates) -> no model: `STAGE_DEFAULTS` with
the reason. Predictions are clipped to [1 %, 99 %].
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from .pipeline import WON, Pipeline
from .win_encoding import Calibration, Column, Encoder, fit_columns, importances, score
from .win_features import (
    ACTIVITY_WINDOW_DAYS,
    DAY,
    CompanyFacts,
    DealHistory,
    FeatureContext,
    Value,
    features_at,
    label,
    stage_order,
)
from .win_fit import fit
from .win_metrics import Pair, scores
from .win_model import (
    MODEL,
    STAGE_DEFAULTS,
    Evaluation,
    Fold,
    Reason,
    StageSummary,
    TrainingSummary,
    WinModel,
    percent,
)

MIN_CLOSED = 30
MIN_CLASS_DEALS = 5
MIN_STAGE_ROWS = 20
MISSING_DATES_SHARE = 0.5  # above this share of undated closed deals: refuse
MIN_HORIZON_DAYS, MAX_HORIZON_DAYS = 30, 365
HORIZON_QUANTILE = 0.95
MAX_AGE_HORIZONS = 3
MAX_ROWS = 30_000
# Snapshots of one deal a few days apart are nearly the same row: beyond about this many
# per deal on average, more rows only cost fitting time.
ROWS_PER_DEAL = 20
FOLDS = 4
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Progress = Callable[[float, str], None]


def _quiet(_: float, __: str) -> None:
    return None


@dataclass(frozen=True)
class Snapshot:
    deal: DealHistory
    at: datetime
    features: dict[str, Value]


def horizon_days(deals: Sequence[DealHistory]) -> int:
    spans = sorted(
        (d.closed_at - start).total_seconds() / DAY
        for d in deals
        if d.status == WON and d.closed_at is not None and (start := d.open_from) is not None
    )
    if not spans:
        return 90
    value = spans[min(len(spans) - 1, int(len(spans) * HORIZON_QUANTILE))]
    return int(min(MAX_HORIZON_DAYS, max(MIN_HORIZON_DAYS, math.ceil(value))))


def _open_end(deal: DealHistory, known_at: datetime, horizon: int) -> datetime | None:
    start = deal.open_from
    if start is None:
        return None
    end = min(deal.closed_at or known_at, known_at)
    return min(end, start + timedelta(days=MAX_AGE_HORIZONS * horizon))


def step_days(deals: Sequence[DealHistory], known_at: datetime, horizon: int) -> int:
    """Snapshot spacing that keeps the rows near min(MAX_ROWS, ROWS_PER_DEAL x deals)."""
    total = 0.0
    for deal in deals:
        end = _open_end(deal, known_at, horizon)
        if end is not None and deal.open_from is not None:
            total += max(0.0, (end - deal.open_from).total_seconds() / DAY)
    target = max(1, min(MAX_ROWS, ROWS_PER_DEAL * len(deals)))
    return max(1, math.ceil(total / target))


def snapshots(
    deals: Sequence[DealHistory],
    known_at: datetime,
    horizon: int,
    step: int,
    ctx: FeatureContext,
) -> list[Snapshot]:
    """Every deal open at each grid time up to `known_at`, with its features then."""
    out: list[Snapshot] = []
    step_s = step * DAY
    for deal in deals:
        start, end = deal.open_from, _open_end(deal, known_at, horizon)
        if start is None or end is None:
            continue
        k = math.ceil((start - EPOCH).total_seconds() / step_s)
        while True:
            at = EPOCH + timedelta(seconds=k * step_s)
            if at >= end:
                break
            row = features_at(deal, at, ctx)
            if row is not None:
                out.append(Snapshot(deal, at, row))
            k += 1
    return out


@dataclass(frozen=True)
class FittedModel:
    columns: tuple[Column, ...]
    intercept: float
    calibration: Calibration
    regularization: float
    library: str
    importances: tuple[tuple[str, float], ...]
    known_stages: frozenset[str]
    base_rate: float

    def as_model(self, template: WinModel) -> WinModel:
        return WinModel(
            **{
                **template.__dict__,
                "columns": self.columns,
                "intercept": self.intercept,
                "calibration": self.calibration,
                "regularization": self.regularization,
                "library": self.library,
                "importances": self.importances,
                "known_stages": self.known_stages,
            }
        )


def _class_deals(rows: Sequence[tuple[Snapshot, int]]) -> tuple[int, int]:
    won = {s.deal.id for s, y in rows if y == 1}
    not_won = {s.deal.id for s, y in rows if y == 0}
    return len(won), len(not_won)


def outcome_only_features(deals: Sequence[DealHistory], ctx: FeatureContext) -> set[str]:
    """Features recorded on closed deals but on no open deal: written with or after the
    outcome (e.g. an import's `closeValue` of lost deals), so they would leak it. Left out
    of training and named in the model's warnings."""
    seen_open: set[str] = set()
    seen_closed: set[str] = set()
    for deal in deals:
        custom = deal.values.get("customFields") or {}
        names = {f"custom.{k}" for k, v in custom.items() if v is not None}
        (seen_closed if deal.closed else seen_open).update(names)
    if not any(not d.closed for d in deals):
        return set()  # nothing open to compare with
    return seen_closed - seen_open


def fit_rows(
    rows: Sequence[tuple[Snapshot, int]], exclude: frozenset[str] = frozenset()
) -> FittedModel:
    columns = [c for c in fit_columns([s.features for s, _ in rows]) if c.feature not in exclude]
    encoder = Encoder(columns)
    vectors = [encoder(s.features) for s, _ in rows]
    labels = [y for _, y in rows]
    fitted = fit(vectors, labels, [s.at.timestamp() for s, _ in rows])
    weighted = tuple(
        type(c)(**{**c.__dict__, "weight": w}) for c, w in zip(columns, fitted.weights, strict=True)
    )
    ranked = importances(vectors, weighted, fitted.calibration.slope)
    stage_rows: dict[str, int] = {}
    for s, _ in rows:
        key = str(s.features.get("stage"))
        stage_rows[key] = stage_rows.get(key, 0) + 1
    return FittedModel(
        columns=weighted,
        intercept=fitted.intercept,
        calibration=fitted.calibration,
        regularization=fitted.c,
        library=fitted.library,
        importances=tuple(
            sorted(((f, round(v, 6)) for f, v in ranked.items()), key=lambda i: (-i[1], i[0]))
        ),
        known_stages=frozenset(k for k, n in stage_rows.items() if n >= MIN_STAGE_ROWS),
        base_rate=sum(labels) / len(labels),
    )


def _labelled(
    snaps: Sequence[Snapshot], known_at: datetime, horizon: int
) -> tuple[list[tuple[Snapshot, int]], int]:
    rows, censored = [], 0
    for s in snaps:
        if s.at > known_at:
            continue
        y = label(s.deal, s.at, known_at, horizon)
        if y is None:
            censored += 1
        else:
            rows.append((s, y))
    return rows, censored


def guardrails(
    deals: Sequence[DealHistory], rows: Sequence[tuple[Snapshot, int]] | None
) -> list[Reason]:
    """Why no model should be trained on this history (empty: train)."""
    closed = [d for d in deals if d.closed]
    dated = [d for d in closed if d.open_from is not None]
    reasons: list[Reason] = []
    undated = len(closed) - len(dated)
    if closed and undated / len(closed) > MISSING_DATES_SHARE:
        reasons.append(
            Reason(
                "MISSING_DATES",
                f"{undated} of {len(closed)} closed deals have no date before their close "
                "(no open period recorded, e.g. imported without engage dates): the model "
                "cannot learn what an open deal looks like from them.",
            )
        )
    if len(dated) < MIN_CLOSED:
        reasons.append(
            Reason(
                "TOO_FEW_CLOSED",
                f"{len(dated)} closed deals with a recorded open period; at least "
                f"{MIN_CLOSED} are needed.",
            )
        )
    if rows is not None and not reasons:
        won, not_won = _class_deals(rows)
        if won < MIN_CLASS_DEALS or not_won < MIN_CLASS_DEALS:
            reasons.append(
                Reason(
                    "SINGLE_CLASS",
                    f"the labelled history has {won} won and {not_won} not-won deals; at least "
                    f"{MIN_CLASS_DEALS} of each are needed (e.g. every closed deal was won and "
                    "no open deal is old enough to count as stalled).",
                )
            )
    return reasons


def _stage_summaries(
    pipeline: Pipeline, rows: Sequence[tuple[Snapshot, int]]
) -> tuple[StageSummary, ...]:
    counts: dict[str, list[int]] = {}
    for s, y in rows:
        counts.setdefault(str(s.features.get("stage")), []).append(y)
    return tuple(
        StageSummary(
            key=stage.key,
            name=stage.name,
            default_probability=stage.probability,
            rows=len(counts.get(stage.key, [])),
            won_share=round(sum(counts[stage.key]) / len(counts[stage.key]), 6)
            if counts.get(stage.key)
            else None,
        )
        for stage in pipeline.open_stages
    )


def _stage_default(pipeline: Pipeline, stage: Value) -> float:
    found = pipeline.stage(str(stage)) if stage is not None else None
    return (found.probability if found else 0) / 100


def backtest(
    pipeline: Pipeline,
    deals: Sequence[DealHistory],
    snaps: Sequence[Snapshot],
    now: datetime,
    horizon: int,
    ctx: FeatureContext,
    progress: Progress = _quiet,
    exclude: frozenset[str] = frozenset(),
) -> Evaluation | None:
    closes = sorted(
        d.closed_at for d in deals if d.closed and d.closed_at and d.open_from is not None
    )
    if len(closes) < MIN_CLOSED:
        return None
    latest = min(now - timedelta(days=horizon), closes[-1])
    earliest = closes[int(len(closes) * 0.4)]
    if latest <= earliest:
        earliest = closes[int(len(closes) * 0.2)]
        cutoffs = [latest] if latest > earliest else []
    else:
        span = (latest - earliest) / (FOLDS - 1)
        cutoffs = [earliest + span * i for i in range(FOLDS)]
    model_pairs: list[Pair] = []
    constant_pairs: list[Pair] = []
    stage_pairs: list[Pair] = []
    folds: list[Fold] = []
    censored_total = 0
    for i, cutoff in enumerate(cutoffs):
        progress(0.5 + 0.45 * i / max(1, len(cutoffs)), f"backtest {i + 1}/{len(cutoffs)}")
        rows, _ = _labelled(snaps, cutoff, horizon)
        closed_by = sum(
            1
            for d in deals
            if d.closed_at is not None and d.closed_at <= cutoff and d.open_from is not None
        )
        if closed_by < MIN_CLOSED or not rows:
            continue
        won, not_won = _class_deals(rows)
        if won < MIN_CLASS_DEALS or not_won < MIN_CLASS_DEALS:
            continue
        fitted = fit_rows(rows, exclude)
        encoder = Encoder(fitted.columns)
        fold_model: list[Pair] = []
        fold_constant: list[Pair] = []
        fold_stage: list[Pair] = []
        censored = 0
        for deal in deals:
            if not deal.open_at(cutoff):
                continue
            row = features_at(deal, cutoff, ctx)
            if row is None:
                continue
            y = label(deal, cutoff, now, horizon)
            if y is None:
                censored += 1
                continue
            stage_p = _stage_default(pipeline, row.get("stage"))
            if row.get("stage") in fitted.known_stages:
                p = score(
                    row, fitted.columns, fitted.intercept, fitted.calibration, encoder
                ).probability
                p = percent(p) / 100  # what deals get: whole percentages
            else:
                p = stage_p
            fold_model.append((p, y))
            fold_constant.append((fitted.base_rate, y))
            fold_stage.append((stage_p, y))
        censored_total += censored
        if not fold_model:
            continue
        folds.append(
            Fold(
                cutoff=cutoff,
                training_rows=len(rows),
                scored_deals=len(fold_model),
                censored_deals=censored,
                model_brier=scores(fold_model).brier,
                constant_brier=scores(fold_constant).brier,
                stage_default_brier=scores(fold_stage).brier,
            )
        )
        model_pairs += fold_model
        constant_pairs += fold_constant
        stage_pairs += fold_stage
    if not model_pairs:
        return None
    return Evaluation(
        folds=tuple(folds),
        model=scores(model_pairs),
        constant=scores(constant_pairs),
        stage_defaults=scores(stage_pairs),
        censored_deals=censored_total,
    )


def train(
    pipeline: Pipeline,
    deals: Sequence[DealHistory],
    now: datetime,
    *,
    companies: CompanyFacts | None = None,
    version: int = 1,
    trained_by: str | None = None,
    with_backtest: bool = True,
    progress: Progress = _quiet,
) -> WinModel:
    """The pipeline's model from its deals' histories as known at `now`."""
    ctx = context_for(pipeline, companies)
    closed = [d for d in deals if d.closed]
    horizon = horizon_days(deals)
    progress(0.05, "features")
    reasons = guardrails(deals, None)
    step = step_days(deals, now, horizon)
    snaps = [] if reasons else snapshots(deals, now, horizon, step, ctx)
    rows, censored = _labelled(snaps, now, horizon)
    if not reasons:
        reasons = guardrails(deals, rows)
    template = WinModel(
        workspace_id=pipeline.workspace_id,
        pipeline_id=pipeline.id,
        pipeline_version=pipeline.version,
        version=version,
        trained_at=now,
        trained_by=trained_by,
        status=STAGE_DEFAULTS if reasons else MODEL,
        horizon_days=horizon,
        activity_days=ctx.activity_days,
        training=TrainingSummary(
            deals=len(deals),
            closed_deals=len(closed),
            dated_closed_deals=sum(d.open_from is not None for d in closed),
            won_deals=sum(d.status == WON for d in closed),
            lost_deals=sum(d.status != WON for d in closed),
            rows=len(rows),
            won_rows=sum(y for _, y in rows),
            censored_rows=censored,
            step_days=step,
            base_rate=round(sum(y for _, y in rows) / len(rows), 6) if rows else None,
        ),
        stages=_stage_summaries(pipeline, rows),
        reasons=tuple(reasons),
    )
    if reasons:
        progress(1.0, "done")
        return template
    progress(0.3, "fit")
    leaky = frozenset(outcome_only_features(deals, ctx))
    if not [c for c in fit_columns([s.features for s, _ in rows]) if c.feature not in leaky]:
        reason = Reason(
            "NO_FEATURES",
            "every recorded feature is the same for all training rows: nothing to learn from.",
        )
        progress(1.0, "done")
        return WinModel(**{**template.__dict__, "status": STAGE_DEFAULTS, "reasons": (reason,)})
    fitted = fit_rows(rows, leaky)
    model = fitted.as_model(template)
    evaluation = None
    if with_backtest:
        evaluation = backtest(pipeline, deals, snaps, now, horizon, ctx, progress, leaky)
    warnings = _warnings(deals, evaluation)
    if leaky:
        warnings.insert(
            0,
            Reason(
                "OUTCOME_ONLY_FIELDS",
                f"left out {', '.join(sorted(leaky))}: recorded on closed deals only, so "
                "probably written with the outcome (it would leak it).",
            ),
        )
    progress(1.0, "done")
    return WinModel(**{**model.__dict__, "evaluation": evaluation, "warnings": tuple(warnings)})


def _warnings(deals: Sequence[DealHistory], evaluation: Evaluation | None) -> list[Reason]:
    out: list[Reason] = []
    closed = [d for d in deals if d.closed]
    undated = sum(d.open_from is None for d in closed)
    if undated:
        out.append(
            Reason(
                "SOME_MISSING_DATES",
                f"{undated} of {len(closed)} closed deals have no date before their close and "
                "were left out of training.",
            )
        )
    if evaluation is None:
        out.append(
            Reason(
                "NO_BACKTEST",
                "the history is too short for a time-ordered backtest: the model's accuracy "
                "is not measured.",
            )
        )
    elif evaluation.model.brier >= evaluation.constant.brier:
        out.append(
            Reason(
                "NOT_BETTER_THAN_CONSTANT",
                f"in the backtest the model (Brier {evaluation.model.brier:.4f}) does not beat "
                f"the constant historical rate ({evaluation.constant.brier:.4f}): the recorded "
                "features carry no usable signal beyond the base rate.",
            )
        )
    return out


def context_for(pipeline: Pipeline, companies: CompanyFacts | None = None) -> FeatureContext:
    return FeatureContext(
        order=stage_order([s.key for s in pipeline.stages]),
        companies=companies or {},
        activity_days=ACTIVITY_WINDOW_DAYS,
    )
