"""A substring search over one workspace's entries in a read index: the searched fields of
each entry joined into one string, the entries that can hold a text found by trigram
postings, and each of those tested in C (`str.__contains__`, or the filter's
case-insensitive pattern).

Why: a text filter (`crm_kit.filters.Contains`) evaluated entry by entry costs a few
microseconds each: ~0.4 s per search over 200,000 contacts. Testing every entry's joined
text in C costs ~0.1 to 0.2 µs each: still 20 to 40 ms per new search text at 200,000
contacts, and four at once made the search's p95. With trigram postings (each
three-character piece of the joined texts -> the ascending positions of the entries
holding it, in `array`s) a text of three characters or more is looked up instead: its
rarest pieces' postings intersected, then only those entries tested; a text of one or two
characters is tested over every entry as before.

Correctness: every value the filter looks in is a substring of the joined text, so a
match is never missed; the separator (NUL) is never part of a search (texts holding it
are not searched here), so a hit lies inside one value; every candidate is tested with
the real test (a false candidate costs its test), and the caller runs the rest of its
filter over what is found. A case-insensitive search looks its pieces up in postings of
the texts folded by `crm_kit.case_fold`, which never tells apart two characters the
pattern engine matches to each other (the folded text holds the folded search text
wherever the pattern matches).

Changes: the column is told of every entry put or dropped (`Entries.put`/`drop`); an
entry whose text changed gets a new position at the end (its postings appended, so they
stay ascending), its old one is emptied (an empty text never holds a search text) and
left in the postings until the column is built again, once dead positions outnumber the
live ones (`worn`).

Building the postings costs ~30 to 50 µs per entry (6 to 10 s over 200,000 contacts on
this machine): it runs in steps of `BUILD_STEP` entries on the event loop, each followed
by a pause as long (no request waits for it whole; the gauge `crm_text_postings_pending`
says how many entries are left); until it is done the positions not indexed yet are
tested one by one.
"""

from __future__ import annotations

import asyncio
import re
import time
from array import array
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from itertools import compress, repeat
from operator import contains, is_not
from typing import Any, Generic, Protocol, TypeVar

from . import case_fold, metrics
from .case_fold import fold

SEPARATOR = "\x00"
# Length of a posted piece.
GRAM = 3
# Entries indexed per step of a build on the event loop (~15 ms of CPU under load).
BUILD_STEP = 500
# Dead positions a column keeps before its next use builds it again, at least (and at
# least as many as the live ones: the rebuild is amortized over the changes).
REBUILD_DEAD = 5_000
# A posting list is intersected in only while it is at most this many times the
# candidates so far (a long one costs more to intersect than its candidates' tests).
INTERSECT_RATIO = 4

Values = Callable[[Any], Iterable[str]]

# Whether a held position is live (a dead one holds None), in C.
_LIVE = partial(is_not, None)
# The folding table being read off the loop (`TextColumn._fold_table_then_index`).
_folding: asyncio.Future[dict[int, int]] | None = None


class HasId(Protocol):
    @property
    def id(self) -> str: ...


T = TypeVar("T", bound=HasId)


class _Postings:
    """Piece -> ascending positions, over positions `< upto` (the rest not indexed yet)."""

    def __init__(self, ignore_case: bool) -> None:
        self.ignore_case = ignore_case
        self.lists: dict[str, array[int]] = {}
        self.upto = 0
        # The loop a build runs its steps on (None when not building in steps).
        self.loop: asyncio.AbstractEventLoop | None = None
        # Entries this build counts in `TEXT_POSTINGS_PENDING` (a bench waits for 0).
        self.pending = 0

    def count_pending(self, count: int) -> None:
        metrics.TEXT_POSTINGS_PENDING.dec(self.pending)  # a build started again
        self.pending = count
        metrics.TEXT_POSTINGS_PENDING.inc(count)

    def count_built(self, count: int) -> None:
        done = min(count, self.pending)
        self.pending -= done
        metrics.TEXT_POSTINGS_PENDING.dec(done)

    def add(self, position: int, text: str) -> None:
        if self.ignore_case:
            text = fold(text)
        lists = self.lists
        for piece in {text[i : i + GRAM] for i in range(len(text) - GRAM + 1)}:
            if SEPARATOR in piece:
                continue  # spans two values: never searched
            found = lists.get(piece)
            if found is None:
                found = lists[piece] = array("i")
            found.append(position)

    def candidates(self, text: str) -> list[int] | array[int]:
        """Positions `< upto` that may hold `text` (at least `GRAM` characters)."""
        if self.ignore_case:
            text = fold(text)
        lists = self.lists
        found: list[array[int]] = []
        for piece in {text[i : i + GRAM] for i in range(len(text) - GRAM + 1)}:
            posted = lists.get(piece)
            if posted is None:
                return []
            found.append(posted)
        found.sort(key=len)
        if len(found) == 1 or len(found[1]) > INTERSECT_RATIO * len(found[0]):
            return found[0]
        kept = set(found[0])
        for posted in found[1:]:
            if len(posted) > INTERSECT_RATIO * len(kept):
                break
            kept.intersection_update(posted)
        return sorted(kept)


