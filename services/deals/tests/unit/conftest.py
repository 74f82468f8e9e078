"""Unit-test helpers: the schema executed against the in-memory store, with a settable
clock, as any user of any workspace. Every GraphQL test runs twice: reading the store
directly, and through the read index over the same store (what the service runs)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crm_deals.graphql.context import make_context
from crm_deals.graphql.schema import schema
from crm_deals.store.indexed import IndexedStoreFactory, deal_index
from crm_deals.store.memory import MemoryDatabase
from crm_deals.store.protocol import StoreFactory
from crm_kit.context import RequestContext
from crm_kit.errors import format_error


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


class Gql:
    def __init__(
        self,
        db: MemoryDatabase,
        clock: Clock,
        workspace: str = "w1",
        subject: str = "alice",
        roles: str = "admin",
        stores: StoreFactory | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.stores = stores or db
        self.request = RequestContext(workspace, subject, frozenset(roles.split(",")))
        self.background: list[asyncio.Task] = []

    def spawn(self, job: Coroutine[Any, Any, None], name: str) -> None:
        self.background.append(asyncio.get_running_loop().create_task(job, name=name))

    async def settle(self) -> None:
        """Waits for the background jobs (win model trainings) started so far."""
        while self.background:
            await self.background.pop(0)

    def as_user(self, workspace: str = "w1", subject: str = "alice", roles: str = "admin") -> Gql:
        other = Gql(self.db, self.clock, workspace, subject, roles, self.stores)
        other.background = self.background
        return other

    async def execute(self, query: str, variables: dict[str, Any] | None = None) -> dict:
        context = make_context(self.stores, self.request, clock=self.clock, spawn=self.spawn)
        result = await schema.execute(query, variable_values=variables, context_value=context)
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
        assert body.get("errors"), f"expected an error, got {body['data']}"
        return body["errors"][0]


@pytest.fixture
def db() -> MemoryDatabase:
    return MemoryDatabase()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["store", "index"])
def gql(request: pytest.FixtureRequest, db: MemoryDatabase, clock: Clock) -> Gql:
    if request.param == "index":
        return Gql(db, clock, stores=IndexedStoreFactory(db, deal_index(db)))
    return Gql(db, clock)
