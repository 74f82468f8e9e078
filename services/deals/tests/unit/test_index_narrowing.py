"""A caller's visibility narrows the read index's candidates (`index_data.narrowing`): the
holders' postings and the unowned deals', and the same matches as a pass over every
entry, after random puts, changes and drops."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from crm_deals.domain.queries import EVERY_DEAL
from crm_deals.store.filters import deals_matching
from crm_deals.store.index_data import WorkspaceDeals, narrowing
from crm_deals.store.index_entry import entry_of
from crm_kit.filters import Eq, In, Or

from .test_read_index import random_doc


def test_an_or_of_one_posted_field_narrows_to_its_values_together() -> None:
    visibility = Or(In("owner_id", ("o1", "o2")), Eq("owner_id", None))
    assert narrowing(visibility) == [("owner_id", ["o1", "o2", None])]
    # Branches on two fields, or a branch that narrows nothing: no narrowing.
    assert narrowing(Or(Eq("owner_id", "o1"), Eq("stage_key", "won"))) == []
    assert narrowing(Or(Eq("owner_id", "o1"), Eq("title", "x"))) == []


@pytest.mark.parametrize("seed_value", range(5))
def test_a_callers_deals_are_the_same_as_a_pass_over_every_entry(seed_value: int) -> None:
    rng = random.Random(700 + seed_value)
    deals = WorkspaceDeals()
    docs = [random_doc(rng) for _ in range(200)]
    for doc in docs:
        entry = entry_of(doc)
        if entry is not None:
            deals.put(entry)
    for _ in range(60):  # changes, hand-overs and drops
        doc = dict(rng.choice(docs))
        if rng.random() < 0.2:
            deals.drop(doc["_id"])
            continue
        doc["owner_id"] = rng.choice([None, "o1", "o2", "o3", "o4"])
        entry = entry_of(doc)
        if entry is not None:
            deals.put(entry)
    for holders in ({"o1"}, {"o2", "o3"}, {"nobody"}, set()):
        selection = replace(EVERY_DEAL, visible_to=frozenset(holders), pipeline_id="w1:default")
        where = deals_matching(selection)
        assert narrowing(where)  # the visibility narrows the candidates
        every = sorted(
            e.id
            for e in deals.entries.values()
            if (e.owner_id is None or e.owner_id in holders) and e.pipeline_id == "w1:default"
        )
        assert sorted(e.id for e in deals.matching(where)) == every
        assert len(deals.candidates(narrowing(where))) < len(deals.entries)
