"""`Records.change_batch` over `DocumentWriter.update_batch` on the real FerretDB, with
and without its workarounds: many records changed in one update statement per chunk
(more than FerretDB answers in one), their audit entries in one outbox document the relay
moves, a batch sent again adding nothing; on MongoDB's conditional filters, a record
another replica changed since the read is changed again on a fresh read."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from crm_contracts.streams import StreamSpec
from crm_kit.audit import AUDIT, Audited, AuditPolicy, is_pack, stored_changes, unpacked
from crm_kit.nats_io import ensure_stream
from crm_kit.outbox import PENDING, OutboxRelay
from crm_kit.profile import DatabaseProfile
from crm_kit.records import MongoRecords, RecordType
from crm_kit.writer import DocumentWriter

pytestmark = pytest.mark.integration

MANY = 150  # more than one `update` statement's worth (`UPDATES_PER_STATEMENT`)


@dataclass
class Thing:
    id: str
    workspace_id: str
    score: int
    label: str = ""
    version: int = 1


def _to_doc(thing: Thing) -> dict[str, Any]:
    return {
        "_id": thing.id,
        "workspace_id": thing.workspace_id,
        "score": thing.score,
        "label": thing.label,
        "version": thing.version,
    }


def _from_doc(doc: Mapping[str, Any]) -> Thing:
    return Thing(doc["_id"], doc["workspace_id"], doc["score"], doc["label"], doc["version"])


THING = RecordType("things", _to_doc, _from_doc, versioned=True)


@pytest.fixture(params=["auto", "mongodb"])
async def env(
    request: pytest.FixtureRequest, infra: Any, db_name: str
) -> AsyncIterator[dict[str, Any]]:
    client: AsyncMongoClient[Any] = AsyncMongoClient(infra.mongodb_uri, tz_aware=True)
    nc = await infra.connect_nats()
    js = nc.jetstream()
    stream = StreamSpec(name=f"CB_{db_name.upper()}", subjects=(f"crm.{db_name}.>",))
    await ensure_stream(js, stream)
    db = client[db_name]
    writer = DocumentWriter(
        db,
        profile=await DatabaseProfile.detect(db, request.param),
        outbox_collections=["things", "batches"],
        audit=AuditPolicy("svc", {"things": Audited("thing", frozenset({"version"}))}),
    )
    records = MongoRecords(writer, THING, "w1")
    await records.insert_many([Thing(f"t{n:03d}", "w1", n) for n in range(MANY)])
    relay = OutboxRelay(db, ["things", "batches"], js)
    await relay.publish_pending()  # the inserts' own entries
    await db[AUDIT].delete_many({})
    yield {"db": db, "records": records, "relay": relay}
    await js.delete_stream(stream.name)
    await nc.close()
    await client.close()


def _raise_to(target: int) -> Any:
    async def change(thing: Thing) -> bool:
        if thing.score >= target:
            return False  # never lowered
        thing.score = target
        return True

    return change


async def test_many_records_change_in_one_batch_and_once_however_often_sent(
    env: dict[str, Any],
) -> None:
    db, records, relay = env["db"], env["records"], env["relay"]
    ids = [f"t{n:03d}" for n in range(MANY)]
    changed = await records.change_batch(
        ids, _raise_to(100), batch_collection="batches", batch_id="b1"
    )
    assert sorted(t.id for t in changed) == ids[:100]  # those at 100 or above stay
    assert all(t.score == 100 and t.version == 2 for t in changed)
    stored = {doc["_id"]: doc async for doc in db.things.find({})}
    assert [stored[i]["score"] for i in ids] == [max(n, 100) for n in range(MANY)]
    assert stored["t000"]["version"] == 2 and stored["t120"]["version"] == 1
    # The entries ride in the batch's one document, not in the records.
    assert await db.things.count_documents({PENDING: True}) == 0
    assert await db.batches.count_documents({}) == 1

    again = await records.change_batch(
        ids, _raise_to(100), batch_collection="batches", batch_id="b1"
    )
    assert again == []
    await relay.publish_pending()
    stored_entries = [doc async for doc in db[AUDIT].find({})]
    assert len(stored_entries) == 1  # the batch's entries, packed in one document
    entries = unpacked(stored_entries[0])
    assert len(entries) == 100
    first = next(e for e in entries if e["record_id"] == "t007")
    assert first["action"] == "update"
    assert stored_changes(first) == [{"field": "score", "before": "7", "after": "100"}]


# On MongoDB's conditional filters only: FerretDB isolates no concurrent writers (one
# process writes its database there, and it is kept in turn by the document locks).
@pytest.mark.parametrize("env", ["mongodb"], indirect=True)
async def test_a_record_changed_meanwhile_elsewhere_is_changed_on_a_fresh_read(
    env: dict[str, Any],
) -> None:
    db, records, relay = env["db"], env["records"], env["relay"]

    async def raise_and_race(thing: Thing) -> bool:
        if thing.id == "t001" and thing.label == "":
            # Another replica's write lands between this read and the batch's write.
            await db.things.update_one(
                {"_id": "t001"}, {"$set": {"label": "theirs"}, "$inc": {"version": 1}}
            )
        return await _raise_to(50)(thing)

    changed = await records.change_batch(
        ["t000", "t001", "t002"], raise_and_race, batch_collection="batches", batch_id="b2"
    )
    assert sorted(t.id for t in changed) == ["t000", "t001", "t002"]
    racer = await db.things.find_one({"_id": "t001"})
    assert racer["score"] == 50 and racer["label"] == "theirs" and racer["version"] == 3
    await relay.publish_pending()
    moved = [
        entry["record_id"]
        async for doc in db[AUDIT].find({})
        for entry in (unpacked(doc) if is_pack(doc) else [doc])
    ]
    assert sorted(moved) == ["t000", "t001", "t002"]  # the raced one once, by its own write
