"""Forecast submissions, quotas, roll-ups for managers, and the accuracy of each
person's calls against the model and what was actually won.

- **Submissions**: a rep submits commit and best-case figures for
  a period (`OWNER` scope, their own id); a manager or admin submits for anyone, and for a
  team (`TEAM` scope, the manager's adjusted call). Never overwritten: each submission is
  a new version (`<pipeline>:<period>:<scope>:<id>:<version>`, a unique insert, so two
  concurrent submissions get distinct versions). An owner's submission records the
  model's figure for the same scope at that moment, so calls and model can be compared
  later without reconstructing the past.
- **Quotas**: per period and per rep or team, in the pipeline's reporting
  currency; attainment = won in the period / quota.
- **Roll-up**: for a set of owners (a team's members, handed to us by the gateway from
  the tasks service through `Team.forecastRollup @requires(memberIds managerId)`, or
  given directly), each member's figures, latest submission, quota and attainment, and
  the totals: model (closed + each open deal's amount x the model's probability, the stage
  default where there is none), weighted (the effective probabilities, overrides
  included), submitted (sum of the members' latest calls), adjusted (the latest TEAM
  submission), and the P10/P50/P90 range.
- **Accuracy**: for each of the last finished months, a person's call in force at 30, 14
  and 7 days before the month's end (the latest version submitted on or before), the
  model's figure then (the daily forecast snapshot's per-owner weighted forecast), and
  what was won.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from crm_kit import bounds
from crm_kit.errors import BadUserInput, Conflict, Forbidden

from ..domain.money import parse_amount, validate_currency, weighted_minor
from ..domain.periods import Period, Range, parse_period, seed_of, simulate
from ..domain.pipeline import WON, Pipeline
from ..domain.rates import Converter
from ..domain.records import OWNER, TEAM, Quota, Submission
from .analytics import HORIZONS, facts_of, finished_months, month_start
from .inputs import QuotaInput, SubmissionInput
from .pipelines import check_pipeline_id, get_pipeline
from .rates import converter, converter_for
from .scope import Scope

SCOPES = (OWNER, TEAM)
MAX_NOTE = 500
MAX_MEMBERS = 200
MAX_ACCURACY_MONTHS = 24
INSERT_RETRIES = 5


@dataclass
class Figures:
    """One scope's forecast of a period, minor units of `currency`."""

    currency: str
    closed_minor: int = 0  # won in the period
    commit_minor: int = 0  # closed + open commit-category deals
    best_case_minor: int = 0  # commit + best case
    weighted_minor: int = 0  # closed + amount x effective probability
    model_minor: int = 0  # closed + amount x model probability (stage default without)
    pipeline_minor: int = 0  # every open deal's amount
    open_deals: int = 0
    undated_open_deals: int = 0  # open, no expected close date: in no period
    unconverted_deals: int = 0  # another currency without a rate
    range: Range | None = None
    _chances: list[tuple[int, float]] = field(default_factory=list, repr=False)

    def won(self, amount: int) -> None:
        self.closed_minor += amount
        self.commit_minor += amount
        self.best_case_minor += amount
        self.weighted_minor += amount
        self.model_minor += amount


def _check_scope(scope: str, scope_id: str) -> tuple[str, str]:
    if scope not in SCOPES:
        raise BadUserInput(f"scope must be one of {', '.join(SCOPES)}", field="input.scope")
    ident = (scope_id or "").strip()
    if not ident or len(ident) > bounds.MAX_ID:
        raise BadUserInput(
            f"scopeId must be 1 to {bounds.MAX_ID} characters", field="input.scopeId"
        )
    return scope, ident


async def _pipeline(scope: Scope, pipeline_id: str | None) -> Pipeline:
    return await get_pipeline(scope, check_pipeline_id(pipeline_id), field="pipelineId")


# --- figures -----------------------------------------------------------------------------


async def figures(
    scope: Scope,
    pipeline: Pipeline,
    period: Period,
    owner_ids: frozenset[str] | None,
    convert: Converter,
    with_range: bool = True,
) -> Figures:
    out = Figures(convert.target)
    low, high = period.start.isoformat(), period.end.isoformat()
    for e in await facts_of(scope, pipeline):
        if e.pipeline_id != pipeline.id:
            continue
        if owner_ids is not None and e.owner_id not in owner_ids:
            continue
        if e.status == WON:
            if e.close_date is None or not low <= e.close_date < high:
                continue
            amount = convert.convert_on(e.amount_minor or 0, e.currency, e.close_date)
            if amount is None:
                out.unconverted_deals += 1
                continue
            out.won(amount)
        elif e.status == "open":
            if e.close_date is None:
                out.undated_open_deals += 1
                continue
            if not low <= e.close_date < high:
                continue
            amount = convert.convert(e.amount_minor or 0, e.currency)
            if amount is None:
                out.unconverted_deals += 1
                continue
            effective = e.probability or 0
            model = e.model_probability
            if model is None:
                model = e.stage_probability if e.stage_probability is not None else effective
            out.open_deals += 1
            out.pipeline_minor += amount
            out.weighted_minor += weighted_minor(amount, effective)
            out.model_minor += weighted_minor(amount, model)
            if e.forecast_category == "commit":
                out.commit_minor += amount
            if e.forecast_category in ("commit", "best_case"):
                out.best_case_minor += amount
            out._chances.append((amount, effective / 100))
    if with_range:
        key = ",".join(sorted(owner_ids)) if owner_ids is not None else "*"
        seed = seed_of(scope.workspace_id, pipeline.id, period.key, key)
        out.range = simulate(out.closed_minor, out._chances, seed)
    return out


