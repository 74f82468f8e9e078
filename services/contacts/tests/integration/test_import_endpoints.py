"""The import batch endpoints on the real FerretDB and NATS: a batch written through the
request/reply endpoint, sent again, dry-run against the real run, undone; the reference
look-up other owners ask once per batch."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from nats.aio.client import Client

from crm_contracts import contacts as contract
from crm_contracts.envelope import CloudEvent
from crm_contracts.import_batches import undo_subject, write_subject
from crm_contracts.streams import stream_for
from crm_kit.assertions import KeyRing
from crm_kit.rpc import rpc_call, service_context
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
    # Twice the import's own answer timeout: a batch of hundreds of rows takes tens of
    # seconds on a loaded machine.
    caller = service_context("cli", ws, "admin")
    reply = await rpc_call(
        nc, write_subject(kind), caller, body, keys=KeyRing.from_env("cli"), timeout=120.0
    )
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


async def test_interactions_over_hundreds_of_contacts_move_each_last_activity(
    running: Any, nc: Client, db_name: str
) -> None:
    # One write moves a batch's contacts (it was one read-modify-write each, which made a
    # batch of distinct contacts outlast its answer timeout). Each lands on its latest
    # entry, never back: not below a later live log, not to an older row of a later batch.
    ws = db_name
    people = [{"first_name": f"P{n}", "email": f"p{n}@bulk.io"} for n in range(200)]
    made = await write(nc, "contacts", ws, batch(people, "people"))
    assert counts(made) == {"created": 200}
    gql = running.client(ws, "admin")
    live = """mutation($c: ID!, $at: DateTime!) { logInteraction(input: {kind: CALL,
      contactId: $c, occurredAt: $at}) { id } }"""
    await gql.data(live, {"c": made[7]["id"], "at": "2024-06-01T00:00:00+00:00"})

    def entry(n: int, day: int) -> dict[str, Any]:
        at = f"2024-03-{day:02d}T10:00:00Z"
        return {"kind": "email", "contact_email": f"p{n}@bulk.io", "occurred_at": at}

    # Each contact twice in one batch (the later second for the even ones), and again,
    # older, in the next.
    first = [entry(n, 5 + n % 2 * 5) for n in range(200)] + [entry(n, 8) for n in range(200)]
    logged = await write(nc, "interactions", ws, batch(first, "timeline"))
    assert counts(logged) == {"created": 400}
    assert await write(nc, "interactions", ws, batch(first, "timeline")) == logged
    older = [entry(n, 2) for n in range(0, 200, 2)]
    assert counts(await write(nc, "interactions", ws, batch(older, "older"))) == {"created": 100}

    page = """query($after: String) { contacts(first: 200, after: $after) {
      pageInfo { hasNextPage endCursor } edges { node { id lastActivityAt } } } }"""
    seen: dict[str, str] = {}
    after = None
    while True:
        found = (await gql.data(page, {"after": after}))["contacts"]
        seen |= {e["node"]["id"]: e["node"]["lastActivityAt"] for e in found["edges"]}
        if not found["pageInfo"]["hasNextPage"]:
            break
        after = found["pageInfo"]["endCursor"]
    for n, result in enumerate(made):
        expected = "2024-06-01" if n == 7 else "2024-03-10" if n % 2 else "2024-03-08"
        assert seen[result["id"]].startswith(expected), (n, seen[result["id"]])

    # The move is in the contact's audit trail once (the batch sent twice).
    trail = """query($id: ID!) { contact(id: $id) { auditTrail { edges { node {
      action changes { field after } } } } } }"""

    async def moves() -> list[dict[str, Any]]:
        found = await gql.data(trail, {"id": made[1]["id"]})
        nodes = [edge["node"] for edge in found["contact"]["auditTrail"]["edges"]]
        return [n for n in nodes if any(c["field"] == "last_activity_at" for c in n["changes"])]

    async def moved() -> bool:
        return len(await moves()) == 1

    await eventually(moved)
    [move] = await moves()
    assert move["action"] == "update" and "2024-03-10" in move["changes"][0]["after"]


async def test_companies_batches_sent_side_by_side_are_written_once(
    running: Any, nc: Client, db_name: str
) -> None:
    """The import service keeps several companies batches of a job in flight and the
    endpoint takes them side by side (`CONTACTS_IMPORT_BATCHES_AT_ONCE`): every row is
    created once, a resend of them all side by side answers the same, and each company
    has one `company.created`."""
    ws = db_name

    def rows(first: int, count: int) -> dict[str, Any]:
        body = batch([{"name": f"Co {first + n}"} for n in range(count)], "j-side")
        for n, row in enumerate(body["rows"]):
            row["row"] = first + n
        return body

    bodies = [rows(2, 40), rows(42, 40), rows(82, 40)]
    first = await asyncio.gather(*(write(nc, "companies", ws, b) for b in bodies))
    assert [counts(results) for results in first] == [{"created": 40}] * 3
    again = await asyncio.gather(*(write(nc, "companies", ws, b) for b in bodies))
    assert again == first
    ids = {r["id"] for results in first for r in results}
    assert len(ids) == 120

    async def published() -> bool:
        return len(await _events(nc, ws, contract.COMPANY_CREATED)) >= 120

    await eventually(published)
    events = await _events(nc, ws, contract.COMPANY_CREATED)
    assert sorted(event.subject for event in events) == sorted(ids)
    gql = running.client(ws, "admin")
    listed = await gql.data("{ companies(first: 1) { totalCount } }")
    assert listed["companies"]["totalCount"] == 120
