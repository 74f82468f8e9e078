"""`crm_kit.doc_index`: lists and counts from a read index of records answer what the
database answers (here the in-memory one, whose semantics are MongoDB's), this process's
writes show at once, a row another writer changed behind the index is re-read and the
selection made again, and a filter on a field the index does not keep fails loudly."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from crm_kit import index_entries, order_column, text_column
from crm_kit.change_log import ChangeLog
from crm_kit.doc_index import DocIndex, IndexedDoc, Narrow, UnindexedField
from crm_kit.filters import ALL, And, Contains, Eq, Filter, In, Or, Range
from crm_kit.index_entries import Entries
from crm_kit.memory_db import MemoryDatabase, MemoryRecords
from crm_kit.pagination import Cursor, Order
from crm_kit.records import RecordType
from crm_kit.writer import Written

from .test_change_log import MemorySlots

WS = "w1"


@dataclass
class Note:
    id: str
    workspace_id: str
    owner: str
    title: str
    rank: int
    tags: list[str] = field(default_factory=list)
    body: str = ""


def _to_doc(note: Note) -> dict[str, Any]:
    return {
        "_id": note.id,
        "workspace_id": note.workspace_id,
        "owner": note.owner,
        "title": note.title,
        "rank": note.rank,
        "tags": list(note.tags),
        "body": note.body,
    }


def _from_doc(doc: Mapping[str, Any]) -> Note:
    return Note(doc["_id"], doc["workspace_id"], doc["owner"], doc["title"], doc["rank"],
                list(doc["tags"]), doc["body"])  # fmt: skip


NOTE = RecordType("notes", _to_doc, _from_doc)


async def seeded() -> tuple[MemoryDatabase, DocIndex[Note]]:
    db = MemoryDatabase()
    index = DocIndex(db, NOTE, db.hooks, fields=("owner", "title", "rank", "tags"),
                     posted=("owner", "tags"), name="note index")  # fmt: skip
    records = db.records(NOTE, WS)
    for n in range(30):
        tags = ["hot"] if n % 3 == 0 else []
        await records.insert(Note(f"n{n:02}", WS, f"u{n % 4}", f"note {n}", n % 7, tags))
    await db.records(NOTE, "w2").insert(Note("other", "w2", "u0", "note x", 1))
    return db, index


async def assert_pages_as_database(
    index: DocIndex[Note],
    entries: Entries[IndexedDoc],
    records: MemoryRecords[Note],
    where: Filter,
    order: Order,
    narrow: Narrow = (),
) -> None:
    """Every page of the index, 4 at a time as a client pages, holds what the database's
    page at the same cursor holds."""
    after: Cursor | None = None
    while True:
        page = await index.page(WS, entries, where, order=order, after=after, limit=4,
                                narrow=narrow)  # fmt: skip
        expected = await records.find(where, order=order, after=after, limit=4)
        assert [n.id for n in page] == [n.id for n in expected]
        if len(page) < 4:
            break
        last = _to_doc(page[-1])
        after = (last[order.field], last["_id"])


CASES: list[tuple[Filter, Order, list[tuple[str, tuple[str, ...]]]]] = [
    (ALL, Order("rank", descending=True), []),
    (Eq("owner", "u1"), Order("title"), [("owner", ("u1",))]),
    (Eq("tags", "hot"), Order("rank"), [("tags", ("hot",))]),
    (And(Contains("title", "note 1"), Range("rank", gte=2)), Order("_id"), []),
]


@pytest.mark.parametrize(("where", "order", "narrow"), CASES)
async def test_pages_and_counts_answer_what_the_database_answers(
    where: Filter, order: Order, narrow: list[tuple[str, tuple[str, ...]]]
) -> None:
    db, index = await seeded()
    entries = await index.entries(WS)
    assert entries is not None
    records = db.records(NOTE, WS)
    assert index.count(entries, where, narrow) == await records.count(where)
    await assert_pages_as_database(index, entries, records, where, order, narrow)


async def test_own_writes_show_at_once_and_changes_behind_the_index_are_re_read() -> None:
    db, index = await seeded()
    entries = await index.entries(WS)
    assert entries is not None
    records = db.records(NOTE, WS)
    assert index.count(entries, Eq("owner", "u9")) == 0  # kept until the entries change
    await records.insert(Note("new", WS, "u9", "fresh", 3))
    assert index.count(entries, Eq("owner", "u9")) == 1
    assert [n.id for n in await index.page(WS, entries, Eq("owner", "u9"), order=Order("_id"),
                                           after=None, limit=5)] == ["new"]  # fmt: skip
    # Another replica moves n01 to u9 (its event not in yet): the page of u1 still lists
    # n01 by its entry, reads it, sees the change, re-reads and selects again.
    db.collections["notes"]["n01"]["owner"] = "u9"
    u1 = await index.page(WS, entries, Eq("owner", "u1"), order=Order("_id"), after=None,
                          limit=10, narrow=[("owner", ("u1",))])  # fmt: skip
    assert "n01" not in [n.id for n in u1]
    assert [n.id for n in u1] == [n.id for n in await records.find(Eq("owner", "u1"))]
    assert index.count(entries, Eq("owner", "u9")) == 2  # the entry was re-read


async def test_a_sorted_page_is_kept_until_a_write_reorders_it() -> None:
    db, index = await seeded()
    entries = await index.entries(WS)
    assert entries is not None
    by_rank = Order("rank", descending=True)
    first = await index.page(WS, entries, ALL, order=by_rank, after=None, limit=3)
    again = await index.page(WS, entries, ALL, order=by_rank, after=None, limit=3)
    assert [n.id for n in again] == [n.id for n in first]
    # A write ranks n00 above every other: the next page of the same list shows it first.
    await db.records(NOTE, WS).update("n00", {"$set": {"rank": 99}})
    top = await index.page(WS, entries, ALL, order=by_rank, after=None, limit=3)
    expected = await db.records(NOTE, WS).find(ALL, order=by_rank, limit=3)
    assert [n.id for n in top] == [n.id for n in expected]
    assert top[0].id == "n00"


async def test_a_filter_on_a_field_not_kept_fails_loudly() -> None:
    _, index = await seeded()
    entries = await index.entries(WS)
    assert entries is not None
    with pytest.raises(UnindexedField, match="body"):
        index.count(entries, Eq("body", ""))


async def test_with_a_change_log_rows_come_from_held_documents_the_log_keeps_current() -> None:
    db = MemoryDatabase()
    slots = MemorySlots()
    index = DocIndex(db, NOTE, db.hooks, fields=("owner", "rank"), posted=("owner",),
                     name="note index", changes=ChangeLog(slots))  # fmt: skip
    records = db.records(NOTE, WS)
    for n in range(5):
        await records.insert(Note(f"n{n}", WS, "u1", f"note {n}", n, body="first"))
    entries = await index.entries(WS)
    assert entries is not None

    async def bodies() -> list[str]:
        rows = await index.page(WS, entries, Eq("owner", "u1"), order=Order("rank"),
                                after=None, limit=5)  # fmt: skip
        return [note.body for note in rows]

    assert await bodies() == ["first"] * 5
    # Changed behind the index (a field it does not keep) without a slot: the held
    # document is served, as it was.
    db.collections["notes"]["n2"]["body"] = "second"
    assert await bodies() == ["first"] * 5
    # Another replica's change with its slot: the next request re-reads it.
    await ChangeLog(slots).append(WS, "n2")
    entries = await index.entries(WS)
    assert entries is not None
    assert await bodies() == ["first", "first", "second", "first", "first"]
    assert [n.body for n in await index.get(WS, ["n2", "n4", "missing"]) or []] == [
        "second",
        "first",
    ]


async def test_text_searches_answer_what_the_database_answers_as_entries_change(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A text part is first searched over the entries' joined text (`crm_kit.text_column`);
    entries changed after the text was joined (renamed, added, dropped; more than a
    rebuild's worth too) are found as the database finds them."""
    db, index = await seeded()
    records = db.records(NOTE, WS)
    # Without an owner (as `deleted_at` is unset on every live contact): an equality to
    # null over hits that all have it keeps them all at once.
    for n in range(3):
        await records.insert(Note(f"o{n}", WS, None, f"orphan {n}", n))  # type: ignore[arg-type]
    entries = await index.entries(WS)
    assert entries is not None

    async def same(where: Filter) -> None:
        expected = sorted(n.id for n in await records.find(where))
        page = await index.page(WS, entries, where, order=Order("_id"), after=None, limit=99)
        assert sorted(n.id for n in page) == expected
        assert index.count(entries, where) == len(expected)

    searches: list[Filter] = [
        Contains("title", "note 1"),
        Contains(("title", "tags"), "HOT", ignore_case=True),  # array values, any case
        And(Contains("title", "2"), Eq("owner", "u2")),
        Contains("title", "absent"),
        # The rest of the filter over the hits, read by position (equality, membership)
        # or the filter's own way where a value is an array (held as a tuple).
        And(Contains("title", "note"), In("owner", ["u1", "u3"]), Eq("rank", 2)),
        And(Contains("title", "note"), Eq("tags", "hot")),
        And(Contains("title", "note"), In("tags", ["hot", "cold"])),
        And(Contains("title", "note"), Eq("owner", None)),
        And(Contains("title", "orphan"), Eq("owner", None)),
        And(Contains("title", "o"), Eq("owner", None)),
        And(Contains("title", "orp"), Eq("owner", "u1")),
        # A bool against numbers: as the filter compares.
        And(Contains("title", "note"), Eq("rank", True)),
        And(Contains("title", "note"), Range("rank", gte=3), Eq("owner", "u0")),
    ]
    for where in searches:
        await same(where)
    await records.update("n05", {"$set": {"title": "note 1 renamed"}})  # found though stale
    await records.insert(Note("n99", WS, "u1", "note 1 new", 0, ["Hot"]))
    await records.delete("n10")
    await records.update("o1", {"$set": {"owner": "u1"}})
    for where in searches:
        await same(where)
    # More dead positions than the column keeps: it is joined again.
    monkeypatch.setattr(text_column, "REBUILD_DEAD", 0)
    for n in range(20, 30):
        await records.update(f"n{n:02}", {"$set": {"title": f"retitled {n}"}})
    for where in [*searches, Contains("title", "retitled 2")]:
        await same(where)
    with pytest.raises(UnindexedField, match="body"):
        index.count(entries, Contains("body", "x"))  # a field not kept still fails loudly


