"""The audit log's capture (`crm_kit.audit`) on the in-memory database: an entry per change
with its diff, who and through which path, none for a write that changes nothing shown,
none doubled by a keyed retry; and its reader (`crm_kit.audit_read`). The same capture
through the writer and the relay on FerretDB: tests/integration/test_audit.py."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

import orjson
import pytest

from crm_kit.audit import (
    AUDIT,
    Audited,
    AuditPolicy,
    EntryWriter,
    annotate,
    bind_channel,
    changes,
    creation_entries,
    entry,
    is_pack,
    packed_changes,
    packed_entries,
    stored_changes,
    via,
)
from crm_kit.audit_read import AuditQuery, AuditTrail, entry_cursor
from crm_kit.context import RequestContext, bind_request
from crm_kit.memory_db import MemoryDatabase
from crm_kit.operation import Operation, operation_bound
from crm_kit.pagination import decode_cursor

from ..support.keyed import bump_twice, create_thing
from ..support.things import THING, THINGS, Thing, encode

POLICY = AuditPolicy("things", {THINGS: Audited("thing", frozenset({"name_key", "version"}))})
STARTED = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def db() -> MemoryDatabase:
    return MemoryDatabase(encode=encode, audit=POLICY)


@pytest.fixture(autouse=True)
def unbound() -> Any:
    yield
    bind_request(None)
    bind_channel(None)


def entries(db: MemoryDatabase) -> list[dict[str, Any]]:
    return sorted(db.collections[AUDIT].values(), key=lambda e: (e["at"], e["_id"]))


def diff(entry: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    def value(text: str | None) -> Any:
        return None if text is None else orjson.loads(text)

    return {c["field"]: (value(c["before"]), value(c["after"])) for c in entry["changes"]}


def test_changes_name_each_differing_field_and_leave_out_bookkeeping() -> None:
    audited = Audited("thing", frozenset({"name_key"}))
    before = {"_id": "a", "workspace_id": "w1", "name": "Ada", "name_key": "ada", "tags": []}
    after = {**before, "name": "Bea", "name_key": "bea", "tags": ["x"], "_outbox": [1]}
    assert changes(before, after, audited) == [
        {"field": "name", "before": '"Ada"', "after": '"Bea"'},
        {"field": "tags", "before": "[]", "after": '["x"]'},
    ]
    # Values with keys MongoDB forbids as field names are stored as JSON text.
    custom = changes({"f": None}, {"f": {"a.b": 1, "$c": 2}}, audited)
    assert custom == [{"field": "f", "before": None, "after": '{"$c":2,"a.b":1}'}]


def test_a_creations_changes_are_every_field_set_as_a_diff_from_nothing_gives_them() -> None:
    """A creation's changes (the import's path, taken without comparing field by field)
    are what a diff from an empty document gives: each field set, in name order, nulls
    and bookkeeping left out."""
    audited = Audited("thing", frozenset({"name_key"}))
    created = {
        "_id": "a",
        "workspace_id": "w1",
        "name": "Ada",
        "name_key": "ada",
        "tags": [],
        "amount": 12,
        "closed_at": None,
        "custom": {"b": 1, "a": "x"},
        "_outbox": [1],
    }
    expected = [
        {"field": "amount", "before": None, "after": "12"},
        {"field": "custom", "before": None, "after": '{"a":"x","b":1}'},
        {"field": "name", "before": None, "after": '"Ada"'},
        {"field": "tags", "before": None, "after": "[]"},
    ]
    assert changes(None, created, audited) == expected
    assert changes({}, created, audited) == expected
    # The general diff agrees: from a document holding only fields a diff leaves out.
    assert changes({"_id": "a", "workspace_id": "w1"}, created, audited) == expected
    assert changes(None, None, audited) == []


async def test_create_update_delete_each_leave_an_entry_with_who_and_how(
    db: MemoryDatabase,
) -> None:
    things = db.records(THING, "w1")
    bind_request(RequestContext("w1", "user-1", frozenset({"rep"})))
    bind_channel("graphql", "gateway")
    await things.insert(Thing("a", "w1", "Ada", score=1))
    await things.change("a", _rename("Bea"))
    await things.update("a", {"$inc": {"score": 2}, "$push": {"tags": "vip"}})
    with via("import"):
        await things.change("a", _rename("Cy"))
    bind_channel("nats", "deals")
    assert await things.delete("a")
    made = entries(db)
    assert [e["action"] for e in made] == ["create", "update", "update", "update", "delete"]
    assert [e["path"] for e in made] == ["graphql", "graphql", "graphql", "import", "nats"]
    assert made[0]["party"] == "gateway" and made[-1]["party"] == "deals"
    assert {(e["actor"], tuple(e["roles"]), e["record_type"], e["record_id"]) for e in made} == {
        ("user-1", ("rep",), "thing", "a")
    }
    assert diff(made[0])["name"] == (None, "Ada")
    assert "name_key" not in diff(made[0]) and "version" not in diff(made[1])
    assert diff(made[1]) == {"name": ("Ada", "Bea")}
    assert diff(made[2]) == {"score": (1, 3), "tags": ([], ["vip"])}
    assert diff(made[4])["name"] == ("Cy", None)


async def test_a_write_that_changes_nothing_shown_leaves_no_entry(db: MemoryDatabase) -> None:
    things = db.records(THING, "w1")
    await things.insert(Thing("a", "w1", "Ada"))

    async def touch(thing: Thing) -> bool:
        return True  # saved again: only the version moves, which the policy leaves out

    await things.change("a", touch)
    assert [e["action"] for e in entries(db)] == ["create"]


async def test_without_a_bound_channel_the_service_acts_on_its_own(db: MemoryDatabase) -> None:
    await db.records(THING, "w1").insert(Thing("a", "w1", "Ada"))
    (made,) = entries(db)
    who = (made["path"], made["actor"], made["party"])
    assert who == ("automation", "service:things", "things")


async def test_an_annotation_goes_with_the_next_change_only(db: MemoryDatabase) -> None:
    things = db.records(THING, "w1")
    await things.insert(Thing("a", "w1", "Ada"))
    annotate(override=["amount"])
    await things.change("a", _rename("Bea"))
    await things.change("a", _rename("Cy"))
    made = entries(db)
    assert orjson.loads(made[1]["detail"]) == {"override": ["amount"]}
    assert "detail" not in made[2]


async def test_a_keyed_retry_adds_no_entry(db: MemoryDatabase) -> None:
    things = db.records(THING, "w1")
    operation = Operation(token="t" * 32, started_at=STARTED)
    with operation_bound(operation):
        made = await create_thing(things, "Ada")
        await bump_twice(things, made.id)
    first = {e["_id"] for e in entries(db)}
    assert len(first) == 3
    with operation_bound(Operation(token="t" * 32, started_at=STARTED)):  # the retry
        await create_thing(things, "Ada")
        await bump_twice(things, made.id)
    assert {e["_id"] for e in entries(db)} == first
    assert (await things.get([made.id]))[0].score == 2


async def test_the_reader_pages_newest_first_and_filters(db: MemoryDatabase) -> None:
    things = db.records(THING, "w1")
    for n in range(5):
        bind_request(RequestContext("w1", f"user-{n % 2}", frozenset({"admin"})))
        await things.insert(Thing(f"t{n}", "w1", f"T{n}"))
    await db.records(THING, "w2").insert(Thing("x", "w2", "Other"))
    trail = AuditTrail(db, "w1")
    page = await trail.page(AuditQuery(), first=2, after=None)
    assert (page.total, page.has_next) == (5, True)
    seen = [e["record_id"] for e in page.items]
    last = page.items[-1]
    rest = await trail.page(AuditQuery(), first=10, after=(last["at"], last["_id"]))
    seen += [e["record_id"] for e in rest.items]
    assert sorted(seen) == [f"t{n}" for n in range(5)] and len(set(seen)) == 5
    by_actor = await trail.page(AuditQuery(actor="user-1"), first=9, after=None)
    assert {e["record_id"] for e in by_actor.items} == {"t1", "t3"}
    one = await trail.page(AuditQuery(record_id="t2"), first=9, after=None)
    assert [e["action"] for e in one.items] == ["create"]
    later = datetime.now(UTC) + timedelta(days=1)
    assert (await trail.page(AuditQuery(since=later), first=9, after=None)).total == 0


def _bulk(names: list[str], at: datetime, path: str = "import") -> list[dict[str, Any]]:
    """Entries as a bulk write seals them (`packed_changes`), at `at`."""
    made = []
    with via(path):
        for name in names:
            one = entry(POLICY, THINGS, name, "w1", None, {"name": name.upper()}, place=name)
            assert one is not None
            made.append({**packed_changes(one), "at": at})
    return made


async def test_a_bulk_writes_entries_are_packed_and_read_back_one_by_one(
    db: MemoryDatabase,
) -> None:
    """One document per run of a bulk write's entries sharing who and how; the trail of a
    record in it answers that record's entry alone, the log every entry once, newest first,
    in pages that start and end inside the pack."""
    bind_request(RequestContext("w1", "ann", frozenset({"admin"})))
    before = _bulk(["a"], STARTED, path="cli")
    bulk = _bulk([f"t{n}" for n in range(5)], STARTED + timedelta(seconds=1))
    other_path = _bulk(["c0", "c1"], STARTED + timedelta(seconds=1), path="cli")
    after = _bulk(["z"], STARTED + timedelta(seconds=2))
    stored = packed_entries([*before, *bulk, *other_path, *after])
    assert [len(e["record_id"]) if is_pack(e) else e["record_id"] for e in stored] == [
        "a", 5, 2, "z",
    ]  # fmt: skip
    assert packed_entries(stored) == stored  # packs and single entries stay as they are
    assert stored[1]["_id"] == bulk[0]["_id"]  # the same entries make the same pack
    db.store_entries(stored)
    trail = AuditTrail(db, "w1")
    one = await trail.page(AuditQuery(record_id="t3"), first=9, after=None)
    (created,) = one.items
    assert (one.total, created["_id"], created["path"]) == (1, bulk[3]["_id"], "import")
    assert diff({**created, "changes": stored_changes(created)}) == {"name": (None, "T3")}
    seen: list[str] = []
    cursor = None
    while True:
        page = await trail.page(AuditQuery(), first=3, after=cursor)
        assert page.total == 9
        seen += [e["record_id"] for e in page.items]
        if not page.has_next:
            break
        cursor = decode_cursor(entry_cursor(page.items[-1]))
    # The two packs share a time: the later made (its first entry's id larger) first.
    assert seen == ["z", "c1", "c0", "t4", "t3", "t2", "t1", "t0", "a"]
    by_path = await trail.page(
        AuditQuery(actor="ann", since=STARTED + timedelta(seconds=2)), first=9, after=None
    )
    assert [e["record_id"] for e in by_path.items] == ["z"]


def _rename(name: str) -> Any:
    async def rename(thing: Thing) -> bool:
        thing.rename(name)
        return True

    return rename


async def test_held_entries_are_kept_by_the_write_that_carries_them_once(
    db: MemoryDatabase,
) -> None:
    """As on the database (tests/integration/test_audit.py): held by the insert, kept by
    the carrying update, named by the insert so that carrying them again adds none."""
    things = db.records(THING, "w1")
    await things.insert(Thing("carrier", "w1", "Carrier"))
    held: list[dict[str, Any]] = []
    assert await things.insert_many([Thing("a", "w1", "Ada")], hold_audit=held) == []
    assert [e["record_id"] for e in entries(db)] == ["carrier"]  # not kept yet
    again: list[dict[str, Any]] = []
    assert len(await things.insert_many([Thing("a", "w1", "Ada")], hold_audit=again)) == 1
    assert [e["_id"] for e in again] == [e["_id"] for e in held]
    for carried in (again, held):
        assert await things.update("carrier", {"$set": {"version": 3}}, audit=carried)
    assert sorted(e["record_id"] for e in entries(db)) == ["a", "carrier"]


class _AuditCollection:
    """The `audit` collection as `store_entries` uses it: unordered inserts, one at a time."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}
        self.statements = 0
        self.fail = 0  # the next this many statements fail (an outage)

    async def insert_many(self, docs: list[dict[str, Any]], ordered: bool = True) -> None:
        await asyncio.sleep(0)
        self.statements += 1
        if self.fail:
            self.fail -= 1
            raise ConnectionError("database unreachable")
        for doc in docs:
            self.docs.setdefault(doc["_id"], doc)


