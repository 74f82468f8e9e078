"""The deals import batch endpoint on the real FerretDB and NATS, with the contacts service
running beside it: companies and contacts resolved across services in one request per
batch, a re-sent batch, dry run = real run on an odd batch, update, undo."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest
from nats.aio.client import Client

from crm_contacts.app import create_app as contacts_app
from crm_contracts import deals as contract
from crm_contracts.import_batches import undo_subject, write_subject
from crm_contracts.streams import stream_for
from crm_deals.app import create_app
from crm_deals.config import import_batches_at_once
from crm_kit.settings import Settings
from crm_kit.testing import cli_call, eventually, running_app, stream_events

pytestmark = pytest.mark.integration

ODD = [
    {"external_id": "D1", "stage": "won", "engaged_at": "2024-01-10", "close_date": "2024-02-01",
     "amount": "1200.50", "owner": "Ann Lee", "company_domain": "acme.com",
     "contact_email": "ann@acme.com"},
    {"external_id": "D2", "stage": "Qualification", "company": "ACME", "amount": "99"},
    {"external_id": "D3", "stage": "nowhere"},
    {"external_id": "D1", "stage": "prospecting"},
    {"stage": "prospecting", "title": "No id yet"},
    {"external_id": "D4", "stage": "lost", "engaged_at": "2024-01-01"},
    {"external_id": "D5", "stage": "prospecting", "company": "Unknown Ltd", "pipeline": "nope"},
    {"external_id": "D6", "stage": "prospecting", "custom.region": "EMEA"},
]  # fmt: skip


def batch(rows: list[dict[str, Any]], job: str, **options: Any) -> dict[str, Any]:
    return {
        "jobId": job,
        "rows": [{"row": n + 2, "values": v} for n, v in enumerate(rows)],
        **options,
    }


def counts(results: list[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for result in results:
        out[result["outcome"]] = out.get(result["outcome"], 0) + 1
    return out


async def test_deals_import_across_services(settings: Settings, infra: Any, db_name: str) -> None:
    ws = db_name
    contacts_settings = replace(settings, service="contacts", database=f"{db_name}_contacts")
    async with running_app(contacts_app(contacts_settings)), running_app(create_app(settings)):
        nc: Client = await infra.connect_nats()
        try:
            companies = [{"name": "Acme", "domain": "acme.com"}]
            await cli_call(nc, write_subject("companies"), ws, batch(companies, "c"), "admin")
            people = [{"first_name": "Ann", "email": "ann@acme.com", "company_domain": "acme.com"}]
            made = await cli_call(nc, write_subject("contacts"), ws, batch(people, "p"), "admin")
            ann = made["results"][0]["id"]

            async def write(body: dict[str, Any]) -> list[dict[str, Any]]:
                return (await cli_call(nc, write_subject("deals"), ws, body, "admin"))["results"]

            dry = await write(batch(ODD, "j1", dryRun=True, defaultCurrency="EUR"))
            real = await write(batch(ODD, "j1", defaultCurrency="EUR"))
            assert counts(dry) == counts(real) == {"created": 4, "skipped": 1, "failed": 3}
            assert [r["id"] for r in dry] == [r["id"] for r in real]
            assert [i["field"] for i in real[2]["issues"]] == ["stage"]
            assert real[4]["outcome"] == "created"  # no id: given the API's own
            given = f"crm:{real[4]['id']}"
            refs = {"externalIds": [given]}
            found = await cli_call(nc, contract.RPC_IMPORT_REFERENCES, ws, refs, "admin")
            assert found == {"externalIds": {given: real[4]["id"]}}
            assert [i["field"] for i in real[6]["issues"]] == ["pipeline"]
            assert await write(batch(ODD, "j1", defaultCurrency="EUR")) == real

            deal = await cli_call(nc, contract.RPC_DEAL_GET, ws, {"id": real[0]["id"]})
            assert deal["status"] == "won" and deal["primaryContactId"] == ann
            assert deal["companyId"] is not None
            second = await cli_call(nc, contract.RPC_DEAL_GET, ws, {"id": real[1]["id"]})
            assert second["companyId"] == deal["companyId"]  # by name, case aside

            async def created() -> bool:
                events = await stream_events(nc, "crm.deals.>", stream_for("deals").name, ws)
                return sum(e.type == contract.DEAL_CREATED for e, _ in events) == 4

            await eventually(created)
            # auditTrail(recordId) finds an imported deal's creation, once (the batch was
            # sent twice): moved by the relay from the batch's sealed outbox document.
            asked = {"recordId": real[0]["id"]}

            async def trail() -> list[dict[str, Any]]:
                reply = await cli_call(nc, contract.RPC_AUDIT_TRAIL, ws, asked, "admin")
                return list(reply["entries"])

            async def moved() -> bool:
                return bool(await trail())

            await eventually(moved)
            [entry] = await trail()
            assert entry["action"] == "create" and entry["recordId"] == real[0]["id"]
            change = [{"external_id": "D6", "stage": "prospecting", "title": "Renamed"}]
            updated = await write(batch(change, "j2", onExisting="update"))
            assert [r["outcome"] for r in updated] == ["updated"]
            undone = await cli_call(nc, undo_subject("deals"), ws, {"jobId": "j1"}, "admin")
            assert undone == {"removed": 3}  # D6 was changed since: kept
        finally:
            await nc.close()


async def test_deals_import_batches_side_by_side(
    settings: Settings, infra: Any, db_name: str
) -> None:
    """Three batches of one job sent at once (the deals service takes two at a time,
    `DEALS_IMPORT_BATCHES_AT_ONCE`): the outcomes are those of one batch after another,
    a dry run's are the real run's, the three sent again at once add nothing, and each
    deal's `deal.created` is in the stream once."""
    ws = db_name
    assert import_batches_at_once() == 2
    rows = [{"external_id": f"P{n}", "stage": "prospecting", "amount": "10"} for n in range(90)]
    rows[40] = {"external_id": "P40", "stage": "nowhere"}  # one failed row

    def batches(job: str, **options: Any) -> list[dict[str, Any]]:
        return [
            {
                "jobId": job,
                "rows": [{"row": n + 2, "values": rows[n]} for n in range(start, start + 30)],
                **options,
            }
            for start in (0, 30, 60)
        ]

    async with running_app(create_app(settings)):
        nc: Client = await infra.connect_nats()
        try:

            async def at_once(bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
                replies = await asyncio.gather(
                    *(cli_call(nc, write_subject("deals"), ws, b, "admin") for b in bodies)
                )
                return [r for reply in replies for r in reply["results"]]

            dry = await at_once(batches("side", dryRun=True))
            real = await at_once(batches("side"))
            assert counts(dry) == counts(real) == {"created": 89, "failed": 1}
            assert [r["id"] for r in dry] == [r["id"] for r in real]
            assert [r["row"] for r in real] == list(range(2, 92))
            assert await at_once(batches("side")) == real  # sent again: the same answers

            async def created_once() -> bool:
                events = await stream_events(nc, "crm.deals.>", stream_for("deals").name, ws)
                made = [e.subject for e, _ in events if e.type == contract.DEAL_CREATED]
                return len(made) == 89 and len(set(made)) == 89

            await eventually(created_once)
            deal = await cli_call(nc, contract.RPC_DEAL_GET, ws, {"id": real[89]["id"]})
            assert deal["id"] == real[89]["id"]  # written, and read back
        finally:
            await nc.close()


async def test_a_batch_repeating_a_key_of_the_batch_being_written_skips_it(
    settings: Settings, infra: Any, db_name: str
) -> None:
    """Two batches of a job sent at once, the second repeating an external id of the
    first: the second is judged once the first's keys are claimed, while the first may
    still be writing (`crm_kit.imports.InOrder`); its row is a duplicate within the job,
    as one batch after another would make it, in the dry run as in the real run; one
    deal and one `deal.created` for the id."""
    ws = db_name
    first = [{"external_id": f"R{n}", "stage": "prospecting"} for n in range(40)]
    second = [
        {"external_id": "R7", "stage": "qualification"},
        {"external_id": "S1", "stage": "prospecting"},
    ]

    def bodies(job: str, **options: Any) -> list[dict[str, Any]]:
        return [
            {
                "jobId": job,
                "rows": [{"row": n + 2, "values": v} for n, v in enumerate(first)],
                **options,
            },
            {
                "jobId": job,
                "rows": [{"row": n + 50, "values": v} for n, v in enumerate(second)],
                **options,
            },
        ]

    async with running_app(create_app(settings)):
        nc: Client = await infra.connect_nats()
        try:

            async def at_once(batches: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
                replies = await asyncio.gather(
                    *(cli_call(nc, write_subject("deals"), ws, b, "admin") for b in batches)
                )
                return [reply["results"] for reply in replies]

            dry = await at_once(bodies("rep", dryRun=True))
            real = await at_once(bodies("rep"))
            for one, two in (dry, real):
                assert counts(one) == {"created": 40}
                assert [r["outcome"] for r in two] == ["skipped", "created"]
                assert [i["code"] for i in two[0]["issues"]][-1] == "duplicate_key"
                assert two[0]["id"] == one[7]["id"]
            assert [r["id"] for b in dry for r in b] == [r["id"] for b in real for r in b]

            async def created_once() -> bool:
                events = await stream_events(nc, "crm.deals.>", stream_for("deals").name, ws)
                made = [e.subject for e, _ in events if e.type == contract.DEAL_CREATED]
                return len(made) == 41 and len(set(made)) == 41

            await eventually(created_once)
        finally:
            await nc.close()
