"""What must hold after a fault, read from the databases and the streams themselves:
every acknowledged write stored, no write stored twice, each saved stage move's playbook
tasks there once, nothing left in an outbox, nothing dead-lettered."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from nats.js.errors import NotFoundError
from pymongo import AsyncMongoClient

from crm_contracts.streams import DEAD_LETTER_STREAM
from crm_kit.devstack import InfraStack
from crm_kit.outbox import PENDING

from .stack import DB_PREFIX
from .workload import Chain

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

    @property
    def failing(self) -> list[str]:
        """The names of the checks that do not hold."""
        checks = {
            "lost": self.lost,
            "duplicates": self.duplicates,
            "playbook": self.playbook,
            "unpublished": self.unpublished,
            "dead letters": self.dead_letters,
        }
        return [name for name, found in checks.items() if found]

    @property
    def consistent(self) -> bool:
        return not (
            self.lost or self.duplicates or self.playbook or self.unpublished or self.dead_letters
        )


async def _by_marker(
    db: Any, collection: str, workspace: str, field_name: str, suffix: str = ""
) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    async for doc in db[collection].find({"workspace_id": workspace}):
        value = doc.get(field_name)
        if isinstance(value, str) and value.endswith(suffix):
            found.setdefault(value.removesuffix(suffix), []).append(doc)
    return found


async def _unpublished(client: AsyncMongoClient[Any]) -> int:
    """Documents of every service database still holding an event to publish."""
    count = 0
    for name in await client.list_database_names():
        if not name.startswith(f"{DB_PREFIX}_"):
            continue
        db = client[name]
        for collection in await db.list_collection_names():
            async for doc in db[collection].find({PENDING: {"$exists": True}}, {PENDING: 1}):
                count += bool(doc.get(PENDING))
    return count


async def _dead_letters(infra: InfraStack) -> int:
    nc = await infra.connect_nats()
    try:
        try:
            info = await nc.jetstream().stream_info(DEAD_LETTER_STREAM.name)
        except NotFoundError:
            return 0
        return int(info.state.messages)
    finally:
        await nc.close()


async def inspect(infra: InfraStack, workspace: str, chains: list[Chain]) -> Findings:
    findings = Findings()
    client: AsyncMongoClient[Any] = AsyncMongoClient(infra.mongodb_uri, tz_aware=True)
    try:
        contacts_db = client[f"{DB_PREFIX}_contacts"]
        deals_db = client[f"{DB_PREFIX}_deals"]
        tasks_db = client[f"{DB_PREFIX}_tasks"]
        companies = await _by_marker(contacts_db, "companies", workspace, "name")
        contacts = await _by_marker(contacts_db, "contacts", workspace, "email", "@example.com")
        interactions = await _by_marker(contacts_db, "interactions", workspace, "subject")
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

    for chain in chains:
        m = chain.marker
        stored = {
            "company": companies.get(m, []),
            "contact": contacts.get(m, []),
            "deal": deals.get(m, []),
            "task": own_tasks.get(m, []),
            "interaction": interactions.get(m, []),
        }
        acked_ids = {
            "company": chain.company,
            "contact": chain.contact,
            "deal": chain.deal,
            "task": chain.task,
            "interaction": chain.interaction,
        }
        for kind, docs in stored.items():
            if len(docs) > 1:
                findings.duplicates.append(f"{m} {kind} x{len(docs)}")
            if kind not in chain.attempted and docs:
                findings.duplicates.append(f"{m} {kind} stored but never sent")
            acked = acked_ids[kind]
            if acked is not None and acked not in [doc["_id"] for doc in docs]:
                findings.lost.append(f"{m} {kind} {acked}")
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