async def test_entries_stored_at_once_by_several_callers_go_in_one_statement() -> None:
    """The relay's `EntryWriter`: entries given while an insert is in flight share the
    next one; each caller returns once its own are stored, or hears the failure."""
    audit = _AuditCollection()
    writer = EntryWriter(cast(Any, {AUDIT: audit}))
    first = asyncio.ensure_future(writer.store([{"_id": "e0"}]))
    await asyncio.sleep(0)  # its insert is under way
    await asyncio.gather(*(writer.store([{"_id": f"e{n}"}, {"_id": f"f{n}"}]) for n in (1, 2, 3)))
    await first
    assert audit.statements == 2 and len(audit.docs) == 7
    await writer.store([])  # nothing to store: no statement
    assert audit.statements == 2
    audit.fail = 1
    failed = await asyncio.gather(
        *(writer.store([{"_id": f"g{n}"}]) for n in range(3)), return_exceptions=True
    )
    assert all(isinstance(outcome, ConnectionError) for outcome in failed)
    await writer.store([{"_id": "g0"}, {"_id": "e1"}])  # stored again: kept once
    assert set(audit.docs) >= {"g0", "e1"} and len(audit.docs) == 8


async def test_a_records_own_entries_are_stored_one_by_one_even_with_packed_changes() -> None:
    """Entries whose changes are one text are packed together when a sealed batch's
    (`pack=True`), but a record's own outbox (`pack=False`: a deal's task list, whose
    entries the insert held packed) may hold them grouped otherwise on a later move:
    each is stored under its own id, so a repeat in another grouping is refused."""
    audit = _AuditCollection()
    writer = EntryWriter(cast(Any, {AUDIT: audit}))
    held = [
        packed_changes({**_entry_of(n), "changes": [{"field": "n", "before": None, "after": "1"}]})
        for n in range(3)
    ]
    await writer.store(held, pack=False)
    assert sorted(audit.docs) == ["e0", "e1", "e2"]
    assert not any(is_pack(doc) for doc in audit.docs.values())
    await writer.store(held[1:], pack=False)  # grouped otherwise: nothing doubled
    assert len(audit.docs) == 3
    sealed = _AuditCollection()
    await EntryWriter(cast(Any, {AUDIT: sealed})).store(held)
    assert len(sealed.docs) == 1 and is_pack(next(iter(sealed.docs.values())))


