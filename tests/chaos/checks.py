"""What must hold after a fault, read from the databases and the streams themselves:
every acknowledged write stored, no write stored twice (a mailed or uploaded email is one
interaction), each saved stage move's playbook tasks there once, nothing left in an
outbox, nothing dead-lettered, and every deal's `deal.created` delivered to the webhook
receiver at least once, under one `webhook-id` per event.

Two ways to look:

- `look` (cheap, repeated): only what the client had acknowledged by a moment, each record
  read by `_id` (the one look-up FerretDB's SQLite backend serves from an index; every id
  is known: the client's answers, the email's derived from its Message-ID, the playbook
  task's from its stage change): stored, its own events published, its consequences there
  (the move's playbook task, the email's interaction, the deal's webhook); and the dead
  letters. Its cost follows the phase's writes, not the databases' size, and a look
  after the first reads again only what was still behind.
- `inspect` (full, once a phase settled): every record of the phase's workspace by its
  marker, which is what finds a record stored twice under two ids, and every outbox of
  every service."""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from nats.js.errors import NotFoundError
from pymongo import AsyncMongoClient

from crm_capture import config as capture_config
from crm_capture.domain.email import email_record_id
from crm_capture.domain.message import parse_message
from crm_contacts import config as contacts_config
from crm_contracts.deals import DEAL_CREATED
from crm_contracts.streams import DEAD_LETTER_STREAM
from crm_deals import config as deals_config
from crm_kit.clock import utcnow
from crm_kit.devstack import InfraStack
from crm_kit.outbox import PENDING, WRITTEN_AT
from crm_tasks import config as tasks_config
from crm_tasks.domain.task import keyed_id
from crm_tasks.usecases.playbooks import playbook_key
from crm_webhooks import config as webhooks_config

from .receiver import Arrival
from .stack import DB_PREFIX
from .workload import Chain, mail_of

# The default pipeline's `qualification` stage has one playbook template.
MOVED_TO = "qualification"
PLAYBOOK = ("discovery_call",)


@dataclass
class Findings:
    lost: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    playbook: list[str] = field(default_factory=list)
    unpublished: int = 0
    dead_letters: int = 0
    # Deals whose creation never reached the webhook receiver, or reached it under two ids.
    webhooks: list[str] = field(default_factory=list)
    # Deliveries the receiver got more than once (same webhook-id): allowed, counted.
    webhook_repeats: int = 0
    # Where a look found unsent events ("service.collection"), to say what held it up.
    unsent_in: set[str] = field(default_factory=set)

    @property
    def failing(self) -> list[str]:
        """The names of the checks that do not hold."""
        unpublished = "unpublished" + _which(sorted(self.unsent_in))
        # "<marker> <kind> ...": the kinds say which path is behind.
        lost = "lost" + _which(sorted({item.split()[1] for item in self.lost}))
        checks = {
            lost: self.lost,
            "duplicates": self.duplicates,
            "playbook": self.playbook,
            unpublished: self.unpublished,
            "dead letters": self.dead_letters,
            "webhooks": self.webhooks,
        }
        return [name for name, found in checks.items() if found]

    def items(self) -> list[str]:
        """Each failing record, prefixed by its check (what held a look up, item by item)."""
        return (
            [f"lost: {item}" for item in self.lost]
            + [f"playbook: {item}" for item in self.playbook]
            + [f"webhooks: {item}" for item in self.webhooks]
            + [f"unpublished: {where}" for where in sorted(self.unsent_in)]
        )

    @property
    def consistent(self) -> bool:
        return not self.failing


def _which(names: list[str]) -> str:
    return f" ({', '.join(names)})" if names else ""


async def _by_marker(
    db: Any, collection: str, workspace: str, field_name: str, suffix: str = ""
) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    async for doc in db[collection].find({"workspace_id": workspace}):
        value = doc.get(field_name)
        if isinstance(value, str) and value.endswith(suffix):
            found.setdefault(value.removesuffix(suffix), []).append(doc)
    return found


