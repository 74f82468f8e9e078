"""The subgraph gate's part in idempotency keys (`crm_kit.idempotency`): a mutation request
with an `Idempotency-Key` header is answered from its key's stored response, refused, or
run inside its keyed operation with its response captured, stored, then sent.

Queries ignore the header. Refusals are request-level GraphQL errors naming the header:
BAD_USER_INPUT (400: the key out of bounds), CONFLICT (409: the key was used for another
request), IDEMPOTENCY_KEY_IN_USE (409, `retryable`, `Retry-After`: the key's first request
is still running), SERVICE_UNAVAILABLE (503, `retryable`: the database cannot say).
A response whose errors say the service failed (INTERNAL_SERVER_ERROR,
SERVICE_UNAVAILABLE) is not stored: the key is released, and its next request runs the
mutation again, completing what the failed attempt began.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from pymongo.errors import ConnectionFailure
from starlette.responses import Response
from starlette.types import Message, Send

from . import metrics
from .context import RequestContext
from .faults import BEFORE_STORING_RESULT, kill_point
from .graphql_request import GraphQLRequest, RequestError
from .idempotency import (
    HEADER,
    STEP_HEADER,
    Attempt,
    IdempotencyKeys,
    KeyInUse,
    KeyRefused,
    KeyReused,
    StoredResponse,
    checked_key,
    checked_step,
    request_fingerprint,
)
from .operation import operation_bound

log = logging.getLogger(__name__)

# Sent with a stored response (as payment APIs do), so a client can tell a repeat.
REPLAYED_HEADER = "idempotent-replayed"
# Error codes that say the service failed, not the request: the key is released.
FAILURE_CODES = frozenset({"INTERNAL_SERVER_ERROR", "SERVICE_UNAVAILABLE"})
RETRY_AFTER_SECONDS = 1


class KeyedRefusal(RequestError):
    """A refusal before the mutation runs, with `retryable` when repeating is the fix."""

    def __init__(
        self, message: str, *, status: int, code: str, retryable: bool | None = None
    ) -> None:
        super().__init__(message, status=status, code=code, field=HEADER)
        self.retryable = retryable
        self.headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if retryable else {}

    def error(self) -> dict[str, Any]:
        error = super().error()
        if self.retryable is not None:
            error["extensions"]["retryable"] = self.retryable
        return error


async def begin(
    keys: IdempotencyKeys,
    headers: Mapping[str, str],
    caller: RequestContext,
    gql: GraphQLRequest,
) -> Attempt | StoredResponse:
    """The attempt to run, or the stored response; raises `KeyedRefusal`."""
    try:
        key = checked_key(headers[HEADER])
        step = checked_step(headers.get(STEP_HEADER))
    except KeyRefused as refused:
        raise KeyedRefusal(str(refused), status=400, code="BAD_USER_INPUT") from None
    fingerprint = request_fingerprint(gql.query, gql.operation_name, gql.variables)
    try:
        return await keys.begin(caller, key, step, fingerprint)
    except KeyReused as reused:
        raise KeyedRefusal(str(reused), status=409, code="CONFLICT") from None
    except KeyInUse as busy:
        raise KeyedRefusal(
            str(busy), status=409, code="IDEMPOTENCY_KEY_IN_USE", retryable=True
        ) from None
    except ConnectionFailure:
        raise KeyedRefusal(
            "The database is unavailable; retry shortly.",
            status=503,
            code="SERVICE_UNAVAILABLE",
            retryable=True,
        ) from None


def replay(stored: StoredResponse) -> Response:
    return Response(
        stored.body,
        stored.status,
        headers={REPLAYED_HEADER: "true"},
        media_type=stored.content_type,
    )


class CapturedResponse:
    """An ASGI `send` that keeps the response, to be stored before it goes out."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def send(self, message: Message) -> None:
        self.messages.append(message)

    def stored(self) -> StoredResponse:
        status, content_type, body = 200, "application/json", b""
        for message in self.messages:
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", []):
                    if name.lower() == b"content-type":
                        content_type = value.decode("latin-1")
            elif message["type"] == "http.response.body":
                body += message.get("body", b"")
        return StoredResponse(status, content_type, body)

    async def send_to(self, send: Send) -> None:
        for message in self.messages:
            await send(message)


async def run(
    keys: IdempotencyKeys,
    attempt: Attempt,
    execute: Callable[[Send], Awaitable[None]],
    error_codes: Callable[[], Iterable[str]],
    send: Send,
    service: str,
) -> None:
    """Run the mutation in the attempt's operation, keep or release the key, answer."""
    captured = CapturedResponse()
    async with keys.heartbeat(attempt):
        with operation_bound(attempt.operation):
            await execute(captured.send)
    response = captured.stored()
    kill_point(BEFORE_STORING_RESULT, attempt.key)
    failed = response.status >= 500 or bool(FAILURE_CODES.intersection(error_codes()))
    try:
        if failed:
            await keys.release(attempt)
        else:
            await keys.finish(attempt, response)
    except Exception:  # the database went away: the attempt is taken over once silent
        log.warning("idempotency key outcome not stored", exc_info=True)
    metrics.IDEMPOTENT_MUTATIONS.labels(service, "released" if failed else "stored").inc()
    await captured.send_to(send)