def _entry_of(n: int) -> dict[str, Any]:
    return {
        "_id": f"e{n}",
        "workspace_id": "w1",
        "service": "tasks",
        "record_type": "Task",
        "action": "create",
        "actor": "service:tasks",
        "party": "tasks",
        "path": "automation",
        "at": STARTED,
        "record_id": f"t{n}",
    }


@pytest.mark.parametrize("keyed", [False, True])
def test_a_bulk_inserts_entries_are_each_inserts_own(keyed: bool) -> None:
    """`creation_entries` (an import batch's) makes what `entry` makes of each insert,
    packed, with who and how made once: the same ids within a keyed operation, the
    annotation on the first entry only, the workspace of each document."""
    bind_request(RequestContext("w1", "ann", frozenset({"rep", "admin"})))
    bind_channel("nats", "imports")
    docs = [
        {"_id": "a", "workspace_id": "w1", "name": "Ada", "version": 1, "tags": ["x"]},
        {"_id": "b", "workspace_id": "w1", "name": "Bea", "size": 3, "note": None},
        {"_id": "c", "name": "Cy"},  # no workspace of its own: the request's
    ]
    operation = Operation(token="k" * 32, started_at=STARTED)

    def made_both() -> tuple[list[dict[str, Any]], list[tuple[Any, dict[str, Any]]]]:
        annotate(source="import")
        one_by_one = []
        for n, doc in enumerate(docs):
            if n == 1:
                annotate(source="import")  # `entry` said it on the first: again for the next
            made = entry(POLICY, THINGS, doc["_id"], doc.get("workspace_id"), None, doc,
                         place=f"{THINGS}/{doc['_id']}/insert")  # fmt: skip
            assert made is not None
            one_by_one.append(packed_changes(made))
        annotate(source="import")
        return one_by_one, creation_entries(POLICY, THINGS, docs)

    if keyed:
        with operation_bound(operation):
            one_by_one, together = made_both()
    else:
        one_by_one, together = made_both()
    assert [doc_id for doc_id, _ in together] == ["a", "b", "c"]
    for single, (_, batched) in zip(one_by_one, together, strict=True):
        same = {k: v for k, v in single.items() if k not in ("_id", "at", "detail")}
        assert {k: v for k, v in batched.items() if k not in ("_id", "at", "detail")} == same
        assert (batched["_id"] == single["_id"]) is keyed  # derived within an operation
    assert [("detail" in e) for _, e in together] == [True, False, False]
    assert together[2][1]["workspace_id"] == "w1"
    assert orjson.loads(together[0][1]["changes"])[0]["field"] == "name"
    assert creation_entries(POLICY, "untracked", docs) == []


