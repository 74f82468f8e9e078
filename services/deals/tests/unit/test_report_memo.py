"""The dashboards' figures kept between requests by the read index (`pipeline_report`):
equal to the store without the index for every role, computed once while no deal
changes, computed again after any change (this process's write or another's, through
the index) and, for the scorecards, once the clock passes a deal's `stale_at`."""

from __future__ import annotations

import dataclasses
import random
from datetime import datetime, timedelta
from typing import Any

import pytest

from crm_contracts import tasks as contract
from crm_deals.store.port import WorkspaceStore
from crm_deals.usecases import analytics, deals
from crm_deals.usecases.inputs import DealChanges
from crm_deals.usecases.scope import Scope
from crm_kit.access_view import AccessViews
from crm_kit.context import RequestContext

from .test_read_index import NOW, Pair, random_doc, seed

START, END = NOW - timedelta(days=30), NOW + timedelta(days=1)


def scope_of(
    store: WorkspaceStore,
    subject: str = "alice",
    role: str = "admin",
    at: datetime = NOW,
    views: AccessViews | None = None,
) -> Scope:
    caller = RequestContext("w1", subject, frozenset({role}))
    return Scope(store, caller, lambda: at, views=views)


async def own_deals_only(pair: Pair) -> AccessViews:
    """Record sharing at `own`: a rep sees the deals they own."""
    views = AccessViews(pair.db)
    changed = contract.AccessSettingsChanged(sharing={"deal": "own"}, field_roles=[], version=1)
    await views.settings_changed("w1", changed)
    return views


def value(result: Any) -> Any:
    """A report's figures as plain values (dicts compared without their order; the
    converter each carries is the request's, not a figure)."""
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        return {
            f.name: value(getattr(result, f.name))
            for f in dataclasses.fields(result)
            if f.name != "converter"
        }
    if isinstance(result, list | tuple):
        return [value(item) for item in result]
    if isinstance(result, dict):
        return {key: value(item) for key, item in result.items()}
    return result


async def figures(scope: Scope) -> tuple[Any, ...]:
    """The three dashboards' results, compared by value."""
    _, fc = await analytics.forecast(scope, None, START.date(), END.date() + timedelta(days=90))
    _, fu = await analytics.pipeline_analytics(scope, None, START, END)
    _, cards = await analytics.owner_scorecards(scope, None, START, END)
    return value(fc), value(fu), value(cards)


class Counted:
    """How many times the reports were computed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        for name, module in (
            ("funnel", analytics),
            ("build_forecast", analytics),
            ("scorecards", analytics),
        ):
            real = getattr(module, name)
            monkeypatch.setattr(module, name, self._counting(real))

    def _counting(self, real: Any) -> Any:
        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return real(*args, **kwargs)

        return counted


@pytest.mark.parametrize("seed_value", range(3))
async def test_kept_figures_equal_the_store_for_every_caller(seed_value: int) -> None:
    pair = Pair()
    seed(pair, random.Random(300 + seed_value), 150)
    views = await own_deals_only(pair)
    callers = (("alice", "admin"), ("o1", "rep"), ("o2", "rep"), ("o1", "rep"), ("m", "manager"))
    seen = []
    for subject, role in callers:
        want = await figures(scope_of(pair.plain, subject, role, views=views))
        assert await figures(scope_of(pair.store, subject, role, views=views)) == want
        assert await figures(scope_of(pair.store, subject, role, views=views)) == want  # kept
        seen.append(want)
    assert seen[1] != seen[0] and seen[1] != seen[2]  # each rep their own figures


async def test_computed_once_between_changes_and_again_after_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pair = Pair()
    docs = seed(pair, random.Random(7), 80)
    counted = Counted(monkeypatch)
    scope = scope_of(pair.store)
    first = await figures(scope)
    assert counted.calls == 3
    assert await figures(scope) == first and counted.calls == 3  # nothing changed
    # A rep who sees only their deals has their own figures, computed for them.
    views = await own_deals_only(pair)
    await figures(scope_of(pair.store, "o1", "rep", views=views))
    assert counted.calls == 6
    await figures(scope_of(pair.store, "o1", "rep", views=views))
    assert counted.calls == 6
    # This process's write empties what was kept.
    open_deal = next(
        d
        for d in docs
        if d["status"] == "open"
        and d["deleted_at"] is None
        and d["currency"] == "USD"
        and d["pipeline_id"] == "w1:default"
    )
    await deals.update_deal(scope, open_deal["_id"], DealChanges(amount="777"))
    changed = await figures(scope)
    assert counted.calls == 9
    assert changed != first
    assert changed == await figures(scope_of(pair.plain))  # (the plain store: 3 more)
    # Another replica's write, once the index has it, too.
    other = random_doc(random.Random(8)) | {"pipeline_id": "w1:default", "deleted_at": None}
    pair.put(other)
    await pair.index.refresh("w1", [other["_id"]])
    assert await figures(scope) == await figures(scope_of(pair.plain))
    assert counted.calls == 12 + 3 + 3  # again for the index, and for the plain store


async def test_scorecards_follow_the_clock_past_a_stale_at(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pair = Pair()
    doc = random_doc(random.Random(1)) | {
        "status": "open",
        "stage_key": "qualification",
        "pipeline_id": "w1:default",
        "owner_id": "o1",
        "stale_at": NOW + timedelta(hours=1),
        "deleted_at": None,
    }
    pair.put(doc)
    counted = Counted(monkeypatch)

    async def stale_at(at: datetime) -> int:
        _, cards = await analytics.owner_scorecards(scope_of(pair.store, at=at), None, START, END)
        _, plain = await analytics.owner_scorecards(scope_of(pair.plain, at=at), None, START, END)
        assert value(cards) == value(plain)
        return sum(card.stale for card in cards)

    assert await stale_at(NOW) == 0
    assert await stale_at(NOW + timedelta(minutes=59)) == 0
    assert counted.calls == 3  # kept within the span: once for the index, twice plain
    assert await stale_at(NOW + timedelta(hours=2)) == 1  # no write: the clock moved
    assert counted.calls == 5
    assert await stale_at(NOW + timedelta(minutes=30)) == 0  # back before it
