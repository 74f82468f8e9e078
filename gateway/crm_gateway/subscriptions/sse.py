"""GraphQL over Server-Sent Events, the "distinct connections" mode of the graphql-sse
protocol: a POST (or GET) to /graphql with `Accept: text/event-stream` answers with
`event: next` blocks (one GraphQL result each) and a final `event: complete`; a refusal
before the stream (bad document, limits, authentication) is a plain JSON answer with its
status. A comment line every GATEWAY_SUBSCRIPTION_HEARTBEAT_SECONDS keeps proxies from
closing an idle stream.

The token comes from the Authorization header; when it expires the stream ends with an
UNAUTHENTICATED error. A client that does not read (GATEWAY_SUBSCRIPTION_QUEUE results
waiting) gets SLOW_CONSUMER and the stream ends; a write blocked for
GATEWAY_SUBSCRIPTION_SEND_TIMEOUT drops the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from crm_gateway.subscriptions.registry import LiveRegistry
from crm_gateway.subscriptions.session import Operation, Result, until_expiry
from crm_gateway.subscriptions.ws import slow_consumer_error
from crm_kit.sse import COMPLETE, next_event

HEARTBEAT = b": keep-alive\n\n"
_END: Any = object()


def restarting_error() -> dict[str, Any]:
    return {
        "message": "The gateway is restarting; subscribe again.",
        "extensions": {"code": "SERVICE_UNAVAILABLE", "retryable": True},
    }


class EventStream(Response):
    """The ASGI response that runs one operation as an event stream."""

    def __init__(
        self,
        operation: Operation,
        registry: LiveRegistry,
        key: str,
        expires_at: float | None,
        headers: dict[str, str],
    ) -> None:
        super().__init__(status_code=200)
        # No content-length: the body is a stream.
        self.raw_headers = [
            *((k.lower().encode(), v.encode()) for k, v in headers.items()),
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-cache"),
            (b"x-accel-buffering", b"no"),
        ]
        self.operation = operation
        self.registry = registry
        self.key = key
        self.expires_at = expires_at

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        settings = self.registry.settings
        queue: asyncio.Queue[Any] = asyncio.Queue()
        producer = asyncio.ensure_future(self._produce(queue, settings.subscription_queue))
        forget = self.registry.on_stop(lambda: queue.put_nowait({"errors": [restarting_error()]}))
        disconnected = asyncio.ensure_future(_disconnect(receive))
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            await self._write(send, queue, disconnected)
        finally:
            forget()
            producer.cancel()
            disconnected.cancel()
            with contextlib.suppress(BaseException):
                await producer
            if self.operation.subscription:
                self.registry.release(self.key)

    async def _produce(self, queue: asyncio.Queue[Any], limit: int) -> None:
        try:
            async for result in until_expiry(self.operation.results(), self.expires_at):
                if queue.qsize() >= limit:
                    queue.put_nowait({"errors": [slow_consumer_error(limit)]})
                    return
                queue.put_nowait(result)
        finally:
            queue.put_nowait(_END)

    async def _write(
        self, send: Send, queue: asyncio.Queue[Any], disconnected: asyncio.Future[None]
    ) -> None:
        settings = self.registry.settings
        while True:
            getting = asyncio.ensure_future(queue.get())
            done, _ = await asyncio.wait(
                {getting, disconnected},
                timeout=settings.subscription_heartbeat_seconds,
                return_when="FIRST_COMPLETED",
            )
            if disconnected in done:
                getting.cancel()
                return
            if getting not in done:
                getting.cancel()
                chunk = HEARTBEAT
                last = False
            else:
                item: Result | Any = getting.result()
                last = item is _END or "data" not in item
                chunk = b"" if item is _END else next_event(item)
                if last:
                    chunk += COMPLETE
            try:
                await asyncio.wait_for(
                    send({"type": "http.response.body", "body": chunk, "more_body": not last}),
                    settings.subscription_send_timeout,
                )
            except (TimeoutError, OSError):
                return  # a client that does not read: drop it
            if last:
                return


async def _disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
