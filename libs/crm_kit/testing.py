"""Helpers for tests of a service: run an app's lifespan and call it over ASGI, call a
schema in process, make tokens, set the time, and poll for asynchronous outcomes with a
deadline (never sleep a guess).

One GraphQL client for every layer: `GraphQLClient(http, headers)` posts to an app (over
ASGI or a real port), `GraphQLClient.in_process(schema, context_of, ...)` executes the
schema directly (unit tests), and both answer with the HTTP-shaped body.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from nats.aio.client import Client
from starlette.applications import Starlette
from strawberry import Schema

from .auth import issue_token
from .context import RequestContext
from .errors import format_error

Body = dict[str, Any]
Send = Callable[[str, dict[str, Any]], Awaitable[Body]]


def auth_headers(
    workspace: str = "w1", subject: str = "alice", roles: str = "admin"
) -> dict[str, str]:
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


class Clock:
    """A clock a test sets and moves (`crm_kit.clock.Clock`: call it for now)."""

    def __init__(self, now: datetime = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class GraphQLClient:
    """Runs operations as one user of one workspace."""

    def __init__(
        self, http: httpx.AsyncClient, headers: dict[str, str], path: str = "/graphql"
    ) -> None:
        self.http = http
        self.headers = headers
        self.path = path
        self._send: Send = self._post
        self._as_user: Callable[[str, str, str], GraphQLClient] = self._http_user

    @classmethod
    def in_process(
        cls,
        schema: Schema,
        context_of: Callable[[RequestContext], Any],
        workspace: str = "w1",
        subject: str = "alice",
        roles: str = "admin",
    ) -> GraphQLClient:
        """A client that executes `schema` directly, with the context `context_of(caller)`
        builds for a request of that caller (a fresh one per operation, as per request)."""
        caller = RequestContext(workspace, subject, frozenset(roles.split(",")))

        async def send(query: str, variables: dict[str, Any]) -> Body:
            result = await schema.execute(
                query, variable_values=variables, context_value=context_of(caller)
            )
            body: Body = {"data": result.data}
            if result.errors:
                body["errors"] = [format_error(error) for error in result.errors]
            return body

        client = cls.__new__(cls)
        client._send = send
        client._as_user = lambda w, s, r: cls.in_process(schema, context_of, w, s, r)
        return client

    def as_user(
        self, workspace: str = "w1", subject: str = "alice", roles: str = "admin"
    ) -> GraphQLClient:
        """The same service, called by another user (`roles` comma-separated)."""
        return self._as_user(workspace, subject, roles)

    def _http_user(self, workspace: str, subject: str, roles: str) -> GraphQLClient:
        return GraphQLClient(self.http, auth_headers(workspace, subject, roles), self.path)

    async def _post(self, query: str, variables: dict[str, Any]) -> Body:
        response = await self.http.post(
            self.path, json={"query": query, "variables": variables}, headers=self.headers
        )
        body: Body = response.json()
        return body

    async def execute(self, query: str, variables: dict[str, Any] | None = None) -> Body:
        return await self._send(query, variables or {})

    async def data(self, query: str, variables: dict[str, Any] | None = None) -> Body:
        """Execute and fail loudly on any error."""
        body = await self.execute(query, variables)
        if body.get("errors"):
            raise AssertionError(f"GraphQL errors: {body['errors']}")
        data: Body = body["data"]
        return data

    async def error(self, query: str, variables: dict[str, Any] | None = None) -> Body:
        """Execute, expecting an error: the first one."""
        body = await self.execute(query, variables)
        if not body.get("errors"):
            raise AssertionError(f"expected an error, got {body.get('data')}")
        first: Body = body["errors"][0]
        return first


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
