"""Forecast, forecast snapshots and their measured accuracy, funnel / stage velocity and
owner scorecards.

Every figure is computed in memory from what the store reports of the pipeline's deals
(`pipeline_facts`: the read index's entries on the embedded database, one projected scan
elsewhere): no query per figure.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol, TypeVar

from crm_kit.clock import as_utc
from crm_kit.errors import BadUserInput, NotFound
from crm_kit.periodic import every

from ..config import SNAPSHOT_LEASES
from ..domain.facts import ReportedDeal
from ..domain.forecast import (
    MAX_MONTHS,
    Forecast,
    ForecastMonth,
    build_forecast,
    month_of,
    months_in,
    next_month,
)
from ..domain.funnel import Funnel, Scorecard, Window, funnel, scorecards
from ..domain.pipeline import Pipeline
from ..domain.queries import EVERY_DEAL
from ..domain.rates import Converter
from ..domain.records import ForecastSnapshot, Lease, SnapshotMonth
from ..domain.report_parts import merge_forecasts, merge_funnels, merge_scorecards
from ..store.port import DealsStore
from .pipelines import check_pipeline_id, get_pipeline
from .rates import converter, converter_for
from .scope import Scope, Scopes, service_caller
from .visibility import AMOUNT, narrowed

log = logging.getLogger(__name__)

R = TypeVar("R")

SNAPSHOT_SUBJECT = "forecast-snapshot"
# Forecast accuracy is measured this many days before each month's end.
HORIZONS = (30, 14, 7)
MAX_ACCURACY_MONTHS = 24
SETTLED_AFTER_DAYS = 2


def month_start(month: str) -> date:
    return date(int(month[:4]), int(month[5:7]), 1)


def _epoch(value: datetime | None) -> int | None:
    return None if value is None else int(as_utc(value).timestamp())


def window_of(start: datetime | None, end: datetime | None) -> Window:
    if start is not None and end is not None and start >= end:
        raise BadUserInput("`from` must be before `to`", field="to")
    return _epoch(start), _epoch(end)


@dataclass
class HorizonPoint:
    days_before: int
    as_of: date
    snapshot_day: date | None
    commit_minor: int | None
    best_case_minor: int | None
    weighted_minor: int | None


@dataclass
class AccuracyMonth:
    month: str
    currency: str
    actual_minor: int
    actual_count: int
    horizons: list[HorizonPoint]


def snapshot_months(forecast: Forecast, owner_id: str | None = None) -> list[SnapshotMonth]:
    return [
        SnapshotMonth(
            month=m.month or "",
            closed_minor=m.closed_minor,
            commit_minor=m.commit_minor,
            best_case_minor=m.best_case_minor,
            weighted_minor=m.weighted_minor,
            pipeline_minor=m.pipeline_minor,
            open_count=sum(m.categories[c].count for c in ("commit", "best_case", "pipeline")),
            won_count=m.categories["closed"].count,
            owner_id=owner_id,
        )
        for m in forecast.months
    ]


async def _pipeline(scope: Scope, pipeline_id: str | None) -> Pipeline:
    return await get_pipeline(scope, check_pipeline_id(pipeline_id), field="pipelineId")


async def report(
    scope: Scope,
    pipeline: Pipeline,
    key: Hashable,
    compute: Callable[[Sequence[ReportedDeal]], R],
    merge: Callable[[Sequence[R]], R] | None = None,
) -> R:
    """`compute` over the facts the caller may add up (as `facts_of`), kept by the store
    until a deal changes: `key` names every other input of `compute` (the pipeline's
    version, the window, the converter's target, rates and day...), the store adds the
    caller's visibility. `merge` (`domain.report_parts`) lets the store keep it in parts
    and compute again only the part of the deals that changed."""
    access = await scope.access()
    access.require_field(AMOUNT, "amount")
    seen = None if access.of("deal").everything else await narrowed(scope, EVERY_DEAL)
    full_key = (key, pipeline.id, pipeline.version)
    found: R = await scope.store.pipeline_report(pipeline.id, seen, full_key, compute, merge)
    return found


async def facts_of(scope: Scope, pipeline: Pipeline) -> Sequence[ReportedDeal]:
    """The facts every report adds up: of the deals the caller sees (record sharing), and
    refused (FORBIDDEN) to a role that may not read amounts, as the figures are sums of
    them."""
    access = await scope.access()
    access.require_field(AMOUNT, "amount")
    if access.of("deal").everything:
        return await scope.store.pipeline_facts(pipeline.id)
    return await scope.store.pipeline_facts(pipeline.id, await narrowed(scope, EVERY_DEAL))


async def forecast(
    scope: Scope,
    pipeline_id: str | None,
    start: date,
    end: date,
    owner_id: str | None = None,
    currency: str | None = None,
) -> tuple[Pipeline, Forecast]:
    if start >= end:
        raise BadUserInput("`from` must be before `to`", field="to")
    if len(months_in(start, end)) > MAX_MONTHS:
        raise BadUserInput(f"the range spans more than {MAX_MONTHS} months", field="to")
    pipeline = await _pipeline(scope, pipeline_id)
    convert = await converter_for(scope, pipeline, currency)
    figures = await report(
        scope,
        pipeline,
        ("forecast", start, end, owner_id, convert.key),
        lambda facts: build_forecast(
            facts, pipeline.id, start, end, convert.target, owner_id, converter=convert
        ),
        merge_forecasts,
    )
    return pipeline, figures


async def pipeline_analytics(
    scope: Scope,
    pipeline_id: str | None,
    start: datetime | None,
    end: datetime | None,
    owner_id: str | None = None,
    currency: str | None = None,
) -> tuple[Pipeline, Funnel]:
    window = window_of(start, end)
    pipeline = await _pipeline(scope, pipeline_id)
    convert = await converter_for(scope, pipeline, currency)
    figures = await report(
        scope,
        pipeline,
        ("funnel", window, owner_id, convert.key),
        lambda facts: funnel(facts, pipeline, window, convert.target, owner_id, convert),
        merge_funnels,
    )
    return pipeline, figures


async def owner_scorecards(
    scope: Scope,
    pipeline_id: str | None,
    start: datetime | None,
    end: datetime | None,
    currency: str | None = None,
) -> tuple[Pipeline, list[Scorecard]]:
    window = window_of(start, end)
    pipeline = await _pipeline(scope, pipeline_id)
    convert = await converter_for(scope, pipeline, currency)
    now = scope.now()
    held: KeptScorecards = await report(
        scope,
        pipeline,
        ("scorecards", window, convert.key),
        lambda facts: HeldScorecards(facts, pipeline.id, window, convert),
        MergedScorecards,
    )
    return pipeline, held.at(now)


class KeptScorecards(Protocol):
    def at(self, now: datetime) -> list[Scorecard]: ...


class MergedScorecards:
    """Scorecards kept in parts (`report`): each part holds its own span of time (its
    deals' `stale_at`s), the cards at a time are the parts' merged."""

    def __init__(self, parts: Sequence[KeptScorecards]) -> None:
        self._parts = parts

    def at(self, now: datetime) -> list[Scorecard]:
        return merge_scorecards([part.at(now) for part in self._parts])


class HeldScorecards:
    """Owner scorecards kept between requests. They count the open deals stale at the
    request's time, so they hold for a span of time: from the latest `stale_at` at or
    before the time they were computed at to the next one after it (no deal turns stale
    in between); outside it they are computed again over the same facts."""

    def __init__(
        self, facts: Sequence[ReportedDeal], pipeline_id: str, window: Window, convert: Converter
    ) -> None:
        self._facts = facts
        self._pipeline_id = pipeline_id
        self._window = window
        self._convert = convert
        self._valid: tuple[datetime | None, datetime | None] = (None, None)
        self._cards: list[Scorecard] | None = None

    def at(self, now: datetime) -> list[Scorecard]:
        since, until = self._valid
        if (
            self._cards is None
            or (since is not None and now < since)
            or (until is not None and now >= until)
        ):
            self._cards = scorecards(
                self._facts,
                self._pipeline_id,
                self._window,
                self._convert.target,
                now,
                self._convert,
            )
            self._valid = _stale_span(self._facts, self._pipeline_id, now)
        return self._cards


def _stale_span(
    facts: Sequence[ReportedDeal], pipeline_id: str, now: datetime
) -> tuple[datetime | None, datetime | None]:
    """The latest `stale_at` at or before `now` and the first after it among the
    pipeline's open deals (None: there is none)."""
    since: datetime | None = None
    until: datetime | None = None
    for deal in facts:
        at = deal.stale_at
        if at is None or deal.status != "open" or deal.pipeline_id != pipeline_id:
            continue
        if at <= now:
            since = at if since is None or at > since else since
        elif until is None or at < until:
            until = at
    return since, until


# --- snapshots and accuracy ----------------------------------------------------------------


async def take_snapshot(
    scope: Scope, pipeline_id: str | None, *, on_demand: bool = True
) -> ForecastSnapshot:
    """Today's snapshot of the current and next month's forecast (replaces an earlier one
    of the same day). On demand: managers and admins."""
    if on_demand:
        scope.require_manager("only managers and admins take forecast snapshots")
    pipeline = await _pipeline(scope, pipeline_id)
    now = scope.now()
    today = now.date()
    this_month = month_of(today)
    end = month_start(next_month(next_month(this_month)))
    facts = await facts_of(scope, pipeline)
    convert = await converter(scope, pipeline.currency)
    start = month_start(this_month)
    overall = build_forecast(facts, pipeline.id, start, end, pipeline.currency, converter=convert)
    # Each owner's figures too: what the model (the weighted forecast) and the categories
    # said about each person's months, for the accuracy of submissions.
    owners = sorted({e.owner_id for e in facts if e.owner_id and e.pipeline_id == pipeline.id})
    per_owner: list[SnapshotMonth] = []
    for owner in owners:
        mine = build_forecast(
            facts, pipeline.id, start, end, pipeline.currency, owner, converter=convert
        )
        per_owner += snapshot_months(mine, owner)
    snapshot = ForecastSnapshot(
        workspace_id=scope.workspace_id,
        pipeline_id=pipeline.id,
        day=today,
        taken_at=now,
        taken_by=scope.subject,
        currency=pipeline.currency,
        months=snapshot_months(overall),
        owners=per_owner,
    )
    await scope.store.put_snapshot(snapshot)
    return snapshot


def days_back(start: date, earliest: date) -> list[date]:
    """`start`, the day before, ... down to `earliest`."""
    days = []
    day = start
    while day >= earliest:
        days.append(day)
        day -= timedelta(days=1)
    return days


async def accuracy(scope: Scope, pipeline_id: str | None, months: int = 6) -> list[AccuracyMonth]:
    """For each of the last `months` finished months that has snapshots: the forecast as
    of 30 / 14 / 7 days before the month's end (the nearest snapshot at or before that day
    that covers the month) against the amount actually won in it."""
    if not 1 <= months <= MAX_ACCURACY_MONTHS:
        raise BadUserInput(f"months must be 1 to {MAX_ACCURACY_MONTHS}", field="months")
    pipeline = await _pipeline(scope, pipeline_id)
    finished = finished_months(scope.now().date(), months)
    # For each (month, horizon): candidate days from `as_of` back to the first day of the
    # previous month (a snapshot covers its own and the next month).
    searches: dict[tuple[str, int], list[date]] = {}
    for month in finished:
        end = month_start(next_month(month))
        earliest = month_start(previous_month(month))
        for horizon in HORIZONS:
            searches[(month, horizon)] = days_back(end - timedelta(days=horizon), earliest)
    found = await _nearest(scope, pipeline.id, searches)
    facts = await facts_of(scope, pipeline)
    actual = build_forecast(
        facts,
        pipeline.id,
        month_start(finished[0]),
        month_start(next_month(finished[-1])),
        pipeline.currency,
        converter=await converter(scope, pipeline.currency),
    )
    by_month: dict[str, ForecastMonth] = {m.month or "": m for m in actual.months}
    result: list[AccuracyMonth] = []
    for month in finished:
        points = []
        for horizon in HORIZONS:
            end = month_start(next_month(month))
            snap = found.get((month, horizon))
            row = None
            if snap is not None and snap.currency == pipeline.currency:
                row = snap.month(month)
            points.append(
                HorizonPoint(
                    days_before=horizon,
                    as_of=end - timedelta(days=horizon),
                    snapshot_day=snap.day if snap is not None and row else None,
                    commit_minor=row.commit_minor if row else None,
                    best_case_minor=row.best_case_minor if row else None,
                    weighted_minor=row.weighted_minor if row else None,
                )
            )
        if all(p.snapshot_day is None for p in points):
            continue
        won = by_month[month].categories["closed"]
        result.append(AccuracyMonth(month, pipeline.currency, won.amount_minor, won.count, points))
    return result


async def _nearest(
    scope: Scope, pipeline_id: str, searches: dict[tuple[str, int], list[date]]
) -> dict[tuple[str, int], ForecastSnapshot]:
    """Probe by id, one day back per round for the searches not yet satisfied (with daily
    snapshots: one read per search)."""
    found: dict[tuple[str, int], ForecastSnapshot] = {}
    cache: dict[date, ForecastSnapshot | None] = {}
    step = 0
    pending = {key for key, days in searches.items() if days}
    while pending:
        wanted = {searches[key][step] for key in pending} - cache.keys()
        got = await scope.store.get_snapshots(
            pipeline_id, sorted(wanted), settled_before=settled_before(scope)
        )
        for day in wanted:
            cache[day] = got.get(day)
        for key in list(pending):
            snap = cache[searches[key][step]]
            if snap is not None and snap.month(key[0]) is not None:
                found[key] = snap
                pending.discard(key)
            elif step + 1 >= len(searches[key]):
                pending.discard(key)
        step += 1
    return found


def settled_before(scope: Scope) -> date:
    """Days before this are past every writer of snapshots: a snapshot is taken for the
    day it is taken on, and two days leave room for replicas' clocks around midnight."""
    return scope.now().date() - timedelta(days=SETTLED_AFTER_DAYS)


def previous_month(month: str) -> str:
    year, mon = int(month[:4]), int(month[5:7])
    return f"{year - 1:04d}-12" if mon == 1 else f"{year:04d}-{mon - 1:02d}"


def finished_months(today: date, months: int) -> list[str]:
    """The `months` months before the current one, oldest first."""
    out = [month_of(today)]
    for _ in range(months):
        out.insert(0, previous_month(out[0]))
    return out[:-1]


class SnapshotScheduler:
    """Takes each pipeline's daily forecast snapshot. Every replica checks; the unique
    insert of a lease per (workspace, pipeline, day) lets exactly one of them do it. A day
    that already has a snapshot (e.g. taken on demand) is skipped."""

    def __init__(self, store: DealsStore, scopes: Scopes, *, check_seconds: float = 600.0) -> None:
        self.store = store
        self.scopes = scopes
        self.check_seconds = check_seconds

    async def run_once(self) -> list[tuple[str, str]]:
        done = []
        for workspace, pipeline_id in await self.store.all_pipelines():
            scope = self.scopes(service_caller(workspace, SNAPSHOT_SUBJECT))
            now = scope.now()
            today = now.date()
            if await scope.store.get_snapshots(pipeline_id, [today]):
                continue
            key = f"{pipeline_id}:{today.isoformat()}"
            lease = Lease(key, workspace, now, pipeline_id=pipeline_id)
            if not await scope.store.take_lease(SNAPSHOT_LEASES, lease):
                continue
            try:
                await take_snapshot(scope, pipeline_id, on_demand=False)
            except NotFound:
                continue
            done.append((workspace, pipeline_id))
        return done

    async def run(self) -> None:
        await every(self.check_seconds, self.run_once, "forecast snapshot pass")
