"""Helpers for tests of a service app: run its lifespan, call it over ASGI as the gateway
would, and poll for asynchronous outcomes with a deadline (never sleep a guess)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from typing import Any

import httpx
from nats.aio.client import Client
from starlette.applications import Starlette

from .assertions import KeyRing
from .context import RequestContext
from .graphql_http import ASSERTION_HEADER, GATEWAY_ISSUER, subgraph_audience


@functools.cache
def _gateway_keys() -> KeyRing:
    return KeyRing.from_env(GATEWAY_ISSUER)


class AsGateway(httpx.Auth):
    """Signs each request to a subgraph as the gateway does: an assertion for `service`,
    bound to the request's exact body (a GET's query string), acting for one user."""

    requires_request_body = True

    def __init__(self, service: str, context: RequestContext) -> None:
        self.audience = subgraph_audience(service)
        self.context = context

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        signed = request.url.query if request.method == "GET" else request.content
        request.headers[ASSERTION_HEADER] = _gateway_keys().mint(
            audience=self.audience, context=self.context, body=signed
        )
        yield request


def gateway_auth(
    service: str, workspace: str = "w1", subject: str = "alice", roles: str = "admin"
) -> AsGateway:
    return AsGateway(service, RequestContext(workspace, subject, frozenset(roles.split(","))))


# Bodies that are not GraphQL requests, with the content type sent and the parameter the
# 400 must name: every HTTP layer (the gateway, each subgraph) is tested against them all.
MALFORMED_REQUESTS: list[tuple[bytes, str, str]] = [
    (b"null", "application/json", "body"),
    (b"42", "application/json", "body"),
    (b'"{ __typename }"', "application/json", "body"),
    (b"true", "application/json", "body"),
    (b'[{"query": "{ __typename }"}]', "application/json", "body"),
    (b"{not json", "application/json", "body"),
    (b'{"query": "{ __typ', "application/json", "body"),
    (b"", "application/json", "body"),
    (b"\xff\xfe\x00", "application/json", "body"),
    (b"{}", "application/json", "query"),
    (b'{"query": 42}', "application/json", "query"),
    (b'{"query": ["{ __typename }"]}', "application/json", "query"),
    (
        b'{"query": "{ __typename }", "operationName": {"a": 1}}',
        "application/json",
        "operationName",
    ),
    (b'{"query": "{ __typename }", "operationName": 3}', "application/json", "operationName"),
    (b'{"query": "{ __typename }", "variables": "{}"}', "application/json", "variables"),
    (b'{"query": "{ __typename }", "variables": [1, 2]}', "application/json", "variables"),
    (b'{"query": "{ __typename }", "extensions": "x"}', "application/json", "extensions"),
    (b'{"query": "{ __typename }"}', "text/plain", "content-type"),
    (b"query=%7B__typename%7D", "application/x-www-form-urlencoded", "content-type"),
]


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
    """Posts operations as one user of one workspace (`auth`: `gateway_auth(...)`)."""

    def __init__(self, http: httpx.AsyncClient, auth: httpx.Auth, path: str = "/graphql"):
        self.http = http
        self.auth = auth
        self.path = path

    async def execute(self, query: str, variables: dict[str, Any] | None = None) -> dict:
        response = await self.http.post(
            self.path, json={"query": query, "variables": variables or {}}, auth=self.auth
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
