"""Record-level read access and field permissions through the gateway (issue 9.6, the read
side, `crm_kit.sharing`). The sharing settings live in the tasks service and reach deals
and contacts as events (`crm_kit.access_view`), so each test first waits (polling with a
deadline) until every service applies them.

Under `own`, a rep cannot list, count, get, reach through a reference or receive a live
event of another rep's deal, contact or task; a manager sees the records of the team they
manage; an admin everything. Hidden fields read as null with a FORBIDDEN error naming the
field, and cannot be filtered or ordered by. Every refusal is checked to leak nothing: the
hidden record's id, title or amount appear nowhere in the response."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import uuid4

import httpx
import pytest

from crm_kit.auth import issue_token

from ..conftest import Stack
from ..e2e.live_clients import WsClient
from .conftest import gql

pytestmark = pytest.mark.e2e

DEADLINE = 30.0
CALLERS = {
    "admin": ("ada", ["admin"]),
    "rita": ("rita", ["rep"]),  # in no team
    "otto": ("otto", ["rep"]),  # in East
    "max": ("max", ["manager"]),  # manages East
}


def as_(workspace: str, who: str) -> dict[str, str]:
    subject, roles = CALLERS[who]
    return {"authorization": f"Bearer {issue_token(workspace, subject, roles)}"}


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {DEADLINE}s: {what}")
        await asyncio.sleep(0.2)


class World:
    """One workspace: team East (manager max, member otto), and a deal, a contact and a
    task held by rita and by otto each. Otto's deal is on Rita's contact and Rita's task
    is about Otto's deal: references that must not lead to what Rita may not see."""

    def __init__(self, http: httpx.AsyncClient, url: str) -> None:
        self.http, self.url = http, url
        self.workspace = f"share-{uuid4().hex[:10]}"
        self.ids: dict[str, str] = {}

    async def ask(self, who: str, query: str, **variables: Any) -> dict[str, Any]:
        return await gql(self.http, self.url, query, as_(self.workspace, who), **variables)

    async def ok(self, who: str, query: str, **variables: Any) -> dict[str, Any]:
        body = await self.ask(who, query, **variables)
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data

    async def build(self) -> World:
        await self.ok(
            "admin",
            'mutation { createTeam(input: {name: "East", memberIds: ["otto"], '
            'managerId: "max"}) { id } }',
        )
        for rep, amount in (("rita", "1111.11"), ("otto", "9876.54")):
            made = await self.ok(
                "admin",
                """mutation($owner: String!, $email: String!) {
                  contact: createContact(input: {firstName: "Pat", lastName: $owner,
                      email: $email, phones: ["+14155550100"], ownerId: $owner}) { id }
                }""",
                owner=rep,
                email=f"{rep}.client@example.com",
            )
            self.ids[f"{rep}-contact"] = made["contact"]["id"]
            made = await self.ok(
                "admin",
                """mutation($owner: String!, $amount: String!, $title: String!, $c: ID!) {
                  deal: createDeal(input: {title: $title, amount: $amount, ownerId: $owner,
                      primaryContactId: $c}) { id }
                }""",
                owner=rep,
                amount=amount,
                title=f"{rep} deal",
                c=self.ids["rita-contact"],
            )
            self.ids[f"{rep}-deal"] = made["deal"]["id"]
        for rep in ("rita", "otto"):
            made = await self.ok(
                "admin",
                """mutation($rep: ID!, $title: String!, $deal: ID!) {
                  task: createTask(input: {title: $title, assigneeId: $rep, dealId: $deal}) {
                    id
                  }
                }""",
                rep=rep,
                title=f"{rep} task",
                deal=self.ids["otto-deal"],
            )
            self.ids[f"{rep}-task"] = made["task"]["id"]
        return self

    async def share(self, level: str) -> None:
        for kind in ("DEAL", "CONTACT", "TASK"):
            await self.ok(
                "admin",
                "mutation($k: SharedRecordType!, $l: SharingLevel!) { "
                "setSharing(recordType: $k, level: $l) { version } }",
                k=kind,
                l=level,
            )
        await self.settled(lambda counts: counts == (1, 1, 1), "rita sees only her own")

    async def counts(self, who: str) -> tuple[int, int, int]:
        data = await self.ok(
            who,
            "{ deals { totalCount } contacts { totalCount } tasks { totalCount } }",
        )
        return (
            data["deals"]["totalCount"],
            data["contacts"]["totalCount"],
            data["tasks"]["totalCount"],
        )

    async def settled(self, expected: Callable[[tuple[int, int, int]], bool], what: str) -> None:
        async def check() -> bool:
            return expected(await self.counts("rita"))

        await until(check, what)