@pytest.mark.parametrize(("walk", "ratio"), [(True, 10**6), (True, 0), (True, 1), (False, 2)])
async def test_orders_answer_what_the_database_answers_as_entries_change(
    monkeypatch: pytest.MonkeyPatch, walk: bool, ratio: int
) -> None:
    """A selection is put in order by the kept order of every entry
    (`crm_kit.order_column`: values of mixed types, ties by id, both directions): a walk
    of its first ids, the rest by rank (all walked, none, or a part), or by a sort of its
    own when it is small; entries changed after the order was built (moved, added,
    dropped; more than a rebuild's worth too) take their place as on the database, on
    every page."""
    monkeypatch.setattr(order_column, "WALK_SHARE", 10**9 if walk else 0)
    monkeypatch.setattr(order_column, "WALK_RATIO", ratio)
    db, index = await seeded()
    records = db.records(NOTE, WS)
    # Mixed types in one field (MongoDB orders null, numbers, strings), and ties.
    await records.update("n03", {"$set": {"rank": None}})
    await records.update("n04", {"$set": {"rank": "high"}})
    await records.update("n05", {"$set": {"rank": 2.5}})
    entries = await index.entries(WS)
    assert entries is not None

    async def same(where: Filter, order: Order) -> None:
        await assert_pages_as_database(index, entries, records, where, order)

    lists = [
        (ALL, Order("rank")),
        (ALL, Order("rank", descending=True)),
        (Contains("title", "note 1"), Order("title", descending=True)),
        (Eq("owner", "u2"), Order("rank")),
    ]
    for where, order in lists:
        await same(where, order)
    await records.update("n10", {"$set": {"rank": -1, "title": "note 1 moved"}})
    await records.update("n11", {"$set": {"rank": None}})
    await records.insert(Note("n77", WS, "u2", "note 1 added", 3))
    await records.insert(Note("n00b", WS, "u2", "note 1 tie", 0))  # a tie beside n00
    await records.delete("n12")
    for where, order in lists:
        await same(where, order)
    # More changes than an order tolerates: it is built again.
    monkeypatch.setattr(order_column, "REBUILD_STALE", 3)
    for n in range(20, 27):
        await records.update(f"n{n:02}", {"$set": {"rank": 100 - n}})
    for where, order in lists:
        await same(where, order)


