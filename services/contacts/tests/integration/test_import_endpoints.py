"""The import batch endpoints on the real FerretDB and NATS: a batch written through the
request/reply endpoint, sent again, dry-run against the real run, undone; the reference
look-up other owners ask once per batch."""

from __future__ import annotations

from typing import Any

import pytest
from nats.aio.client import Client

from crm_contracts import contacts as contract
from crm_contracts.envelope import CloudEvent
from crm_contracts.import_batches import undo_subject, write_subject
from crm_contracts.streams import stream_for
from crm_kit.testing import cli_call, eventually, stream_events

pytestmark = pytest.mark.integration

ODD_COMPANIES = [
    {"name": "Acme", "domain": "acme.com", "external_id": "A1", "size": 10},
    {"name": "Acme dup", "domain": "www.ACME.com"},
    {"name": "", "domain": "blank.com"},
    {"name": "Bolt", "custom.tier": "gold", "address.country": "Norway"},
    {"name": "Cog", "size": "lots"},
    {"name": "Dyn", "external_id": "A1"},
    {"name": "Eon", "domain": "eon.io", "nope": 1},
]


def batch(rows: list[dict[str, Any]], job: str, **options: Any) -> dict[str, Any]:
    return {
        "jobId": job,
        "rows": [{"row": n + 2, "values": values} for n, values in enumerate(rows)],
        **options,
    }