# Each service's collections that carry an outbox (its config's OUTBOX_COLLECTIONS): only
# those can hold an unsent event, and reading only them keeps a look short as the run's
# bookkeeping (processed events, idempotency keys) grows.
OUTBOXES = {
    "contacts": contacts_config.OUTBOX_COLLECTIONS,
    "deals": deals_config.OUTBOX_COLLECTIONS,
    "tasks": tasks_config.OUTBOX_COLLECTIONS,
    "capture": capture_config.OUTBOX_COLLECTIONS,
    "webhooks": webhooks_config.OUTBOX_COLLECTIONS,
}


async def _unpublished(client: AsyncMongoClient[Any]) -> int:
    """Documents of every service's outbox collections still holding an event to publish."""
    count = 0
    for service, collections in OUTBOXES.items():
        db = client[f"{DB_PREFIX}_{service}"]
        for collection in collections:
            async for doc in db[collection].find({PENDING: {"$exists": True}}, {PENDING: 1}):
                count += bool(doc.get(PENDING))
    return count


async def _dead_letters(infra: InfraStack) -> int:
    counter = DeadLetters(infra)
    try:
        return await counter.count()
    finally:
        await counter.close()


def _webhooks(findings: Findings, chains: list[Chain], arrivals: Sequence[Arrival]) -> None:
    created = [a for a in arrivals if a.type == DEAL_CREATED]
    ids_of_event: dict[str, set[str]] = defaultdict(set)
    for arrival in created:
        ids_of_event[arrival.event_id].add(arrival.webhook_id)
    delivered = {a.subject for a in created}
    findings.webhook_repeats = len(created) - len({a.webhook_id for a in created})
    for event_id, webhook_ids in ids_of_event.items():
        if len(webhook_ids) > 1:
            findings.webhooks.append(f"event {event_id} under {len(webhook_ids)} webhook ids")
    for chain in chains:
        if chain.deal is not None and chain.deal not in delivered:
            findings.webhooks.append(f"{chain.marker} deal.created not delivered")


