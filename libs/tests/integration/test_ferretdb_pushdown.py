"""The embedded database's filter pushdown (`scripts/ferretdb/pushdown.go`) changes how
documents are found, never which: every filter selects, counts, updates and deletes the
same documents as the same filter wrapped in a one-branch `$or` (which the database
never pushes down, so the Go filter alone decides), on documents holding every kind of
value a field can: strings that do and do not travel as the same JSON text, booleans,
numbers, nulls, arrays, sub-documents, dates, ids, missing fields. And a selective
equality is answered from the field's index, not by reading the collection."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import pytest
from bson import Int64, ObjectId
from pymongo import AsyncMongoClient

from crm_kit.profile import DatabaseProfile

pytestmark = pytest.mark.integration

VALUES: list[Any] = [
    "a", "b", "A", "", "a b", "x<y", "a&b", "é", "ü-ü", 'q"q', "back\\slash", "tab\t",
    True, False, None, 0, 1, 1.0, Int64(1), 2.5,
    ["a", "b"], ["b"], [True], ["x<y"], [], [None], [1, "a"],
    {"a": 1}, {"a": "a"}, datetime(2024, 1, 1, tzinfo=UTC), ObjectId("65a000000000000000000001"),
]  # fmt: skip
FIELDS = ("f", "g", "_h", "snake_case")
# Ids whose JSON text Go's encoder escapes, or that are not ASCII.
ODD_IDS = ["w:a&b<c>@x.io", "w:é@x.io", 'w:q"q', "w:back\\slash", "w:tab\t"]


def documents(count: int, seed: int) -> list[dict[str, Any]]:
    pick = random.Random(seed)
    docs = []
    for n in range(count):
        doc: dict[str, Any] = {"_id": ODD_IDS[n] if n < len(ODD_IDS) else f"d{n}"}
        if n % 3 == 0 and n >= len(ODD_IDS):
            doc["_id"] = ObjectId()
        for field in FIELDS:
            if pick.random() < 0.85:
                doc[field] = pick.choice(VALUES)
        docs.append(doc)
    return docs


FILTERS: list[dict[str, Any]] = [
    {"f": "a"}, {"f": True}, {"f": False}, {"f": "x<y"}, {"f": "a&b"}, {"f": "é"},
    {"f": ""}, {"f": "A"}, {"f": 'q"q'}, {"f": "back\\slash"}, {"f": "tab\t"}, {"f": "zzz"},
    {"_h": "b"}, {"snake_case": True},
    {"f": "a", "g": "b"}, {"f": "a", "g": True, "_h": "a"},
    {"$and": [{"f": "a"}, {"g": True}]}, {"$and": [{"f": "b"}, {"$and": [{"g": "a"}]}]},
    {"f": "a", "$or": [{"g": "b"}, {"g": True}]},
    {"_id": "d5", "f": "a"}, {"_id": "d4"}, {"_id": "d7", "f": {"$ne": "a"}},
    {"_id": ObjectId("65a000000000000000000001"), "f": "a"},
    {"f": None}, {"f": 1}, {"f": ["a", "b"]}, {"f": {"$in": ["a", "b"]}}, {"f": {"$eq": "a"}},
    {"f.a": 1}, {"f": "a", "g": {"$exists": False}}, {"f": {"a": "a"}},
    {"f": {"$in": ["a", "x<y", True]}}, {"f": {"$in": ["a", None]}}, {"f": {"$in": []}},
    {"g": {"$in": ["é", "b"]}}, {"f": {"$eq": True}}, {"f": {"$in": ["b"]}, "g": {"$eq": "a"}},
    {"_id": {"$in": ["d1", "d2"]}, "f": {"$in": ["a", "b", False]}},
    {"_id": {"$in": ["d1", "d2", "d4", "nope", ObjectId("65a000000000000000000001")]}},
    {"_id": {"$eq": "d5"}}, {"_id": {"$in": ["d1", 1]}}, {"_id": {"$in": []}},
    {"_id": "w:a&b<c>@x.io"}, {"_id": {"$in": ODD_IDS}}, {"_id": 'w:q"q', "f": {"$ne": 0}},
]  # fmt: skip


def go_only(where: dict[str, Any]) -> dict[str, Any]:
    return {"$or": [where]}


@pytest.fixture
async def db(infra: Any, db_name: str) -> Any:
    client: AsyncMongoClient[Any] = AsyncMongoClient(infra.mongodb_uri, tz_aware=True)
    yield client[db_name]
    await client.close()


async def ids(collection: Any, where: dict[str, Any]) -> list[str]:
    return sorted([str(doc["_id"]) async for doc in collection.find(where, {"_id": 1})])


@pytest.mark.parametrize("indexed", [False, True])
async def test_every_filter_finds_and_counts_what_the_go_filter_alone_finds(
    db: Any, indexed: bool
) -> None:
    things = db["things"]
    await things.insert_many(documents(400, seed=7))
    if indexed:
        for field in FIELDS:
            await things.create_index(field)
        await things.create_index([("f", 1), ("g", 1)])
    matched = 0
    for where in FILTERS:
        found = await ids(things, where)
        assert found == await ids(things, go_only(where)), where
        assert await things.count_documents(where) == len(found), where
        matched += len(found)
    assert matched > 400  # the filters do select documents: the comparison is not empty


async def test_writes_by_a_pushed_filter_touch_what_the_go_filter_touches(db: Any) -> None:
    docs = documents(300, seed=11)
    pushed, plain = db["pushed"], db["plain"]
    for twin in (pushed, plain):
        await twin.insert_many([dict(doc) for doc in docs])
        await twin.create_index("f")

    async def both(write: str, where: dict[str, Any], *rest: Any) -> None:
        a = await getattr(pushed, write)(where, *rest)
        b = await getattr(plain, write)(go_only(where), *rest)
        if write == "find_one_and_update":
            assert (a or {}).get("_id") == (b or {}).get("_id"), where
        else:
            counted = "deleted_count" if write == "delete_many" else "modified_count"
            assert getattr(a, counted) == getattr(b, counted), where

    await both("update_many", {"f": "a", "g": "b"}, {"$set": {"u": 1}})
    await both("update_many", {"f": True}, {"$set": {"u": 2}})
    await both("find_one_and_update", {"_id": "d8", "g": {"$exists": True}}, {"$set": {"u": 3}})
    await both("delete_many", {"f": "b", "_h": "a"})
    await both("delete_many", {"$and": [{"g": False}, {"f": {"$ne": None}}]})

    def rows(found: list[dict[str, Any]]) -> list[tuple[str, Any]]:
        return sorted((str(doc["_id"]), doc.get("u")) for doc in found)

    assert rows(await pushed.find().to_list()) == rows(await plain.find().to_list())
    assert len(await pushed.find({"u": {"$exists": True}}).to_list()) > 0


async def test_a_selective_equality_is_answered_from_the_fields_index(db: Any) -> None:
    info = await db.client.admin.command("buildInfo")
    if "ferretdbVersion" not in info:
        pytest.skip("the plan asserted is the embedded database's (FerretDB on SQLite)")
    assert await DatabaseProfile.detect(db) == DatabaseProfile("ferretdb", pushdown=True)
    outbox = db["outbox"]
    await outbox.insert_many([{"_id": f"o{n}", "_outbox_pending": n == 7} for n in range(50)])
    await outbox.create_index("_outbox_pending")
    by_ids = {"_id": {"$in": ["o1", "o7"]}}
    for where in ({"_outbox_pending": True}, by_ids, {**by_ids, "_outbox_pending": True}):
        explained = await db.command("explain", {"find": "outbox", "filter": where})
        plan = " ".join(explained["queryPlanner"]["Plan"])
        assert explained["filterPushdown"] is True
        assert "USING INDEX" in plan and "SCAN" not in plan, plan
    assert await ids(outbox, {"_outbox_pending": True}) == ["o7"]
    claims = db["claims"]
    await claims.insert_many([{"_id": f"c{n}", "email": f"p{n}@x.io"} for n in range(50)])
    await claims.create_index("email")
    asked = {"email": {"$in": ["p3@x.io", "p9@x.io"]}}
    explained = await db.command("explain", {"find": "claims", "filter": asked})
    assert "SCAN" not in " ".join(explained["queryPlanner"]["Plan"])
    assert await ids(claims, asked) == ["c3", "c9"]
