"""Unit-test helpers: the schema executed against the in-memory store."""

from __future__ import annotations

from typing import Any

import pytest

from crm_contacts.graphql.context import build_context
from crm_contacts.graphql.schema import schema
from crm_contacts.store.memory import MemoryContactsStore
from crm_kit.context import RequestContext
from crm_kit.errors import format_error


class Caller:
    """Executes operations as one user of one workspace, returning the HTTP-shaped body."""

    def __init__(self, store: MemoryContactsStore, workspace: str, roles: str) -> None:
        self.store = store
        self.request = RequestContext(workspace, "alice", frozenset(roles.split(",")))

    async def execute(self, query: str, variables: dict[str, Any] | None = None) -> dict:
        result = await schema.execute(
            query,
            variable_values=variables or {},
            context_value=build_context(self.store, self.request, phone_region="US"),
        )
        body: dict[str, Any] = {"data": result.data}
        if result.errors:
            body["errors"] = [format_error(e) for e in result.errors]
        return body

    async def data(self, query: str, variables: dict[str, Any] | None = None) -> dict:
        body = await self.execute(query, variables)
        assert not body.get("errors"), body["errors"]
        return body["data"]


@pytest.fixture
def store() -> MemoryContactsStore:
    return MemoryContactsStore()


@pytest.fixture
def admin(store: MemoryContactsStore) -> Caller:
    return Caller(store, "w1", "admin")


@pytest.fixture
def rep(store: MemoryContactsStore) -> Caller:
    return Caller(store, "w1", "rep")


@pytest.fixture
def viewer(store: MemoryContactsStore) -> Caller:
    return Caller(store, "w1", "viewer")


@pytest.fixture
def other_workspace(store: MemoryContactsStore) -> Caller:
    return Caller(store, "w2", "admin")


def error_of(body: dict) -> dict:
    assert body.get("errors"), f"expected an error, got {body}"
    return body["errors"][0]