async def write(nc: Client, kind: str, ws: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    reply = await cli_call(nc, write_subject(kind), ws, body, "admin")
    return reply["results"]


def counts(results: list[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for result in results:
        out[result["outcome"]] = out.get(result["outcome"], 0) + 1
    return out


async def _events(nc: Client, ws: str, subject: str) -> list[CloudEvent]:
    found = await stream_events(nc, "crm.contacts.>", stream_for("contacts").name, ws)
    return [event for event, _ in found if event.type == subject]


async def test_batch_resend_dry_run_and_undo(running: Any, nc: Client, db_name: str) -> None:
    ws = db_name
    dry = await write(nc, "companies", ws, batch(ODD_COMPANIES, "j1", dryRun=True))
    real = await write(nc, "companies", ws, batch(ODD_COMPANIES, "j1"))
    assert counts(dry) == counts(real) == {"created": 3, "skipped": 2, "failed": 2}
    assert [r["id"] for r in dry] == [r["id"] for r in real]
    assert real[2]["issues"][0]["code"] == "BAD_USER_INPUT"
    assert real[2]["issues"][0]["field"] == "name"
    assert real[4]["issues"][0]["field"] == "size"
    assert real[6]["issues"][0]["code"] == "ignored_field"
    again = await write(nc, "companies", ws, batch(ODD_COMPANIES, "j1"))
    assert again == real

    async def created() -> bool:
        return len(await _events(nc, ws, contract.COMPANY_CREATED)) == 3

    await eventually(created)
    gql = running.client(ws, "admin")
    listed = await gql.data("{ companies(first: 10) { totalCount } }")
    assert listed["companies"]["totalCount"] == 3

    update = [{"name": "Acme Corp", "domain": "acme.com", "industry": "Tools"}]
    updated = await write(nc, "companies", ws, batch(update, "j2", onExisting="update"))
    assert [r["outcome"] for r in updated] == ["updated"] and updated[0]["id"] == real[0]["id"]

    removed = await cli_call(nc, undo_subject("contacts"), ws, {"jobId": "j1"}, "admin")
    assert removed == {"removed": 2}  # Acme was changed since: kept

    async def deleted() -> bool:
        return len(await _events(nc, ws, contract.COMPANY_DELETED)) == 2

    await eventually(deleted)
    listed = await gql.data("{ companies(first: 10) { totalCount } }")
    assert listed["companies"]["totalCount"] == 1


async def test_companies_identified_by_name_are_imported_once(
    running: Any, nc: Client, db_name: str
) -> None:
    ws = db_name
    rows = [{"name": "Acme  Tools"}, {"name": "Bolt"}, {"name": "acme tools"}]
    first = await write(nc, "companies", ws, batch(rows, "j1", matchByName=True))
    assert counts(first) == {"created": 2, "skipped": 1}
    assert first[2]["issues"][0]["code"] == "duplicate_key"
    # Another job with the same file (another spelling): nothing added, the same ids.
    again = [{"name": "ACME tools"}, {"name": " Bolt "}, {"name": "Cog"}]
    second = await write(nc, "companies", ws, batch(again, "j2", matchByName=True))
    assert [r["outcome"] for r in second] == ["skipped", "skipped", "created"]
    assert [r["id"] for r in second[:2]] == [first[0]["id"], first[1]["id"]]
    # Without the option a name identifies nothing: the contract's keys only.
    plain = await write(nc, "companies", ws, batch([{"name": "Bolt"}], "j3"))
    assert [r["outcome"] for r in plain] == ["created"]
    gql = running.client(ws, "admin")
    listed = await gql.data("{ companies(first: 10) { totalCount } }")
    assert listed["companies"]["totalCount"] == 4


async def test_contacts_and_references(running: Any, nc: Client, db_name: str) -> None:
    ws = db_name
    await write(nc, "companies", ws, batch([{"name": "Acme", "domain": "acme.com"}], "c"))
    people = [
        {"first_name": "Ann", "email": "ann@acme.com", "company_domain": "acme.com"},
        {"first_name": "Bob", "email": "bob@newco.io", "company": "Newco"},
    ]
    results = await write(nc, "contacts", ws, batch(people, "p"))
    assert [r["outcome"] for r in results] == ["created", "created"]
    assert results[1]["issues"][0]["code"] == "company_created"
    found = await cli_call(
        nc,
        contract.RPC_IMPORT_REFERENCES,
        ws,
        {"companyNames": ["ACME", "Newco", "None"], "companyDomains": ["www.acme.com"],
         "emails": ["Ann@Acme.com", "x@y.z", "bad"]},
    )  # fmt: skip
    assert set(found["companyNames"]) == {"ACME", "Newco"}
    assert set(found["companyDomains"]) == {"www.acme.com"}
    assert found["emails"] == {"Ann@Acme.com": results[0]["id"]}
    timeline = [{"kind": "call", "contact_email": "ann@acme.com", "summary": "hello"}]
    logged = await write(nc, "interactions", ws, batch(timeline, "i"))
    assert [r["outcome"] for r in logged] == ["created"]


async def test_a_bad_request_is_refused_whole(running: Any, nc: Client, db_name: str) -> None:
    from crm_kit.rpc import RpcError

    with pytest.raises(RpcError) as refused:
        await cli_call(nc, write_subject("companies"), db_name, {"rows": []}, "admin")
    assert refused.value.code == "BAD_REQUEST"
    with pytest.raises(RpcError) as forbidden:
        await cli_call(nc, write_subject("companies"), db_name, batch([], "j"), "viewer")
    assert forbidden.value.code == "FORBIDDEN"


async def test_an_imported_companys_trail_holds_its_creation_once(
    running: Any, nc: Client, db_name: str
) -> None:
    # The entries ride sealed (compressed) in the batch's outbox document; the relay moves
    # them to the audit log. Sent again, the batch adds no second entry.
    ws = db_name
    rows = [{"name": f"Trail {n}", "external_id": f"T{n}"} for n in range(3)]
    results = await write(nc, "companies", ws, batch(rows, "jt"))
    assert await write(nc, "companies", ws, batch(rows, "jt")) == results
    gql = running.client(ws, "admin")
    trail = """query($id: ID!) { company(id: $id) { auditTrail { totalCount
      edges { node { action recordId changes { field after } } } } } }"""

    async def entries() -> list[dict[str, Any]]:
        found = await gql.data(trail, {"id": results[1]["id"]})
        return [edge["node"] for edge in found["company"]["auditTrail"]["edges"]]

    async def moved() -> bool:
        return bool(await entries())

    await eventually(moved)
    [entry] = await entries()
    assert entry["action"] == "create" and entry["recordId"] == results[1]["id"]
    assert {"field": "name", "after": '"Trail 1"'} in entry["changes"]
