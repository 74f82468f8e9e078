"""Forecast, forecast snapshots and their measured accuracy, funnel / stage velocity and
owner scorecards.

Every figure is computed in memory from the read index's entries of the pipeline's deals
(`IndexedDealStore.entries`): no query per request. Without the index (`DEALS_INDEX=off`,
or a workspace it cannot load) the same entries are built from one projected scan.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from crm_kit.context import RequestContext
from crm_kit.errors import BadUserInput, Forbidden, NotFound
from crm_kit.periodic import every

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
from ..domain.money import validate_currency
from ..domain.pipeline import Pipeline
from ..store.documents import DocumentStores
from ..store.forecast_snapshots import SnapshotStore, SnapshotStores, snapshot_id
from ..store.index_entry import PROJECTION, Entry, entry_of
from ..store.protocol import DealStore, StoreFactory
from .context import Actor
from .deals import DealService
from .rates import RatesService
from .win_model import check_pipeline_id

log = logging.getLogger(__name__)

SNAPSHOT_SUBJECT = "forecast-snapshot"
# Forecast accuracy is measured this many days before each month's end.
HORIZONS = (30, 14, 7)
MAX_ACCURACY_MONTHS = 24


async def pipeline_entries(store: DealStore, pipeline_id: str) -> list[Entry]:
    entries = getattr(store, "entries", None)
    if entries is not None:
        found = await entries(pipeline_id)
        if found is not None:
            return found
    return [
        entry_of(doc)
        async for doc in store.scan_deals(PROJECTION)
        if doc.get("pipeline_id") == pipeline_id
    ]


def month_start(month: str) -> date:
    return date(int(month[:4]), int(month[5:7]), 1)


def _epoch(value: datetime | None) -> int | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp())


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


def snapshot_months(forecast: Forecast) -> list[dict]:
    return [
        {
            "month": m.month,
            "closed_minor": m.closed_minor,
            "commit_minor": m.commit_minor,
            "best_case_minor": m.best_case_minor,
            "weighted_minor": m.weighted_minor,
            "pipeline_minor": m.pipeline_minor,
            "open_count": sum(m.categories[c].count for c in ("commit", "best_case", "pipeline")),
            "won_count": m.categories["closed"].count,
        }
        for m in forecast.months
    ]


class AnalyticsService:
    def __init__(
        self,
        deals: DealService,
        snapshots: SnapshotStore | None = None,
        rates: RatesService | None = None,
    ) -> None:
        self.deals = deals
        self.snapshots = snapshots
        self.actor = deals.actor
        self.rates = rates or RatesService(None, deals.actor)

    async def _pipeline(self, pipeline_id: str | None) -> Pipeline:
        return await self.deals.pipelines.get(check_pipeline_id(pipeline_id), field="pipelineId")

    def _currency(self, currency: str | None, pipeline: Pipeline) -> str:
        return pipeline.currency if currency is None else validate_currency(currency, "currency")

    async def forecast(
        self,
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
        pipeline = await self._pipeline(pipeline_id)
        code = self._currency(currency, pipeline)
        entries = await pipeline_entries(self.deals.store, pipeline.id)
        converter = await self.rates.converter(code)
        return pipeline, build_forecast(
            entries, pipeline.id, start, end, code, owner_id, converter=converter
        )

    async def pipeline_analytics(
        self,
        pipeline_id: str | None,
        start: datetime | None,
        end: datetime | None,
        owner_id: str | None = None,
        currency: str | None = None,
    ) -> tuple[Pipeline, Funnel]:
        window = window_of(start, end)
        pipeline = await self._pipeline(pipeline_id)
        code = self._currency(currency, pipeline)
        entries = await pipeline_entries(self.deals.store, pipeline.id)
        converter = await self.rates.converter(code)
        return pipeline, funnel(entries, pipeline, window, code, owner_id, converter)

    async def owner_scorecards(
        self,
        pipeline_id: str | None,
        start: datetime | None,
        end: datetime | None,
        currency: str | None = None,
    ) -> tuple[Pipeline, list[Scorecard]]:
        window = window_of(start, end)
        pipeline = await self._pipeline(pipeline_id)
        code = self._currency(currency, pipeline)
        entries = await pipeline_entries(self.deals.store, pipeline.id)
        converter = await self.rates.converter(code)
        cards = scorecards(entries, pipeline.id, window, code, self.actor.clock(), converter)
        return pipeline, cards

    # --- snapshots and accuracy --------------------------------------------------------------

    def _snapshot_store(self) -> SnapshotStore:
        if self.snapshots is None:
            raise NotFound("forecast snapshots are not available here")
        return self.snapshots

    async def snapshot(self, pipeline_id: str | None, *, on_demand: bool = True) -> dict:
        """Today's snapshot of the current and next month's forecast (replaces an earlier
        one of the same day). On demand: managers and admins."""
        if on_demand and not self.actor.request.has_role("admin", "manager"):
            raise Forbidden("only managers and admins take forecast snapshots")
        store = self._snapshot_store()
        pipeline = await self._pipeline(pipeline_id)
        now = self.actor.clock()
        today = now.date()
        this_month = month_of(today)
        end = month_start(next_month(next_month(this_month)))
        entries = await pipeline_entries(self.deals.store, pipeline.id)
        converter = await self.rates.converter(pipeline.currency)
        start = month_start(this_month)
        forecast = build_forecast(
            entries, pipeline.id, start, end, pipeline.currency, converter=converter
        )
        # Each owner's figures too: what the model (the weighted forecast) and the
        # categories said about each person's months, for the accuracy of submissions.
        owners = sorted(
            {e.owner_id for e in entries if e.owner_id and e.pipeline_id == pipeline.id}
        )
        per_owner = []
        for owner in owners:
            mine = build_forecast(
                entries, pipeline.id, start, end, pipeline.currency, owner, converter=converter
            )
            per_owner += [{"owner_id": owner, **row} for row in snapshot_months(mine)]
        doc = {
            "_id": snapshot_id(self.deals.store.workspace_id, pipeline.id, today),
            "pipeline_id": pipeline.id,
            "day": today.isoformat(),
            "taken_at": now,
            "taken_by": self.actor.subject,
            "currency": pipeline.currency,
            "months": snapshot_months(forecast),
            "owners": per_owner,
        }
        await store.put_snapshot(doc)
        return doc

    async def accuracy(self, pipeline_id: str | None, months: int = 6) -> list[AccuracyMonth]:
        """For each of the last `months` finished months that has snapshots: the forecast
        as of 30 / 14 / 7 days before the month's end (the nearest snapshot at or before
        that day that covers the month) against the amount actually won in it."""
        if not 1 <= months <= MAX_ACCURACY_MONTHS:
            raise BadUserInput(f"months must be 1 to {MAX_ACCURACY_MONTHS}", field="months")
        store = self._snapshot_store()
        pipeline = await self._pipeline(pipeline_id)
        today = self.actor.clock().date()
        current = month_of(today)
        finished = [current]
        for _ in range(months):
            finished.insert(0, _previous_month(finished[0]))
        finished = finished[:-1]
        # For each (month, horizon): candidate days from `as_of` back to the first day of
        # the previous month (a snapshot covers its own and the next month).
        searches: dict[tuple[str, int], list[date]] = {}
        for month in finished:
            end = month_start(next_month(month))
            earliest = month_start(_previous_month(month))
            for horizon in HORIZONS:
                as_of = end - timedelta(days=horizon)
                days = []
                day = as_of
                while day >= earliest:
                    days.append(day)
                    day -= timedelta(days=1)
                searches[(month, horizon)] = days
        found = await self._nearest(store, pipeline.id, searches)
        entries = await pipeline_entries(self.deals.store, pipeline.id)
        actual = build_forecast(
            entries,
            pipeline.id,
            month_start(finished[0]),
            month_start(next_month(finished[-1])),
            pipeline.currency,
            converter=await self.rates.converter(pipeline.currency),
        )
        by_month: dict[str, ForecastMonth] = {m.month or "": m for m in actual.months}
        result: list[AccuracyMonth] = []
        for month in finished:
            points = []
            for horizon in HORIZONS:
                end = month_start(next_month(month))
                snap = found.get((month, horizon))
                row = None
                if snap is not None and snap.get("currency") == pipeline.currency:
                    row = next((m for m in snap.get("months", []) if m["month"] == month), None)
                points.append(
                    HorizonPoint(
                        days_before=horizon,
                        as_of=end - timedelta(days=horizon),
                        snapshot_day=date.fromisoformat(snap["day"]) if row else None,
                        commit_minor=row["commit_minor"] if row else None,
                        best_case_minor=row["best_case_minor"] if row else None,
                        weighted_minor=row["weighted_minor"] if row else None,
                    )
                )
            if all(p.snapshot_day is None for p in points):
                continue
            won = by_month[month].categories["closed"]
            result.append(
                AccuracyMonth(month, pipeline.currency, won.amount_minor, won.count, points)
            )
        return result

    @staticmethod
    async def _nearest(
        store: SnapshotStore, pipeline_id: str, searches: dict[tuple[str, int], list[date]]
    ) -> dict[tuple[str, int], dict]:
        """Probe by `_id`, one day back per round for the searches not yet satisfied (with
        daily snapshots: one read per search)."""
        found: dict[tuple[str, int], dict] = {}
        cache: dict[date, dict | None] = {}
        step = 0
        pending = {key for key, days in searches.items() if days}
        while pending:
            wanted = {searches[key][step] for key in pending} - cache.keys()
            got = await store.get_snapshots(pipeline_id, sorted(wanted))
            for day in wanted:
                cache[day] = got.get(day)
            for key in list(pending):
                doc = cache[searches[key][step]]
                month = key[0]
                if doc is not None and any(m["month"] == month for m in doc.get("months", [])):
                    found[key] = doc
                    pending.discard(key)
                elif step + 1 >= len(searches[key]):
                    pending.discard(key)
            step += 1
        return found


def _previous_month(month: str) -> str:
    year, mon = int(month[:4]), int(month[5:7])
    return f"{year - 1:04d}-12" if mon == 1 else f"{year:04d}-{mon - 1:02d}"


class SnapshotScheduler:
    """Takes each pipeline's daily forecast snapshot. Every replica checks; the unique
    insert of a lease per (workspace, pipeline, day) lets exactly one of them do it. A day
    that already has a snapshot (e.g. taken on demand) is skipped."""

    def __init__(
        self,
        stores: StoreFactory,
        snapshots: SnapshotStores,
        *,
        clock: Callable[[], datetime],
        check_seconds: float = 600.0,
        documents: DocumentStores | None = None,
    ) -> None:
        self.documents = documents
        self.stores = stores
        self.snapshots = snapshots
        self.clock = clock
        self.check_seconds = check_seconds

    async def run_once(self) -> list[tuple[str, str]]:
        now = self.clock()
        today = now.date()
        done = []
        for workspace, pipeline_id in await self.snapshots.all_pipelines():
            store = self.snapshots.for_workspace(workspace)
            if await store.get_snapshot(pipeline_id, today) is not None:
                continue
            if not await self.snapshots.take_lease(workspace, pipeline_id, today, now):
                continue
            actor = Actor(
                RequestContext(workspace, SNAPSHOT_SUBJECT, frozenset({"admin"})), clock=self.clock
            )
            deals = DealService(self.stores.for_workspace(workspace), actor)
            try:
                rates = RatesService(self.documents, actor)
                await AnalyticsService(deals, store, rates).snapshot(pipeline_id, on_demand=False)
            except NotFound:
                continue
            done.append((workspace, pipeline_id))
        return done

    async def run(self) -> None:
        await every(self.check_seconds, self.run_once, "forecast snapshot pass")
