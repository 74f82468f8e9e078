"""The joined-text search (`crm_kit.text_column`) finds what the filter finds
(`crm_kit.filters.Contains`, case-sensitive or `re.IGNORECASE`), over odd Unicode, as
entries are put and dropped, with its trigram postings built, half built or not at all;
and the case folding its case-insensitive postings use (`crm_kit.case_fold`) never tells
apart two characters the pattern engine matches to each other."""

from __future__ import annotations

import asyncio
import random
import re
import sys
from dataclasses import dataclass

import pytest

from crm_kit import case_fold, index_entries, metrics, text_column
from crm_kit.case_fold import cased, fold
from crm_kit.filters import Contains
from crm_kit.text_column import TextColumn

# Characters the engine folds in odd ways: sharp s (and its capital), long s, the Kelvin
# and Ångström signs, Turkish dotted and dotless i, Greek sigmas and mu/micro, the
# ypogegrammeni, a ligature, combining marks, emoji (outside the BMP), a title-case digraph.
ODD = (
    "\u00df\u1e9e\u017fsSKk\u212a\u00c5\u00e5\u212b\u0130\u0131iI"
    "\u03a3\u03c3\u03c2\u00b5\u03bc\u039c\u0345\u03b9\u0399\u1fbe\u2126\u03c9"
    "\ufb05\ufb06\u01c5\u01c4\u01c6e\u0301\u0300o\u0308"
    "\U0001f600\U0001f44d\U0001f3fd\u0390\u1fd3fFa"
)


@dataclass(frozen=True)
class Entry:
    id: str
    values: tuple[str, ...]


def _values(entry: Entry) -> tuple[str, ...]:
    return entry.values


def _expected(entries: dict[str, Entry], text: str, ignore_case: bool) -> set[str]:
    where = Contains("v", text, ignore_case=ignore_case)
    return {e.id for e in entries.values() if where.matches(lambda _, e=e: list(e.values))}


def test_folding_keeps_every_class_the_pattern_engine_matches_together() -> None:
    """Every cased character: each other cased one the engine matches to it
    case-insensitively folds the same. A sample (every odd one, the ASCII letters, one in
    a hundred of the rest) against every character of Unicode: no uncased one matches
    but itself. Folding keeps lengths."""
    all_cased = cased()
    haystack = "".join(all_cased)
    for char in all_cased:
        matched = re.findall(re.escape(char), haystack, re.IGNORECASE)
        assert char in matched
        assert {fold(m) for m in matched} == {fold(char)}, (char, matched)
    everything = "".join(chr(p) for p in range(sys.maxunicode + 1) if not 0xD800 <= p <= 0xDFFF)
    sample = {*ODD, *"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", *all_cased[::100]}
    for char in sample:
        matched = re.findall(re.escape(char), everything, re.IGNORECASE)
        assert {fold(m) for m in matched} == {fold(char)}, (char, matched)
    assert all(len(fold(c)) == 1 for c in all_cased)
    assert fold("Stra\u00dfe \u0130stanbul \u017f \u212a") == fold("STRA\u1e9eE iSTANBUL s k")
    assert len(fold(ODD)) == len(ODD)


def _random_text(rng: random.Random) -> str:
    alphabet = ODD + "abc xyz"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 9)))


def _searches(rng: random.Random, entries: dict[str, Entry]) -> list[str]:
    texts = [_random_text(rng)[:5] for _ in range(15)]
    for entry in rng.sample(sorted(entries.values(), key=lambda e: e.id), 10):
        for value in entry.values:
            if value:
                start = rng.randrange(len(value))
                texts.append(value[start : start + rng.randint(1, 5)])
    # Each also in other cases: the case-insensitive search must find those too.
    texts += [t.upper() for t in texts] + [t.swapcase() for t in texts] + [fold(t) for t in texts]
    return [t for t in texts if TextColumn.searchable(t)]


def _check(column: TextColumn[Entry], entries: dict[str, Entry], texts: list[str]) -> None:
    for text in texts:
        for ignore_case in (False, True):
            found = column.found(text, ignore_case=ignore_case)
            assert len(found) == len({e.id for e in found})
            assert all(entries[e.id] is e for e in found)  # current objects
            assert {e.id for e in found} == _expected(entries, text, ignore_case), (
                text,
                ignore_case,
            )