def leaks(body: dict[str, Any], *secrets: str) -> list[str]:
    text = json.dumps(body)
    return [secret for secret in secrets if secret in text]


@pytest.fixture
async def world(stack: Stack, http: httpx.AsyncClient) -> World:
    return await World(http, stack.gateway_url).build()


async def test_under_own_a_rep_lists_only_what_she_holds(world: World) -> None:
    assert await world.counts("rita") == (2, 2, 2)  # everyone: the default
    await world.share("OWN")
    data = await world.ok(
        "rita",
        """{ deals { totalCount edges { node { id title } } }
             contacts { totalCount edges { node { id } } }
             tasks { totalCount edges { node { id title } } } }""",
    )
    assert [e["node"]["id"] for e in data["deals"]["edges"]] == [world.ids["rita-deal"]]
    assert [e["node"]["id"] for e in data["contacts"]["edges"]] == [world.ids["rita-contact"]]
    assert [e["node"]["id"] for e in data["tasks"]["edges"]] == [world.ids["rita-task"]]
    otto = [world.ids[f"otto-{kind}"] for kind in ("deal", "contact", "task")]
    assert not leaks(data, *otto, "otto deal", "otto task")
    # The board counts and lists only hers too.
    board = await world.ok(
        "rita", "{ pipelineBoard { columns { count deals { edges { node { id } } } } } }"
    )
    assert sum(c["count"] for c in board["pipelineBoard"]["columns"]) == 1
    assert not leaks(board, *otto)


async def test_under_own_another_reps_records_do_not_exist_for_her(world: World) -> None:
    await world.share("OWN")
    for field in ("deal", "contact", "task"):
        body = await world.ask(
            "rita",
            f"query($id: ID!) {{ {field}(id: $id) {{ id }} }}",
            id=world.ids[f"otto-{field}"],
        )
        assert body["data"] in (None, {field: None}), body
        for error in body.get("errors", []):
            assert error["extensions"]["code"] == "NOT_FOUND", body
        assert not leaks(body, "otto deal", "otto task", "9876.54", "otto.client")


async def test_references_do_not_lead_to_hidden_records(world: World) -> None:
    await world.share("OWN")
    body = await world.ask(
        "rita",
        """query($c: ID!, $t: ID!) {
          contact(id: $c) { deals { totalCount edges { node { id title } } } }
          task(id: $t) { deal { id title } }
        }""",
        c=world.ids["rita-contact"],
        t=world.ids["rita-task"],
    )
    # The reference resolves to nothing, as a deleted deal's would: the gateway says so
    # at the reference's path (the deal's non-null fields could not be filled).
    for error in body.get("errors", []):
        assert error["path"][:2] == ["task", "deal"], body
    data = body["data"]
    # Otto's deal is on her contact, and her task is about it: neither shows it.
    assert [e["node"]["id"] for e in data["contact"]["deals"]["edges"]] == [world.ids["rita-deal"]]
    assert data["contact"]["deals"]["totalCount"] == 1
    assert data["task"]["deal"] is None
    assert not leaks(body, world.ids["otto-deal"], "otto deal")


async def test_a_manager_sees_the_team_he_manages_and_an_admin_everything(
    world: World,
) -> None:
    await world.share("OWN")
    data = await world.ok(
        "max", "{ deals { edges { node { id } } } tasks { edges { node { id } } } }"
    )
    assert {e["node"]["id"] for e in data["deals"]["edges"]} == {world.ids["otto-deal"]}
    assert {e["node"]["id"] for e in data["tasks"]["edges"]} == {world.ids["otto-task"]}
    assert await world.counts("admin") == (2, 2, 2)


async def test_under_team_a_rep_sees_her_teammates(world: World) -> None:
    await world.ok(
        "admin",
        'mutation { createTeam(input: {name: "Pair", memberIds: ["rita", "otto"]}) { id } }',
    )
    for kind in ("DEAL", "CONTACT", "TASK"):
        await world.ok(
            "admin",
            f"mutation {{ setSharing(recordType: {kind}, level: TEAM) {{ version }} }}",
        )

    # Max manages East only: he sees Otto's once the setting reached every service.
    async def applied() -> bool:
        return await world.counts("max") == (1, 1, 1)

    await until(applied, "team sharing reaches every service")
    # Rita is now Otto's teammate (the team reached deals and contacts as an event, before
    # the setting): she sees both.
    assert await world.counts("rita") == (2, 2, 2)


