"""Every entry of one workspace of a read index in one sort order (one field, ties by
`_id`), kept between requests (the ids in order, and each id's rank): a selection of many
entries is put in order by a walk of the kept order and, past a bounded walk, a sort of
its ranks (in C), instead of a sort by its own key.

Why: sorting a selection by its key costs a key per entry (the stored value through the
entry's getter, MongoDB's order of types: a few microseconds each in Python): a contact
search matching 10,000 of 200,000 contacts spent ~100 ms sorting them by last name. A
walk of the kept order keeping the selected ids costs a membership test per entry walked
(tens of nanoseconds, in C) and reaches the first page of a selection spread over the
order in a few hundred ids; a search whose hits follow the order (a last-name prefix by
last name) would walk most of the 200,000 to its first page (~50 ms under load), so the
walk stops after `WALK_RATIO` ids per selected entry and the rest of the selection is
put in order by a heap of its ranks (in C), popped as far as the rows asked for.

Correctness: the order is the entries' as they were when it was built; every entry put or
dropped since is marked stale (`Entries.put`/`drop`). The entries that are not stale hold
the values they were sorted by, so the walk and the ranks yield them in order; the stale
ones among a selection are sorted by their current key and merged in. Keys are unique
(the id breaks ties), so the result is exactly the sort's. Past `REBUILD_STALE` changed
entries the order is built again on next use.
"""

from __future__ import annotations

import heapq
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from heapq import heapify, heappop
from itertools import compress, islice, repeat
from operator import attrgetter, eq, neg, not_
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar
from weakref import WeakKeyDictionary

if TYPE_CHECKING:
    from .text_column import TextColumn


class HasId(Protocol):
    @property
    def id(self) -> str: ...


