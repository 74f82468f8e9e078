"""GraphQL over WebSocket, the `graphql-transport-ws` protocol (the `graphql-ws` library's):
`connection_init` (with the bearer token) -> `connection_ack`; `subscribe` -> `next`... ->
`complete`, or `error`; `ping`/`pong`; the client's `complete` ends one subscription.

Authentication is at `connection_init` (its payload's `authorization: "Bearer <token>"`,
else the upgrade request's Authorization header); when the token expires every
subscription gets an UNAUTHENTICATED `error` and the socket closes with 4403, so the client
reconnects with a fresh token. Close codes are the protocol's: 4400 bad message, 4401
subscribe before the acknowledgement, 4403 forbidden, 4406 wrong subprotocol, 4408 no
`connection_init` in time, 4409 a duplicate id, 4429 a second `connection_init`; 1008 a
client that does not read (a write blocked longer than GATEWAY_SUBSCRIPTION_SEND_TIMEOUT);
1012 the gateway is restarting.

Each subscription may have GATEWAY_SUBSCRIPTION_QUEUE results waiting to be written; one
more and it ends with SLOW_CONSUMER instead of growing the gateway's memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect

from crm_gateway.gateway import Gateway, GatewayRequest, GatewayResponse
from crm_gateway.subscriptions.registry import LimitReached, LiveRegistry
from crm_gateway.subscriptions.session import (
    Operation,
    caller_key,
    expired_error,
    prepare,
    seconds_left,
)
from crm_kit.context import RequestContext

log = logging.getLogger("crm_gateway")

PROTOCOL = "graphql-transport-ws"
# (caller, token expiry) from a token, or an exception with a `message` when it is refused.
Authenticate = Callable[[str | None], tuple[RequestContext | None, float | None]]
# A refusal (an error dict) when the caller is over its rate, else None.
RateCheck = Callable[[RequestContext | None], dict[str, Any] | None]
# Whether a client address may connect now (its rate, its bad-token back-off).
AddressCheck = Callable[[str], bool]
Headers = Callable[[], dict[str, str]]


def slow_consumer_error(limit: int) -> dict[str, Any]:
    return {
        "message": f"More than {limit} results waited for this client; subscription ended.",
        "extensions": {"code": "SLOW_CONSUMER"},
    }


class WebSocketEndpoint:
    def __init__(
        self,
        gateway: Gateway,
        registry: LiveRegistry,
        authenticate: Authenticate,
        rate: RateCheck,
        forward_headers: Callable[[WebSocket], dict[str, str]],
        max_message_bytes: int,
        address_allowed: AddressCheck = lambda _: True,
        token_refused: Callable[[str], None] = lambda _: None,
    ) -> None:
        self.address_allowed = address_allowed
        self.token_refused = token_refused
        self.gateway = gateway
        self.registry = registry
        self.authenticate = authenticate
        self.rate = rate
        self.forward_headers = forward_headers
        self.max_message_bytes = max_message_bytes

    async def __call__(self, websocket: WebSocket) -> None:
        offered = websocket.scope.get("subprotocols") or []
        if PROTOCOL not in offered:
            await websocket.accept()
            await websocket.close(4406, "Subprotocol not acceptable")
            return
        await websocket.accept(subprotocol=PROTOCOL)
        address = websocket.client.host if websocket.client else "unknown"
        if not self.address_allowed(address):
            await websocket.close(1013, "Try again later: rate limit or too many bad tokens")
            return
        connection = _Connection(self, websocket)
        forget = self.registry.on_stop(connection.stop)
        try:
            await connection.run()
        finally:
            forget()
            await connection.end()


class _Connection:
    def __init__(self, endpoint: WebSocketEndpoint, websocket: WebSocket) -> None:
        self.endpoint = endpoint
        self.ws = websocket
        self.settings = endpoint.registry.settings
        self.caller: RequestContext | None = None
        self.expires_at: float | None = None
        self.acknowledged = False
        self.initialised = False
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.waiting: dict[str, int] = {}  # results queued, not yet written, per subscription
        self.out: asyncio.Queue[tuple[str | None, bytes]] = asyncio.Queue()
        self.writer: asyncio.Task[None] | None = None
        self.expiry: asyncio.Task[None] | None = None
        self.closed = False
        self.stopping: asyncio.Future[None] | None = None

    async def run(self) -> None:
        self.writer = asyncio.ensure_future(self._write())
        try:
            first = await asyncio.wait_for(self._receive(), self.settings.subscription_init_timeout)
        except TimeoutError:
            await self.close(4408, "Connection initialisation timeout")
            return
        if first is None:
            return
        await self._handle(first)
        while not self.closed:
            message = await self._receive()
            if message is None:
                return
            await self._handle(message)

    async def _receive(self) -> dict[str, Any] | None:
        try:
            frame = await self.ws.receive()
        except (WebSocketDisconnect, RuntimeError):
            self.closed = True
            return None
        if frame["type"] == "websocket.disconnect":
            self.closed = True
            return None
        text = frame.get("text")
        if text is None:  # a binary frame: the protocol speaks text
            await self.close(4400, "Invalid message")
            return None
        if len(text) > self.endpoint.max_message_bytes:
            await self.close(1009, "Message too big")
            return None
        try:
            message = orjson.loads(text)
        except orjson.JSONDecodeError:
            message = None
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            await self.close(4400, "Invalid message")
            return None
        return message

    async def _handle(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "connection_init":
            await self._init(message.get("payload"))
        elif kind == "ping":
            self._send(None, {"type": "pong"})
        elif kind == "pong":
            pass
        elif kind == "subscribe":
            await self._subscribe(message)
        elif kind == "complete":
            task = self.tasks.pop(str(message.get("id")), None)
            if task is not None:
                task.cancel()
        else:
            await self.close(4400, f"Unknown message type {kind!r}")

    async def _init(self, payload: Any) -> None:
        if self.initialised:
            await self.close(4429, "Too many initialisation requests")
            return
        self.initialised = True
        token = None
        if isinstance(payload, dict):
            token = payload.get("authorization") or payload.get("Authorization")
        if not isinstance(token, str):
            token = self.ws.headers.get("authorization")
        try:
            self.caller, self.expires_at = self.endpoint.authenticate(token)
        except Exception as refused:  # noqa: BLE001 - any refusal of the token is a 4403
            client = self.ws.client
            self.endpoint.token_refused(client.host if client else "unknown")
            reason = getattr(refused, "message", None) or "Invalid token"
            await self.close(4403, f"Forbidden: {reason}"[:120])
            return
        self.acknowledged = True
        self._send(None, {"type": "connection_ack"})
        left = seconds_left(self.expires_at)
        if left is not None:
            self.expiry = asyncio.ensure_future(self._expire(left))

    async def _expire(self, after: float) -> None:
        await asyncio.sleep(max(0.0, after))
        for sub_id in list(self.tasks):
            self.tasks.pop(sub_id).cancel()
            self._send(sub_id, {"id": sub_id, "type": "error", "payload": [expired_error()]})
        await self._flush()
        await self.close(4403, "Forbidden: token expired")

    async def _subscribe(self, message: dict[str, Any]) -> None:
        if not self.acknowledged:
            await self.close(4401, "Unauthorized")
            return
        sub_id, payload = message.get("id"), message.get("payload")
        if not isinstance(sub_id, str) or not sub_id or not isinstance(payload, dict):
            await self.close(4400, "Invalid subscribe message")
            return
        if sub_id in self.tasks:
            await self.close(4409, f"Subscriber for {sub_id[:60]} already exists")
            return
        refusal = self.endpoint.rate(self.caller)
        if refusal is not None:
            self._error(sub_id, [refusal])
            return
        request = _request(payload, self.endpoint.forward_headers(self.ws), self.caller)
        if isinstance(request, dict):
            self._error(sub_id, [request])
            return
        operation = prepare(self.endpoint.gateway, request, self.endpoint.registry)
        if isinstance(operation, GatewayResponse):
            self._error(sub_id, operation.body.get("errors") or [])
            return
        key = caller_key(self.caller)
        if operation.subscription:
            live = sum(1 for t in self.tasks.values() if not t.done())
            try:
                self.endpoint.registry.claim(key, live)
            except LimitReached as limit:
                self._error(sub_id, [limit.error()])
                return
        self.waiting[sub_id] = 0
        self.tasks[sub_id] = asyncio.ensure_future(self._pump(sub_id, operation, key))

    async def _pump(self, sub_id: str, operation: Operation, key: str) -> None:
        limit = self.settings.subscription_queue
        try:
            async for result in operation.results():
                if "data" not in result:  # the final error of a subscription that ended
                    self._error(sub_id, result.get("errors") or [])
                    return
                if self.waiting.get(sub_id, 0) >= limit:
                    self._error(sub_id, [slow_consumer_error(limit)])
                    return
                self.waiting[sub_id] = self.waiting.get(sub_id, 0) + 1
                self._send(sub_id, {"id": sub_id, "type": "next", "payload": result})
            self._send(sub_id, {"id": sub_id, "type": "complete"})
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("subscription failed")
            error = {"message": "Internal server error", "extensions": {"code": "INTERNAL"}}
            self._error(sub_id, [error])
        finally:
            if operation.subscription:
                self.endpoint.registry.release(key)
            if self.tasks.get(sub_id) is asyncio.current_task():
                del self.tasks[sub_id]

    def _error(self, sub_id: str, errors: list[dict[str, Any]]) -> None:
        self._send(sub_id, {"id": sub_id, "type": "error", "payload": errors})

    def _send(self, sub_id: str | None, message: dict[str, Any]) -> None:
        if not self.closed:
            counted = sub_id if message["type"] == "next" else None
            self.out.put_nowait((counted, orjson.dumps(message)))

    async def _write(self) -> None:
        timeout = self.settings.subscription_send_timeout
        while True:
            sub_id, data = await self.out.get()
            try:
                await asyncio.wait_for(self.ws.send_text(data.decode()), timeout)
            except TimeoutError:
                await self.close(1008, "slow consumer: writes blocked")
                return
            except Exception:  # noqa: BLE001 - the socket is gone
                self.closed = True
                return
            finally:
                self.out.task_done()
            if sub_id is not None and sub_id in self.waiting:
                self.waiting[sub_id] -= 1

    async def _flush(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.out.join(), self.settings.subscription_send_timeout)

    def stop(self) -> None:
        """The gateway is stopping: close with 1012 so that clients reconnect."""
        self.stopping = asyncio.ensure_future(self.close(1012, "Service restart"))

    async def close(self, code: int, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(Exception):
            await self.ws.close(code, reason)

    async def end(self) -> None:
        self.closed = True
        for task in [*self.tasks.values(), self.writer, self.expiry]:
            if task is not None:
                task.cancel()
        pending = [t for t in [*self.tasks.values(), self.writer, self.expiry] if t is not None]
        if pending:
            await asyncio.wait(pending, timeout=5.0)
        self.tasks.clear()


def _request(
    payload: dict[str, Any], headers: dict[str, str], caller: RequestContext | None
) -> GatewayRequest | dict[str, Any]:
    """The subscribe payload as a gateway request, or the BAD_REQUEST naming its field."""
    checks = (("query", str), ("variables", dict), ("operationName", str), ("extensions", dict))
    for name, kind in checks:
        value = payload.get(name)
        if value is not None and not isinstance(value, kind):
            return {
                "message": f"'{name}' has the wrong type.",
                "extensions": {"code": "BAD_REQUEST", "field": f"payload.{name}"},
            }
    return GatewayRequest(
        query=payload.get("query"),
        variables=payload.get("variables"),
        operation_name=payload.get("operationName"),
        extensions=payload.get("extensions"),
        headers=headers,
        caller=caller,
    )


__all__ = ["PROTOCOL", "WebSocketEndpoint"]
