"""A served process collects garbage less often: what it loaded at start is frozen out
of every collection, and the young generation waits for more allocations."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from crm_kit.serve import YOUNG_COLLECTION_EVERY, tune_gc


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_what_is_loaded_at_start_is_frozen_and_young_collections_are_rarer(
    restored_gc: None,
) -> None:
    _, older, oldest = gc.get_threshold()
    tune_gc()
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == (YOUNG_COLLECTION_EVERY, older, oldest)


def test_cycles_made_after_start_are_still_collected(restored_gc: None) -> None:
    tune_gc()

    class Node:
        other: object = None

    a, b = Node(), Node()
    a.other, b.other = b, a
    held = len(gc.get_objects())
    del a, b
    assert gc.collect() >= 2 and len(gc.get_objects()) < held
