"""The mixed workload a sales team's clients would send through the gateway, each write
with its own `Idempotency-Key` and retried with the same key after a connection failure,
a 5xx or a GraphQL error marked retryable (as a careful client of a payments API would).

One chain is one deal's story: company, contact, an email from the contact captured through
capture's SMTP door (resent after a broken connection: its Message-ID makes a resend the
same email), another the rep uploads (`captureEmail`, keyed as any write), deal, move to
`qualification` (whose playbook makes one task), a task created and completed, an
interaction logged. Each record carries the chain's marker in a field a
later check finds it by (name, email, title, subject), so the checks can tell, per key,
whether the write exists and how often."""

from __future__ import annotations

import asyncio
import itertools
import smtplib
import time
from collections.abc import Awaitable, Callable
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
OPS_PER_CHAIN = 9
# The rep whose mail the capture door takes (registered as hers in each workspace).
REP = "rita"
REP_ADDRESS = "rita@ourco.example"

COMPANY = "mutation($n: String!) { createCompany(input: {name: $n}) { id } }"
CONTACT = """mutation($c: ID!, $e: String!) {
  createContact(input: {firstName: "Chaos", email: $e, companyId: $c}) { id } }"""
DEAL = """mutation($i: CreateDealInput!) { createDeal(input: $i) { id } }"""
MOVE = """mutation($d: ID!) { moveDeal(id: $d, stageKey: "qualification") { id } }"""
TASK = """mutation($t: String!, $d: ID!) { createTask(input: {title: $t, dealId: $d}) { id } }"""
COMPLETE = """mutation($t: ID!) { completeTask(id: $t, outcome: "done") { id } }"""
INTERACTION = """mutation($c: ID!, $s: String!) {
  logInteraction(input: {kind: NOTE, contactId: $c, subject: $s}) { id } }"""
UPLOAD = """mutation($r: String!) { captureEmail(raw: $r) { email { id } duplicate } }"""


@dataclass(frozen=True)
class Attempt:
    """One try of a write: its answer's data, or why it failed and whether to try again."""

    data: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    retryable: bool = True


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
    mailed: bool = False
    task: str | None = None
    completed: bool = False
    interaction: str | None = None
    uploaded: bool = False
    # Writes sent (acknowledged or not): a write not acknowledged may still exist, once.
    attempted: set[str] = field(default_factory=set)
    # When each write was acknowledged (monotonic), by kind: a look after a recovery
    # checks what was acknowledged before it.
    acked_at: dict[str, float] = field(default_factory=dict)

    def acked_by(self, moment: float) -> set[str]:
        return {kind for kind, at in self.acked_at.items() if at <= moment}


def _retryable(status: int, body: dict[str, Any] | None) -> bool:
    if status >= 500 or body is None:
        return True
    for error in body.get("errors") or []:
        extensions = error.get("extensions") or {}
        if extensions.get("retryable") is True or extensions.get("code") in RETRYABLE_CODES:
            return True
    return False


def mail_of(marker: str, way: str = "mail") -> str:
    """The email a chain's contact sends the rep (`way`: "mail" by SMTP, "upload"): its
    Message-ID and subject name the chain and the way."""
    return (
        f"From: Chaos <{marker}@example.com>\r\n"
        f"To: Rita Rep <{REP_ADDRESS}>\r\n"
        f"Subject: {marker} {way}\r\n"
        f"Message-ID: <{marker}.{way}@chaos.example>\r\n"
        "Date: Mon, 07 Dec 2026 09:00:00 +0000\r\n"
        "\r\n"
        "Can we talk about the rack?\r\n"
    )


@dataclass(frozen=True)
class MailDoor:
    """Capture's SMTP door and the workspace's capture address."""

    port: int
    inbound: str


