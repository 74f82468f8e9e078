"""One workspace's entries in a read index (`crm_kit.read_index`): entries by id plus
posting lists (field value -> ids) that narrow equality filters before a predicate runs.

Generic over the entry type; a service says which fields are posted with a function from
an entry to `(field, values)` pairs (several values for an array field). Services subclass
it to add their selections (a board, totals, open counts).

`text_column(key, values)` keeps a joined text of some fields for substring searches
(`crm_kit.text_column`, kept current by every change), and `order_column(key, sort_key)`
every entry in one sort order (`crm_kit.order_column`, told of every change after it was
built).

`memo(key, compute)` keeps a selection's result (e.g. by its filter) until the entries
next change: between writes, the same list or count asked by many clients is evaluated
once over the entries instead of once per request.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any, Generic, Protocol, TypeVar

from . import order_column
from .order_column import OrderColumn, RankedKey
from .text_column import TextColumn, Values


class HasId(Protocol):
    @property
    def id(self) -> str: ...


E = TypeVar("E", bound=HasId)
R = TypeVar("R")
# Results a workspace's memo keeps at most (the oldest goes first).
MEMO_LIMIT = 64
# An entry's posted values: (field, the values it is listed under).
Posted = Callable[[E], Iterable[tuple[str, Iterable[Hashable]]]]


def _not_posted(_: object) -> Iterable[tuple[str, Iterable[Hashable]]]:
    return ()


class Entries(Generic[E]):
    def __init__(self, posted: Posted[E] | None = None) -> None:
        self.entries: dict[str, E] = {}
        self._posted: Posted[E] = posted or _not_posted
        self._postings: dict[str, dict[Hashable, set[str]]] = {}
        self._memo: dict[Hashable, Any] = {}
        self._columns: dict[Hashable, TextColumn[E]] = {}
        self._orders: dict[Hashable, OrderColumn[E]] = {}

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, entry_id: str) -> E | None:
        return self.entries.get(entry_id)

    def put(self, entry: E) -> None:
        old = self.entries.get(entry.id)
        if old == entry:
            return  # most re-reads find nothing changed: skip the posting churn
        self._memo.clear()
        self._changed(entry.id)
        if old is not None:
            self._unpost(old)
        self.entries[entry.id] = entry
        for column in self._columns.values():
            column.put(entry)
        for name, values in self._posted(entry):
            postings = self._postings.setdefault(name, {})
            for value in values:
                postings.setdefault(value, set()).add(entry.id)

    def drop(self, entry_id: str) -> None:
        old = self.entries.pop(entry_id, None)
        if old is not None:
            self._memo.clear()
            self._changed(entry_id)
            self._unpost(old)
            for column in self._columns.values():
                column.drop(entry_id)

    def _changed(self, entry_id: str) -> None:
        for order in self._orders.values():
            order.stale.add(entry_id)

    def text_column(self, key: Hashable, values: Values) -> TextColumn[E]:
        """The joined text of `values(entry)` of every entry (built on first use, and
        again once its dead positions outnumber the live ones), told of every change."""
        column = self._columns.get(key)
        if column is None or column.worn:
            column = self._columns[key] = TextColumn(self.entries, values)
        return column

    def order_column(
        self, key: Hashable, value_key: RankedKey, id_key: RankedKey
    ) -> OrderColumn[E]:
        """Every entry in the order of `(value_key(entry), id_key(entry))` (unique keys,
        ascending; built on first use, and again once too many entries changed since); its
        `stale` ids are those changed."""
        order = self._orders.get(key)
        if order is None or len(order.stale) > order_column.REBUILD_STALE:
            order = self._orders[key] = OrderColumn(self.entries, value_key, id_key)
        return order

    def carry_columns(self, old: Entries[E]) -> None:
        """Take over `old`'s text and order columns (these entries replace it: a rebuild's
        scan), each told of every entry that differs between the two, instead of building
        them again on next use (~0.3 to 0.5 s each over 200,000 entries, a text's postings
        ~6 s). `old` may still be read by a request under way: its entries that differ
        from these are stale in the shared orders, so it reads them right; a shared text
        column holds these entries from now on, so such a request's text search finds
        the fresh state (as new as the scan, the caller's page checks its rows)."""
        if not old._columns and not old._orders:
            return
        held, now = old.entries, self.entries
        # A rebuild's scan reuses the held objects of unchanged entries (`is`: no compare).
        changed = {
            entry_id
            for entry_id, entry in now.items()
            if (same := held.get(entry_id)) is not entry and same != entry
        }
        changed.update(entry_id for entry_id in held if entry_id not in now)
        for column in old._columns.values():
            for entry_id in changed:
                entry = now.get(entry_id)
                if entry is None:
                    column.drop(entry_id)
                else:
                    column.put(entry)
            column.refer_to(now)
        for order in old._orders.values():
            order.stale |= changed
        self._columns = {**old._columns, **self._columns}
        self._orders = {**old._orders, **self._orders}

    def _unpost(self, entry: E) -> None:
        for name, values in self._posted(entry):
            postings = self._postings.get(name, {})
            for value in values:
                ids = postings.get(value)
                if ids is not None:
                    ids.discard(entry.id)
                    if not ids:
                        del postings[value]  # keeps the lists as small as the live values

    def memo(self, key: Hashable, compute: Callable[[], R]) -> R:
        """`compute()`'s result, kept under `key` until an entry changes (the caller must
        not modify it). An unhashable key is computed every time."""
        try:
            return self._memo[key]  # type: ignore[no-any-return]
        except KeyError:
            pass
        except TypeError:
            return compute()
        value = compute()
        if len(self._memo) >= MEMO_LIMIT:
            del self._memo[next(iter(self._memo))]
        self._memo[key] = value
        return value

    def posting(self, name: str, value: Hashable) -> set[str]:
        """The ids listed under `value` of a posted field (empty when none; do not modify)."""
        return self._postings.get(name, {}).get(value, set())

    def candidate_ids(
        self, constraints: Sequence[tuple[str, Iterable[Hashable]]]
    ) -> set[str] | None:
        """The ids `candidates` would give, None when there is no constraint (every entry):
        a caller holding its own few entries filters them by these ids."""
        best: set[str] | None = None
        for name, values in constraints:
            ids: set[str] = set()
            for value in values:
                ids |= self.posting(name, value)
            if best is None or len(ids) < len(best):
                best = ids
        return best

    def candidates(self, constraints: Sequence[tuple[str, Iterable[Hashable]]]) -> list[E]:
        """Entries that can meet every constraint `(posted field, acceptable values)`: the
        smallest posting union among them, or every entry when there are none. The caller
        still runs its full predicate over the result."""
        best = self.candidate_ids(constraints)
        if best is None:
            return list(self.entries.values())
        entries = self.entries
        return [entries[i] for i in best]
