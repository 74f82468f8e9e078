"""The dashboards' figures kept between requests by the read index (`pipeline_report`):
equal to the store without the index for every role, computed once while no deal
changes, computed again after any change (this process's write or another's, through
the index) and, for the scorecards, once the clock passes a deal's `stale_at`. The
reports are kept in parts, one per owner of deals (`WorkspaceDeals.report`), shared by
every caller who sees that owner's deals: after a change only the changed deal's owner's
part is computed again, and the figures equal a fresh computation after any sequence of
writes."""

from __future__ import annotations

import dataclasses
import random
from datetime import datetime, timedelta
from typing import Any

import pytest

from crm_contracts import tasks as contract
from crm_deals.store.documents import deal_from_doc, deal_to_doc
from crm_deals.store.port import WorkspaceStore
from crm_deals.usecases import analytics, deals
from crm_deals.usecases.inputs import DealChanges
from crm_deals.usecases.scope import Scope
from crm_kit.access_view import AccessViews
from crm_kit.context import RequestContext

from .test_read_index import NOW, STAGES, Pair, random_doc, seed

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
        if all(isinstance(item, int) for item in result):
            # Durations (stays, cycles): a multiset, only ever shown as percentiles.
            return sorted(result)
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
    data = await pair.index.entries("w1")
    assert data is not None
    owners = data.owners(None)
    assert None in owners and {"o1", "o2", "o3"} <= set(owners)
    whole = 3 * len(owners)  # each report per owner's part
    first = await figures(scope)
    assert counted.calls == whole
    assert await figures(scope) == first and counted.calls == whole  # nothing changed
    # A rep who sees only their deals has their own figures, merged from the parts of the
    # owners they see (their own and nobody's), which the admin's made already.
    views = await own_deals_only(pair)
    rep = await figures(scope_of(pair.store, "o1", "rep", views=views))
    assert rep == await figures(scope_of(pair.plain, "o1", "rep", views=views))
    assert counted.calls == whole + 3  # (the plain store's three)
    await figures(scope_of(pair.store, "o1", "rep", views=views))
    assert counted.calls == whole + 3
    # This process's write empties what was kept of its deal's owner's part.
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
    assert counted.calls == whole + 3 + 3
    assert changed != first
    assert changed == await figures(scope_of(pair.plain))  # (the plain store: 3 more)
    # Another replica's write, once the index has it, too.
    other = random_doc(random.Random(8)) | {
        "pipeline_id": "w1:default",
        "deleted_at": None,
        "owner_id": "o2" if open_deal["owner_id"] != "o2" else "o3",
    }
    pair.put(other)
    await pair.index.refresh("w1", [other["_id"]])
    assert await figures(scope) == await figures(scope_of(pair.plain))
    assert counted.calls == whole + 9 + 3 + 3  # again for the index, and the plain store
    # The rep's figures: the changed owners' parts were computed again for the admin
    # after the changes, so the rep's merge computes none (only the plain store's three).
    rep = scope_of(pair.store, "o1", "rep", views=views)
    assert await figures(rep) == await figures(scope_of(pair.plain, "o1", "rep", views=views))
    assert counted.calls == whole + 15 + 3


async def test_a_deal_handed_over_empties_both_owners_parts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pair = Pair()
    docs = seed(pair, random.Random(11), 60)
    views = await own_deals_only(pair)
    reps = ("o1", "o2", "o3")
    for subject in reps:
        await figures(scope_of(pair.store, subject, "rep", views=views))
    counted = Counted(monkeypatch)
    moved = next(
        d
        for d in docs
        if d["owner_id"] == "o1" and d["deleted_at"] is None and d["pipeline_id"] == "w1:default"
    )
    pair.put(deal_to_doc(deal_from_doc(moved | {"owner_id": "o2", "rev": 2})))
    await pair.index.refresh("w1", [moved["_id"]])
    for subject in reps:
        got = await figures(scope_of(pair.store, subject, "rep", views=views))
        assert got == await figures(scope_of(pair.plain, subject, "rep", views=views))
    # o1's and o2's parts computed again (3 reports each); o3's and nobody's kept.
    assert counted.calls == 2 * 3 + 3 * 3


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
    # Kept within the span: once for the index (one owner, one part), twice plain.
    assert counted.calls == 1 + 2
    assert await stale_at(NOW + timedelta(hours=2)) == 1  # no write: the clock moved
    assert counted.calls == 1 + 4
    assert await stale_at(NOW + timedelta(minutes=30)) == 0  # back before it
    assert counted.calls == 1 + 6


