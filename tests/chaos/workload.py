"""The mixed workload a sales team's clients would send through the gateway, each write
with its own `Idempotency-Key` and retried with the same key after a connection failure,
a 5xx or a GraphQL error marked retryable (as a careful client of a payments API would).

One chain is one deal's story: company, contact, deal, move to `qualification` (whose
playbook makes one task), a task created and completed, an interaction logged. Each record
carries the chain's marker in a field a later check finds it by (name, email, title,
subject), so the checks can tell, per key, whether the write exists and how often."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

import httpx

from crm_kit.testing import auth_headers

# A client's patience for one write, retries included: longer than any restart here.
OP_DEADLINE_SECONDS = 90.0
RETRY_PAUSE_SECONDS = 0.25
RETRYABLE_CODES = frozenset(
    {"SERVICE_UNAVAILABLE", "SUBGRAPH_UNAVAILABLE", "SUBGRAPH_TIMEOUT", "TIMEOUT"}
)
OPS_PER_CHAIN = 7

COMPANY = "mutation($n: String!) { createCompany(input: {name: $n}) { id } }"
CONTACT = """mutation($c: ID!, $e: String!) {
  createContact(input: {firstName: "Chaos", email: $e, companyId: $c}) { id } }"""
DEAL = """mutation($i: CreateDealInput!) { createDeal(input: $i) { id } }"""
MOVE = """mutation($d: ID!) { moveDeal(id: $d, stageKey: "qualification") { id } }"""
TASK = """mutation($t: String!, $d: ID!) { createTask(input: {title: $t, dealId: $d}) { id } }"""
COMPLETE = """mutation($t: ID!) { completeTask(id: $t, outcome: "done") { id } }"""
INTERACTION = """mutation($c: ID!, $s: String!) {
  logInteraction(input: {kind: NOTE, contactId: $c, subject: $s}) { id } }"""


class GaveUp(Exception):
    """A write that neither succeeded nor failed retryably within the deadline."""


@dataclass
class Tally:
    sent: int = 0
    acked: int = 0
    retried: int = 0
    failed: int = 0
    # Requests sent and not yet answered (the long run kills while ~30 are).
    in_flight: int = 0
    # Set at every send and acknowledgement (the killer waits on it for its moment).
    progress: asyncio.Event = field(default_factory=asyncio.Event)
    errors: list[str] = field(default_factory=list)
    # When each acknowledgement came (monotonic), for the time back to service.
    acked_at: list[float] = field(default_factory=list)


@dataclass
class Chain:
    """What the client saw of one chain: which writes were acknowledged, with their ids."""

    marker: str
    company: str | None = None
    contact: str | None = None
    deal: str | None = None
    moved: bool = False
    task: str | None = None
    completed: bool = False
    interaction: str | None = None
    # Writes sent (acknowledged or not): a write not acknowledged may still exist, once.
    attempted: set[str] = field(default_factory=set)


def _retryable(status: int, body: dict[str, Any] | None) -> bool:
    if status >= 500 or body is None:
        return True
    for error in body.get("errors") or []:
        extensions = error.get("extensions") or {}
        if extensions.get("retryable") is True or extensions.get("code") in RETRYABLE_CODES:
            return True
    return False


class KeyedClient:
    """Sends each write with a fresh key and repeats it with that key until it is answered."""

    def __init__(self, http: httpx.AsyncClient, url: str, workspace: str, tally: Tally):
        self.http = http
        self.url = url
        self.headers = {**auth_headers(workspace, "alice", "admin")}
        self.tally = tally

    async def write(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        key = f"chaos-{uuid4()}"
        headers = {**self.headers, "idempotency-key": key}
        self.tally.sent += 1
        deadline = time.monotonic() + OP_DEADLINE_SECONDS
        first = True
        while True:
            if not first:
                self.tally.retried += 1
            first = False
            body: dict[str, Any] | None = None
            status = 0
            self.tally.in_flight += 1
            self.tally.progress.set()
            try:
                response = await self.http.post(
                    self.url, json={"query": query, "variables": variables}, headers=headers
                )
                status = response.status_code
                try:
                    body = response.json()
                except ValueError:
                    body = None
            except httpx.TransportError:
                pass  # connection refused or broken, timeout: the key makes a retry safe
            finally:
                self.tally.in_flight -= 1
            if body is not None and body.get("data") and not body.get("errors"):
                self.tally.acked += 1
                self.tally.acked_at.append(time.monotonic())
                self.tally.progress.set()
                data: dict[str, Any] = next(iter(body["data"].values()))
                return data
            if not _retryable(status, body) or time.monotonic() > deadline:
                self.tally.failed += 1
                self.tally.errors.append(f"{status} {body}"[:300])
                raise GaveUp(f"{status} {body}")
            await asyncio.sleep(RETRY_PAUSE_SECONDS)


async def run_chain(client: KeyedClient, chain: Chain) -> None:
    """The chain's writes in order; stops at the first write given up on."""
    m = chain.marker
    try:
        chain.attempted.add("company")
        chain.company = (await client.write(COMPANY, {"n": m}))["id"]
        chain.attempted.add("contact")
        contact = await client.write(CONTACT, {"c": chain.company, "e": f"{m}@example.com"})
        chain.contact = contact["id"]
        deal_input = {
            "title": m,
            "amount": "1000",
            "companyId": chain.company,
            "primaryContactId": chain.contact,
            "expectedCloseDate": "2027-06-30",
        }
        chain.attempted.add("deal")
        chain.deal = (await client.write(DEAL, {"i": deal_input}))["id"]
        chain.attempted.add("move")
        await client.write(MOVE, {"d": chain.deal})
        chain.moved = True
        chain.attempted.add("task")
        chain.task = (await client.write(TASK, {"t": m, "d": chain.deal}))["id"]
        chain.attempted.add("complete")
        await client.write(COMPLETE, {"t": chain.task})
        chain.completed = True
        chain.attempted.add("interaction")
        chain.interaction = (await client.write(INTERACTION, {"c": chain.contact, "s": m}))["id"]
    except GaveUp:
        return


async def run_chains(client: KeyedClient, chains: list[Chain], concurrency: int) -> None:
    """`concurrency` chains at a time, each sequential (a write needs its parent's id)."""
    queue: asyncio.Queue[Chain] = asyncio.Queue()
    for chain in chains:
        queue.put_nowait(chain)

    async def worker() -> None:
        while not queue.empty():
            await run_chain(client, queue.get_nowait())

    await asyncio.gather(*(worker() for _ in range(concurrency)))
