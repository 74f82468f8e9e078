"""Helpers for tests of a service: run an app's lifespan and call it over ASGI, call a
schema in process, make tokens, set the time, poll for asynchronous outcomes with a
deadline (never sleep a guess), and read what a stream holds.

One GraphQL client for every layer: `GraphQLClient(http, gateway_auth("<svc>", ...))` posts
to a subgraph (over ASGI or a real port) signed as the gateway signs, the only way in;
`GraphQLClient(http, auth_headers(...))` posts to the gateway with a bearer token;
`GraphQLClient.in_process(schema, context_of, ...)` executes the schema directly (unit
tests). All answer with the HTTP-shaped body.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from nats.aio.client import Client
from pymongo import monitoring
from starlette.applications import Starlette
from strawberry import Schema

from crm_contracts.envelope import HEADER_WORKSPACE, CloudEvent

from .assertions import KeyRing, idempotency_binding
from .auth import issue_token
from .context import RequestContext
from .errors import format_error
from .graphql_http import ASSERTION_HEADER, GATEWAY_ISSUER, subgraph_audience
from .idempotency import HEADER as IDEMPOTENCY_HEADER
from .idempotency import STEP_HEADER

Body = dict[str, Any]
Send = Callable[[str, dict[str, Any]], Awaitable[Body]]


def auth_headers(
    workspace: str = "w1", subject: str = "alice", roles: str = "admin"
) -> dict[str, str]:
    """A bearer token for the gateway (a subgraph refuses it: see `gateway_auth`)."""
    token = issue_token(workspace, subject, roles.split(","))
    return {"Authorization": f"Bearer {token}"}


@functools.cache
def _gateway_keys() -> KeyRing:
    return KeyRing.from_env(GATEWAY_ISSUER)


class AsGateway(httpx.Auth):
    """Signs each request to a subgraph as the gateway does: an assertion for `service`,
    bound to the request's exact body (a GET's query string), acting for one user."""

    requires_request_body = True

    def __init__(self, service: str, context: RequestContext) -> None:
        self.service = service
        self.context = context

    def for_user(self, workspace: str, subject: str, roles: str) -> AsGateway:
        return AsGateway(
            self.service, RequestContext(workspace, subject, frozenset(roles.split(",")))
        )

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        signed = request.url.query if request.method == "GET" else request.content
        request.headers[ASSERTION_HEADER] = self.assertion(
            signed, request.headers.get(IDEMPOTENCY_HEADER), request.headers.get(STEP_HEADER)
        )
        yield request

    def assertion(
        self, signed: bytes, idempotency_key: str | None = None, step: str | None = None
    ) -> str:
        """The assertion header's value for a POST of `signed` (or a GET's query string),
        for clients that build their requests without httpx (the load benchmark)."""
        return _gateway_keys().mint(
            audience=subgraph_audience(self.service),
            context=self.context,
            body=signed,
            idempotency=idempotency_binding(idempotency_key, step),
        )


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
    (b'{"query": "{ __typename }", "operationName": {}}', "application/json", "operationName"),
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


class Clock:
    """A clock a test sets and moves (`crm_kit.clock.Clock`: call it for now)."""

    def __init__(self, now: datetime = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class GraphQLClient:
    """Runs operations as one user of one workspace: `credentials` is `gateway_auth(...)`
    for a subgraph, `auth_headers(...)` for the gateway."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        credentials: AsGateway | dict[str, str],
        path: str = "/graphql",
    ) -> None:
        self.http = http
        self.credentials = credentials
        self.path = path
        # Extra headers sent with every request (`keyed`).
        self.headers: dict[str, str] = {}
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
        if isinstance(self.credentials, AsGateway):
            return GraphQLClient(
                self.http, self.credentials.for_user(workspace, subject, roles), self.path
            )
        return GraphQLClient(self.http, auth_headers(workspace, subject, roles), self.path)

    @property
    def auth(self) -> AsGateway | None:
        return self.credentials if isinstance(self.credentials, AsGateway) else None

    async def _post(self, query: str, variables: dict[str, Any]) -> Body:
        payload = {"query": query, "variables": variables}
        if isinstance(self.credentials, AsGateway):
            response = await self.http.post(
                self.path, json=payload, auth=self.credentials, headers=self.headers
            )
        else:
            response = await self.http.post(
                self.path, json=payload, headers={**self.credentials, **self.headers}
            )
        body: Body = response.json()
        return body

    def keyed(self, key: str) -> GraphQLClient:
        """The same client sending `Idempotency-Key: key` with every request."""
        client = GraphQLClient(self.http, self.credentials, self.path)
        client.headers = {**self.headers, "idempotency-key": key}
        return client

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


