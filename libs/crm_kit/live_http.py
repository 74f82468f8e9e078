"""Subscriptions at a subgraph, for the gateway only: GraphQL over Server-Sent Events in the
"distinct connections" mode of the graphql-sse protocol (the default subgraph transport of
Hive Gateway too), behind the same gate as every other request.

The gateway POSTs the subscription with `Accept: text/event-stream` and its internal
assertion over the exact body, as for a query (`crm_kit.graphql_http`); the answer is a
stream of `event: next` (one GraphQL result each) ending with `event: complete`. What this
transport adds, for resuming:

- every `next` carries `id: <position>`, the stream sequence of the event it is about; an
  idle stream sends `id: <position>` in a comment-only block every `HEARTBEAT_SECONDS`
  (nothing to deliver up to there), which also tells the gateway the stream is alive;
- the request's `extensions.resumeAfter` (a position) resumes after it;
- the stream ends when the assertion that opened it expires (a final `next` with the error
  code `ASSERTION_EXPIRED`): the gateway opens it again with a fresh one, resuming after
  the last position it got. So the caller's identity is re-checked at least once per
  assertion lifetime.

A subscription that cannot go on ends with a final `next` carrying the error
(`SLOW_SUBSCRIBER`, `RESUME_FAILED`, `EVENTS_MISSED`, ...) and `complete`. Each event runs
the subscription's selection with a fresh GraphQL context (fresh DataLoaders), so no result
is served from what an earlier event cached.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    execute,
    parse,
    validate,
)
from graphql.execution import ExecutionResult, create_source_event_stream
from graphql.execution.execute import Executor
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from .context import RequestContext, bind_request
from .errors import format_error
from .graphql_request import GraphQLRequest, RequestError
from .live import LiveError, LiveHub, LiveSession, bind_session
from .sse import COMPLETE, heartbeat, next_event

log = logging.getLogger(__name__)

EVENT_STREAM = "text/event-stream"
HEARTBEAT_SECONDS = 15.0
RESUME_EXTENSION = "resumeAfter"
ASSERTION_EXPIRED = "ASSERTION_EXPIRED"

LiveSource = Callable[[], LiveHub | None]
ContextOf = Callable[[RequestContext, Request], Any]


def wants_event_stream(accept: str | None) -> bool:
    return EVENT_STREAM in (accept or "").lower()


def _json_response(status: int, errors: list[dict[str, Any]]) -> tuple[int, bytes]:
    return status, orjson.dumps({"errors": errors})


def _error(message: str, code: str) -> dict[str, Any]:
    return {"message": message, "extensions": {"code": code}}


class LiveSubscriptions:
    """Serves subscription requests that passed the gate (see the module docstring)."""

    def __init__(
        self,
        schema: GraphQLSchema,
        context_of: ContextOf,
        live: LiveSource,
        *,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
    ) -> None:
        self._schema = schema
        self._context_of = context_of
        self._live = live
        self._heartbeat = heartbeat_seconds
        self._prepare = functools.lru_cache(maxsize=256)(self._parse_and_validate)

    def _parse_and_validate(self, query: str) -> tuple[DocumentNode | None, list[GraphQLError]]:
        try:
            document = parse(query)
        except GraphQLError as error:
            return None, [error]
        errors = validate(self._schema, document)
        return (document, []) if not errors else (None, list(errors))

    async def serve(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        *,
        caller: RequestContext,
        gql: GraphQLRequest,
        expires_at: float,
    ) -> None:
        request = Request(scope, receive)
        try:
            stream = await self._open(request, caller, gql)
        except RequestError as error:
            await _respond(send, error.status, orjson.dumps({"errors": [error.error()]}))
            return
        if isinstance(stream, tuple):
            await _respond(send, *stream)
            return
        await stream.run(send, receive, expires_at)

    async def _open(
        self, request: Request, caller: RequestContext, gql: GraphQLRequest
    ) -> _Stream | tuple[int, bytes]:
        document, errors = self._prepare(gql.query or "")
        if document is None:
            return _json_response(400, [format_error(e, "subscription") for e in errors])
        resume_after = _resume_position(gql.extensions)
        hub = self._live()
        if hub is None:
            return _json_response(
                503, [_error("Live events are not available here.", "SERVICE_UNAVAILABLE")]
            )
        try:
            await hub.ensure_started()
        except Exception:  # NATS down or the stream missing: say so, retryably
            log.warning("live events could not start", exc_info=True)
            error = _error("Live events are unavailable; retry shortly.", "SERVICE_UNAVAILABLE")
            error["extensions"]["retryable"] = True
            return _json_response(503, [error])
        session = LiveSession(hub, caller, resume_after)
        context_of = functools.partial(_context, self._context_of, caller, request)
        session.new_context = context_of
        bind_session(session)
        bind_request(caller)
        executor = Executor.build(
            self._schema, document, None, await context_of(), gql.variables, gql.operation_name
        )
        if isinstance(executor, list):
            formatted = [format_error(e, "subscription") for e in executor]
            return _json_response(400, formatted)
        source = create_source_event_stream(executor)
        if inspect.isawaitable(source):
            source = await source
        stream = _Stream(self, session, document, gql, context_of, source)
        return stream


async def _context(context_of: ContextOf, caller: RequestContext, request: Request) -> Any:
    """A fresh GraphQL context (fresh loaders) for one execution."""
    made = context_of(caller, request)
    return await made if inspect.isawaitable(made) else made


def _resume_position(extensions: dict[str, Any] | None) -> int | None:
    value = (extensions or {}).get(RESUME_EXTENSION)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise RequestError(
            "extensions.resumeAfter must be a stream position (an integer >= 0).",
            field=f"extensions.{RESUME_EXTENSION}",
        )
    return value


async def _respond(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


class _Stream:
    """One open subscription: results as they come, heartbeats, the assertion's end."""

    _pending: asyncio.Future[Any]  # the source's next item

    def __init__(
        self,
        owner: LiveSubscriptions,
        session: LiveSession,
        document: DocumentNode,
        gql: GraphQLRequest,
        context_of: Callable[[], Awaitable[Any]],
        source: AsyncIterable[Any] | ExecutionResult,
    ) -> None:
        self.owner = owner
        self.session = session
        self.document = document
        self.gql = gql
        self.context_of = context_of
        self.source = source
        self.root_key = _root_key(document, gql.operation_name)

    async def run(self, send: Send, receive: Receive, expires_at: float) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream; charset=utf-8"),
                    (b"cache-control", b"no-cache"),
                    (b"x-accel-buffering", b"no"),
                ],
            }
        )
        if isinstance(self.source, ExecutionResult):  # refused when subscribing (FORBIDDEN...)
            await self._finish(send, self._result(self.source))
            return
        source = aiter(self.source)
        self._pending = asyncio.ensure_future(_next(source))
        disconnected = asyncio.ensure_future(_disconnect(receive))
        attached = asyncio.ensure_future(self.session.attached.wait())
        try:
            # Headers go first, then nothing until the subscriber is registered (or the
            # subscription failed): the gateway counts an upstream as open from here.
            await asyncio.wait(
                {self._pending, attached, disconnected},
                timeout=self.owner._heartbeat,
                return_when="FIRST_COMPLETED",
            )
            # The position it starts from: the client may resume after it from here on.
            opened = heartbeat(self.session.safe_position())
            await send({"type": "http.response.body", "body": opened, "more_body": True})
            await self._loop(send, source, disconnected, expires_at)
        except OSError:
            pass  # the gateway went away mid-write: nothing left to tell it
        finally:
            attached.cancel()
            disconnected.cancel()
            pending = self._pending
            if not pending.done():
                pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
            closer = getattr(source, "aclose", None)
            if closer is not None:
                with contextlib.suppress(Exception):
                    await closer()
            self.session.close()
            bind_session(None)

    async def _loop(
        self,
        send: Send,
        source: AsyncIterator[Any],
        disconnected: asyncio.Future[None],
        expires_at: float,
    ) -> None:
        interval = self.owner._heartbeat
        while True:
            pending = self._pending
            left = expires_at - time.time()
            if left <= 0:
                error = _error(
                    "The gateway's assertion for this subscription expired; resume with a "
                    "fresh one.",
                    ASSERTION_EXPIRED,
                )
                await self._finish(send, {"errors": [error]})
                return
            done, _ = await asyncio.wait(
                {pending, disconnected}, timeout=min(interval, left), return_when="FIRST_COMPLETED"
            )
            if disconnected in done:
                return
            if pending not in done:
                chunk = heartbeat(self.session.safe_position())
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                continue
            try:
                item = pending.result()
            except StopAsyncIteration:
                await send({"type": "http.response.body", "body": COMPLETE})
                return
            except LiveError as error:
                await self._finish(send, {"errors": [_error(error.message, error.code)]})
                return
            except Exception as error:  # noqa: BLE001 - the resolver refused or failed: end
                if not isinstance(error, GraphQLError):
                    # A CRMError keeps its code; anything else is logged and said generically.
                    error = GraphQLError(str(error), original_error=error, path=[self.root_key])
                await self._finish(send, {"errors": [format_error(error, "subscription")]})
                return
            result = await self._execute(item)
            chunk = next_event(result, self.session.current)
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            self._pending = asyncio.ensure_future(_next(source))

    async def _execute(self, item: Any) -> dict[str, Any]:
        outcome = execute(
            self.owner._schema,
            self.document,
            root_value=item,
            context_value=await self.context_of(),
            variable_values=self.gql.variables,
            operation_name=self.gql.operation_name,
        )
        if inspect.isawaitable(outcome):
            outcome = await outcome
        assert isinstance(outcome, ExecutionResult)
        return self._result(outcome)

    @staticmethod
    def _result(outcome: ExecutionResult) -> dict[str, Any]:
        result: dict[str, Any] = {"data": outcome.data}
        if outcome.errors:
            result["errors"] = [format_error(e, "subscription") for e in outcome.errors]
        return result

    @staticmethod
    async def _finish(send: Send, result: dict[str, Any]) -> None:
        await send(
            {"type": "http.response.body", "body": next_event(result, None), "more_body": True}
        )
        await send({"type": "http.response.body", "body": COMPLETE})


def _root_key(document: DocumentNode, operation_name: str | None) -> str:
    """The response key of the subscription's one root field (for error paths)."""
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode) and (
            operation_name is None or (definition.name and definition.name.value == operation_name)
        ):
            for selection in definition.selection_set.selections:
                if isinstance(selection, FieldNode):
                    return (selection.alias or selection.name).value
    return "subscription"


async def _next(source: AsyncIterator[Any]) -> Any:
    return await source.__anext__()


async def _disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


__all__ = [
    "ASSERTION_EXPIRED",
    "EVENT_STREAM",
    "LiveSubscriptions",
    "wants_event_stream",
]
