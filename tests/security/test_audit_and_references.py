"""The audit log and referenced ids through the running stack (issue 9.5, 9.7): a rep
cannot read the workspace's audit log (in any service); a deal or task naming a company,
contact or deal that is another workspace's, or nobody's (and an interaction naming such
a deal), is refused with
BAD_USER_INPUT naming the field, fast, and nothing is written; what is written through
the gateway is in the record's trail and the workspace's log."""

from __future__ import annotations

import time
from typing import Any
from uuid import uuid4

import httpx
import pytest

from crm_kit.auth import issue_token
from crm_kit.testing import eventually

from ..conftest import Stack
from .conftest import gql

pytestmark = pytest.mark.e2e

# One gateway hop, one subgraph, one request/reply to the service that owns the record.
BUDGET_SECONDS = 1.0

LOGS = ("contactsAuditLog", "dealsAuditLog", "tasksAuditLog")
CREATE_DEAL = """mutation($i: CreateDealInput!) { createDeal(input: $i) { id } }"""
CREATE_TASK = """mutation($i: CreateTaskInput!) { createTask(input: $i) { id } }"""
COUNTS = "{ deals(first: 1) { totalCount } tasks(first: 1) { totalCount } }"
SEED = """mutation {
  company: createCompany(input: {name: "Initech", domain: "initech.example"}) { id }
  contact: createContact(input: {firstName: "Peter", lastName: "Gibbons"}) { id }
}"""


def _headers(workspace: str, subject: str, *roles: str) -> dict[str, str]:
    return {"authorization": f"Bearer {issue_token(workspace, subject, list(roles))}"}


async def _seed(http: httpx.AsyncClient, url: str, workspace: str) -> dict[str, str]:
    made = await gql(http, url, SEED, _headers(workspace, "ada", "admin"))
    assert "errors" not in made, made
    return {kind: made["data"][kind]["id"] for kind in ("company", "contact")}


@pytest.mark.parametrize("log", LOGS)
async def test_a_rep_cannot_read_the_workspace_audit_log(
    stack: Stack, http: httpx.AsyncClient, log: str
) -> None:
    workspace = f"aud-{uuid4().hex[:10]}"
    started = time.monotonic()
    body = await gql(
        http, stack.gateway_url, f"{{ {log} {{ totalCount }} }}", _headers(workspace, "rita", "rep")
    )
    assert time.monotonic() - started < BUDGET_SECONDS
    assert body.get("data") is None, body
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", body


