"""Forecast submissions, quotas, roll-ups for managers, and the accuracy of each
person's calls against the model and what was actually won.

- **Submissions** (`forecast_submissions`): a rep submits commit and best-case figures for
  a period (`OWNER` scope, their own id); a manager or admin submits for anyone, and for a
  team (`TEAM` scope, the manager's adjusted call). Never overwritten: each submission is
  a new version (`<pipeline>:<period>:<scope>:<id>:<version>`, a unique insert, so two
  concurrent submissions get distinct versions). An owner's submission records the
  model's figure for the same scope at that moment, so calls and model can be compared
  later without reconstructing the past.
- **Quotas** (`quotas`): per period and per rep or team, in the pipeline's reporting
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
from typing import Any

from crm_kit.errors import BadUserInput, Conflict, Forbidden

from ..domain.money import format_amount, parse_amount, weighted_minor
from ..domain.periods import Period, Range, parse_period, seed_of, simulate
from ..domain.pipeline import WON, Pipeline
from ..domain.rates import Converter
from ..store.documents import FORECAST_SUBMISSIONS, QUOTAS, DocumentStores
from ..store.forecast_snapshots import SnapshotStore
from .analytics import HORIZONS, month_start, pipeline_entries
from .deals import DealService
from .rates import RatesService
from .win_model import check_pipeline_id

OWNER, TEAM = "OWNER", "TEAM"
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


def _check_scope(scope: str, scope_id: str) -> tuple[str, str]:
    if scope not in SCOPES:
        raise BadUserInput(f"scope must be one of {', '.join(SCOPES)}", field="input.scope")
    ident = (scope_id or "").strip()
    if not ident or len(ident) > 200:
        raise BadUserInput("scopeId must be 1 to 200 characters", field="input.scopeId")
    return scope, ident


def _money(text: str, currency: str, field: str) -> int:
    return parse_amount(text, currency, field)


class ForecastingService:
    def __init__(
        self,
        deals: DealService,
        documents: DocumentStores | None,
        rates: RatesService,
        snapshots: SnapshotStore | None = None,
    ) -> None:
        self.deals = deals
        self.documents = documents
        self.rates = rates
        self.snapshots = snapshots
        self.actor = deals.actor
        self.workspace = deals.store.workspace_id

    def _collection(self, name: str) -> Any:
        if self.documents is None:
            raise BadUserInput("forecast submissions are not available here", field="period")
        return self.documents.collection(name, self.workspace)

    async def _pipeline(self, pipeline_id: str | None) -> Pipeline:
        return await self.deals.pipelines.get(check_pipeline_id(pipeline_id), field="pipelineId")

    # --- figures ---------------------------------------------------------------------------

    async def figures(
        self,
        pipeline: Pipeline,
        period: Period,
        owner_ids: frozenset[str] | None,
        converter: Converter,
        with_range: bool = True,
    ) -> Figures:
        entries = await pipeline_entries(self.deals.store, pipeline.id)
        out = Figures(converter.target)
        low, high = period.start.isoformat(), period.end.isoformat()
        for e in entries:
            if e.pipeline_id != pipeline.id:
                continue
            if owner_ids is not None and e.owner_id not in owner_ids:
                continue
            if e.status == WON:
                if e.close_date is None or not low <= e.close_date < high:
                    continue
                amount = converter.convert_on(e.amount_minor or 0, e.currency, e.close_date)
                if amount is None:
                    out.unconverted_deals += 1
                    continue
                for name in ("closed", "commit", "best_case", "weighted", "model"):
                    setattr(out, f"{name}_minor", getattr(out, f"{name}_minor") + amount)
            elif e.status == "open":
                if e.close_date is None:
                    out.undated_open_deals += 1
                    continue
                if not low <= e.close_date < high:
                    continue
                amount = converter.convert(e.amount_minor or 0, e.currency)
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
            seed = seed_of(self.workspace, pipeline.id, period.key, key)
            out.range = simulate(out.closed_minor, out._chances, seed)
        return out

    async def period_forecast(
        self,
        pipeline_id: str | None,
        period_key: str,
        owner_ids: list[str] | None,
        currency: str | None = None,
    ) -> tuple[Pipeline, Period, Figures]:
        pipeline = await self._pipeline(pipeline_id)
        period = parse_period(period_key)
        owners = _owners(owner_ids)
        converter = await self._converter(pipeline, currency)
        return pipeline, period, await self.figures(pipeline, period, owners, converter)

    async def _converter(self, pipeline: Pipeline, currency: str | None) -> Converter:
        from ..domain.money import validate_currency

        code = pipeline.currency if currency is None else validate_currency(currency, "currency")
        return await self.rates.converter(code)

    # --- submissions --------------------------------------------------------------------------

    async def submit(
        self,
        pipeline_id: str | None,
        period_key: str,
        scope: str,
        scope_id: str,
        commit: str,
        best_case: str,
        note: str | None,
    ) -> dict[str, Any]:
        self.actor.require_write()
        scope, scope_id = _check_scope(scope, scope_id)
        managing = self.actor.request.has_role("admin", "manager")
        if not managing and (scope != OWNER or scope_id != self.actor.subject):
            raise Forbidden("reps submit their own forecast only (scope OWNER, their own id)")
        pipeline = await self._pipeline(pipeline_id)
        period = parse_period(period_key, "input.period")
        commit_minor = _money(commit, pipeline.currency, "input.commit")
        best_minor = _money(best_case, pipeline.currency, "input.bestCase")
        if best_minor < commit_minor:
            raise BadUserInput("bestCase must be at least commit", field="input.bestCase")
        text = (note or "").strip() or None
        if text is not None and len(text) > MAX_NOTE:
            raise BadUserInput(f"note is longer than {MAX_NOTE} characters", field="input.note")
        model = None
        if scope == OWNER:
            converter = await self.rates.converter(pipeline.currency)
            figures = await self.figures(
                pipeline, period, frozenset({scope_id}), converter, with_range=False
            )
            model = figures.model_minor
        collection = self._collection(FORECAST_SUBMISSIONS)
        base = f"{pipeline.id}:{period.key}:{scope}:{scope_id}"
        for _ in range(INSERT_RETRIES):
            found = await collection.scan(
                {
                    "pipeline_id": pipeline.id,
                    "period": period.key,
                    "scope": scope,
                    "scope_id": scope_id,
                }
            )
            version = max((d["version"] for d in found), default=0) + 1
            doc = {
                "pipeline_id": pipeline.id,
                "period": period.key,
                "scope": scope,
                "scope_id": scope_id,
                "version": version,
                "currency": pipeline.currency,
                "commit_minor": commit_minor,
                "best_case_minor": best_minor,
                "model_minor": model,
                "note": text,
                "submitted_by": self.actor.subject,
                "submitted_at": self.actor.clock(),
            }
            if await collection.insert(f"{base}:{version:06d}", doc):
                return doc
        raise Conflict("concurrent submissions; retry", field="input.period")

    async def submissions(
        self,
        pipeline_id: str | None,
        period_key: str,
        scope: str | None = None,
        scope_id: str | None = None,
    ) -> list[dict[str, Any]]:
        pipeline = await self._pipeline(pipeline_id)
        period = parse_period(period_key)
        query: dict[str, Any] = {"pipeline_id": pipeline.id, "period": period.key}
        if scope is not None:
            query["scope"] = _check_scope(scope, scope_id or "-")[0]
        if scope_id is not None:
            query["scope_id"] = scope_id.strip()
        found = await self._collection(FORECAST_SUBMISSIONS).scan(query)
        return sorted(found, key=lambda d: (d["scope"], d["scope_id"], -d["version"]))

    @staticmethod
    def latest(submissions: list[dict[str, Any]], scope: str, scope_id: str) -> dict | None:
        mine = [s for s in submissions if s["scope"] == scope and s["scope_id"] == scope_id]
        return max(mine, key=lambda s: s["version"]) if mine else None

    # --- quotas -------------------------------------------------------------------------------

    async def set_quota(
        self, period_key: str, scope: str, scope_id: str, amount: str, currency: str
    ) -> dict[str, Any]:
        if not self.actor.request.has_role("admin", "manager"):
            raise Forbidden("only managers and admins set quotas")
        from ..domain.money import validate_currency

        scope, scope_id = _check_scope(scope, scope_id)
        period = parse_period(period_key, "input.period")
        code = validate_currency(currency, "input.currency")
        doc = {
            "period": period.key,
            "scope": scope,
            "scope_id": scope_id,
            "amount_minor": _money(amount, code, "input.amount"),
            "currency": code,
            "set_by": self.actor.subject,
            "set_at": self.actor.clock(),
        }
        await self._collection(QUOTAS).put(f"{period.key}:{scope}:{scope_id}", doc)
        return doc

    async def quotas(self, period_key: str) -> list[dict[str, Any]]:
        period = parse_period(period_key)
        found = await self._collection(QUOTAS).scan({"period": period.key})
        return sorted(found, key=lambda d: (d["scope"], d["scope_id"]))

    # --- roll-up --------------------------------------------------------------------------------

    async def rollup(
        self,
        pipeline_id: str | None,
        period_key: str,
        member_ids: list[str],
        team_id: str | None = None,
        currency: str | None = None,
    ) -> Rollup:
        pipeline = await self._pipeline(pipeline_id)
        period = parse_period(period_key)
        members = _owners(member_ids) or frozenset()
        converter = await self._converter(pipeline, currency)
        submissions = await self.submissions(pipeline.id, period.key)
        quotas = {(q["scope"], q["scope_id"]): q for q in await self.quotas(period.key)}
        rows = []
        for owner in sorted(members):
            figures = await self.figures(
                pipeline, period, frozenset({owner}), converter, with_range=False
            )
            rows.append(
                MemberRollup(
                    owner,
                    figures,
                    self.latest(submissions, OWNER, owner),
                    _quota_in(quotas.get((OWNER, owner)), converter),
                )
            )
        totals = await self.figures(pipeline, period, members, converter)
        adjusted = self.latest(submissions, TEAM, team_id) if team_id else None
        team_quota = _quota_in(quotas.get((TEAM, team_id)), converter) if team_id else None
        return Rollup(
            pipeline.id, period, team_id, converter.target, rows, totals, adjusted, team_quota
        )

    # --- accuracy -------------------------------------------------------------------------------

    async def accuracy(
        self, pipeline_id: str | None, owner_id: str, months: int = 6
    ) -> list[AccuracyRow]:
        if not 1 <= months <= MAX_ACCURACY_MONTHS:
            raise BadUserInput(f"months must be 1 to {MAX_ACCURACY_MONTHS}", field="months")
        owner = (owner_id or "").strip()
        if not owner:
            raise BadUserInput("ownerId must not be blank", field="ownerId")
        pipeline = await self._pipeline(pipeline_id)
        converter = await self.rates.converter(pipeline.currency)
        today = self.actor.clock().date()
        finished = _finished_months(today, months)
        submitted = await self._collection(FORECAST_SUBMISSIONS).scan(
            {"pipeline_id": pipeline.id, "scope": OWNER, "scope_id": owner}
        )
        rows = []
        for month in finished:
            period = parse_period(month)
            won = await self.figures(
                pipeline, period, frozenset({owner}), converter, with_range=False
            )
            calls = [s for s in submitted if s["period"] == month]
            points = []
            for horizon in HORIZONS:
                as_of = period.end - timedelta(days=horizon)
                cut = datetime.combine(as_of, datetime.max.time(), tzinfo=self.actor.clock().tzinfo)
                in_force = [s for s in calls if s["submitted_at"] <= cut]
                call = max(in_force, key=lambda s: s["version"]) if in_force else None
                model = await self._snapshot_model(pipeline.id, owner, month, as_of)
                points.append(AccuracyPoint(horizon, as_of, call, model))
            if not calls and all(p.model_minor is None for p in points):
                continue
            rows.append(AccuracyRow(month, pipeline.currency, won.closed_minor, points))
        return rows

    async def _snapshot_model(
        self, pipeline_id: str, owner: str, month: str, as_of: date
    ) -> int | None:
        """The owner's weighted forecast of `month` in the nearest snapshot on or before
        `as_of` (searched back to the first day of the month before)."""
        if self.snapshots is None:
            return None
        earliest = month_start(month) - timedelta(days=31)
        days = []
        day = as_of
        while day >= earliest:
            days.append(day)
            day -= timedelta(days=1)
        found = await self.snapshots.get_snapshots(pipeline_id, days)
        for day in days:
            doc = found.get(day)
            if doc is None:
                continue
            for row in doc.get("owners") or []:
                if row.get("owner_id") == owner and row.get("month") == month:
                    return int(row["weighted_minor"])
        return None


@dataclass
class MemberRollup:
    owner_id: str
    figures: Figures
    submission: dict[str, Any] | None
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
    adjusted: dict[str, Any] | None
    team_quota_minor: int | None

    @property
    def submitted_commit_minor(self) -> int:
        return sum(m.submission["commit_minor"] for m in self.members if m.submission)

    @property
    def submitted_best_case_minor(self) -> int:
        return sum(m.submission["best_case_minor"] for m in self.members if m.submission)

    @property
    def attainment(self) -> float | None:
        if not self.team_quota_minor:
            return None
        return round(self.totals.closed_minor / self.team_quota_minor, 4)


@dataclass
class AccuracyPoint:
    days_before: int
    as_of: date
    submission: dict[str, Any] | None
    model_minor: int | None


@dataclass
class AccuracyRow:
    month: str
    currency: str
    actual_minor: int
    points: list[AccuracyPoint]


def _owners(ids: list[str] | None) -> frozenset[str] | None:
    if ids is None:
        return None
    if len(ids) > MAX_MEMBERS:
        raise BadUserInput(f"at most {MAX_MEMBERS} owners", field="ownerIds")
    cleaned = {i.strip() for i in ids if i and i.strip()}
    return frozenset(cleaned)


def _quota_in(doc: dict[str, Any] | None, converter: Converter) -> int | None:
    if doc is None:
        return None
    return converter.convert(doc["amount_minor"], doc["currency"])


def _finished_months(today: date, months: int) -> list[str]:
    out: list[str] = []
    year, month = today.year, today.month
    for _ in range(months):
        month -= 1
        if month == 0:
            year, month = year - 1, 12
        out.insert(0, f"{year:04d}-{month:02d}")
    return out


def money(minor: int | None, currency: str) -> str | None:
    return None if minor is None else format_amount(minor, currency)
