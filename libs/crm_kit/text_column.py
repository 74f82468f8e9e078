"""A substring search over one workspace's entries in a read index, at C speed: the
searched fields of each entry joined into one string, every entry's string tested in C
(`str.__contains__`, or the filter's case-insensitive pattern) and the entries hit taken
with `itertools.compress`.

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
from collections.abc import Callable, Iterable, Mapping
from itertools import compress, repeat
from operator import contains
from typing import Any, Generic, Protocol, TypeVar

SEPARATOR = "\x00"
# Changed entries a column tolerates before the next search rebuilds it (a rebuild over
# 200,000 entries costs ~0.1 s; checking the stale ones one by one ~2 µs each).
REBUILD_STALE = 5_000

Values = Callable[[Any], Iterable[str]]


class HasId(Protocol):
    @property
    def id(self) -> str: ...


T = TypeVar("T", bound=HasId)


class TextColumn(Generic[T]):
    def __init__(self, entries: Mapping[str, T], values: Values) -> None:
        """`values(entry)`: the strings a search looks in for that entry."""
        held: list[T] = []
        texts: list[str] = []
        for entry in entries.values():
            held.append(entry)
            # One value is held as it is (`join` of one string is that string): no copy.
            texts.append(SEPARATOR.join(values(entry)))
        self._held = held
        self._texts = texts
        # Ids put or dropped since the build: their hits are not trusted.
        self.stale: set[str] = set()

    def refer_to(self, entries: Mapping[str, T]) -> None:
        """Hold `entries`' objects in place of the equal ones the column was built from
        (a rebuild's fresh entries take the column over, `Entries.carry_columns`): the
        replaced entries are not kept alive by the column (~900 B each, 200,000 contacts).
        Call after marking stale every id whose entry differs."""
        stale = self.stale
        self._held = [
            entry if entry.id in stale else entries.get(entry.id, entry) for entry in self._held
        ]

    @staticmethod
    def searchable(text: str) -> bool:
        return bool(text) and SEPARATOR not in text

    def hits(self, text: str, *, ignore_case: bool) -> set[str]:
        """Ids of the entries (as built, stale ones left out) with `text` in one of their
        values; with `ignore_case` as the filter folds (`re.IGNORECASE`)."""
        return {entry.id for entry in self.found(text, ignore_case=ignore_case)}

    def found(self, text: str, *, ignore_case: bool) -> list[T]:
        """The entries `hits` names, as the column holds them: the current ones (a changed
        entry is stale, so left out), without a look-up by id each."""
        # Each entry's joined text tested in C (`map` of `str.__contains__`, or of the
        # pattern's `search`): ~0.1 µs an entry whatever the hits. A Python step per hit
        # (a find, a bisect to its entry) cost ~1 µs each: 20 to 40 ms for a three-letter
        # text over 200,000 contacts.
        tested: Iterable[Any]
        if ignore_case:
            search = re.compile(re.escape(text), re.IGNORECASE).search
            tested = map(search, self._texts)
        else:
            tested = map(contains, self._texts, repeat(text))
        found = list(compress(self._held, tested))
        stale = self.stale
        return [entry for entry in found if entry.id not in stale] if stale else found