def test_a_bulk_inserts_changes_are_the_same_text_as_each_inserts_own() -> None:
    """The changes of a bulk insert's entries are made from pieces its documents share
    (equal values): the same text as `changes` makes of each document, also for values
    equal in Python that print apart (1, 1.0 and True; -0.0 and 0.0; one instant in two
    zones) and for values that are not shared (lists, documents); field names that print
    with escapes too."""
    bind_request(RequestContext("w1", "ann", frozenset({"admin"})))
    oslo = timezone(timedelta(hours=1))
    moment = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    values: list[Any] = [
        1, 1.0, True, 0.0, -0.0, "1", moment, moment.astimezone(oslo),
        datetime(2024, 5, 1, 12, 0), ["a", 1], {"b": [1, {"c": None}], "a": 2}, None, "ü\"\\",
    ]  # fmt: skip
    docs = [
        {
            "_id": f"d{n}",
            "workspace_id": "w1",
            "value": value,
            "same": "x",
            "n": n % 2,
            'ü"\\ name': n % 3,
        }  # a field name printed with escapes
        for n, value in enumerate(values + values)
    ]
    made = creation_entries(POLICY, THINGS, docs)
    for doc, (_, made_entry) in zip(docs, made, strict=True):
        expected = orjson.dumps(
            changes(None, doc, POLICY.of(THINGS) or Audited("thing")),
            default=str,
            option=orjson.OPT_SORT_KEYS,
        ).decode()
        assert made_entry["changes"] == expected
    printed = [orjson.loads(entry["changes"]) for _, entry in made[: len(values)]]
    after = [next((c["after"] for c in found if c["field"] == "value"), None) for found in printed]
    assert after[:6] == ["1", "1.0", "true", "0.0", "-0.0", '"1"']
    assert after[6] != after[7]
