"""Every entry of one workspace of a read index in one sort order (one field, ties by
`_id`), kept between requests: a selection of many entries is put in order by a walk of
this list instead of a sort of its own.

Why: sorting a selection costs a key per entry (the stored value through the entry's
getter, MongoDB's order of types: a few microseconds each in Python): a contact search
matching 10,000 of 200,000 contacts spent ~100 ms sorting them by last name (300 ms for
20,000, under load), every time the memo of that search was cleared by a write. A walk of
the kept order keeping the selected ids is a membership test per entry (tens of
nanoseconds): ~10 ms over 200,000.

Correctness: the order is the entries' as they were when it was built; every entry put or
dropped since is marked stale (`Entries.put`/`drop`, as for `crm_kit.text_column`). The
entries that are not stale hold the values they were sorted by, so the walk yields them
in order; the stale ones among a selection are sorted by their current key and merged
in. Keys are unique (the id breaks ties), so the result is exactly the sort's. Past
`REBUILD_STALE` changed entries the order is built again on next use.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator, Mapping
from operator import attrgetter
from typing import Any, Generic, Protocol, TypeVar


class HasId(Protocol):
    @property
    def id(self) -> str: ...


E = TypeVar("E", bound=HasId)
Key = Callable[[Any], Any]
RankedKey = Callable[[Any], tuple[int, Any]]
# Changed entries an order tolerates before its next use builds it again (a build over
# 200,000 entries costs ~0.5 s; a stale entry costs a key and a merge step per use).
REBUILD_STALE = 5_000
# A selection smaller than the entries / this is sorted on its own: cheaper than a walk
# to its first page (which passes ~ page * entries / selection ids).
WALK_SHARE = 256
_ID = attrgetter("id")


class OrderColumn(Generic[E]):
    def __init__(self, entries: Mapping[str, E], value_key: RankedKey, id_key: RankedKey) -> None:
        """`value_key(entry)`: the sort key of the entry's value, `(rank of its type,
        comparable value)` (`memory_db.sort_key`); `id_key(entry)`, the same of its id,
        breaks ties (unique). Ascending."""
        # By rank first, then one sort of flat (value, id rank, id value, id) tuples per
        # rank: the values of one rank compare directly (no key function, no nested
        # tuples): ~0.6x the time of a sort by the whole key over 200,000 entries.
        ranks: dict[int, list[tuple[Any, int, Any, str]]] = {}
        for entry in entries.values():
            rank, value = value_key(entry)
            id_rank, id_value = id_key(entry)
            same = ranks.get(rank)
            if same is None:
                same = ranks[rank] = []
            same.append((value, id_rank, id_value, entry.id))
        self._ids: list[str] = []
        for rank in sorted(ranks):
            same = ranks[rank]
            same.sort()
            self._ids.extend(row[3] for row in same)

        def key(entry: E) -> tuple[Any, Any]:
            return (value_key(entry), id_key(entry))

        self._key = key
        # Ids put or dropped since the build: their place in `_ids` is not trusted.
        self.stale: set[str] = set()

    @staticmethod
    def worth_walking(selected: int, total: int) -> bool:
        """Whether a selection of `selected` among `total` entries is ordered faster by a
        walk than by a sort of its own."""
        return selected * WALK_SHARE >= total

    def ordered(self, selected: Iterable[E], *, descending: bool = False) -> Iterator[E]:
        """`selected` (current entries of the workspace) sorted by the key, lazily: a
        page of the first rows walks only as far as they are."""
        # By id, in C (a Python step per selected entry was most of a first page's
        # cost for a selection of 10,000 to 30,000); the stale few taken out after.
        chosen = selected if isinstance(selected, list | tuple) else list(selected)
        wanted: dict[str, E] = dict(zip(map(_ID, chosen), chosen, strict=True))
        moved = [wanted.pop(i) for i in self.stale & wanted.keys()] if self.stale else []
        ids = reversed(self._ids) if descending else iter(self._ids)
        # In C: a search's text often follows the order (a last-name prefix by last
        # name), so its first page can lie deep in the walk.
        walked = map(wanted.__getitem__, filter(wanted.__contains__, ids))
        if not moved:
            return walked
        # Unique keys: the descending order is the ascending one reversed.
        moved.sort(key=self._key, reverse=descending)
        return heapq.merge(walked, moved, key=self._key, reverse=descending)


class Ranked(Generic[E]):
    """Rows in order, taken from a lazy source only as far as they are asked for, and kept:
    shared by the requests of one selection (a memo), each reading as far as its page."""

    def __init__(self, rows: Iterable[E]) -> None:
        self._source = iter(rows)
        self._taken: list[E] = []
        self._done = False

    def first(self, count: int) -> list[E]:
        self._take(count)
        return self._taken[:count]

    def __iter__(self) -> Iterator[E]:
        at = 0
        while True:
            if at < len(self._taken) or self._take(at + 1):
                yield self._taken[at]
                at += 1
            else:
                return

    def _take(self, count: int) -> bool:
        """Take rows until `count` are kept (or the source ends); whether they are."""
        taken = self._taken
        while len(taken) < count and not self._done:
            row = next(self._source, None)
            if row is None:
                self._done = True
            else:
                taken.append(row)
        return len(taken) >= count
