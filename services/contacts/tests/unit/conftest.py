"""Unit-test helpers: the schema executed in process (the kit's one test client) against
the in-memory store. Every test that uses the store runs twice: as on MongoDB, and with
the embedded database's workarounds (the `ferretdb` profile: email claims)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from crm_contacts.config import AUDIT
from crm_contacts.events.publish import encode
from crm_contacts.graphql.context import GraphQLContext, context_for
from crm_contacts.graphql.schema import schema
from crm_contacts.store.memory import memory_store
from crm_contacts.store.port import ContactsStore, WorkspaceStore
from crm_contacts.usecases.scope import Scope
from crm_contracts.envelope import CloudEvent
from crm_kit.context import RequestContext
from crm_kit.memory_db import MemoryDatabase
from crm_kit.testing import GraphQLClient

Caller = GraphQLClient


class FakeStore:
    """The store over an in-memory database, and that database's outbox to assert on."""

    def __init__(self, *, workarounds: bool = False) -> None:
        self.db = MemoryDatabase(encode=encode, audit=AUDIT)
        self.store: ContactsStore = memory_store(self.db, workarounds=workarounds)

    def for_workspace(self, workspace_id: str) -> WorkspaceStore:
        return self.store.for_workspace(workspace_id)

    async def pending_merges(self) -> Sequence[Any]:
        return await self.store.pending_merges()

    @property
    def outbox(self) -> list[CloudEvent]:
        return self.db.outbox

    def events_of_type(self, event_type: str) -> list[CloudEvent]:
        return self.db.events_of_type(event_type)


def caller(store: Any, workspace: str = "w1", roles: str = "admin") -> GraphQLClient:
    """`store` is anything with `for_workspace` (the fake, or a wrapper of it)."""

    def context_of(request: RequestContext) -> GraphQLContext:
        scoped = store.for_workspace(request.workspace_id)
        return context_for(Scope(scoped, request, phone_region="US"))

    return GraphQLClient.in_process(schema, context_of, workspace, "alice", roles)


@pytest.fixture(params=["mongodb", "ferretdb"])
def store(request: pytest.FixtureRequest) -> FakeStore:
    return FakeStore(workarounds=request.param == "ferretdb")


@pytest.fixture
def admin(store: FakeStore) -> GraphQLClient:
    return caller(store, "w1", "admin")


@pytest.fixture
def rep(store: FakeStore) -> GraphQLClient:
    return caller(store, "w1", "rep")


@pytest.fixture
def viewer(store: FakeStore) -> GraphQLClient:
    return caller(store, "w1", "viewer")


@pytest.fixture
def other_workspace(store: FakeStore) -> GraphQLClient:
    return caller(store, "w2", "admin")


def error_of(body: dict[str, Any]) -> dict[str, Any]:
    assert body.get("errors"), f"expected an error, got {body}"
    first: dict[str, Any] = body["errors"][0]
    return first
