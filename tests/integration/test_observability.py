"""Traces and metrics of the real parts at work.

One `moveDeal` through the gateway is one trace: the gateway, the deals subgraph (its
GraphQL operation, database commands and the outbox write of `deal.stage_changed`), the
relay's publish, the tasks service's playbook consumer, its task writes and the publish of
`task.created`. The same journey shows in the metrics of every part: operations, fetches,
the outbox, the consumer, readiness; a poison event in the dead-letter metrics.

The real parts run in this process (the gateway, the deals and tasks apps, the outbox
relays and consumers) on the session's FerretDB and NATS, traced into the SDK's in-memory
exporter; the gateway reaches the subgraphs over ASGI instead of sockets.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from nats.js.errors import NotFoundError
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client import REGISTRY, generate_latest

from crm_contracts import deals, tasks
from crm_contracts.envelope import new_event
from crm_contracts.streams import stream_for
from crm_deals.app import create_app as create_deals_app
from crm_gateway.app import create_app as create_gateway_app
from crm_gateway.config import GatewaySettings
from crm_kit import runtime, telemetry
from crm_kit.nats_io import ensure_stream
from crm_kit.paths import REPO_ROOT
from crm_kit.settings import Settings
from crm_kit.testing import auth_headers, eventually, reference_standins, running_app
from crm_tasks.app import create_app as create_tasks_app

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
async def contacts_standin(infra: Any) -> AsyncIterator[None]:
    """The deals service asks the contacts service whether the company a deal names
    exists; contacts does not run here, so a stand-in answers (every id exists)."""
    nc = await infra.connect_nats()
    async with reference_standins(nc, set(), deals=False):
        yield
    await nc.close()


CREATE = """mutation CreateDeal($input: CreateDealInput!) { createDeal(input: $input) { id } }"""
MOVE = """mutation MoveDeal($id: ID!) { moveDeal(id: $id, stageKey: "qualification") { id } }"""


class Subgraphs(httpx.AsyncBaseTransport):
    """The gateway's transport: each subgraph URL's host names an in-process app."""

    def __init__(self, apps: dict[str, Any]) -> None:
        self._apps = {name: httpx.ASGITransport(app=app) for name, app in apps.items()}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._apps[request.url.host].handle_async_request(request)


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry.activate(provider)
    try:
        yield exporter
    finally:
        telemetry.deactivate()


def _settings(infra: Any, service: str, database: str) -> Settings:
    return Settings(
        service=service,
        mongodb_uri=infra.mongodb_uri,
        database=database,
        nats_url=infra.nats_url,
        outbox_sweep_seconds=0.5,
    )


async def _fresh_streams(infra: Any) -> None:
    """Empty event streams, so the consumers handle this test's events only."""
    nc = await infra.connect_nats()
    js = nc.jetstream()
    for service in ("deals", "tasks"):
        spec = stream_for(service)
        with contextlib.suppress(NotFoundError):
            await js.delete_stream(spec.name)
        await ensure_stream(js, spec)
    await nc.close()


class Trace:
    def __init__(self, spans: list[ReadableSpan]) -> None:
        self.spans = spans
        self.by_id = {span.context.span_id: span for span in spans}

    def one(self, name: str, **attributes: Any) -> ReadableSpan:
        found = [
            s
            for s in self.spans
            if s.name == name and all(s.attributes.get(k) == v for k, v in attributes.items())
        ]
        assert len(found) == 1, f"{len(found)} spans {name!r} {attributes}: {self.names()}"
        return found[0]

    def parent(self, span: ReadableSpan) -> ReadableSpan | None:
        return self.by_id.get(span.parent.span_id) if span.parent else None

    def under(self, span: ReadableSpan, ancestor: ReadableSpan) -> bool:
        current: ReadableSpan | None = span
        while current is not None:
            if current is ancestor:
                return True
            current = self.parent(current)
        return False

    def names(self) -> list[str]:
        return sorted(s.name for s in self.spans)


def _database(span: ReadableSpan) -> Any:
    return span.attributes.get("db.name") or span.attributes.get("db.namespace")