E = TypeVar("E", bound=HasId)
Key = Callable[[Any], Any]
RankedKey = Callable[[Any], tuple[int, Any]]
# Changed entries an order tolerates before its next use builds it again (a build over
# 200,000 entries costs ~0.5 s; a stale entry costs a key and a merge step per use).
REBUILD_STALE = 5_000
# A selection smaller than the entries / this is sorted by its own key (an order not
# yet built costs ~0.5 s over 200,000 entries).
WALK_SHARE = 256
# Ids of the order walked per selected entry before the rest of a selection is sorted by
# rank (a walk step, a membership test in C, costs ~1/3 of a sort's per entry, measured under load).
WALK_RATIO = 2
_ID = attrgetter("id")
# The id read of a dead position (None) of a text column: no entry's.
_DEAD = object()


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
        ids: list[str] = []
        for rank in sorted(ranks):
            same = ranks[rank]
            same.sort()
            ids.extend(row[3] for row in same)
        self._ids = ids
        # Id -> place in the order (~15 MB over 200,000 entries).
        self._rank: dict[str, int] = dict(zip(ids, range(len(ids)), strict=True))

        def key(entry: E) -> tuple[Any, Any]:
            return (value_key(entry), id_key(entry))

        self._key = key
        # Ids put or dropped since the build: their rank is not trusted.
        self.stale: set[str] = set()
        # Per text column: each position's place in this order (-1: dead, or its entry
        # stale), and the stale ids already marked in it (`_position_ranks`).
        self._aligned: WeakKeyDictionary[
            TextColumn[Any], tuple[array[int], array[int], set[str]]
        ] = WeakKeyDictionary()

    @staticmethod
    def worth_walking(selected: int, total: int) -> bool:
        """Whether a selection of `selected` among `total` entries is worth this order (a
        smaller one is sorted by its own key: the order may not be built yet)."""
        return selected * WALK_SHARE >= total

    def ordered(self, selected: Iterable[E], *, descending: bool = False) -> Iterator[E]:
        """`selected` (current entries of the workspace) sorted by the key, lazily: a
        page of the first rows costs only what leads to them."""
        chosen = selected if isinstance(selected, list | tuple) else list(selected)
        wanted: dict[str, E] = dict(zip(map(_ID, chosen), chosen, strict=True))
        moved = [wanted.pop(i) for i in self.stale & wanted.keys()] if self.stale else []
        ranked = self._ranked(wanted, descending)
        if not moved:
            return ranked
        # Unique keys: the descending order is the ascending one reversed.
        moved.sort(key=self._key, reverse=descending)
        return heapq.merge(ranked, moved, key=self._key, reverse=descending)

    def ordered_at(
        self,
        selected: Sequence[E],
        column: TextColumn[Any],
        positions: Sequence[int],
        *,
        descending: bool = False,
    ) -> Iterator[E]:
        """`ordered`, for entries of `column` (a search's hits) at these positions (one
        each, aligned): each one's place read from a rank held per position of the
        column (an `array`, read in ascending positions), so no look-up by id per hit
        (a random read of a 200,000-entry dict, ~0.3 to 0.5 µs a hit under load,
        against ~0.1 here), no dict of the hits by id and no walk of the order."""
        ranks, at_place = self._position_ranks(column)
        places = list(map(ranks.__getitem__, positions))
        moved: list[E] = []
        if -1 in places:
            # Stale entries (changed since the build): sorted by key and merged in.
            is_moved = list(map(eq, places, repeat(-1)))
            moved = list(compress(selected, is_moved))
            places = list(compress(places, map(not_, is_moved)))
        if descending:
            # The heap yields the smallest first: the last place first.
            places = list(map(neg, places))
        # The places (unique, none stale) heapified in C, popped as far as the rows ask
        # for (a first page pops ~26); a popped place's entry is the column's at the
        # position held for that place (its entry is not stale: still there).
        heapify(places)
        ranked = _popped(column.held, at_place, places, descending)
        if not moved:
            return ranked
        moved.sort(key=self._key, reverse=descending)
        return heapq.merge(ranked, moved, key=self._key, reverse=descending)

    def align(self, column: TextColumn[Any]) -> None:
        """Build the ranks held per position of `column` now (an install's warm-up)."""
        self._position_ranks(column)

    def _position_ranks(self, column: TextColumn[Any]) -> tuple[array[int], array[int]]:
        """Each position of `column`: its entry's place in this order, -1 for a dead
        position or a stale entry; and each place's position in `column`. Built once per
        column and order at the install (`DocIndex` prepare: ~0.2 s over 200,000 entries,
        memory-bound; again after either is built again), then kept right at each use:
        positions appended since hold entries put since (stale: this order was built
        before), and the ids marked stale since get -1 at their position. A place whose
        entry went stale keeps its old position: never read (no position ranks it)."""
        held = column.held
        aligned = self._aligned.get(column)
        stale = self.stale
        if aligned is None:
            # In C, a few passes over the entries: a dead position (None) has no id
            # (`_DEAD`, ranked -1); an id dropped since the order's build has no
            # position (-1, never read).
            ids_held: Iterable[Any] = map(getattr, held, repeat("id"), repeat(_DEAD))
            rank_of: Callable[[Any, int], int] = self._rank.get
            ranks: array[int] = array("i", map(rank_of, ids_held, repeat(-1)))
            at_place = array("i", map(column.positions_by_id.get, self._ids, repeat(-1)))
            for entry_id in stale:
                now_at = column.position_of(entry_id)
                if now_at >= 0:
                    ranks[now_at] = -1
            self._aligned[column] = (ranks, at_place, set(stale))
            return ranks, at_place
        ranks, at_place, marked = aligned
        if len(ranks) < len(held):
            ranks.extend(repeat(-1, len(held) - len(ranks)))
        if len(marked) != len(stale):  # the stale ids only grow
            for entry_id in stale - marked:
                now_at = column.position_of(entry_id)
                if now_at >= 0:
                    ranks[now_at] = -1
                marked.add(entry_id)
        return ranks, at_place

    def _ranked(self, wanted: dict[str, E], descending: bool) -> Iterator[E]:
        """The entries of `wanted` (none stale) in order. First a walk of the order's
        first `WALK_RATIO` ids per entry wanted, keeping those wanted (a membership test
        each, in C: the first page of a selection spread over the order lies within a
        few of its ids), then, when the selection reaches beyond (a search whose hits
        follow the order: a last-name prefix by last name), the rest by a heap of ranks."""
        ids, rank = self._ids, self._rank
        total = len(ids)
        budget = min(total, WALK_RATIO * len(wanted))
        walked = islice(reversed(ids) if descending else iter(ids), budget)
        yield from map(wanted.__getitem__, filter(wanted.__contains__, walked))
        if budget >= total:
            return
        # Beyond the walk: ascending, the ranks from `budget` on; descending, those
        # below `total - budget` (negated: the heap yields the smallest first). A heap of
        # the ranks, in C, popped as far as the rows asked for: a first page pops ~26 of
        # them (a sort of them all by rank cost ~0.5 µs each: 3 to 10 ms of a search whose
        # 5,000 to 20,000 hits follow the order, a piece of a last name by last name).
        ranks = map(rank.__getitem__, wanted.keys())
        if descending:
            rest = list(map(neg, filter((total - budget).__gt__, ranks)))
        else:
            rest = list(filter(budget.__le__, ranks))
        heapify(rest)
        while rest:
            place = heappop(rest)
            yield wanted[ids[-place if descending else place]]


def _popped(
    held: Sequence[Any], at_place: array[int], heap: list[int], descending: bool
) -> Iterator[Any]:
    while heap:
        place = heappop(heap)
        yield held[at_place[-place if descending else place]]


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