async def stream_events(
    nc: Client, subjects: str, stream: str, workspace: str | None = None
) -> list[tuple[CloudEvent, dict[str, str]]]:
    """Every event on `subjects` now in `stream` (of `workspace`, when given), with its
    headers: an ordered consumer from the start, drained until quiet."""
    from nats.errors import TimeoutError as NatsTimeout

    sub = await nc.jetstream().subscribe(subjects, stream=stream, ordered_consumer=True)
    found: list[tuple[CloudEvent, dict[str, str]]] = []
    try:
        while True:
            try:
                message = await sub.next_msg(timeout=0.5)
            except (NatsTimeout, TimeoutError):
                break
            headers = message.headers or {}
            if workspace is None or headers.get(HEADER_WORKSPACE) == workspace:
                found.append((CloudEvent.from_json(message.data), headers))
    finally:
        await sub.unsubscribe()
    return found


class CommandsSent(monitoring.CommandListener):
    """The `(command, collection)` of each command of these names a client starts, in
    order: a test counts the statements a piece of code sends (pass it to the client's
    `event_listeners`)."""

    def __init__(self, *names: str) -> None:
        self.names = frozenset(names)
        self.sent: list[tuple[str, str]] = []

    def of(self, name: str) -> list[str]:
        """The collections of the commands of this name, in order."""
        return [collection for command, collection in self.sent if command == name]

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name in self.names:
            self.sent.append((event.command_name, str(event.command[event.command_name])))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        return None

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        return None


# A test's call waits as long as an import's batch may (`IMPORT_SINK_TIMEOUT_SECONDS`'s
# order): the first call to a service just started, on a loaded machine, took more than
# the 2 s default of `rpc_call` in CI (a deals import batch, its indexes still loading).
CLI_CALL_TIMEOUT = 30.0


async def cli_call(
    nc: Client, subject: str, workspace: str, payload: dict[str, Any], *roles: str
) -> Any:
    """Call a NATS endpoint as the operators' tool (`cli`) for `service:cli` in `workspace`
    with `roles` (default: viewer), as tests and scripts do (`crm_kit.rpc.rpc_call`)."""
    from .assertions import KeyRing
    from .rpc import rpc_call, service_context

    caller = service_context("cli", workspace, *(roles or ("viewer",)))
    return await rpc_call(
        nc, subject, caller, payload, keys=KeyRing.from_env("cli"), timeout=CLI_CALL_TIMEOUT
    )


@contextlib.asynccontextmanager
async def reference_standins(
    nc: Client, missing: set[str], *, deals: bool = True, contacts: bool = True
) -> AsyncIterator[set[str]]:
    """Stand-ins for the answers other services give on the ids a record names (with
    `contacts`, the contacts service's `records.check`; with `deals`, the deals service's
    `deal.get`: each not where that service itself runs), for tests that run a service
    without them: every id exists except those in `missing` (which the test may change
    meanwhile)."""
    from crm_contracts.contacts import RPC_RECORDS_CHECK
    from crm_contracts.deals import RPC_DEAL_GET

    from .rpc import READ, Endpoint, RpcError, start_rpc_service

    async def deal_get(caller: RequestContext, payload: dict[str, Any]) -> dict[str, Any]:
        if payload["id"] in missing:
            raise RpcError("NOT_FOUND", f"no deal {payload['id']}")
        return {"id": payload["id"]}

    async def check(caller: RequestContext, payload: dict[str, Any]) -> dict[str, list[str]]:
        return {
            "missingContactIds": [i for i in payload["contactIds"] if i in missing],
            "missingCompanyIds": [i for i in payload["companyIds"] if i in missing],
        }

    standins = [
        await start_rpc_service(
            nc,
            service=f"{party}-standin",
            version="0.0.1",
            description=f"stand-in for {party}",
            endpoints=[Endpoint(f"{party}-standin", subject, handler, "ids", roles=READ)],
            keys=KeyRing.from_env(party),
        )
        for party, subject, handler in (
            *((("deals", RPC_DEAL_GET, deal_get),) if deals else ()),
            *((("contacts", RPC_RECORDS_CHECK, check),) if contacts else ()),
        )
    ]
    try:
        yield missing
    finally:
        for standin in standins:
            await standin.stop()