async def test_references_elsewhere_or_nowhere_are_refused_and_nothing_written(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    mine, theirs = f"ref-{uuid4().hex[:10]}", f"ref-{uuid4().hex[:10]}"
    other = await _seed(http, stack.gateway_url, theirs)
    rep = _headers(mine, "rita", "rep")
    attempts: list[tuple[str, dict[str, Any], str]] = [
        (
            CREATE_DEAL,
            {"title": "T", "amount": "1", "companyId": other["company"]},
            "input.companyId",
        ),
        (
            CREATE_DEAL,
            {"title": "T", "amount": "1", "primaryContactId": other["contact"]},
            "input.primaryContactId",
        ),
        (
            CREATE_DEAL,
            {"title": "T", "amount": "1", "contactIds": ["nobody"]},
            "input.contactIds.0",
        ),
        (CREATE_TASK, {"title": "T", "dealId": "0" * 24}, "input.dealId"),
        (CREATE_TASK, {"title": "T", "contactId": other["contact"]}, "input.contactId"),
        (CREATE_TASK, {"title": "T", "companyId": "nowhere"}, "input.companyId"),
    ]
    for mutation, values, field in attempts:
        started = time.monotonic()
        body = await gql(http, stack.gateway_url, mutation, rep, i=values)
        elapsed = time.monotonic() - started
        assert body.get("data") is None, body
        extensions = body["errors"][0]["extensions"]
        assert (extensions["code"], extensions.get("field")) == ("BAD_USER_INPUT", field), body
        assert elapsed < BUDGET_SECONDS
    counts = await gql(http, stack.gateway_url, COUNTS, _headers(mine, "ada", "admin"))
    assert counts["data"] == {"deals": {"totalCount": 0}, "tasks": {"totalCount": 0}}, counts


LOG_INTERACTION = """mutation($i: LogInteractionInput!) { logInteraction(input: $i) { id } }"""
TIMELINE = """query($id: ID!) { contact(id: $id) { interactions(first: 5) { totalCount } } }"""


async def test_an_interaction_naming_a_deal_elsewhere_or_nowhere_is_refused(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    """Contacts asks deals (`rpc.deals.deal.get`, signed for the user): another workspace's
    deal and no deal answer alike, and the timeline stays empty."""
    mine, theirs = f"ref-{uuid4().hex[:10]}", f"ref-{uuid4().hex[:10]}"
    own = await _seed(http, stack.gateway_url, mine)
    their_deal = await gql(
        http,
        stack.gateway_url,
        CREATE_DEAL,
        _headers(theirs, "ada", "admin"),
        i={"title": "Theirs", "amount": "1"},
    )
    assert "errors" not in their_deal, their_deal
    rep = _headers(mine, "rita", "rep")
    for deal_id in (their_deal["data"]["createDeal"]["id"], "0" * 24):
        started = time.monotonic()
        body = await gql(
            http,
            stack.gateway_url,
            LOG_INTERACTION,
            rep,
            i={"kind": "NOTE", "contactId": own["contact"], "dealId": deal_id},
        )
        elapsed = time.monotonic() - started
        assert body.get("data") is None, body
        extensions = body["errors"][0]["extensions"]
        assert (extensions["code"], extensions.get("field")) == ("BAD_USER_INPUT", "input.dealId")
        assert elapsed < BUDGET_SECONDS
    timeline = await gql(http, stack.gateway_url, TIMELINE, rep, id=own["contact"])
    assert timeline["data"]["contact"]["interactions"]["totalCount"] == 0, timeline
    # A deal of the workspace is accepted: the check answers for what exists.
    my_deal = await gql(
        http, stack.gateway_url, CREATE_DEAL, rep, i={"title": "Mine", "amount": "1"}
    )
    logged = await gql(
        http,
        stack.gateway_url,
        LOG_INTERACTION,
        rep,
        i={
            "kind": "NOTE",
            "contactId": own["contact"],
            "dealId": my_deal["data"]["createDeal"]["id"],
        },
    )
    assert "errors" not in logged, logged


TRAIL = """query($id: ID!) { dealsAuditTrail(recordId: $id) { totalCount
  edges { node { action path party actor recordType changes { field before after } } } } }"""
LOG = """query($f: AuditLogFilter) { dealsAuditLog(filter: $f) { totalCount
  edges { node { recordId action } } } }"""


async def test_changes_through_the_gateway_are_in_the_trail_and_the_log(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    workspace = f"aud-{uuid4().hex[:10]}"
    seeded = await _seed(http, stack.gateway_url, workspace)
    admin, rep = _headers(workspace, "ada", "admin"), _headers(workspace, "rita", "rep")
    made = await gql(
        http,
        stack.gateway_url,
        CREATE_DEAL,
        rep,
        i={"title": "Rack", "amount": "100.00", "companyId": seeded["company"]},
    )
    deal_id = made["data"]["createDeal"]["id"]
    updated = await gql(
        http,
        stack.gateway_url,
        'mutation($id: ID!) { updateDeal(id: $id, input: {amount: "250.00"}) { id } }',
        rep,
        id=deal_id,
    )
    assert "errors" not in updated, updated
    trail = (await gql(http, stack.gateway_url, TRAIL, rep, id=deal_id))["data"]
    nodes = [edge["node"] for edge in trail["dealsAuditTrail"]["edges"]]
    assert [(n["action"], n["path"], n["party"], n["actor"]) for n in nodes] == [
        ("update", "graphql", "gateway", "rita"),
        ("create", "graphql", "gateway", "rita"),
    ]
    assert {"field": "amount_minor", "before": "10000", "after": "25000"} in nodes[0]["changes"]
    # Another workspace learns nothing of it: its rep finds no such record, its admin
    # (who may read the trails of deleted records too) an empty trail.
    stranger = f"aud-{uuid4().hex[:10]}"
    hidden = await gql(http, stack.gateway_url, TRAIL, _headers(stranger, "eve", "rep"), id=deal_id)
    assert hidden["errors"][0]["extensions"]["code"] == "NOT_FOUND", hidden
    empty = await gql(http, stack.gateway_url, TRAIL, _headers(stranger, "al", "admin"), id=deal_id)
    assert empty["data"]["dealsAuditTrail"] == {"totalCount": 0, "edges": []}, empty

    async def logged() -> bool:
        body = await gql(http, stack.gateway_url, LOG, admin, f={"recordType": "deal"})
        return body["data"]["dealsAuditLog"]["totalCount"] == 2

    await eventually(logged)


ANY_TRAIL = """query($id: ID!) { auditTrail(recordId: $id) { totalCount
  edges { node { service recordType action actor } } } }"""


async def test_one_audit_trail_answers_for_every_record_type(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    """`auditTrail(recordId)` (answered by tasks, which asks contacts and deals for the
    caller over NATS) finds a contact's, a company's, a deal's and a task's trail, as do
    the records' own `auditTrail` fields; another workspace's caller gets NOT_FOUND,
    fast."""
    workspace = f"aud-{uuid4().hex[:10]}"
    seeded = await _seed(http, stack.gateway_url, workspace)
    rep = _headers(workspace, "rita", "rep")
    deal = await gql(http, stack.gateway_url, CREATE_DEAL, rep, i={"title": "R", "amount": "1"})
    task = await gql(http, stack.gateway_url, CREATE_TASK, rep, i={"title": "Call"})
    records = {
        "contact": seeded["contact"],
        "company": seeded["company"],
        "deal": deal["data"]["createDeal"]["id"],
        "task": task["data"]["createTask"]["id"],
    }
    for kind, record_id in records.items():
        body = await gql(http, stack.gateway_url, ANY_TRAIL, rep, id=record_id)
        assert "errors" not in body, body
        nodes = [edge["node"] for edge in body["data"]["auditTrail"]["edges"]]
        assert [(n["recordType"], n["action"]) for n in nodes] == [(kind, "create")], body
    fields = await gql(
        http,
        stack.gateway_url,
        """query($d: ID!, $c: ID!, $t: ID!) {
          deal(id: $d) { auditTrail { totalCount } }
          contact(id: $c) { auditTrail { totalCount } }
          task(id: $t) { auditTrail { totalCount } } }""",
        rep,
        d=records["deal"],
        c=records["contact"],
        t=records["task"],
    )
    assert "errors" not in fields, fields
    assert {name: value["auditTrail"]["totalCount"] for name, value in fields["data"].items()} == {
        "deal": 1,
        "contact": 1,
        "task": 1,
    }
    stranger = _headers(f"aud-{uuid4().hex[:10]}", "eve", "rep")
    for record_id in records.values():
        started = time.monotonic()
        hidden = await gql(http, stack.gateway_url, ANY_TRAIL, stranger, id=record_id)
        assert time.monotonic() - started < BUDGET_SECONDS
        assert hidden["errors"][0]["extensions"]["code"] == "NOT_FOUND", hidden