async def period_forecast(
    scope: Scope,
    pipeline_id: str | None,
    period_key: str,
    owner_ids: list[str] | None,
    currency: str | None = None,
) -> tuple[Pipeline, Period, Figures]:
    pipeline = await _pipeline(scope, pipeline_id)
    period = parse_period(period_key)
    owners = _owners(owner_ids)
    convert = await converter_for(scope, pipeline, currency)
    return pipeline, period, await figures(scope, pipeline, period, owners, convert)


# --- submissions -------------------------------------------------------------------------


async def submit(scope: Scope, values: SubmissionInput) -> Submission:
    scope.require_write()
    kind, scope_id = _check_scope(values.scope, values.scope_id)
    managing = scope.caller.has_role("admin", "manager")
    if not managing and (kind != OWNER or scope_id != scope.subject):
        raise Forbidden("reps submit their own forecast only (scope OWNER, their own id)")
    pipeline = await _pipeline(scope, values.pipeline_id)
    period = parse_period(values.period, "input.period")
    commit_minor = parse_amount(values.commit, pipeline.currency, "input.commit")
    best_minor = parse_amount(values.best_case, pipeline.currency, "input.bestCase")
    if best_minor < commit_minor:
        raise BadUserInput("bestCase must be at least commit", field="input.bestCase")
    text = (values.note or "").strip() or None
    if text is not None and len(text) > MAX_NOTE:
        raise BadUserInput(f"note is longer than {MAX_NOTE} characters", field="input.note")
    model = None
    if kind == OWNER:
        convert = await converter(scope, pipeline.currency)
        mine = await figures(
            scope, pipeline, period, frozenset({scope_id}), convert, with_range=False
        )
        model = mine.model_minor
    for _ in range(INSERT_RETRIES):
        found = await scope.store.submissions(
            pipeline.id, period=period.key, scope=kind, scope_id=scope_id
        )
        submission = Submission(
            workspace_id=scope.workspace_id,
            pipeline_id=pipeline.id,
            period=period.key,
            scope=kind,
            scope_id=scope_id,
            version=max((s.version for s in found), default=0) + 1,
            currency=pipeline.currency,
            commit_minor=commit_minor,
            best_case_minor=best_minor,
            model_minor=model,
            note=text,
            submitted_by=scope.subject,
            submitted_at=scope.now(),
        )
        if await scope.store.add_submission(submission):
            return submission
    raise Conflict("concurrent submissions; retry", field="input.period")


async def submissions(
    scope: Scope,
    pipeline_id: str | None,
    period_key: str,
    kind: str | None = None,
    scope_id: str | None = None,
) -> list[Submission]:
    """Every version of the period's submissions, newest first per scope."""
    pipeline = await _pipeline(scope, pipeline_id)
    period = parse_period(period_key)
    checked = _check_scope(kind, scope_id or "-")[0] if kind is not None else None
    found = await scope.store.submissions(
        pipeline.id,
        period=period.key,
        scope=checked,
        scope_id=scope_id.strip() if scope_id is not None else None,
    )
    return sorted(found, key=lambda s: (s.scope, s.scope_id, -s.version))


def latest(found: list[Submission], kind: str, scope_id: str) -> Submission | None:
    mine = [s for s in found if s.scope == kind and s.scope_id == scope_id]
    return max(mine, key=lambda s: s.version) if mine else None


# --- quotas ------------------------------------------------------------------------------


async def set_quota(scope: Scope, values: QuotaInput) -> Quota:
    scope.require_manager("only managers and admins set quotas")
    kind, scope_id = _check_scope(values.scope, values.scope_id)
    period = parse_period(values.period, "input.period")
    code = validate_currency(values.currency, "input.currency")
    quota = Quota(
        workspace_id=scope.workspace_id,
        period=period.key,
        scope=kind,
        scope_id=scope_id,
        amount_minor=parse_amount(values.amount, code, "input.amount"),
        currency=code,
        set_by=scope.subject,
        set_at=scope.now(),
    )
    await scope.store.put_quota(quota)
    return quota


async def quotas(scope: Scope, period_key: str) -> list[Quota]:
    period = parse_period(period_key)
    found = await scope.store.quotas(period.key)
    return sorted(found, key=lambda q: (q.scope, q.scope_id))


# --- roll-up -----------------------------------------------------------------------------


