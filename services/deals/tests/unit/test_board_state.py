"""The unnarrowed board kept as the entries change (`index_data.BoardState`) equals the
board computed over every entry of the pipeline, after random puts, changes and drops."""

from __future__ import annotations

import heapq
import random
from dataclasses import replace
from typing import Any

import pytest

from crm_deals.store.index_data import WorkspaceDeals
from crm_deals.store.index_entry import Entry, entry_of
from crm_deals.usecases import queries
from crm_deals.usecases.pipelines import get_pipeline

from .test_read_index import STAGES, Pair, _column, random_doc, seed

PIPELINES = ("w1:default", "w1:other")


def computed(deals: WorkspaceDeals, pipeline_id: str, per_stage: int) -> tuple[Any, Any]:
    """The board by a pass over every entry (what the kept state must equal)."""
    totals: dict[tuple[Any, Any], list[int]] = {}
    columns: dict[str, list[Entry]] = {key: [] for key in STAGES}
    for entry in deals.entries.values():
        if entry.pipeline_id != pipeline_id:
            continue
        row = totals.setdefault((entry.stage_key or "", entry.currency or ""), [0, 0, 0])
        row[0] += 1
        row[1] += entry.amount_minor or 0
        row[2] += entry.weighted_minor or 0
        if entry.stage_key in columns:
            columns[entry.stage_key].append(entry)
    pages = {
        key: [
            e.id
            for e in heapq.nlargest(per_stage, column, key=lambda e: (e.amount_minor or 0, e.id))
        ]
        for key, column in columns.items()
    }
    return sorted((k, tuple(v)) for k, v in totals.items()), pages


def kept(deals: WorkspaceDeals, pipeline_id: str, per_stage: int) -> tuple[Any, Any]:
    totals, pages = deals.board(pipeline_id, STAGES, per_stage)
    rows = sorted(
        ((t.stage_key, t.currency), (t.count, t.amount_minor, t.weighted_minor)) for t in totals
    )
    return rows, {key: [e.id for e in page] for key, page in pages.items()}


@pytest.mark.parametrize("seed_value", range(5))
def test_the_kept_board_equals_a_pass_over_every_entry(seed_value: int) -> None:
    rng = random.Random(seed_value)
    deals = WorkspaceDeals()
    live = [e for e in (entry_of(random_doc(rng)) for _ in range(150)) if e is not None]
    for entry in live:
        deals.put(entry)
    per_stage = rng.choice([1, 3, 20])
    for pipeline_id in PIPELINES:
        assert kept(deals, pipeline_id, per_stage) == computed(deals, pipeline_id, per_stage)
    for _ in range(300):  # writes after the state was made
        action = rng.random()
        ids = list(deals.entries)
        if action < 0.5 and ids:
            old = deals.entries[rng.choice(ids)]
            deals.put(
                replace(
                    old,
                    stage_key=rng.choice(STAGES),
                    amount_minor=rng.choice([None, 0, 1000, 5000, 99900]),
                    weighted_minor=rng.choice([None, 0, 250]),
                    currency=rng.choice(["USD", "EUR"]),
                    pipeline_id=rng.choice(PIPELINES),
                    rev=old.rev + 1,
                )
            )
        elif action < 0.65 and ids:
            deals.drop(rng.choice(ids))
        elif action < 0.7 and ids:
            deals.put(deals.entries[rng.choice(ids)])  # unchanged: nothing to do
        else:
            entry = entry_of(random_doc(rng) | {"deleted_at": None})
            assert entry is not None
            deals.put(entry)
        pipeline_id = rng.choice(PIPELINES)
        assert kept(deals, pipeline_id, per_stage) == computed(deals, pipeline_id, per_stage)
    assert any(kept(deals, p, per_stage)[0] for p in PIPELINES)


async def test_a_caller_who_sees_every_deal_gets_the_kept_board() -> None:
    pair = Pair()
    seed(pair, random.Random(9), 60)
    pipeline = await get_pipeline(pair.scope(pair.plain), None)
    columns = await queries.board(pair.scope(), pipeline)
    data = pair.index.loaded("w1")
    assert data is not None and data._board is not None  # made for the whole board
    expected = await queries.board(pair.scope(pair.plain), pipeline)
    assert [_column(c) for c in columns] == [_column(c) for c in expected]
