"""The tasks import batch endpoint on the real FerretDB and NATS, with deals and contacts
running beside it: the deal (by external id) and the contact (by email) resolved across
services in one request each, a re-sent batch, dry run = real run, undo."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from crm_contacts.app import create_app as contacts_app
from crm_contracts.import_batches import undo_subject, write_subject
from crm_contracts.streams import stream_for
from crm_contracts.tasks import TASK_CREATED
from crm_deals.app import create_app as deals_app
from crm_kit.settings import Settings
from crm_kit.testing import cli_call, eventually, running_app, stream_events
from crm_tasks.app import create_app

pytestmark = pytest.mark.integration


def batch(rows: list[dict[str, Any]], job: str, **options: Any) -> dict[str, Any]:
    return {
        "jobId": job,
        "rows": [{"row": n + 2, "values": v} for n, v in enumerate(rows)],
        **options,
    }


ROWS = [
    {"title": "Call Ann", "external_id": "T1", "deal_external_id": "D1",
     "contact_email": "ann@acme.com", "due_at": "2031-01-02T09:00:00Z"},
    {"title": "Chase", "deal_external_id": "D404"},
    {"title": "", "external_id": "T3"},
]  # fmt: skip


async def test_tasks_import_across_services(settings: Settings, infra: Any, db_name: str) -> None:
    ws = db_name
    others = [
        contacts_app(replace(settings, service="contacts", database=f"{db_name}_c")),
        deals_app(replace(settings, service="deals", database=f"{db_name}_d")),
    ]
    async with running_app(others[0]), running_app(others[1]), running_app(create_app(settings)):
        nc = await infra.connect_nats()
        try:
            people = [{"first_name": "Ann", "email": "ann@acme.com"}]
            made = await cli_call(nc, write_subject("contacts"), ws, batch(people, "p"), "admin")
            deals = [{"external_id": "D1", "stage": "prospecting"}]
            opened = await cli_call(nc, write_subject("deals"), ws, batch(deals, "d"), "admin")

            async def write(body: dict[str, Any]) -> list[dict[str, Any]]:
                return (await cli_call(nc, write_subject("tasks"), ws, body, "admin"))["results"]

            dry = await write(batch(ROWS, "t", dryRun=True))
            real = await write(batch(ROWS, "t"))
            assert [r["outcome"] for r in dry] == [r["outcome"] for r in real]
            assert [r["outcome"] for r in real] == ["created", "created", "failed"]
            assert [r["id"] for r in dry] == [r["id"] for r in real]
            assert [i["code"] for i in real[1]["issues"]] == ["unknown_deal_external_id"]
            assert [i["field"] for i in real[2]["issues"]] == ["title"]
            assert await write(batch(ROWS, "t")) == real
            client: AsyncMongoClient[Any] = AsyncMongoClient(settings.mongodb_uri, tz_aware=True)
            try:
                db = client[settings.database]
                task = await db.tasks.find_one({"_id": real[0]["id"]})
                # The batch's events ride in one document (however often it was sent),
                # not in each task's outbox. (The deal's playbook tasks have outboxes of
                # their own, cleared by the relay at its own pace: not counted here.)
                assert await db.import_batches.count_documents({}) == 1
                held = {"_outbox_pending": True, "import_job": "t"}
                assert await db.tasks.count_documents(held) == 0
            finally:
                await client.close()
            assert task is not None and task["import_job"] == "t"

            async def announced() -> bool:
                found = await stream_events(nc, "crm.tasks.>", stream_for("tasks").name, ws)
                subjects = sorted(e.subject for e, _ in found if e.type == TASK_CREATED)
                return subjects == sorted(r["id"] for r in real[:2])

            # Up to 30 s: this tasks app's durable consumers start on the session's shared
            # stream and first work through every earlier test's deal events (thousands
            # after the dataset imports), which delays its relay under a loaded CI run
            # (10 s was not enough once in a clean-clone run).
            await eventually(announced, timeout=30.0)
            assert task["deal_id"] == opened["results"][0]["id"]
            assert task["contact_id"] == made["results"][0]["id"]
            undone = await cli_call(nc, undo_subject("tasks"), ws, {"jobId": "t"}, "admin")
            assert undone == {"removed": 2}
        finally:
            await nc.close()