async def test_a_rep_receives_no_live_event_of_a_hidden_deal(stack: Stack, world: World) -> None:
    await world.share("OWN")
    token = issue_token(world.workspace, "rita", ["rep"])
    ws_url = stack.gateway_url.replace("http://", "ws://")
    client = await WsClient.connect(ws_url, token, header=True)
    try:
        await client.acknowledged()
        sub = await client.subscribe("subscription { dealChanged { dealId deal { title } } }")
        rename = (
            "mutation($id: ID!, $t: String!) { updateDeal(id: $id, input: {title: $t}) { id } }"
        )

        # Her own changes reach her once the subscription is live upstream.
        async def hears_her_own() -> bool:
            await world.ok("admin", rename, id=world.ids["rita-deal"], t=f"rita {uuid4().hex}")
            try:
                await client.next(sub, timeout=1.0)
            except TimeoutError:
                return False
            return True

        await until(hears_her_own, "the subscription delivers")
        while not client.queues[sub].empty():
            client.queues[sub].get_nowait()
        # Otto's change, then hers: of what she gets up to hers, nothing is Otto's.
        await world.ok("admin", rename, id=world.ids["otto-deal"], t="otto renamed")
        await world.ok("admin", rename, id=world.ids["rita-deal"], t="rita renamed")
        while True:
            got = await client.next(sub)
            assert not leaks(got, world.ids["otto-deal"], "otto renamed"), got
            change = got["data"]["dealChanged"]
            assert change["dealId"] == world.ids["rita-deal"], got
            if change["deal"]["title"] == "rita renamed":
                break
    finally:
        await client.close()


async def test_hidden_fields_read_as_null_with_forbidden_and_cannot_be_searched(
    world: World,
) -> None:
    for field in ("DEAL_AMOUNT", "CONTACT_EMAIL", "CONTACT_PHONE"):
        await world.ok(
            "admin",
            f'mutation {{ setFieldAccess(field: {field}, roles: ["manager"]) {{ version }} }}',
        )

    async def amounts_hidden() -> bool:
        body = await world.ask("rita", "{ deals { edges { node { amount } } } }")
        return bool(body.get("errors"))

    async def phones_hidden() -> bool:
        body = await world.ask("rita", "{ contacts { edges { node { phones } } } }")
        return bool(body.get("errors"))

    await until(amounts_hidden, "the field permissions reach the deals service")
    await until(phones_hidden, "the field permissions reach the contacts service")
    body = await world.ask(
        "rita",
        "query($id: ID!) { deal(id: $id) { title amount weightedAmount } }",
        id=world.ids["otto-deal"],
    )
    assert body["data"]["deal"] == {"title": "otto deal", "amount": None, "weightedAmount": None}
    assert {(e["extensions"]["code"], e["extensions"]["field"]) for e in body["errors"]} == {
        ("FORBIDDEN", "amount"),
        ("FORBIDDEN", "weightedAmount"),
    }
    assert not leaks(body, "9876.54", "9,876")
    # Asking only for what she may read: no error at all.
    assert await world.ok("rita", "{ deals { totalCount edges { node { title } } } }")
    # Narrowing or ordering by the amount would tell it.
    for query, field in (
        ('{ deals(filter: {amountMin: "9000"}) { totalCount } }', "filter.amountMin"),
        ("{ deals(orderBy: {field: AMOUNT}) { totalCount } }", "orderBy.field"),
        ("{ pipelineBoard { columns { totalAmount } } }", "totalAmount"),
    ):
        refused = await world.ask("rita", query)
        assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN", refused
        assert refused["errors"][0]["extensions"]["field"] == field, refused
        assert not leaks(refused, "9876.54", "1111.11")
    # Contacts: addresses and numbers hidden, and not found by searching for them.
    body = await world.ask(
        "rita",
        "query($id: ID!) { contact(id: $id) { lastName email emails phones } }",
        id=world.ids["otto-contact"],
    )
    assert body["data"]["contact"] == {
        "lastName": "otto",
        "email": None,
        "emails": None,
        "phones": None,
    }
    assert {e["extensions"]["field"] for e in body["errors"]} == {"email", "emails", "phones"}
    assert not leaks(body, "otto.client", "4155550100")
    # The people on an interaction are addresses too.
    await world.ok(
        "admin",
        "mutation($c: ID!) { logInteraction(input: {contactId: $c, kind: CALL, subject: "
        '"call", participants: ["otto.client@example.com"]}) { id } }',
        c=world.ids["otto-contact"],
    )
    body = await world.ask(
        "rita",
        "query($id: ID!) { contact(id: $id) { interactions { edges { node { subject "
        "participants } } } } }",
        id=world.ids["otto-contact"],
    )
    nodes = [e["node"] for e in body["data"]["contact"]["interactions"]["edges"]]
    assert nodes == [{"subject": "call", "participants": None}], body
    assert {e["extensions"]["field"] for e in body["errors"]} == {"participants"}
    assert not leaks(body, "otto.client")
    shown = await world.ok(
        "admin",
        "query($id: ID!) { contact(id: $id) { interactions { edges { node { participants } } } } }",
        id=world.ids["otto-contact"],
    )
    edges = shown["contact"]["interactions"]["edges"]
    assert edges[0]["node"]["participants"] == ["otto.client@example.com"]
    found = await world.ok("rita", '{ contacts(filter: {text: "otto.client"}) { totalCount } }')
    assert found["contacts"]["totalCount"] == 0
    by_name = await world.ok("rita", '{ contacts(filter: {text: "otto"}) { totalCount } }')
    assert by_name["contacts"]["totalCount"] == 1
    # The manager reads them.
    manager = await world.ok(
        "max",
        "query($d: ID!, $c: ID!) { deal(id: $d) { amount } contact(id: $c) { email phones } }",
        d=world.ids["otto-deal"],
        c=world.ids["otto-contact"],
    )
    assert manager["deal"]["amount"] == "9876.54"
    assert manager["contact"] == {
        "email": "otto.client@example.com",
        "phones": ["+14155550100"],
    }


