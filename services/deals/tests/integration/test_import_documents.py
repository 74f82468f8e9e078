"""Imported deals are stored without their null fields and empty unaudited lists
(`slim_deal_doc`: a bulk insert costs FerretDB less); on the real FerretDB, with and
without the read index, every reader takes the absent fields for null: a deal read back,
the lists' filters on null fields (`deleted_at`, `stale_at`), and an edit of an imported
deal."""

from __future__ import annotations

from typing import Any

import pytest
from nats.aio.client import Client
from pymongo.asynchronous.database import AsyncDatabase

from crm_contracts.import_batches import write_subject
from crm_kit.testing import cli_call

pytestmark = pytest.mark.integration

ROWS = [
    {"external_id": "S1", "stage": "prospecting", "amount": "10", "title": "Open one"},
    {"external_id": "S2", "stage": "won", "engaged_at": "2024-01-10",
     "close_date": "2024-02-01", "amount": "20"},
    {"external_id": "S3", "stage": "lost", "engaged_at": "2024-01-01",
     "close_date": "2024-01-20"},
]  # fmt: skip
DEAL = """query($id: ID!) { deal(id: $id) { id status expectedCloseDate nextStep lostReason
  closedAt } }"""
COUNT = "query($f: DealFilter) { deals(filter: $f) { totalCount } }"


async def test_imported_deals_are_stored_without_nulls_and_read_as_null(
    service: dict[str, Any], nc: Client, db: AsyncDatabase, db_name: str
) -> None:
    ws = db_name
    body = {"jobId": "slim", "rows": [{"row": n + 2, "values": v} for n, v in enumerate(ROWS)]}
    reply = await cli_call(nc, write_subject("deals"), ws, body, "admin")
    ids = [r["id"] for r in reply["results"]]
    assert [r["outcome"] for r in reply["results"]] == ["created"] * 3

    stored = [doc async for doc in db["deals"].find({"_id": {"$in": ids}})]
    assert len(stored) == 3
    for doc in stored:
        assert not [name for name, value in doc.items() if value is None], doc
        assert not [c for c in doc["stage_history"] if None in c.values()], doc
        assert "deleted_at" not in doc and doc["contact_ids"] == []  # `[]` is kept

    client = service["client"](ws)
    won = (await client.data(DEAL, {"id": ids[1]}))["deal"]
    assert won["status"] == "WON" and won["closedAt"] is not None
    assert won["nextStep"] is None and won["expectedCloseDate"] is None
    assert won["lostReason"] is None
    # `deleted_at` absent is live; `stale_at` absent (closed deals) is not stale.
    assert (await client.data(COUNT))["deals"]["totalCount"] == 3
    fresh = (await client.data(COUNT, {"f": {"stale": False}}))["deals"]["totalCount"]
    stale = (await client.data(COUNT, {"f": {"stale": True}}))["deals"]["totalCount"]
    assert fresh + stale == 3 and fresh >= 2

    edited = await client.data(
        'mutation($id: ID!) { updateDeal(id: $id, input: {nextStep: "Call"}) { nextStep } }',
        {"id": ids[0]},
    )
    assert edited["updateDeal"]["nextStep"] == "Call"
    assert (await client.data(DEAL, {"id": ids[0]}))["deal"]["nextStep"] == "Call"