def _change(rng: random.Random, entries: index_entries.Entries[Entry], n: int) -> None:
    for step in range(n):
        entry_id = f"e{rng.randrange(120)}"
        if rng.random() < 0.25:
            entries.drop(entry_id)
        elif rng.random() < 0.2 and entry_id in entries.entries:
            entries.put(Entry(entry_id, entries.entries[entry_id].values))  # same text
        else:
            values = tuple(_random_text(rng) for _ in range(rng.randint(1, 3)))
            entries.put(Entry(entry_id, values if step % 5 else ()))


@pytest.mark.parametrize("seed", range(4))
def test_found_is_the_filters_answer_as_entries_change(seed: int) -> None:
    """Built whole (no event loop): every search of 1 to 5 characters over odd Unicode,
    in both cases, as entries are added, changed (or put again unchanged) and dropped."""
    rng = random.Random(seed)
    entries: index_entries.Entries[Entry] = index_entries.Entries()
    _change(rng, entries, 100)
    column = entries.text_column("v", _values)
    for ignore_case in (False, True):
        column.index(ignore_case=ignore_case)
        assert column.indexed(ignore_case=ignore_case)
    for _ in range(3):
        _check(column, entries.entries, _searches(rng, entries.entries))
        _change(rng, entries, 60)
        assert entries.text_column("v", _values) is column  # told, not built again
        assert column.indexed(ignore_case=True)


async def test_a_build_in_steps_answers_the_same_while_under_way(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On an event loop the postings are built a few entries a step: searches asked
    before, during and after the build (entries changing meanwhile) answer the same."""
    monkeypatch.setattr(text_column, "BUILD_STEP", 7)
    pending_before = metrics.TEXT_POSTINGS_PENDING._value.get()
    rng = random.Random(9)
    entries: index_entries.Entries[Entry] = index_entries.Entries()
    _change(rng, entries, 150)
    column = entries.text_column("v", _values)
    _check(column, entries.entries, _searches(rng, entries.entries))  # starts both builds
    assert not column.indexed(ignore_case=False)
    assert metrics.TEXT_POSTINGS_PENDING._value.get() > pending_before
    partial = 0  # checks made while the build was under way (the first one at least)
    while not (column.indexed(ignore_case=False) and column.indexed(ignore_case=True)):
        partial += not column.indexed(ignore_case=False)
        _change(rng, entries, 3)
        _check(column, entries.entries, _searches(rng, entries.entries)[:6])
        await asyncio.sleep(0.001)
    assert partial >= 1
    assert metrics.TEXT_POSTINGS_PENDING._value.get() == pending_before  # all counted done
    _check(column, entries.entries, _searches(rng, entries.entries))


async def test_the_folding_table_is_read_off_the_event_loop() -> None:
    """The first case-insensitive postings of a process wait for the folding table, read
    in a worker thread (~0.5 to 1 s: on the loop it would stall every request), and
    searches asked meanwhile test every entry and answer the same."""
    case_fold.table.cache_clear()
    rng = random.Random(4)
    entries: index_entries.Entries[Entry] = index_entries.Entries()
    _change(rng, entries, 80)
    column = entries.text_column("v", _values)
    column.index(ignore_case=True)
    assert not case_fold.ready()  # not read on the loop: the call returned first
    assert not column.indexed(ignore_case=True)
    _check(column, entries.entries, _searches(rng, entries.entries))
    for _ in range(2_000):
        if column.indexed(ignore_case=True):
            break
        await asyncio.sleep(0.005)
    assert case_fold.ready() and column.indexed(ignore_case=True)
    _check(column, entries.entries, _searches(rng, entries.entries))


def test_a_worn_column_is_built_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """Once its dead positions outnumber the live ones (and `REBUILD_DEAD`), the next use
    builds the column again; it answers the same."""
    monkeypatch.setattr(text_column, "REBUILD_DEAD", 3)
    entries: index_entries.Entries[Entry] = index_entries.Entries()
    for n in range(6):
        entries.put(Entry(f"e{n}", (f"note {n}",)))
    column = entries.text_column("v", _values)
    column.index(ignore_case=False)
    for n in range(5):
        entries.put(Entry(f"e{n}", (f"renamed {n}",)))
    assert not column.worn  # 5 dead, 6 live
    entries.drop("e5")
    assert column.worn
    again = entries.text_column("v", _values)
    assert again is not column and not again.worn
    assert again.hits("renamed", ignore_case=False) == {f"e{n}" for n in range(5)}
    assert again.hits("note", ignore_case=False) == set()