async def test_a_search_is_ordered_by_the_rank_held_per_text_position_as_entries_change(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A search's hits are put in order by the place held per position of its text
    column (`OrderColumn.ordered_at`): after its ranks were read once, entries moved in
    the order without a new text (same position), retitled (a new position), added,
    dropped, behind a narrowing, then the order built again and the text column built
    again, every page of both directions is the database's."""
    monkeypatch.setattr(order_column, "WALK_SHARE", 10**9)  # every selection by the order
    read_at: list[int] = []

    class Kept(order_column.OrderColumn[Any]):
        def ordered_at(self, selected: Any, column: Any, positions: Any, **kw: Any) -> Any:
            read_at.append(len(positions))
            return super().ordered_at(selected, column, positions, **kw)

    monkeypatch.setattr(index_entries, "OrderColumn", Kept)
    db, _ = await seeded()
    index = DocIndex(db, NOTE, db.hooks, fields=("owner", "title", "rank", "tags"),
                     posted=("owner",), name="note index", searched=[("title",)],
                     sorted_by=["rank"])  # fmt: skip
    entries = await index.entries(WS)
    assert entries is not None
    records = db.records(NOTE, WS)
    searches = [
        (Contains("title", "note"), ()),
        (Contains("title", "NOTE 1", ignore_case=True), ()),
        (And(Contains("title", "note"), Eq("owner", "u1")), (("owner", ["u1"]),)),
        (And(Contains("title", "note"), Or(Eq("owner", "u2"), Eq("owner", "u3"))), ()),
    ]

    async def same() -> None:
        for where, narrow in searches:
            for descending in (False, True):
                order = Order("rank", descending=descending)
                await assert_pages_as_database(index, entries, records, where, order, narrow)

    await same()
    assert read_at  # the searches took the path under test
    for n in (2, 9, 16):  # moved in the order, same text: same position, now stale
        await records.update(f"n{n:02}", {"$set": {"rank": -n}})
    await same()
    await records.update("n10", {"$set": {"title": "note 10 retitled", "rank": 99}})
    await records.update("n09", {"$set": {"title": "note 9 retitled"}})  # stale, then moved
    await records.insert(Note("n50", WS, "u1", "note 50", -3))
    await records.insert(Note("n01b", WS, "u1", "note 1 tie", 1))  # a tie, by id
    await records.delete("n11")
    await same()
    # The order built again past its stale limit, then the text column past its dead one.
    monkeypatch.setattr(order_column, "REBUILD_STALE", 2)
    await records.update("n20", {"$set": {"rank": 40}})
    await same()
    monkeypatch.setattr(text_column, "REBUILD_DEAD", 0)
    columns = list(entries._columns.values())
    for again in ("again", "once more"):  # more dead positions than live ones
        for n in (*range(11), *range(12, 30)):
            await records.update(f"n{n:02}", {"$set": {"title": f"note {n} {again}"}})
    await records.update("n21", {"$set": {"rank": 50}})
    await same()
    assert all(c not in columns for c in entries._columns.values())  # built again
    for n in (3, 4):  # and moved once more after both were built again
        await records.update(f"n{n:02}", {"$set": {"rank": 7 - n}})
    await same()


async def test_texts_and_orders_are_built_as_entries_install_and_a_rebuild_keeps_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The joined texts and kept orders an index is told of are built as a workspace's
    entries are installed (no request pays them), and a rebuild's fresh entries take them
    over, told of every document the scan found changed behind the index: the lists
    still answer what the database answers."""
    built: list[str] = []

    class Text(text_column.TextColumn):
        def __init__(self, *args: Any) -> None:
            built.append("text")
            super().__init__(*args)

    class Kept(order_column.OrderColumn[Any]):
        def __init__(self, *args: Any) -> None:
            built.append("order")
            super().__init__(*args)

    monkeypatch.setattr(index_entries, "TextColumn", Text)
    monkeypatch.setattr(index_entries, "OrderColumn", Kept)
    monkeypatch.setattr(order_column, "WALK_SHARE", 10**9)
    db, _ = await seeded()
    index = DocIndex(db, NOTE, db.hooks, fields=("owner", "title", "rank", "tags"),
                     posted=("owner",), name="note index", searched=[("title",)],
                     sorted_by=["rank"])  # fmt: skip
    entries = await index.entries(WS)
    assert entries is not None
    assert sorted(built) == ["order", "text"]
    records = db.records(NOTE, WS)

    async def same() -> None:
        fresh = await index.entries(WS)
        assert fresh is not None
        for where, order in [
            (Contains("title", "note 1"), Order("rank")),
            (ALL, Order("rank", descending=True)),
        ]:
            expected = await records.find(where, order=order)
            page = await index.page(WS, fresh, where, order=order, after=None, limit=99)
            assert [n.id for n in page] == [n.id for n in expected]
            assert index.count(fresh, where) == len(expected)

    await same()
    # Behind the index (no write hook, no event): retitled and moved, removed, added.
    stored = db.collections["notes"]
    stored["n05"].update(title="note 1 behind", rank=-5)
    stored["n13"].update(title="renamed", rank=50)
    del stored["n14"]
    stored["n98"] = _to_doc(Note("n98", WS, "u1", "note 1 late", 4))
    await index.index.rebuild()
    assert sorted(built) == ["order", "text"]  # taken over, not built again
    await same()


@dataclass
class Card:
    id: str
    workspace_id: str
    owner: str
    version: int = 0


def _card_doc(card: Card) -> dict[str, Any]:
    return {"_id": card.id, "workspace_id": card.workspace_id, "owner": card.owner,
            "version": card.version}  # fmt: skip


def _card(doc: Mapping[str, Any]) -> Card:
    return Card(doc["_id"], doc["workspace_id"], doc["owner"], doc.get("version", 0))


CARD = RecordType("cards", _card_doc, _card, versioned=True)


async def test_a_versioned_insert_is_installed_as_written_never_over_a_newer_state() -> None:
    """An import batch's inserts reach the index without a read by `_id` each (the record
    the insert wrote), and an insert's state never replaces a newer one already held."""
    db = MemoryDatabase()
    index = DocIndex(db, CARD, db.hooks, fields=("owner",), posted=("owner",),
                     name="card index", changes=ChangeLog(MemorySlots()))  # fmt: skip
    records = db.records(CARD, WS)
    await records.insert(Card("c0", WS, "u1"))
    entries = await index.entries(WS)
    assert entries is not None
    reads: list[str] = []
    read = index.index._read

    async def counted(workspace: str, doc_id: str) -> Any:
        reads.append(doc_id)
        return await read(workspace, doc_id)

    index.index._read = counted
    assert await records.insert_many([Card(f"c{n}", WS, "u1") for n in range(1, 4)]) == []
    assert reads == []
    assert index.count(entries, Eq("owner", "u1")) == 4
    assert [card.id for card in await index.get(WS, ["c2", "c3"]) or []] == ["c2", "c3"]
    # Another replica's change of c9 installed first (version 3), then this process's
    # insert of c9 is heard (version 0, older): the newer state stays.
    await index.index.refresh(WS, ["c9"], known={"c9": _card_doc(Card("c9", WS, "u2", 3))})
    await index._written(Written("cards", "c9", WS, Card("c9", WS, "u1"), kind="insert"))
    assert [card.owner for card in await index.get(WS, ["c9"]) or []] == ["u2"]
    assert index.count(entries, Eq("owner", "u2")) == 1
    # A write that is not an insert is re-read, as before.
    await records.update("c1", {"$set": {"owner": "u3"}})
    assert "c1" in reads and index.count(entries, Eq("owner", "u3")) == 1


