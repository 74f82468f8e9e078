"""Unit-test helpers: the schema executed in process (the kit's one test client) against
the in-memory store, with the kit's settable clock. Every test that uses the store runs
twice: as on MongoDB, and with the embedded database's workarounds (the `ferretdb`
profile: the read index serving lists, the board and the reports)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import pytest

from crm_contracts.envelope import CloudEvent
from crm_deals.config import AUDIT
from crm_deals.events.publish import encode
from crm_deals.graphql.context import DealsContext, context_for
from crm_deals.graphql.schema import schema
from crm_deals.store.memory import memory_store
from crm_deals.store.model_cache import ModelCache
from crm_deals.store.port import DealsStore, WorkspaceStore
from crm_deals.store.references import KnownReferences
from crm_deals.usecases.scope import Scope, Scopes, scopes
from crm_kit.context import RequestContext
from crm_kit.memory_db import MemoryDatabase
from crm_kit.testing import Clock, GraphQLClient


class FakeDeals:
    """The store over an in-memory database, that database's outbox to assert on, and the
    background jobs (win model trainings) the use cases start."""

    def __init__(
        self, clock: Clock, *, workarounds: bool = False, models: ModelCache | None = None
    ) -> None:
        self.clock = clock
        self.workarounds = workarounds
        self.db = MemoryDatabase(encode=encode, audit=AUDIT)
        # The contacts service's answer on the ids a deal names (every id exists).
        self.references = KnownReferences()
        self.store: DealsStore = memory_store(self.db, workarounds=workarounds, models=models)
        self.background: list[asyncio.Task[None]] = []

    def spawn(self, job: Coroutine[Any, Any, None], name: str) -> None:
        self.background.append(asyncio.get_running_loop().create_task(job, name=name))

    async def settle(self) -> None:
        """Waits for the background jobs started so far."""
        while self.background:
            await self.background.pop(0)

    @property
    def scopes(self) -> Scopes:
        return scopes(self.store, self.clock, self.spawn, references=self.references)

    def scope(self, workspace: str = "w1", subject: str = "alice", roles: str = "admin") -> Scope:
        return self.scopes(RequestContext(workspace, subject, frozenset(roles.split(","))))

    def for_workspace(self, workspace_id: str) -> WorkspaceStore:
        return self.store.for_workspace(workspace_id)

    @property
    def collections(self) -> Any:
        return self.db.collections

    def events(self, event_type: str | None = None) -> list[CloudEvent]:
        """Every event written to an outbox so far, in write order."""
        return [e for e in self.db.outbox if event_type is None or e.type == event_type]


def client(
    fake: FakeDeals, workspace: str = "w1", subject: str = "alice", roles: str = "admin"
) -> GraphQLClient:
    def context_of(caller: RequestContext) -> DealsContext:
        return context_for(fake.scopes(caller))

    return GraphQLClient.in_process(schema, context_of, workspace, subject, roles)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["mongodb", "ferretdb"])
def fake(request: pytest.FixtureRequest, clock: Clock) -> FakeDeals:
    return FakeDeals(clock, workarounds=request.param == "ferretdb")


@pytest.fixture
def gql(fake: FakeDeals) -> GraphQLClient:
    return client(fake)
