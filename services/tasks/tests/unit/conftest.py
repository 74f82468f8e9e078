"""Unit-test helpers: the schema executed in process (the kit's one test client) against the
in-memory store, the kit's movable clock, and the service's consumers fed events directly.
Every test that uses the store runs as on MongoDB, with the embedded database's
workarounds (the `ferretdb` profile: the deal lists and the read index), and with them but
the read index turned off (`TASKS_INDEX=off`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from crm_contracts.envelope import CloudEvent
from crm_kit.context import RequestContext
from crm_kit.memory_db import MemoryDatabase
from crm_kit.testing import Clock, GraphQLClient
from crm_kit.writer import Written
from crm_tasks.config import AUDIT
from crm_tasks.domain.reminders import Firing
from crm_tasks.entrypoints.consumers import subscriptions
from crm_tasks.entrypoints.scheduler import Scheduler
from crm_tasks.events.publish import encode
from crm_tasks.graphql.context import GraphQLContext, context_for
from crm_tasks.graphql.schema import schema
from crm_tasks.store.memory import memory_store
from crm_tasks.store.port import DealMoves, TasksStore, WorkspaceStore
from crm_tasks.usecases.reminders import reminders
from crm_tasks.usecases.scope import Scope, scopes

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
# The unit tests' scheduler reports its lag under this `service` label, apart from any
# tasks service running in the same process (integration tests sharing a pytest run).
SCHEDULER_LABEL = "tasks-unit-scheduler"


class FakeStore:
    """The store over an in-memory database, and that database's outbox to assert on."""

    def __init__(
        self, *, workarounds: bool = False, index: bool = True, audited: bool = False
    ) -> None:
        self.workarounds = workarounds
        self.db = MemoryDatabase(encode=encode, audit=AUDIT if audited else None)
        self.store: TasksStore = memory_store(self.db, workarounds=workarounds, index=index)
        # (collection, document id, event types) of every write that carried events.
        self.carried: list[tuple[str, Any, list[str]]] = []
        self.db.hooks.subscribe(self._heard)

    async def _heard(self, written: Written) -> None:
        if written.events:
            types = [event.type for event in written.events]
            self.carried.append((written.collection, written.doc_id, types))

    def for_workspace(self, workspace_id: str) -> WorkspaceStore:
        return self.store.for_workspace(workspace_id)

    async def fire_due(self, now: datetime, limit: int) -> list[Firing]:
        return await self.store.fire_due(now, limit)

    def events_of(self, event_type: str) -> list[CloudEvent]:
        return self.db.events_of_type(event_type)


class Inbound:
    """The service's consumers without NATS: an event goes to every durable whose subjects
    carry it, as JetStream hands it to each."""

    def __init__(self, store: FakeStore, clock: Clock, deals: DealMoves | None = None) -> None:
        self.subscriptions = subscriptions(scopes(store.store, clock, deals=deals))

    async def deliver(self, event: CloudEvent, durable: str | None = None) -> None:
        matched = [
            sub
            for sub in self.subscriptions
            if event.type in sub.subjects and durable in (None, sub.durable)
        ]
        assert matched, f"no consumer of {event.type} ({durable or 'any durable'})"
        for sub in matched:
            await sub.handle(event)

    async def deliver_together(self, durable: str, events: list[CloudEvent]) -> None:
        """Events one fetch took, through the durable's batch handler (as the kit does)."""
        (sub,) = [sub for sub in self.subscriptions if sub.durable == durable]
        assert sub.batch is not None, f"{durable} takes no batch"
        await sub.handle_batch(events)


def caller_scope(
    store: FakeStore,
    clock: Clock,
    workspace: str = "w1",
    subject: str = "alice",
    roles: str = "admin",
) -> Scope:
    caller = RequestContext(workspace, subject, frozenset(roles.split(",")))
    return Scope(store.for_workspace(workspace), caller, clock)


@pytest.fixture(params=["mongodb", "ferretdb", "ferretdb-index-off"])
def store(request: pytest.FixtureRequest) -> FakeStore:
    profile = str(request.param)
    return FakeStore(workarounds=profile != "mongodb", index=not profile.endswith("off"))


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def scope(store: FakeStore, clock: Clock) -> Scope:
    """Alice, an admin of w1."""
    return caller_scope(store, clock)


@pytest.fixture
def inbound(store: FakeStore, clock: Clock) -> Inbound:
    return Inbound(store, clock)


@pytest.fixture
def scheduler(store: FakeStore, clock: Clock) -> Scheduler:
    # Its lag metric under a name no other scheduler of this process reports as.
    return Scheduler(reminders(store.store), clock=clock, service=SCHEDULER_LABEL)


@pytest.fixture
def contexts() -> list[GraphQLContext]:
    """The GraphQL contexts of the operations run so far (one per operation)."""
    return []


@pytest.fixture
def make_caller(store: FakeStore, clock: Clock, contexts: list[GraphQLContext]) -> Any:
    def context_of(request: RequestContext) -> GraphQLContext:
        context = context_for(Scope(store.for_workspace(request.workspace_id), request, clock))
        contexts.append(context)
        return context

    def make(workspace: str = "w1", subject: str = "alice", roles: str = "admin") -> Any:
        return GraphQLClient.in_process(schema, context_of, workspace, subject, roles)

    return make


@pytest.fixture
def caller(make_caller: Any) -> GraphQLClient:
    client: GraphQLClient = make_caller()
    return client