def with_history(rng: random.Random, doc: dict[str, Any]) -> dict[str, Any]:
    """`doc` with a stage history of one to five moves in and around the reports' window
    (its stage and status those of the last one), stored as a write would store it."""
    start = NOW - timedelta(days=40)
    times = sorted(start + timedelta(hours=rng.randrange(40 * 24)) for _ in range(5))
    stages = [rng.choice(STAGES) for _ in range(rng.randint(1, 5))]
    last = stages[-1]
    status = last if last in ("won", "lost") else "open"
    changed = doc | {
        "stage_history": [{"to_stage": s, "at": t} for s, t in zip(stages, times, strict=False)],
        "stage_key": last,
        "status": status,
        "created_at": times[0] - timedelta(days=rng.choice([0, 2, 9])),
        "closed_at": times[len(stages) - 1] if status != "open" else None,
    }
    return deal_to_doc(deal_from_doc(changed))


def random_write(rng: random.Random, docs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A deal as another write leaves it: moved, re-amounted, handed over, deleted or
    restored, moved to another pipeline, or a new one."""
    if not docs or rng.random() < 0.15:
        return with_history(rng, random_doc(rng))
    doc = dict(docs[rng.choice(sorted(docs))])
    doc["rev"] = int(doc.get("rev") or 1) + 1
    kind = rng.randrange(5)
    if kind == 0:
        return with_history(rng, doc)
    if kind == 1:
        doc["amount_minor"] = rng.choice([0, 700, 5000, 123456])
    elif kind == 2:
        doc["owner_id"] = rng.choice([None, "o1", "o2", "o3"])
    elif kind == 3:
        doc["deleted_at"] = None if doc.get("deleted_at") is not None else NOW
    else:
        doc["pipeline_id"] = rng.choice(["w1:default", "w1:other"])
    return deal_to_doc(deal_from_doc(doc))


@pytest.mark.parametrize("seed_value", range(4))
async def test_kept_parts_equal_a_fresh_computation_after_any_writes(seed_value: int) -> None:
    """Random writes, each reaching the index as another replica's does (the feed's
    re-read) or through this process's own update: after each, every caller's kept
    figures equal the store's without the index."""
    rng = random.Random(900 + seed_value)
    pair = Pair()
    docs = {d["_id"]: d for d in (with_history(rng, random_doc(rng)) for _ in range(60))}
    for doc in docs.values():
        pair.put(doc)
    views = await own_deals_only(pair)
    callers = (("alice", "admin"), ("o1", "rep"), ("o2", "rep"))

    async def compare() -> None:
        for subject, role in callers:
            want = await figures(scope_of(pair.plain, subject, role, views=views))
            got = await figures(scope_of(pair.store, subject, role, views=views))
            assert got == want

    await compare()
    for _ in range(40):
        live = {
            k: d
            for k, d in docs.items()
            if d.get("deleted_at") is None and d["pipeline_id"] == "w1:default"
        }
        if live and rng.random() < 0.25:  # this process's write
            deal_id = rng.choice(sorted(live))
            amount = str(rng.choice([1, 50, 999]))
            await deals.update_deal(scope_of(pair.store), deal_id, DealChanges(amount=amount))
            docs[deal_id] = dict(pair.db.collections["deals"][deal_id])
        else:  # another replica's, heard through the index
            doc = random_write(rng, docs)
            docs[doc["_id"]] = doc
            pair.put(doc)
            await pair.index.refresh("w1", [doc["_id"]])
        await compare()
