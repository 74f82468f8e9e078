"""A keyed operation through the kit's writer on a real FerretDB, in both database profiles:
a request run again in the same operation (as after a crash between its writes and the
storing of its result) inserts nothing twice, applies no update twice, and writes each
event once with an id derived from its write. The same steps in memory:
tests/unit/test_operation.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from crm_kit.ids import new_id
from crm_kit.operation import KEPT_MARKERS, OPS_FIELD, Operation, operation_bound
from crm_kit.outbox import HIDE_OUTBOX, OUTBOX
from crm_kit.profile import DatabaseProfile
from crm_kit.records import Duplicate, MongoRecords
from crm_kit.writer import DocumentWriter

from ..support.keyed import (
    NameClaims,
    bump_twice,
    count_and_tag,
    create_thing,
    finish,
    rename_then_bump,
)
from ..support.things import THING, THINGS, Thing, encode

pytestmark = pytest.mark.integration

STARTED = datetime(2026, 3, 1, 12, 30, 15, 123000, tzinfo=UTC)


def _operation(token: str = "a" * 32) -> Operation:
    return Operation(token=token, started_at=STARTED)


@pytest.fixture(params=["mongodb", "ferretdb"])
async def env(
    request: pytest.FixtureRequest, infra: Any, db_name: str
) -> AsyncIterator[dict[str, Any]]:
    client: AsyncMongoClient[Any] = AsyncMongoClient(infra.mongodb_uri, tz_aware=True)
    db = client[db_name]
    await db[THINGS].create_index(
        [("workspace_id", 1), ("name_key", 1)], unique=True, name="name_key"
    )
    writer = DocumentWriter(
        db,
        profile=DatabaseProfile.named(request.param),
        outbox_collections=[THINGS],
        encode=encode,
    )
    yield {"db": db, "things": MongoRecords(writer, THING, "w1"), "writer": writer}
    await client.close()


async def _outbox_ids(env: dict[str, Any]) -> list[str]:
    return [
        stored["id"] async for doc in env["db"][THINGS].find({}) for stored in doc.get(OUTBOX, [])
    ]


async def test_a_create_run_twice_is_one_document_with_its_event_once(
    env: dict[str, Any],
) -> None:
    with operation_bound(_operation()):
        made = await create_thing(env["things"], "Ada")
    with operation_bound(_operation()):
        again = await create_thing(env["things"], "Ada")
    assert again.id == made.id and again.at == made.at == STARTED
    assert await env["db"][THINGS].count_documents({}) == 1
    ids = await _outbox_ids(env)
    assert len(ids) == 1
    assert ids[0] == _operation().event_id(f"{THINGS}/{made.id}", 0)


async def test_an_update_run_twice_is_applied_once(env: dict[str, Any]) -> None:
    await env["things"].insert(Thing("t1", "w1", "Ada", score=0))
    with operation_bound(_operation()):
        first = await bump_twice(env["things"], "t1")
    with operation_bound(_operation()):
        second = await bump_twice(env["things"], "t1")
    doc = await env["db"][THINGS].find_one({"_id": "t1"})
    assert doc["score"] == 2 and first.score == second.score == 2
    with operation_bound(_operation("c" * 32)):  # another request
        await bump_twice(env["things"], "t1")
    assert (await env["things"].get(["t1"]))[0].score == 4


async def test_a_run_that_finds_its_first_change_made_keeps_the_count_in_step(
    env: dict[str, Any],
) -> None:
    await env["things"].insert(Thing("t1", "w1", "Ada", score=0))
    with operation_bound(_operation()):
        await rename_then_bump(env["things"], "t1", "Ada L", bump=False)
    for _ in range(2):
        with operation_bound(_operation()):
            await rename_then_bump(env["things"], "t1", "Ada L", bump=True)
    doc = await env["db"][THINGS].find_one({"_id": "t1"})
    assert (doc["name"], doc["score"]) == ("Ada L", 1)
    assert len(await _outbox_ids(env)) == 1  # the rename's event, once


async def test_insert_many_run_twice_refuses_nothing_and_writes_once(
    env: dict[str, Any],
) -> None:
    def batch() -> list[Thing]:
        return [Thing(new_id(), "w1", name) for name in ("A", "B", "C")]

    with operation_bound(_operation()):
        first = batch()
        assert await env["things"].insert_many(first) == []
    with operation_bound(_operation()):
        second = batch()
        assert await env["things"].insert_many(second) == []
    assert [t.id for t in second] == [t.id for t in first]
    assert await env["db"][THINGS].count_documents({}) == 3


async def test_a_real_duplicate_inside_an_operation_is_still_refused(
    env: dict[str, Any],
) -> None:
    await env["things"].insert(Thing("t1", "w1", "Ada"))
    with operation_bound(_operation()), pytest.raises(Duplicate) as refused:
        await env["things"].insert(Thing(new_id(), "w1", "ada"))  # unique name, new id
    assert refused.value.field == "name_key"
    with operation_bound(_operation()), pytest.raises(Duplicate):
        await env["things"].insert(Thing("t1", "w1", "Other"))  # an id it did not make


async def test_markers_stay_out_of_reads_and_bounded_where_the_writer_cuts_them(
    env: dict[str, Any],
) -> None:
    await env["things"].insert(Thing("t1", "w1", "Ada", score=0))
    for n in range(KEPT_MARKERS + 3):
        with operation_bound(_operation(f"{n:032x}")):
            await bump_twice(env["things"], "t1")
    doc = await env["db"][THINGS].find_one({"_id": "t1"})
    assert doc["score"] == 2 * (KEPT_MARKERS + 3)
    if env["writer"].profile.workarounds:
        assert len(doc[OPS_FIELD]) == KEPT_MARKERS  # FerretDB ignores $push's $slice
    assert (await env["things"].get(["t1"]))[0].score == doc["score"]
    # The records' reads project the markers out with the outbox.
    raw = await env["db"][THINGS].find_one({"_id": "t1"}, HIDE_OUTBOX)
    assert OPS_FIELD not in raw and OUTBOX not in raw


async def test_partial_updates_and_upserts_run_twice_apply_once(env: dict[str, Any]) -> None:
    things = env["things"]
    await things.insert(Thing("t1", "w1", "Ada", score=0))
    for _ in range(2):
        with operation_bound(_operation()):
            await count_and_tag(things, "t1", "x")
    first, log = await things.get(["t1", "t1-log"])
    assert (first.score, first.tags, log.tags) == (1, ["x"], ["x"])
    with operation_bound(_operation("d" * 32)):  # another request applies
        await count_and_tag(things, "t1", "y")
    first, log = await things.get(["t1", "t1-log"])
    assert (first.score, first.tags, log.tags) == (2, ["x", "y"], ["x", "y"])


async def test_a_refusing_change_made_by_the_first_run_answers_the_record(
    env: dict[str, Any],
) -> None:
    """The first run saved the change (then died before storing its result): the retry
    is not refused by the change's own check, it answers the record as saved."""
    things = env["things"]
    await things.insert(Thing("t1", "w1", "Ada", score=0))
    with operation_bound(_operation()):
        first = await finish(things, "t1")
    with operation_bound(_operation()):
        again = await finish(things, "t1")
    assert first is not None and again is not None
    assert again.name == first.name == "Ada (done)"
    with operation_bound(_operation("e" * 32)), pytest.raises(ValueError):
        await finish(things, "t1")  # another request: refused, as it should be


async def test_the_keyed_retry_of_an_update_runs_a_required_hook_that_failed(
    env: dict[str, Any],
) -> None:
    """The rename is stored, its claim is not (the hook failed, so did the write); the
    retry in the same operation finds the rename made and writes the claim."""
    claims = NameClaims()
    env["writer"].hooks.subscribe(claims.on_write, required=True)
    await env["things"].insert(Thing("t1", "w1", "Ada", score=0))
    claims.fail_next = True
    with operation_bound(_operation()), pytest.raises(ConnectionError):
        await rename_then_bump(env["things"], "t1", "Ada L", bump=False)
    assert (await env["db"][THINGS].find_one({"_id": "t1"}))["name"] == "Ada L"
    assert "Ada L" not in claims.holders
    with operation_bound(_operation()):
        await rename_then_bump(env["things"], "t1", "Ada L", bump=False)
    assert claims.holders["Ada L"] == "t1"
    assert len(await _outbox_ids(env)) == 1