class TextColumn(Generic[T]):
    def __init__(self, entries: Mapping[str, T], values: Values) -> None:
        """`values(entry)`: the strings a search looks in for that entry."""
        self._values = values
        # By position; a dead position holds None and an empty text.
        self._held: list[T | None] = []
        self._texts: list[str] = []
        self._at: dict[str, int] = {}
        self._dead = 0
        self._postings: dict[bool, _Postings] = {}
        self._awaiting_fold = False
        for entry in entries.values():
            self._append(entry, self._text(entry))

    def _text(self, entry: T) -> str:
        # One value is held as it is (`join` of one string is that string): no copy.
        return SEPARATOR.join(self._values(entry))

    def _append(self, entry: T, text: str) -> None:
        position = len(self._held)
        self._at[entry.id] = position
        self._held.append(entry)
        self._texts.append(text)
        for postings in self._postings.values():
            if postings.upto == position:  # built so far: kept so
                postings.add(position, text)
                postings.upto += 1

    def put(self, entry: T) -> None:
        """`entry` is now the current state of its id (new or changed)."""
        text = self._text(entry)
        position = self._at.get(entry.id)
        if position is not None:
            if self._texts[position] == text:
                self._held[position] = entry  # same text: same postings
                return
            self._kill(position)
        self._append(entry, text)

    def drop(self, entry_id: str) -> None:
        position = self._at.pop(entry_id, None)
        if position is not None:
            self._kill(position)

    def _kill(self, position: int) -> None:
        self._held[position] = None
        self._texts[position] = ""  # never holds a searched text: never found
        self._dead += 1

    @property
    def held(self) -> list[T | None]:
        """The entries by position (a dead position holds None; do not modify)."""
        return self._held

    def position_of(self, entry_id: str) -> int:
        """The entry's position, -1 when the column holds no such id."""
        return self._at.get(entry_id, -1)

    @property
    def positions_by_id(self) -> Mapping[str, int]:
        """Id -> position, of the live entries (do not modify)."""
        return self._at

    @property
    def worn(self) -> bool:
        """Whether the dead positions are worth a rebuild (see `REBUILD_DEAD`)."""
        return self._dead > max(REBUILD_DEAD, len(self._at))

    def refer_to(self, entries: Mapping[str, T]) -> None:
        """Hold `entries`' objects in place of the equal ones the column holds (a
        rebuild's fresh entries take the column over, `Entries.carry_columns`): the
        replaced entries are not kept alive by the column (~900 B each, 200,000 contacts).
        Call after telling the column of every id whose entry differs."""
        held = self._held
        for entry_id, position in self._at.items():
            fresh = entries.get(entry_id)
            if fresh is not None:
                held[position] = fresh

    def index(self, *, ignore_case: bool) -> None:
        """Start building the postings of one kind of search (case-sensitive or not): at
        once when there is no event loop running or few entries, else in steps."""
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        postings = self._postings.get(ignore_case)
        if postings is None:
            if ignore_case and loop is not None and not case_fold.ready():
                self._fold_table_then_index(loop)
                return
            postings = self._postings[ignore_case] = _Postings(ignore_case)
        if postings.upto >= len(self._texts):
            return
        if loop is not None and loop is postings.loop:
            return  # under way
        if loop is None or len(self._texts) - postings.upto <= BUILD_STEP:
            self._build(postings, len(self._texts))
            return
        # Steps on this loop (a loop that stopped before the end left the rest undone),
        # each followed by a pause as long as it took: the build takes at most half of
        # the process while requests go on (a step between each await of a request made
        # its latency the build's).
        postings.loop = loop
        postings.count_pending(len(self._texts) - postings.upto)

        def step() -> None:
            if postings.loop is not loop:
                return
            started = time.perf_counter()
            before = postings.upto
            self._build(postings, BUILD_STEP)
            postings.count_built(postings.upto - before)
            if postings.upto < len(self._texts):
                loop.call_later(time.perf_counter() - started, step)
            else:
                postings.loop = None
                postings.count_built(postings.pending)

        loop.call_soon(step)

    def _fold_table_then_index(self, loop: asyncio.AbstractEventLoop) -> None:
        """Read the folding table from the engine in a worker thread (~0.5 to 1 s of CPU
        once per process: on the loop it would stall every request for that long), then
        build the case-insensitive postings; until then searches test every entry."""
        global _folding
        if self._awaiting_fold:
            return
        if _folding is None or _folding.get_loop() is not loop:
            _folding = loop.run_in_executor(None, case_fold.table)
        self._awaiting_fold = True

        def folded(done: asyncio.Future[dict[int, int]]) -> None:
            self._awaiting_fold = False
            if not done.cancelled() and done.exception() is None:
                self.index(ignore_case=True)

        _folding.add_done_callback(folded)

    def indexed(self, *, ignore_case: bool) -> bool:
        """Whether that kind's postings cover every position (tests, benches)."""
        postings = self._postings.get(ignore_case)
        return postings is not None and postings.upto >= len(self._texts)

    def _build(self, postings: _Postings, count: int) -> None:
        texts = self._texts
        end = min(len(texts), postings.upto + count)
        for position in range(postings.upto, end):
            postings.add(position, texts[position])
        postings.upto = end

    @staticmethod
    def searchable(text: str) -> bool:
        return bool(text) and SEPARATOR not in text

    def hits(self, text: str, *, ignore_case: bool) -> set[str]:
        """Ids of the entries with `text` in one of their values; with `ignore_case` as
        the filter folds (`re.IGNORECASE`)."""
        return {entry.id for entry in self.found(text, ignore_case=ignore_case)}

    def found(self, text: str, *, ignore_case: bool) -> list[T]:
        """The entries `hits` names, as the column holds them (the current ones), without
        a look-up by id each, in the order of their positions."""
        return self.found_at(text, ignore_case=ignore_case)[0]

    def found_at(self, text: str, *, ignore_case: bool) -> tuple[list[T], list[int]]:
        """`found`, and the position of each (`OrderColumn.ordered_at` orders the hits by
        a rank held per position)."""
        # Tested in C (`map` of `str.__contains__`, or of the pattern's `search`, and
        # `compress`): ~0.1 µs an entry; a Python step per hit costs ~1 µs.
        if ignore_case:
            search = re.compile(re.escape(text), re.IGNORECASE).search

            def test(strings: Iterable[str]) -> Iterable[Any]:
                return map(search, strings)
        else:

            def test(strings: Iterable[str]) -> Iterable[Any]:
                return map(contains, strings, repeat(text))

        texts, held = self._texts, self._held
        postings = self._postings.get(ignore_case) if len(text) >= GRAM else None
        if postings is None:
            if len(text) >= GRAM:
                self.index(ignore_case=ignore_case)  # for the next texts
            mask = list(test(texts))
            # Dead ones are never found (an empty text).
            return list(compress(held, mask)), list(compress(range(len(texts)), mask))  # type: ignore[arg-type]
        if postings.upto < len(texts):
            self.index(ignore_case=ignore_case)  # goes on with a build cut short
        upto = postings.upto
        positions = postings.candidates(text)
        at = list(map(held.__getitem__, positions))
        if len(text) == GRAM and not ignore_case:
            # The text is its one piece: every live position listed holds it (a dead one
            # holds None). No test of the texts: one pass in C over the positions.
            mask = list(map(_LIVE, at))
        else:
            mask = list(test(map(texts.__getitem__, positions)))
        found_held = list(compress(at, mask))
        found_at = list(compress(positions, mask))
        if upto < len(texts):
            # Not indexed yet: each tested.
            rest = list(test(texts[upto:]))
            found_held.extend(compress(held[upto:], rest))
            found_at.extend(compress(range(upto, len(texts)), rest))
        return found_held, found_at  # type: ignore[return-value]  # dead ones are never found