HIDDEN_WRITES = [
    ("deal", 'mutation($id: ID!) { updateDeal(id: $id, input: {title: "Mine now"}) { id } }'),
    ("deal", "mutation($id: ID!) { deleteDeal(id: $id) }"),
    ("deal", "mutation($id: ID!) { closeDealWon(id: $id) { id } }"),
    ("contact", 'mutation($id: ID!) { updateContact(id: $id, input: {title: "X"}) { id } }'),
    ("contact", "mutation($id: ID!) { deleteContact(id: $id) { id } }"),
    ("task", 'mutation($id: ID!) { updateTask(id: $id, input: {title: "X"}) { id } }'),
    ("task", "mutation($id: ID!) { completeTask(id: $id) { id } }"),
]


async def test_under_own_a_write_to_a_hidden_record_answers_as_for_no_record(
    world: World,
) -> None:
    """FORBIDDEN would tell Rita that Otto's record exists: she gets what an id naming
    nothing gets, fast, and the record is unchanged. A duplicate address does not name
    the contact that holds it either."""
    await world.share("OWN")
    for kind, mutation in HIDDEN_WRITES:
        started = time.monotonic()
        hidden = await world.ask("rita", mutation, id=world.ids[f"otto-{kind}"])
        assert time.monotonic() - started < 1.0
        nothing = await world.ask("rita", mutation, id="0" * 24)
        extensions = hidden["errors"][0]["extensions"]
        assert extensions == nothing["errors"][0]["extensions"], (hidden, nothing)
        assert extensions["code"] == "NOT_FOUND", hidden
        assert not leaks(hidden, "otto deal", "otto task", "9876.54", "otto.client")
    clash = await world.ask(
        "rita",
        'mutation { createContact(input: {firstName: "A", email: "otto.client@example.com"}) '
        "{ id } }",
    )
    assert clash["errors"][0]["extensions"]["code"] == "CONFLICT", clash
    assert not leaks(clash, world.ids["otto-contact"])
    after = await world.ok(
        "admin",
        "query($d: ID!, $t: ID!) { deal(id: $d) { title status } task(id: $t) { title } }",
        d=world.ids["otto-deal"],
        t=world.ids["otto-task"],
    )
    assert after == {
        "deal": {"title": "otto deal", "status": "OPEN"},
        "task": {"title": "otto task"},
    }
