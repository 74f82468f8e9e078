"""Where a held-up record spent its recovery: for the records that held a phase's looks up
longest, when each stage of its path happened, in seconds after the killed part was ready
again (negative: before). Read after the phase from what the parts stored (the stream's
own timestamps, the records' creation times) and what the client and the webhook receiver
saw, so it costs the run nothing while it is measured.

- playbook task: the move acknowledged, `deal.stage_changed` stored in the deals stream,
  the task created by the tasks service;
- webhook: the deal acknowledged, `deal.created` stored in the deals stream, the delivery
  recorded by the webhooks service, its first attempt, its arrival at the receiver;
- captured email: the mail or upload acknowledged, its record captured, its event stored
  in the capture stream, its interaction created by the contacts service."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from pymongo import AsyncMongoClient

from crm_capture import config as capture_config
from crm_contracts.capture import EMAIL_CAPTURED
from crm_contracts.deals import DEAL_CREATED, DEAL_STAGE_CHANGED
from crm_contracts.streams import stream_for
from crm_kit.devstack import InfraStack
from crm_tasks.domain.task import keyed_id
from crm_tasks.usecases.playbooks import playbook_key

from .checks import MOVED_TO, PLAYBOOK, email_interaction_id
from .receiver import Arrival
from .stack import DB_PREFIX
from .workload import Chain

# Stream messages read per fetch while collecting a phase's events.
_FETCH = 500


def wall_of(moment: float) -> datetime:
    """A `time.monotonic()` moment as UTC wall time."""
    return datetime.now(UTC) - timedelta(seconds=time.monotonic() - moment)


async def _stored_at(
    infra: InfraStack, service: str, types: set[str], since: datetime
) -> dict[tuple[str, str], datetime]:
    """(event type, CloudEvents subject) -> when the stream stored it, for `types`
    published since `since` (an ephemeral consumer that acknowledges nothing)."""
    stored: dict[tuple[str, str], datetime] = {}
    nc = await infra.connect_nats()
    try:
        spec = stream_for(service)
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_TIME,
            opt_start_time=since.isoformat().replace("+00:00", "Z"),
            ack_policy=AckPolicy.NONE,
            inactive_threshold=30.0,
        )
        sub = await nc.jetstream().pull_subscribe(spec.subjects[0], stream=spec.name, config=config)
        while True:
            try:
                messages = await sub.fetch(_FETCH, timeout=1.0)
            except (NatsTimeoutError, TimeoutError):
                break
            for message in messages:
                if message.subject not in types:
                    continue
                event = orjson.loads(message.data)
                key = (message.subject, str(event.get("subject")))
                if message.metadata.timestamp is not None:
                    stored.setdefault(key, message.metadata.timestamp)
        await sub.unsubscribe()
    finally:
        await nc.close()
    return stored


def _when(moment: datetime | None, ready: datetime) -> str:
    if moment is None:
        return "-"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return f"{(moment - ready).total_seconds():+.2f}"


async def trace(
    infra: InfraStack,
    workspace: str,
    chains: Sequence[Chain],
    arrivals: Sequence[Arrival],
    held: Sequence[str],
    ready: float,
    started: float,
) -> list[str]:
    """One line per held record (`held`: `Findings.items()` names) with its stages."""
    by_marker = {chain.marker: chain for chain in chains}
    ready_wall, since = wall_of(ready), wall_of(started)
    wanted = [item for item in held if item.split(": ", 1)[0] in ("playbook", "webhooks", "lost")]
    if not wanted:
        return []
    deals_stored = await _stored_at(infra, "deals", {DEAL_CREATED, DEAL_STAGE_CHANGED}, since)
    capture_stored = await _stored_at(infra, "capture", {EMAIL_CAPTURED}, since)
    client: AsyncMongoClient[Any] = AsyncMongoClient(infra.mongodb_uri, tz_aware=True)
    db = {s: client[f"{DB_PREFIX}_{s}"] for s in ("deals", "tasks", "contacts", "capture")}
    hooks = client[f"{DB_PREFIX}_webhooks"]["deliveries"]
    lines = []
    try:
        for item in wanted:
            check, _, what = item.partition(": ")
            marker, _, kind = what.partition(" ")
            chain = by_marker.get(marker)
            if chain is None:
                continue
            acked = {k: wall_of(at) for k, at in chain.acked_at.items()}
            stages: list[tuple[str, datetime | None]] = []
            if check == "playbook" and chain.deal:
                deal = await db["deals"]["deals"].find_one({"_id": chain.deal}) or {}
                moves = [
                    c for c in deal.get("stage_history") or [] if c.get("to_stage") == MOVED_TO
                ]
                task = None
                if moves:
                    key = playbook_key(moves[0]["id"], PLAYBOOK[0])
                    task = await db["tasks"]["tasks"].find_one({"_id": keyed_id(workspace, key)})
                stages = [
                    ("move acked", acked.get("move")),
                    ("stage_changed stored", deals_stored.get((DEAL_STAGE_CHANGED, chain.deal))),
                    ("task created", (task or {}).get("created_at")),
                ]
            elif check == "webhooks" and chain.deal:
                delivery = await hooks.find_one({"record": chain.deal, "event_type": DEAL_CREATED})
                attempts = (delivery or {}).get("attempts") or []
                arrived = [a.at for a in arrivals if a.subject == chain.deal]
                stages = [
                    ("deal acked", acked.get("deal")),
                    ("deal.created stored", deals_stored.get((DEAL_CREATED, chain.deal))),
                    ("delivery made", (delivery or {}).get("created_at")),
                    ("first attempt", attempts[0]["at"] if attempts else None),
                    ("arrived", wall_of(min(arrived)) if arrived else None),
                ]
            elif check == "lost" and kind in ("mail", "upload"):
                record_id = email_interaction_id(workspace, marker, kind)
                record = await db["capture"][capture_config.EMAILS].find_one({"_id": record_id})
                interaction = await db["contacts"]["interactions"].find_one({"_id": record_id})
                stages = [
                    (f"{kind} acked", acked.get(kind)),
                    ("captured", (record or {}).get("captured_at")),
                    ("email.captured stored", capture_stored.get((EMAIL_CAPTURED, record_id))),
                    ("interaction created", (interaction or {}).get("created_at")),
                ]
            if stages:
                path = ", ".join(f"{name} {_when(at, ready_wall)}" for name, at in stages)
                lines.append(f"{item}: {path}")
    finally:
        await client.close()
    return lines