async def test_a_batch_insert_is_installed_from_the_stored_document_without_a_refresh() -> None:
    """An import batch's insert (`insert_batch`: the hook hears the whole document it
    inserted) is installed as stored: no read by `_id`, no refresh per record, the held
    record is the stored one, a newer state already held stays, and a record a refresh
    is working on is left to that refresh's turn (installed after it, not lost)."""
    db = MemoryDatabase()
    index = DocIndex(db, CARD, db.hooks, fields=("owner",), posted=("owner",),
                     name="card index", changes=ChangeLog(MemorySlots()))  # fmt: skip
    await db.records(CARD, WS).insert(Card("c0", WS, "u1"))
    entries = await index.entries(WS)
    assert entries is not None
    reads: list[str] = []
    refreshed: list[list[str]] = []
    read, refresh = index.index._read, index.index.refresh

    async def counted(workspace: str, doc_id: str) -> Any:
        reads.append(doc_id)
        return await read(workspace, doc_id)

    async def refreshes(workspace: str, doc_ids: Any, known: Any = None) -> None:
        refreshed.append(list(doc_ids))
        await refresh(workspace, doc_ids, known)

    index.index._read = counted
    index.index.refresh = refreshes  # type: ignore[method-assign]

    def inserted(card: Card) -> Written:
        stored = {**_card_doc(card), "_outbox": [], "_outbox_pending": False}
        return Written("cards", card.id, WS, card, kind="insert", stored=stored)

    for n in range(1, 4):
        await index._written(inserted(Card(f"c{n}", WS, "u2")))
    assert reads == [] and refreshed == []
    assert index.count(entries, Eq("owner", "u2")) == 3
    assert [(c.id, c.owner) for c in await index.get(WS, ["c1", "c3"]) or []] == [
        ("c1", "u2"), ("c3", "u2")
    ]  # fmt: skip
    # A newer state of c5 held first (version 3): the batch's older insert does not win.
    await refresh(WS, ["c5"], known={"c5": _card_doc(Card("c5", WS, "u3", 3))})
    await index._written(inserted(Card("c5", WS, "u1")))
    assert [card.owner for card in await index.get(WS, ["c5"]) or []] == ["u3"]
    # A refresh of c6 under way holds its lock: the insert waits for its turn.
    async with index.index._locks.hold(f"{WS}:c6"):
        pending = asyncio.ensure_future(index._written(inserted(Card("c6", WS, "u4"))))
        await asyncio.sleep(0)
        assert index.count(entries, Eq("owner", "u4")) == 0
    await pending
    assert refreshed == [["c6"]] and reads == []
    assert index.count(entries, Eq("owner", "u4")) == 1


