"""Helpers for tests of a service app: run its lifespan, call it over ASGI, make tokens,
and poll for asynchronous outcomes with a deadline (never sleep a guess)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
from nats.aio.client import Client
from starlette.applications import Starlette

from .auth import issue_token


def auth_headers(workspace: str = "w1", subject: str = "alice", roles: str = "admin") -> dict:
    token = issue_token(workspace, subject, roles.split(","))
    return {"Authorization": f"Bearer {token}"}


@contextlib.asynccontextmanager
async def running_app(
    app: Starlette, base_url: str = "http://test"
) -> AsyncIterator[httpx.AsyncClient]:
    """Start the app's lifespan (Mongo, NATS, consumers...) and yield a client bound to it."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            yield client


class GraphQLClient:
    """Posts operations as one user of one workspace."""

    def __init__(self, http: httpx.AsyncClient, headers: dict[str, str], path: str = "/graphql"):
        self.http = http
        self.headers = headers
        self.path = path

    async def execute(self, query: str, variables: dict[str, Any] | None = None) -> dict:
        response = await self.http.post(
            self.path, json={"query": query, "variables": variables or {}}, headers=self.headers
        )
        return response.json()

    async def data(self, query: str, variables: dict[str, Any] | None = None) -> dict:
        """Execute and fail loudly on any error."""
        body = await self.execute(query, variables)
        if body.get("errors"):
            raise AssertionError(f"GraphQL errors: {body['errors']}")
        return body["data"]


async def eventually(
    probe: Callable[[], Awaitable[Any]],
    timeout: float = 10.0,
    interval: float = 0.05,
    what: str = "condition",
) -> Any:
    """Poll `probe` until it returns something truthy; return it, or fail at the deadline."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"{what} not met within {timeout}s (last value: {last!r})")


async def cli_call(
    nc: Client, subject: str, workspace: str, payload: dict[str, Any], *roles: str
) -> Any:
    """Call a NATS endpoint as the operators' tool (`cli`) for `service:cli` in `workspace`
    with `roles` (default: viewer), as tests and scripts do (`crm_kit.rpc.rpc_call`)."""
    from .assertions import KeyRing
    from .rpc import rpc_call, service_context

    caller = service_context("cli", workspace, *(roles or ("viewer",)))
    return await rpc_call(nc, subject, caller, payload, keys=KeyRing.from_env("cli"))