@dataclass
class MemberRollup:
    owner_id: str
    figures: Figures
    submission: Submission | None
    quota_minor: int | None

    @property
    def attainment(self) -> float | None:
        if not self.quota_minor:
            return None
        return round(self.figures.closed_minor / self.quota_minor, 4)


@dataclass
class Rollup:
    pipeline_id: str
    period: Period
    team_id: str | None
    currency: str
    members: list[MemberRollup]
    totals: Figures
    adjusted: Submission | None
    team_quota_minor: int | None

    @property
    def submitted_commit_minor(self) -> int:
        return sum(m.submission.commit_minor for m in self.members if m.submission)

    @property
    def submitted_best_case_minor(self) -> int:
        return sum(m.submission.best_case_minor for m in self.members if m.submission)

    @property
    def attainment(self) -> float | None:
        if not self.team_quota_minor:
            return None
        return round(self.totals.closed_minor / self.team_quota_minor, 4)


async def rollup(
    scope: Scope,
    pipeline_id: str | None,
    period_key: str,
    member_ids: list[str],
    team_id: str | None = None,
    currency: str | None = None,
) -> Rollup:
    pipeline = await _pipeline(scope, pipeline_id)
    period = parse_period(period_key)
    members = _owners(member_ids) or frozenset()
    convert = await converter_for(scope, pipeline, currency)
    calls = await submissions(scope, pipeline.id, period.key)
    by_scope = {(q.scope, q.scope_id): q for q in await quotas(scope, period.key)}
    rows = []
    for owner in sorted(members):
        mine = await figures(scope, pipeline, period, frozenset({owner}), convert, False)
        rows.append(
            MemberRollup(
                owner,
                mine,
                latest(calls, OWNER, owner),
                _quota_in(by_scope.get((OWNER, owner)), convert),
            )
        )
    totals = await figures(scope, pipeline, period, members, convert)
    adjusted = latest(calls, TEAM, team_id) if team_id else None
    team_quota = _quota_in(by_scope.get((TEAM, team_id)), convert) if team_id else None
    return Rollup(pipeline.id, period, team_id, convert.target, rows, totals, adjusted, team_quota)


# --- accuracy ----------------------------------------------------------------------------


@dataclass
class AccuracyPoint:
    days_before: int
    as_of: date
    submission: Submission | None
    model_minor: int | None


@dataclass
class AccuracyRow:
    month: str
    currency: str
    actual_minor: int
    points: list[AccuracyPoint]


async def accuracy(
    scope: Scope, pipeline_id: str | None, owner_id: str, months: int = 6
) -> list[AccuracyRow]:
    if not 1 <= months <= MAX_ACCURACY_MONTHS:
        raise BadUserInput(f"months must be 1 to {MAX_ACCURACY_MONTHS}", field="months")
    owner = (owner_id or "").strip()
    if not owner:
        raise BadUserInput("ownerId must not be blank", field="ownerId")
    pipeline = await _pipeline(scope, pipeline_id)
    convert = await converter(scope, pipeline.currency)
    now = scope.now()
    submitted = await scope.store.submissions(pipeline.id, scope=OWNER, scope_id=owner)
    rows = []
    for month in finished_months(now.date(), months):
        period = parse_period(month)
        won = await figures(scope, pipeline, period, frozenset({owner}), convert, False)
        calls = [s for s in submitted if s.period == month]
        points = []
        for horizon in HORIZONS:
            as_of = period.end - timedelta(days=horizon)
            cut = datetime.combine(as_of, datetime.max.time(), tzinfo=now.tzinfo)
            in_force = [s for s in calls if s.submitted_at <= cut]
            call = max(in_force, key=lambda s: s.version) if in_force else None
            model = await _snapshot_model(scope, pipeline.id, owner, month, as_of)
            points.append(AccuracyPoint(horizon, as_of, call, model))
        if not calls and all(p.model_minor is None for p in points):
            continue
        rows.append(AccuracyRow(month, pipeline.currency, won.closed_minor, points))
    return rows


async def _snapshot_model(
    scope: Scope, pipeline_id: str, owner: str, month: str, as_of: date
) -> int | None:
    """The owner's weighted forecast of `month` in the nearest snapshot on or before
    `as_of` (searched back to the first day of the month before)."""
    earliest = month_start(month) - timedelta(days=31)
    days = []
    day = as_of
    while day >= earliest:
        days.append(day)
        day -= timedelta(days=1)
    found = await scope.store.get_snapshots(pipeline_id, days)
    for day in days:
        snapshot = found.get(day)
        if snapshot is None:
            continue
        for row in snapshot.owners:
            if row.owner_id == owner and row.month == month:
                return row.weighted_minor
    return None


def _owners(ids: list[str] | None) -> frozenset[str] | None:
    if ids is None:
        return None
    if len(ids) > MAX_MEMBERS:
        raise BadUserInput(f"at most {MAX_MEMBERS} owners", field="ownerIds")
    return frozenset(i.strip() for i in ids if i and i.strip())


def _quota_in(quota: Quota | None, convert: Converter) -> int | None:
    if quota is None:
        return None
    return convert.convert(quota.amount_minor, quota.currency)