@contextlib.asynccontextmanager
async def platform(infra: Any, db_name: str) -> AsyncIterator[Platform]:
    """The deals and tasks apps and the gateway in front of them, running."""
    await _fresh_streams(infra)
    deals_db, tasks_db = f"{db_name}_deals", f"{db_name}_tasks"
    deals_app = create_deals_app(_settings(infra, "deals", deals_db))
    tasks_app = create_tasks_app(_settings(infra, "tasks", tasks_db))
    gateway_app = create_gateway_app(
        GatewaySettings(
            subgraph_urls={name: f"http://{name}/graphql" for name in ("deals", "tasks")}
        ),
        supergraph_sdl=(REPO_ROOT / "gateway" / "supergraph.graphql").read_text(),
        auth=True,
        transport=Subgraphs({"deals": deals_app, "tasks": tasks_app}),
    )
    async with (
        running_app(deals_app),
        running_app(tasks_app),
        running_app(gateway_app) as gateway,
    ):
        yield Platform(gateway, deals_db, tasks_db)


class Platform:
    def __init__(self, gateway: httpx.AsyncClient, deals_db: str, tasks_db: str) -> None:
        self.gateway = gateway
        self.deals_db = deals_db
        self.tasks_db = tasks_db
        self.headers = auth_headers("w1", "alice", "admin")

    async def post(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        answer = await self.gateway.post(
            "/graphql", json={"query": query, "variables": variables}, headers=self.headers
        )
        body: dict[str, Any] = answer.json()
        return body

    async def create_deal(self) -> str:
        values = {"title": "Rack", "amount": "10", "companyId": "c1"}
        created = await self.post(CREATE, {"input": values})
        return str(created["data"]["createDeal"]["id"])


async def test_move_deal_is_one_trace_from_the_gateway_to_task_created(
    infra: Any, db_name: str, spans: InMemorySpanExporter
) -> None:
    async with platform(infra, db_name) as crm:
        deals_db, tasks_db = crm.deals_db, crm.tasks_db
        deal_id = await crm.create_deal()
        spans.clear()
        moved = await crm.post(MOVE, {"id": deal_id})
        assert moved == {"data": {"moveDeal": {"id": deal_id}}}
        root = next(
            s for s in spans.get_finished_spans() if s.name == "POST /graphql" and not s.parent
        )

        async def task_created_published() -> list[ReadableSpan]:
            trace = [
                s for s in spans.get_finished_spans() if s.context.trace_id == root.context.trace_id
            ]
            names = [s.name for s in trace]
            # The playbook's consumer span ends after its handler, which goes on (a last
            # look for a close) while the relay already publishes the tasks' events.
            handled = any(
                s.name == f"process {deals.DEAL_STAGE_CHANGED}"
                and s.attributes.get("messaging.consumer.group.name") == "tasks-playbooks"
                for s in trace
            )
            return trace if f"publish {tasks.TASK_CREATED}" in names and handled else []

        trace = Trace(await eventually(task_created_published, timeout=20, what="task.created"))

    # The gateway: its server span is the root, the operation and the fetch under it.
    assert (root.name, root.kind) == ("POST /graphql", SpanKind.SERVER)
    operation = trace.one("mutation MoveDeal")
    assert trace.parent(operation) is root
    fetch = next(
        s for s in trace.spans if s.kind == SpanKind.CLIENT and trace.parent(s) is operation
    )
    assert "deals" in str(fetch.attributes.get("url.full") or fetch.attributes.get("http.url"))
    # Deals: its server span continues the gateway's fetch; GraphQL, database and outbox
    # under it. (In separate processes it is a SERVER span; over ASGI in one process the
    # middleware sees the client's span current and makes it INTERNAL.)
    deals_server = next(
        s for s in trace.spans if s.name == "POST /graphql" and trace.parent(s) is fetch
    )
    deals_operation = next(s for s in trace.spans if trace.parent(s) is deals_server)
    assert deals_operation.name.startswith("mutation")
    deals_writes = [s for s in trace.spans if _database(s) == deals_db]
    assert deals_writes and all(trace.under(s, deals_operation) for s in deals_writes)
    stage_changed = trace.one(f"create {deals.DEAL_STAGE_CHANGED}")
    assert trace.under(stage_changed, deals_operation)
    # The relay's publish continues the request that wrote the event, in another task.
    published = trace.one(f"publish {deals.DEAL_STAGE_CHANGED}")
    assert trace.parent(published) is stage_changed and published.kind == SpanKind.PRODUCER
    # Tasks: the playbook consumer handles it, writes the tasks and their task.created.
    processed = trace.one(
        f"process {deals.DEAL_STAGE_CHANGED}",
        **{"messaging.consumer.group.name": "tasks-playbooks"},
    )
    assert trace.parent(processed) is published and processed.kind == SpanKind.CONSUMER
    # (The tasks service's automation rules consume the same event under their own durable.)
    consumers = [s for s in trace.spans if s.name == processed.name]
    task_commands = [s for s in trace.spans if _database(s) == tasks_db]
    assert all(any(trace.under(s, c) for c in consumers) for s in task_commands)
    assert any(s.name == f"{tasks_db}.insert" and trace.under(s, processed) for s in task_commands)
    task_created = [s for s in trace.spans if s.name == f"create {tasks.TASK_CREATED}"]
    assert task_created and all(trace.under(s, processed) for s in task_created)
    relayed = [s for s in trace.spans if s.name == f"publish {tasks.TASK_CREATED}"]
    assert {trace.parent(s).context.span_id for s in relayed} <= {  # type: ignore[union-attr]
        s.context.span_id for s in task_created
    }


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_every_part_counts_the_journey_in_its_metrics(
    infra: Any, db_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime, "STATE_POLL_SECONDS", 0.2)
    playbooks = {"service": "tasks", "durable": "tasks-playbooks"}
    handled = _value("crm_consumer_events_total", **playbooks, outcome="handled")
    published = _value("crm_outbox_published_total", service="deals")
    moves = {"service": "gateway", "operation_type": "mutation", "operation_name": "MoveDeal"}
    before_moves = _value("crm_graphql_requests_total", **moves)
    fetches = _value("crm_gateway_subgraph_fetches_total", subgraph="deals", outcome="ok")
    dead = _value("crm_dead_letters_total", **playbooks)
    async with platform(infra, db_name) as crm:
        await crm.post(MOVE, {"id": await crm.create_deal()})
        assert _value("crm_graphql_requests_total", **moves) == before_moves + 1
        assert _value("crm_gateway_subgraph_fetches_total", subgraph="deals", outcome="ok") >= (
            fetches + 2
        )
        subgraph = {"service": "deals", "operation_type": "mutation"}
        assert sum(
            s.value
            for metric in REGISTRY.collect()
            if metric.name == "crm_graphql_requests"
            for s in metric.samples
            if s.name.endswith("_total") and all(s.labels.get(k) == v for k, v in subgraph.items())
        )

        async def handled_and_measured() -> bool:
            return (
                _value("crm_consumer_events_total", **playbooks, outcome="handled") > handled
                and _value("crm_outbox_published_total", service="deals") > published
                and _value("crm_consumer_pending_messages", stream="CRM_DEALS", **playbooks) == 0
                and _value("crm_readiness", service="tasks") == 2
                and _value("crm_dependency_up", service="deals", dependency="nats") == 1
            )

        await eventually(handled_and_measured, timeout=20, what="the journey in the metrics")
        # A poison event (its payload does not validate): dead-lettered, and counted.
        nc = await infra.connect_nats()
        try:
            poison = new_event(
                event_type=deals.DEAL_STAGE_CHANGED,
                source="crm/deals",
                workspace="w1",
                data={"not": "a stage change"},
            )
            await nc.jetstream().publish(deals.DEAL_STAGE_CHANGED, poison.to_json())
        finally:
            await nc.close()

        async def dead_lettered() -> bool:
            subject = f"dlq.tasks.{playbooks['durable']}"
            return (
                _value("crm_dead_letters_total", **playbooks) > dead
                and _value("crm_dead_letter_messages", service="tasks", subject=subject) >= 1
            )

        await eventually(dead_lettered, timeout=20, what="the dead letter in the metrics")
        text = generate_latest(REGISTRY).decode()
        assert 'crm_outbox_backlog{collection="' in text
        assert 'crm_read_model_entries{index="' in text
