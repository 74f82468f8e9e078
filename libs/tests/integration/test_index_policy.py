"""Which indexes a service's declarations make: on FerretDB (whose SQLite backend serves
only `{_id: value}` from an index) the unique ones alone, which still enforce identity
(and on the platform's build, which hands equalities to SQLite, the outbox relay's
`outbox_pending`), and the others dropped if an earlier start made them; all of them
where reads use them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient, IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from crm_kit.mongo import (
    SECONDARY_INDEXES_ENV,
    apply_indexes,
    isolates_updates,
    pushes_filters_down,
)

pytestmark = pytest.mark.integration


async def declare(db: AsyncDatabase[Any]) -> None:
    ws = ("workspace_id", 1)
    await db["things"].create_index([ws, ("key", 1)], unique=True, name="key")
    await db["things"].create_index([ws, ("owner", 1)], name="owner")
    await db["things"].create_indexes(
        [
            IndexModel([ws, ("code", 1)], name="code", unique=True),
            IndexModel([ws, ("at", -1), ("_id", -1)], name="recent"),
        ]
    )
    await db["things"].create_index([("_outbox_pending", 1)], name="outbox_pending")


@pytest.fixture
async def db(infra: Any, db_name: str) -> AsyncIterator[AsyncDatabase[Any]]:
    client: AsyncMongoClient[Any] = AsyncMongoClient(infra.mongodb_uri, tz_aware=True)
    try:
        yield client[db_name]
    finally:
        await client.drop_database(db_name)
        await client.close()


async def names(db: AsyncDatabase[Any]) -> set[str]:
    return set(await db["things"].index_information()) - {"_id_"}


async def test_auto_keeps_what_the_backend_reads_with(
    db: AsyncDatabase[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECONDARY_INDEXES_ENV, "auto")
    await apply_indexes(db, declare)
    if await isolates_updates(db):  # MongoDB: every declared index
        assert await names(db) == {"key", "owner", "code", "recent", "outbox_pending"}
    elif await pushes_filters_down(db):  # the platform's build: and the outbox sweep's
        assert await names(db) == {"key", "code", "outbox_pending"}
        await db["things"].insert_one({"_id": "p", "workspace_id": "w", "_outbox_pending": True})
        found = [d["_id"] async for d in db["things"].find({"_outbox_pending": True})]
        assert found == ["p"]
        await db["things"].delete_one({"_id": "p"})
    else:  # FerretDB as published: the unique ones alone
        assert await names(db) == {"key", "code"}
    await db["things"].insert_one({"_id": "a", "workspace_id": "w", "key": "k", "code": 1})
    with pytest.raises(DuplicateKeyError):  # identity is still enforced
        await db["things"].insert_one({"_id": "b", "workspace_id": "w", "key": "k", "code": 2})


async def test_off_drops_what_an_earlier_start_made_and_on_makes_it_again(
    db: AsyncDatabase[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECONDARY_INDEXES_ENV, "on")
    await apply_indexes(db, declare)
    assert await names(db) == {"key", "owner", "code", "recent", "outbox_pending"}
    monkeypatch.setenv(SECONDARY_INDEXES_ENV, "off")
    await apply_indexes(db, declare)
    await apply_indexes(db, declare)  # again: nothing left to drop, no error
    assert await names(db) == {"key", "code"}  # off: not even the outbox sweep's
    monkeypatch.setenv(SECONDARY_INDEXES_ENV, "on")
    await apply_indexes(db, declare)
    assert await names(db) == {"key", "owner", "code", "recent", "outbox_pending"}


async def test_a_setting_that_is_no_choice_is_refused(
    db: AsyncDatabase[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECONDARY_INDEXES_ENV, "sometimes")
    with pytest.raises(ValueError, match=SECONDARY_INDEXES_ENV):
        await apply_indexes(db, declare)
