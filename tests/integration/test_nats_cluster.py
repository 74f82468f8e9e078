"""The deals and tasks services on a 3-node NATS cluster lose and double nothing when the
leader of the deals stream is killed (-9) in the middle of a burst of stage moves.

Three `nats-server` processes with routes, JetStream and the platform's authorization;
every stream with 3 replicas. Each acknowledged move is in the deals outbox (same write as
the move); the relay re-sends what the dying leader did not confirm, under the same
`Nats-Msg-Id`, so the new leader de-duplicates; the tasks consumer's playbook tasks are
keyed by the stage change. The outcome: every acknowledged move's event stored once, and
its playbook task created once.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from nats.js.api import DeliverPolicy
from pymongo import AsyncMongoClient

from crm_contracts import deals as deal_events
from crm_deals.app import create_app as create_deals
from crm_deals.config import OUTBOX_COLLECTIONS
from crm_kit.devstack import InfraStack, NatsCluster, start_nats_cluster
from crm_kit.nats_io import connect
from crm_kit.outbox import OUTBOX
from crm_kit.settings import Settings
from crm_kit.testing import (
    GraphQLClient,
    eventually,
    gateway_auth,
    reference_standins,
    running_app,
)
from crm_tasks.app import create_app as create_tasks

pytestmark = pytest.mark.integration

MOVES = 100
CONCURRENCY = 10
# The leader dies once this many moves have been acknowledged.
KILL_AFTER = MOVES // 3
WORKSPACE = "cluster"
MOVE = 'mutation($d: ID!) { moveDeal(id: $d, stageKey: "qualification") { stage { key } } }'


@pytest.fixture
def cluster() -> AsyncIterator[NatsCluster]:
    with tempfile.TemporaryDirectory(prefix="crm-nats-cluster-") as tmp:
        nodes = start_nats_cluster(Path(tmp), 3, harness=True)
        try:
            yield nodes
        finally:
            nodes.stop()


def _settings(service: str, infra: InfraStack, cluster: NatsCluster, db_name: str) -> Settings:
    return Settings(
        service=service,
        mongodb_uri=infra.mongodb_uri,
        database=f"{db_name}_{service}",
        nats_url=cluster.url,
        outbox_sweep_seconds=0.5,
    )


async def _create_deals(client: GraphQLClient, count: int) -> list[str]:
    pipeline = (await client.data("{ pipelines { id } }"))["pipelines"][0]["id"]
    ids = []
    for n in range(count):
        deal = await client.data(
            "mutation($i: CreateDealInput!) { createDeal(input: $i) { id } }",
            {
                "i": {
                    "title": f"Deal {n}",
                    "amount": "100",
                    "currency": "USD",
                    "companyId": "co-cluster",
                    "pipelineId": pipeline,
                }
            },
        )
        ids.append(deal["createDeal"]["id"])
    return ids


async def _stored_stage_changes(cluster: NatsCluster) -> Counter[str]:
    """Deal id -> how many events of its move to qualification the deals stream holds."""
    nc = await connect(cluster.url, user="harness")
    try:
        js = nc.jetstream()
        sub = await js.subscribe(
            deal_events.DEAL_STAGE_CHANGED,
            stream="CRM_DEALS",
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.ALL,
        )
        total = (
            await js.stream_info("CRM_DEALS", subjects_filter=deal_events.DEAL_STAGE_CHANGED)
        ).state.subjects or {}
        counts: Counter[str] = Counter()
        for _ in range(total.get(deal_events.DEAL_STAGE_CHANGED, 0)):
            change = orjson.loads((await sub.next_msg(timeout=10)).data)["data"]
            if change["toStage"] == "qualification":  # not the creation's entry
                counts[change["dealId"]] += 1
        await sub.unsubscribe()
        return counts
    finally:
        await nc.close()


async def test_killing_the_stream_leader_mid_burst_loses_and_doubles_nothing(
    infra: InfraStack, cluster: NatsCluster, db_name: str
) -> None:
    deals_app = create_deals(_settings("deals", infra, cluster, db_name))
    tasks_app = create_tasks(_settings("tasks", infra, cluster, db_name))
    async with running_app(tasks_app), running_app(deals_app) as deals_http:
        client = GraphQLClient(deals_http, gateway_auth("deals", WORKSPACE, "alice", "admin"))
        # The contacts service (not run here) would say the deals' company exists.
        standins = await connect(cluster.url, user="harness")
        async with reference_standins(standins, set(), deals=False):
            deal_ids = await _create_deals(client, MOVES)
        await standins.close()

        harness = await connect(cluster.url, user="harness")
        leader = (await harness.jetstream().stream_info("CRM_DEALS")).cluster.leader
        await harness.close()
        acknowledged: list[str] = []
        failed: list[str] = []
        killed = asyncio.Event()
        gate = asyncio.Semaphore(CONCURRENCY)

        async def move(deal_id: str) -> None:
            async with gate:
                body = await client.execute(MOVE, {"d": deal_id})
            if body.get("errors"):
                failed.append(deal_id)
                return
            acknowledged.append(deal_id)
            if len(acknowledged) >= KILL_AFTER and not killed.is_set():
                killed.set()
                cluster.server(leader).kill()  # SIGKILL: no goodbye to its peers

        await asyncio.gather(*(move(d) for d in deal_ids))
        assert killed.is_set() and failed == []

        mongo: AsyncMongoClient = AsyncMongoClient(infra.mongodb_uri, tz_aware=True)
        tasks_db = mongo[f"{db_name}_tasks"]

        async def every_playbook_task() -> list[dict[str, Any]] | None:
            docs = await tasks_db["tasks"].find({"source.kind": "playbook"}).to_list(None)
            return docs if len({d["deal_id"] for d in docs}) >= len(acknowledged) else None

        tasks = await eventually(every_playbook_task, timeout=60, what="every playbook task")

        async def outbox_drained() -> bool:
            return await _unpublished(mongo[f"{db_name}_deals"]) == 0

        await eventually(outbox_drained, timeout=30, what="the deals outbox drained")
        stored = await _stored_stage_changes(cluster)
        deliveries = sum(
            c.handled + c.skipped_duplicates
            for c in tasks_app.state.runtime.consumers
            if c.durable == "tasks-playbooks"
        )
        await mongo.close()

    per_deal = Counter(doc["deal_id"] for doc in tasks)
    print(
        f"\ncluster: leader {leader} killed after {KILL_AFTER} of {MOVES} moves; "
        f"acknowledged {len(acknowledged)}, events stored {sum(stored.values())}, "
        f"playbook deliveries {deliveries}, playbook tasks {len(tasks)}"
    )
    assert sorted(stored) == sorted(acknowledged)  # 0 lost
    assert set(stored.values()) == {1}  # 0 doubled in the stream
    assert sorted(per_deal) == sorted(acknowledged) and set(per_deal.values()) == {1}


async def _unpublished(db: Any) -> int:
    """Events still waiting in the deals outbox collections."""
    total = 0
    for collection in OUTBOX_COLLECTIONS:
        total += await db[collection].count_documents({f"{OUTBOX}.0": {"$exists": True}})
    return total
