"""Record-level write access through the gateway (issue 9.6, `crm_kit.access`): a rep
changes only what they own or are assigned, managers and admins everything, a viewer
nothing, and only admins (or the system) set `modelProbability`. Every refusal is a
FORBIDDEN GraphQL error naming the field, comes back fast, and leaves the record as it
was (read back by the admin)."""

from __future__ import annotations

import time
from typing import Any
from uuid import uuid4

import httpx
import pytest

from crm_kit.auth import issue_token

from ..conftest import Stack
from .conftest import gql

pytestmark = pytest.mark.e2e

# "Refused fast (well under a second)": one gateway hop, one subgraph, one record read.
BUDGET_SECONDS = 1.0
OWNER = "rita"

DEAL = "id title amount ownerId stage { key } status modelProbability updatedAt"
TASK = "id title status assigneeId updatedAt"
CONTACT = "id title ownerId updatedAt"

READ = {
    "deal": f"query($id: ID!) {{ deal(id: $id) {{ {DEAL} }} }}",
    "task": f"query($id: ID!) {{ task(id: $id) {{ {TASK} }} }}",
    "contact": f"query($id: ID!) {{ contact(id: $id) {{ {CONTACT} }} }}",
}

# (record kind, operation) -> (mutation, the field a refusal names)
ATTEMPTS: dict[tuple[str, str], tuple[str, str]] = {
    ("deal", "update"): (
        'mutation($id: ID!) { updateDeal(id: $id, input: {amount: "1.00"}) { id } }',
        "id",
    ),
    ("deal", "move"): (
        'mutation($id: ID!) { moveDeal(id: $id, stageKey: "prospecting") { id } }',
        "id",
    ),
    ("deal", "close"): ("mutation($id: ID!) { closeDealWon(id: $id) { id } }", "id"),
    ("deal", "reassign"): (
        'mutation($id: ID!) { updateDeal(id: $id, input: {ownerId: "otto"}) { id } }',
        "id",
    ),
    ("deal", "delete"): ("mutation($id: ID!) { deleteDeal(id: $id) }", "id"),
    ("deal", "system-field"): (
        "mutation($id: ID!) { updateDeal(id: $id, input: {modelProbability: 99}) { id } }",
        "input.modelProbability",
    ),
    ("task", "update"): (
        'mutation($id: ID!) { updateTask(id: $id, input: {title: "hijacked"}) { id } }',
        "id",
    ),
    ("task", "move"): ("mutation($id: ID!) { startTask(id: $id) { id } }", "id"),
    ("task", "close"): ("mutation($id: ID!) { completeTask(id: $id) { id } }", "id"),
    ("task", "reassign"): (
        'mutation($id: ID!) { updateTask(id: $id, input: {assigneeId: "otto"}) { id } }',
        "id",
    ),
    ("task", "delete"): ("mutation($id: ID!) { cancelTask(id: $id) { id } }", "id"),
    ("contact", "update"): (
        'mutation($id: ID!) { updateContact(id: $id, input: {title: "hijacked"}) { id } }',
        "id",
    ),
    ("contact", "reassign"): (
        'mutation($id: ID!) { updateContact(id: $id, input: {ownerId: "otto"}) { id } }',
        "id",
    ),
    ("contact", "delete"): ("mutation($id: ID!) { deleteContact(id: $id) { id } }", "id"),
}

# Who is refused what: a rep who holds nothing of it every operation; a viewer too (for
# the role: no field); the record's own rep and a manager the system field only.
REFUSED: list[tuple[str, str, str]] = [
    (caller, kind, operation)
    for (kind, operation) in ATTEMPTS
    for caller in ("rep-other", "viewer")
] + [(caller, "deal", "system-field") for caller in ("rep-owner", "manager")]
CALLERS = {
    "admin": ("ada", ["admin"]),
    "manager": ("max", ["manager"]),
    "rep-owner": (OWNER, ["rep"]),
    "rep-other": ("otto", ["rep"]),
    "viewer": ("vic", ["viewer"]),
}


def headers(workspace: str, caller: str) -> dict[str, str]:
    subject, roles = CALLERS[caller]
    return {"authorization": f"Bearer {issue_token(workspace, subject, roles)}"}


async def _records(http: httpx.AsyncClient, url: str, workspace: str) -> dict[str, str]:
    """A deal, a task and a contact that Rita owns or is assigned, made by the admin."""
    admin = headers(workspace, "admin")
    made = await gql(
        http,
        url,
        """mutation {
          deal: createDeal(input: {title: "Rita's", amount: "100.00",
                                   stageKey: "qualification", ownerId: "rita"}) { id }
          task: createTask(input: {title: "Rita's call", assigneeId: "rita"}) { id }
          contact: createContact(input: {firstName: "Ann", lastName: "Lee",
                                         ownerId: "rita"}) { id }
        }""",
        admin,
    )
    assert "errors" not in made, made
    return {kind: made["data"][kind]["id"] for kind in ("deal", "task", "contact")}


async def _read(http: httpx.AsyncClient, url: str, workspace: str, kind: str, id_: str) -> Any:
    body = await gql(http, url, READ[kind], headers(workspace, "admin"), id=id_)
    assert "errors" not in body, body
    return body["data"][kind]


@pytest.fixture
def workspace() -> str:
    return f"own-{uuid4().hex[:10]}"


@pytest.mark.parametrize(("caller", "kind", "operation"), REFUSED)
async def test_refused_fast_and_nothing_changes(
    stack: Stack,
    http: httpx.AsyncClient,
    workspace: str,
    caller: str,
    kind: str,
    operation: str,
) -> None:
    ids = await _records(http, stack.gateway_url, workspace)
    before = await _read(http, stack.gateway_url, workspace, kind, ids[kind])
    mutation, field = ATTEMPTS[(kind, operation)]
    started = time.monotonic()
    body = await gql(http, stack.gateway_url, mutation, headers(workspace, caller), id=ids[kind])
    elapsed = time.monotonic() - started
    assert body.get("data") is None, body
    extensions = body["errors"][0]["extensions"]
    assert extensions["code"] == "FORBIDDEN", body
    assert extensions.get("field") == (None if caller == "viewer" else field), body
    assert elapsed < BUDGET_SECONDS
    assert await _read(http, stack.gateway_url, workspace, kind, ids[kind]) == before


async def test_owners_and_managers_still_change_what_they_may(
    stack: Stack, http: httpx.AsyncClient, workspace: str
) -> None:
    ids = await _records(http, stack.gateway_url, workspace)
    rita, manager = headers(workspace, "rep-owner"), headers(workspace, "manager")
    for who, query in (
        (rita, 'mutation($id: ID!) { updateDeal(id: $id, input: {amount: "150.00"}) { id } }'),
        (rita, 'mutation($id: ID!) { updateContact(id: $id, input: {title: "CFO"}) { id } }'),
        (manager, "mutation($id: ID!) { completeTask(id: $id) { id } }"),
    ):
        id_ = ids["deal" if "Deal" in query else "contact" if "Contact" in query else "task"]
        body = await gql(http, stack.gateway_url, query, who, id=id_)
        assert "errors" not in body, body
    assert (await _read(http, stack.gateway_url, workspace, "deal", ids["deal"]))["amount"] == (
        "150.00"
    )
    assert (await _read(http, stack.gateway_url, workspace, "contact", ids["contact"]))[
        "title"
    ] == "CFO"
    assert (await _read(http, stack.gateway_url, workspace, "task", ids["task"]))["status"] == (
        "DONE"
    )
