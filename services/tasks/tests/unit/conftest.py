"""Unit-test helpers: the schema executed against the in-memory store, a movable clock.
Callers run each GraphQL test twice: against the store directly, and through the read
index over the same store (what the service runs)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crm_kit.context import RequestContext
from crm_kit.errors import format_error
from crm_tasks.graphql.context import TasksContext
from crm_tasks.graphql.schema import schema
from crm_tasks.store.indexed import IndexedTasksStore, task_index
from crm_tasks.store.memory import MemoryTasksStore
from crm_tasks.store.protocol import TasksStore
from crm_tasks.usecases.base import Scope

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class Caller:
    """Executes operations as one user of one workspace, returning the HTTP-shaped body."""

    def __init__(
        self,
        store: MemoryTasksStore,
        clock: Clock,
        workspace: str,
        subject: str,
        roles: str,
        served: TasksStore | None = None,
    ) -> None:
        self.store = store
        # What the resolvers use: the store itself or the read index over it.
        self.served: TasksStore = served or store
        self.clock = clock
        self.request = RequestContext(workspace, subject, frozenset(roles.split(",")))
        self.last_context: TasksContext | None = None

    def scope(self) -> Scope:
        return Scope(
            self.served.for_workspace(self.request.workspace_id),
            self.request.subject,
            clock=self.clock,
        )

    async def execute(self, query: str, variables: dict[str, Any] | None = None) -> dict:
        self.last_context = TasksContext(request=self.request, scope=self.scope())
        result = await schema.execute(
            query, variable_values=variables or {}, context_value=self.last_context
        )
        body: dict[str, Any] = {"data": result.data}
        if result.errors:
            body["errors"] = [format_error(e) for e in result.errors]
        return body

    async def data(self, query: str, variables: dict[str, Any] | None = None) -> dict:
        body = await self.execute(query, variables)
        assert not body.get("errors"), body["errors"]
        return body["data"]

    async def error(self, query: str, variables: dict[str, Any] | None = None) -> dict:
        body = await self.execute(query, variables)
        assert body.get("errors"), body
        return body["errors"][0]


@pytest.fixture
def store() -> MemoryTasksStore:
    return MemoryTasksStore()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["store", "index"])
def served(request: pytest.FixtureRequest, store: MemoryTasksStore) -> TasksStore:
    if request.param == "index":
        return IndexedTasksStore(store, task_index(store))
    return store


@pytest.fixture
def caller(store: MemoryTasksStore, clock: Clock, served: TasksStore) -> Caller:
    return Caller(store, clock, "w1", "alice", "admin", served)


@pytest.fixture
def make_caller(store: MemoryTasksStore, clock: Clock, served: TasksStore) -> Any:
    def make(workspace: str = "w1", subject: str = "alice", roles: str = "admin") -> Caller:
        return Caller(store, clock, workspace, subject, roles, served)

    return make