@dataclass(frozen=True)
class _Entry:
    id: str
    text: str


def test_a_rebuild_taking_a_text_column_over_holds_its_own_entries() -> None:
    """The fresh entries of a rebuild take the old ones' joined text over
    (`Entries.carry_columns`): a search finds the fresh objects (the replaced ones are not
    kept alive by the column), an entry that differs as it is now, and one gone not."""
    old: index_entries.Entries[_Entry] = index_entries.Entries()
    for n in range(5):
        old.put(_Entry(f"e{n}", f"note {n}"))
    old.text_column("text", lambda e: [e.text])
    fresh: index_entries.Entries[_Entry] = index_entries.Entries()
    for n in range(4):  # e4 gone; e3 changed; the rest equal, new objects
        fresh.put(_Entry(f"e{n}", "other" if n == 3 else f"note {n}"))
    fresh.carry_columns(old)
    column = fresh.text_column("text", lambda e: [e.text])
    found = column.found("note", ignore_case=False)
    assert sorted(e.id for e in found) == ["e0", "e1", "e2"]
    assert all(e is fresh.entries[e.id] for e in found)
    assert column.hits("NOTE", ignore_case=True) == {"e0", "e1", "e2"}
    assert column.hits("other", ignore_case=False) == {"e3"}
    assert column.hits("OTHER", ignore_case=True) == {"e3"}