class KeyedClient:
    """Sends each write with a fresh key and repeats it with that key until it is answered."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        url: str,
        workspace: str,
        tally: Tally,
        door: MailDoor | None = None,
    ):
        self.http = http
        self.url = url
        self.headers = {**auth_headers(workspace, "alice", "admin")}
        # The rep uploads her own mail (capture files it as hers).
        self.rep_headers = {**auth_headers(workspace, REP, "rep")}
        self.tally = tally
        self.door = door

    async def mail(self, raw: str) -> None:
        """Deliver by SMTP as the rep's mail client would, again after any failure (a mail
        client re-sends what the server did not accept with a 250)."""
        assert self.door is not None
        door = self.door

        def deliver() -> None:
            with smtplib.SMTP("127.0.0.1", door.port, timeout=20) as smtp:
                smtp.sendmail(REP_ADDRESS, [door.inbound], raw)

        async def attempt() -> Attempt:
            try:
                await asyncio.to_thread(deliver)
            except (OSError, smtplib.SMTPException) as error:
                return Attempt(error=f"smtp {error}")
            return Attempt()

        await self._until_answered(attempt)

    async def write(
        self, query: str, variables: dict[str, Any], *, as_rep: bool = False
    ) -> dict[str, Any]:
        caller = self.rep_headers if as_rep else self.headers
        headers = {**caller, "idempotency-key": f"chaos-{uuid4()}"}
        payload = {"query": query, "variables": variables}

        async def attempt() -> Attempt:
            try:
                response = await self.http.post(self.url, json=payload, headers=headers)
            except httpx.TransportError as error:
                # Connection refused or broken, timeout: the key makes a retry safe.
                return Attempt(error=f"transport {type(error).__name__}")
            try:
                body: dict[str, Any] | None = response.json()
            except ValueError:
                body = None
            if body is not None and body.get("data") and not body.get("errors"):
                return Attempt(data=next(iter(body["data"].values())))
            status = response.status_code
            return Attempt(error=f"{status} {body}", retryable=_retryable(status, body))

        return await self._until_answered(attempt)

    async def _until_answered(self, attempt: Callable[[], Awaitable[Attempt]]) -> dict[str, Any]:
        """Repeat `attempt` until it succeeds, fails for good or the deadline passes,
        keeping the tally; GaveUp unless it succeeded."""
        self.tally.sent += 1
        deadline = time.monotonic() + OP_DEADLINE_SECONDS
        for tries in itertools.count():
            if tries:
                self.tally.retried += 1
            self.tally.in_flight += 1
            self.tally.progress.set()
            try:
                outcome = await attempt()
            finally:
                self.tally.in_flight -= 1
            if outcome.error is None:
                self.tally.acked += 1
                self.tally.acked_at.append(time.monotonic())
                self.tally.progress.set()
                return outcome.data
            if not outcome.retryable or time.monotonic() > deadline:
                self.tally.failed += 1
                self.tally.errors.append(outcome.error[:300])
                raise GaveUp(outcome.error)
            await asyncio.sleep(RETRY_PAUSE_SECONDS)
        raise AssertionError("unreachable")


async def run_chain(client: KeyedClient, chain: Chain) -> None:
    """The chain's writes in order; stops at the first write given up on."""
    m = chain.marker

    async def step(kind: str, send: Awaitable[dict[str, Any] | None]) -> dict[str, Any]:
        chain.attempted.add(kind)
        answer = await send
        chain.acked_at[kind] = time.monotonic()
        return answer or {}

    try:
        chain.company = (await step("company", client.write(COMPANY, {"n": m})))["id"]
        contact = {"c": chain.company, "e": f"{m}@example.com"}
        chain.contact = (await step("contact", client.write(CONTACT, contact)))["id"]
        if client.door is not None:
            await step("mail", client.mail(mail_of(m)))
            chain.mailed = True
            upload = {"r": mail_of(m, "upload")}
            await step("upload", client.write(UPLOAD, upload, as_rep=True))
            chain.uploaded = True
        deal_input = {
            "title": m,
            "amount": "1000",
            "companyId": chain.company,
            "primaryContactId": chain.contact,
            "expectedCloseDate": "2027-06-30",
        }
        chain.deal = (await step("deal", client.write(DEAL, {"i": deal_input})))["id"]
        await step("move", client.write(MOVE, {"d": chain.deal}))
        chain.moved = True
        chain.task = (await step("task", client.write(TASK, {"t": m, "d": chain.deal})))["id"]
        await step("complete", client.write(COMPLETE, {"t": chain.task}))
        chain.completed = True
        logged = {"c": chain.contact, "s": m}
        chain.interaction = (await step("interaction", client.write(INTERACTION, logged)))["id"]
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
