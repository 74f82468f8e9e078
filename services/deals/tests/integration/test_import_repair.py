"""An import batch a crash left held (its deals written, their events not yet armed for the
relay) is armed when the service starts again: the deals' events go out even if the
import job is never resumed (cancelled, or its file gone). One stopped before its deals
were written sends their events when the batch is sent again."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo import AsyncMongoClient

from crm_contracts import deals as contract
from crm_contracts.import_batches import write_subject
from crm_contracts.streams import stream_for
from crm_deals.app import create_app
from crm_kit.settings import Settings
from crm_kit.testing import cli_call, eventually, running_app, stream_events
from crm_kit.writer import DocumentWriter

pytestmark = pytest.mark.integration

ROWS = [{"external_id": f"H{n}", "stage": "prospecting", "title": f"Held {n}"} for n in range(3)]


def _body(job_id: str) -> dict[str, Any]:
    return {"jobId": job_id, "rows": [{"row": n + 2, "values": v} for n, v in enumerate(ROWS)]}


async def _stopped_at(
    settings: Settings, nc: Any, ws: str, body: dict[str, Any], step: str
) -> None:
    """Send the batch to a deals service whose writer stops at `step` (raises there, as a
    process killed at that point would leave the database)."""

    async def killed(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError(f"killed at {step}")

    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(DocumentWriter, step, killed)
        async with running_app(create_app(settings)):
            with pytest.raises(Exception):  # noqa: B017 - the batch's request fails
                await cli_call(nc, write_subject("deals"), ws, body, "admin")


async def _created(nc: Any, ws: str) -> int:
    found = await stream_events(nc, "crm.deals.>", stream_for("deals").name, ws)
    return len([e for e, _ in found if e.type == contract.DEAL_CREATED])


async def test_a_held_batch_is_armed_at_start_up(
    settings: Settings, infra: Any, db_name: str
) -> None:
    ws = db_name
    nc = await infra.connect_nats()
    client: AsyncMongoClient[Any] = AsyncMongoClient(settings.mongodb_uri, tz_aware=True)
    try:
        # Stopped after the deals, before arming their batch.
        await _stopped_at(settings, nc, ws, _body("held"), "arm_batch")
        db = client[settings.database]
        assert await db.deals.count_documents({"workspace_id": ws}) == 3
        assert await db.import_batches.count_documents({"armed": False}) == 1

        async def announced() -> bool:
            return await _created(nc, ws) == 3

        assert not await announced()  # held: nothing published before the restart
        async with running_app(create_app(settings)):
            await eventually(announced)
        assert await db.import_batches.count_documents({"armed": False}) == 0
    finally:
        await client.close()
        await nc.close()


async def test_a_batch_stopped_before_its_deals_sends_their_events_when_sent_again(
    settings: Settings, infra: Any, db_name: str
) -> None:
    """Stopped between the batch's hold and its insert: the restart's repair arms it with
    none of its deals there; the job's resend writes them, and each `deal.created` goes
    out once (found by a probe of the thirteenth imports pass: none went out)."""
    ws = db_name
    body = _body("stopped")
    nc = await infra.connect_nats()
    client: AsyncMongoClient[Any] = AsyncMongoClient(settings.mongodb_uri, tz_aware=True)
    try:
        await _stopped_at(settings, nc, ws, body, "insert_many")
        db = client[settings.database]
        assert await db.deals.count_documents({"workspace_id": ws}) == 0
        assert await db.import_batches.count_documents({"armed": False}) == 1

        async with running_app(create_app(settings)):
            reply = await cli_call(nc, write_subject("deals"), ws, body, "admin")
            assert [r["outcome"] for r in reply["results"]] == ["created"] * 3

            async def announced() -> bool:
                return await _created(nc, ws) == 3

            await eventually(announced)
            # Sent once more: every deal there already, nothing goes out again.
            await cli_call(nc, write_subject("deals"), ws, body, "admin")
        assert await db.deals.count_documents({"workspace_id": ws}) == 3
        assert await _created(nc, ws) == 3
    finally:
        await client.close()
        await nc.close()