async def inspect(
    infra: InfraStack,
    workspace: str,
    chains: list[Chain],
    arrivals: Sequence[Arrival] | None = None,
) -> Findings:
    """`arrivals`: what the webhook receiver got for this workspace (None: not checked)."""
    findings = Findings()
    client: AsyncMongoClient[Any] = AsyncMongoClient(infra.mongodb_uri, tz_aware=True)
    try:
        contacts_db = client[f"{DB_PREFIX}_contacts"]
        deals_db = client[f"{DB_PREFIX}_deals"]
        tasks_db = client[f"{DB_PREFIX}_tasks"]
        companies = await _by_marker(contacts_db, "companies", workspace, "name")
        contacts = await _by_marker(contacts_db, "contacts", workspace, "email", "@example.com")
        interactions = await _by_marker(contacts_db, "interactions", workspace, "subject")
        emails = {
            way: {
                subject.removesuffix(f" {way}"): docs
                for subject, docs in interactions.items()
                if subject.endswith(f" {way}")
            }
            for way in ("mail", "upload")
        }
        deals = await _by_marker(deals_db, "deals", workspace, "title")
        all_tasks = [doc async for doc in tasks_db["tasks"].find({"workspace_id": workspace})]
        own_tasks: dict[str, list[dict[str, Any]]] = {}
        for doc in all_tasks:
            if (doc.get("source") or {}).get("kind") != "playbook":
                own_tasks.setdefault(doc.get("title") or "", []).append(doc)
        playbook_tasks = Counter(
            (doc["source"].get("stage_change_id"), doc["source"].get("template_key"))
            for doc in all_tasks
            if (doc.get("source") or {}).get("kind") == "playbook"
        )
        findings.unpublished = await _unpublished(client)
    finally:
        await client.close()
    findings.dead_letters = await _dead_letters(infra)
    if arrivals is not None:
        _webhooks(findings, chains, arrivals)

    for chain in chains:
        m = chain.marker
        stored = {
            "company": companies.get(m, []),
            "contact": contacts.get(m, []),
            "deal": deals.get(m, []),
            "task": own_tasks.get(m, []),
            "interaction": interactions.get(m, []),
            "mail": emails["mail"].get(m, []),
            "upload": emails["upload"].get(m, []),
        }
        acked_ids = {
            "company": chain.company,
            "contact": chain.contact,
            "deal": chain.deal,
            "task": chain.task,
            "interaction": chain.interaction,
            # The SMTP door answers no id, nor does an upload name the interaction's:
            # acknowledged means one interaction.
            "mail": None,
            "upload": None,
        }
        for kind, docs in stored.items():
            if len(docs) > 1:
                findings.duplicates.append(f"{m} {kind} x{len(docs)}")
            if kind not in chain.attempted and docs:
                findings.duplicates.append(f"{m} {kind} stored but never sent")
            acked = acked_ids[kind]
            if acked is not None and acked not in [doc["_id"] for doc in docs]:
                findings.lost.append(f"{m} {kind} {acked}")
        if chain.mailed and not stored["mail"]:
            findings.lost.append(f"{m} mail")
        if chain.uploaded and not stored["upload"]:
            findings.lost.append(f"{m} upload")
        deal = stored["deal"][0] if stored["deal"] else None
        moves = [
            change
            for change in (deal or {}).get("stage_history") or []
            if change.get("to_stage") == MOVED_TO
        ]
        if len(moves) > 1:
            findings.duplicates.append(f"{m} move x{len(moves)}")
        if chain.moved and not moves:
            findings.lost.append(f"{m} move")
        for move in moves:
            for template in PLAYBOOK:
                made = playbook_tasks[(move["id"], template)]
                if made != 1:
                    findings.playbook.append(f"{m} {template} x{made}")
        if chain.completed:
            task = next((d for d in stored["task"] if d["_id"] == chain.task), None)
            if task is not None and task.get("status") != "done":
                findings.lost.append(f"{m} completion (status {task.get('status')})")
    return findings


# Reads by `_id` a look runs at once (a bound on its connections while the workload runs).
LOOK_READS = 8


def email_interaction_id(workspace: str, marker: str, way: str) -> str:
    """The interaction a chain's email becomes: capture's record id, derived from the
    workspace and the Message-ID (which a resend or a second upload repeats)."""
    parsed = parse_message(mail_of(marker, way).encode(), utcnow())
    return email_record_id(workspace, parsed.message_id)


