"""A substring search over one workspace's entries in a read index, at C speed: the
searched fields of every entry joined into one string, searched with `str.find` (or the
filter's case-insensitive pattern), each hit mapped back to its entry by offset.

Why: a text filter (`crm_kit.filters.Contains`) evaluated entry by entry costs a few
microseconds each (the entry's getter, the filter tree): ~0.4 s per search over 200,000
contacts. Over the joined text the same search takes milliseconds, and the full filter
then runs over the few entries it found.

Correctness: every value the filter looks in is a substring of the joined text, so a
match is never missed; the separator (NUL) is never part of a search (texts holding it
are not searched here), so a hit lies inside one value; and the caller runs the full
filter over what is found, so a false hit costs nothing but its check. Entries changed
since the column was built are marked stale (`Entries.put`/`drop`): their hits are
ignored and the caller checks them all; past `REBUILD_STALE` the column is built again.
"""

from __future__ import annotations

import re
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping
from typing import Any

SEPARATOR = "\x00"
# Changed entries a column tolerates before the next search rebuilds it (a rebuild over
# 200,000 entries costs ~0.1 s; checking the stale ones one by one ~2 µs each).
REBUILD_STALE = 5_000

Values = Callable[[Any], Iterable[str]]


class TextColumn:
    def __init__(self, entries: Mapping[str, Any], values: Values) -> None:
        """`values(entry)`: the strings a search looks in for that entry."""
        ids: list[str] = []
        offsets = array("q")
        parts: list[str] = []
        position = 0
        for entry_id, entry in entries.items():
            text = SEPARATOR.join(values(entry))
            ids.append(entry_id)
            offsets.append(position)
            parts.append(text)
            position += len(text) + 1
        self._haystack = SEPARATOR.join(parts)
        self._ids = ids
        self._offsets = offsets
        # Ids put or dropped since the build: their hits are not trusted.
        self.stale: set[str] = set()

    @staticmethod
    def searchable(text: str) -> bool:
        return bool(text) and SEPARATOR not in text

    def hits(self, text: str, *, ignore_case: bool) -> set[str]:
        """Ids of the entries (as built, stale ones left out) with `text` in one of their
        values; with `ignore_case` as the filter folds (`re.IGNORECASE`)."""
        haystack, offsets, ids = self._haystack, self._offsets, self._ids
        found: set[str] = set()
        search = re.compile(re.escape(text), re.IGNORECASE).search if ignore_case else None
        end = len(haystack)
        position = 0
        while position < end:
            if search is None:
                at = haystack.find(text, position)
            else:
                match = search(haystack, position)
                at = match.start() if match is not None else -1
            if at < 0:
                break
            k = bisect_right(offsets, at) - 1
            found.add(ids[k])
            # On to the next entry: one hit an entry is enough.
            position = offsets[k + 1] if k + 1 < len(offsets) else end
        return found - self.stale if self.stale else found