async def look(
    client: AsyncMongoClient[Any],
    dead_letters: DeadLetters,
    workspace: str,
    chains: list[Chain],
    arrivals: Sequence[Arrival],
    until: float,
    confirmed: set[str] | None = None,
) -> Findings:
    """What the client had acknowledged by `until` (monotonic), read by `_id`. A document
    holding unsent events counts only if its outbox was last appended to by then: a later
    write (the workload goes on: a contact is touched by its chain's next steps) is
    published by its own writer with everything before it, and is a later moment's
    business.

    `confirmed` (kept across the looks at one `until`): what an earlier look found as it
    must be, which later looks do not read again. Each such fact stays true: a record
    stays stored, a task done, a delivery delivered, and an event written by `until` once
    published stays so (a later write is stamped later). So a look after the first reads
    only what was still behind, and its end is close to the moment the last of it caught
    up (a full look takes seconds on a loaded machine, which the figure would include)."""
    findings = Findings()
    seen: set[str] = confirmed if confirmed is not None else set()
    until_wall = datetime.now(UTC) - timedelta(seconds=time.monotonic() - until)
    db = {service: client[f"{DB_PREFIX}_{service}"] for service in OUTBOXES}
    reads = asyncio.Semaphore(LOOK_READS)

    async def stored(service: str, collection: str, doc_id: str) -> tuple[dict[str, Any], bool]:
        """The document ({} when missing) and whether it holds events unsent since before
        `until` (counted)."""
        async with reads:
            doc = await db[service][collection].find_one({"_id": doc_id})
        if doc is None:
            return {}, False
        appended = doc.get(WRITTEN_AT)
        unsent = bool(doc.get(PENDING)) and (appended is None or appended <= until_wall)
        if unsent:
            findings.unpublished += 1
            findings.unsent_in.add(f"{service}.{collection}")
        return dict(doc), unsent

    delivered = {a.subject for a in arrivals if a.type == DEAL_CREATED}

    async def chain_look(chain: Chain) -> None:
        due = chain.acked_by(until)
        m = chain.marker
        # What the record checks below need read: the move's deal, the completion's task.
        needed = {
            "deal": "move" in due and f"{m} move" not in seen,
            "task": "complete" in due and f"{m} complete" not in seen,
        }
        wanted = [
            (kind, service, collection, doc_id)
            for kind, service, collection, doc_id in (
                ("company", "contacts", "companies", chain.company),
                ("contact", "contacts", "contacts", chain.contact),
                ("interaction", "contacts", "interactions", chain.interaction),
                ("deal", "deals", "deals", chain.deal),
                ("task", "tasks", "tasks", chain.task),
            )
            if kind in due
            and doc_id is not None
            and (f"{m} {kind}" not in seen or needed.get(kind))
        ]
        for way in ("mail", "upload"):
            if way in due:
                email = email_interaction_id(workspace, m, way)
                for kind, service, collection in (
                    (way, "contacts", "interactions"),
                    (f"{way} record", "capture", capture_config.EMAILS),
                ):
                    if f"{m} {kind}" not in seen:
                        wanted.append((kind, service, collection, email))
        docs = await asyncio.gather(
            *(stored(service, coll, doc_id) for _, service, coll, doc_id in wanted)
        )
        found = {kind: doc for (kind, *_), (doc, _) in zip(wanted, docs, strict=True)}
        for (kind, *_), (doc, unsent) in zip(wanted, docs, strict=True):
            if not doc:
                findings.lost.append(f"{m} {kind}")
            elif not unsent:
                seen.add(f"{m} {kind}")
        if needed["task"] and found.get("task"):
            status = found["task"].get("status")
            if status == "done":
                seen.add(f"{m} complete")
            else:
                findings.lost.append(f"{m} completion (status {status})")
        if needed["deal"] and found.get("deal"):
            moves = [
                change
                for change in found["deal"].get("stage_history") or []
                if change.get("to_stage") == MOVED_TO
            ]
            if not moves:
                findings.lost.append(f"{m} move")
            missing = 0
            for move in moves:
                for template in PLAYBOOK:
                    task_id = keyed_id(workspace, playbook_key(move["id"], template))
                    if not (await stored("tasks", "tasks", task_id))[0]:
                        findings.playbook.append(f"{m} {template} missing")
                        missing += 1
            if moves and not missing:
                seen.add(f"{m} move")
        if "deal" in due and f"{m} webhook" not in seen:
            if chain.deal in delivered:
                seen.add(f"{m} webhook")
            else:
                findings.webhooks.append(f"{m} deal.created not delivered")

    await asyncio.gather(*(chain_look(chain) for chain in chains))
    findings.dead_letters = await dead_letters.count()
    return findings


class DeadLetters:
    """Counts the dead-letter stream's messages over one NATS connection (a look runs every
    tenth of a second; a connection each time cost it most of its time)."""

    def __init__(self, infra: InfraStack) -> None:
        self._infra = infra
        self._nc: Any = None

    async def count(self) -> int:
        if self._nc is None or self._nc.is_closed:
            self._nc = await self._infra.connect_nats()
        try:
            info = await self._nc.jetstream().stream_info(DEAD_LETTER_STREAM.name)
        except NotFoundError:
            return 0
        return int(info.state.messages)

    async def close(self) -> None:
        if self._nc is not None:
            await self._nc.close()
            self._nc = None
