"""The streaming transports wired into the gateway app: the WebSocket route on /graphql and
the SSE answer for requests that accept `text/event-stream`, sharing one registry of
subscriptions (limits, open subgraph streams, stopping them with the gateway)."""

from __future__ import annotations

from typing import Any, Protocol

import orjson
from starlette.responses import Response
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from crm_gateway.admission import AuthFailureGuard, RateLimiter
from crm_gateway.gateway import Gateway, GatewayRequest, GatewayResponse
from crm_gateway.subscriptions.registry import LimitReached, LiveRegistry, LiveSettings
from crm_gateway.subscriptions.session import caller_key, prepare, token_expiry
from crm_gateway.subscriptions.sse import EventStream
from crm_gateway.subscriptions.ws import WebSocketEndpoint
from crm_kit import telemetry
from crm_kit.context import RequestContext


class Verifier(Protocol):
    def verify(self, token: str) -> RequestContext: ...


class Unauthenticated(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def wants_event_stream(accept: str | None) -> bool:
    return "text/event-stream" in (accept or "").lower()


class LiveTransports:
    def __init__(
        self,
        gateway: Gateway,
        settings: LiveSettings,
        *,
        verifier: Verifier | None,
        per_token: RateLimiter,
        max_message_bytes: int,
        per_ip: RateLimiter | None = None,
        bad_tokens: AuthFailureGuard | None = None,
    ) -> None:
        self.per_ip = per_ip
        self.bad_tokens = bad_tokens
        self.gateway = gateway
        self.registry = LiveRegistry(settings)
        self.verifier = verifier
        self.per_token = per_token
        self.websocket = WebSocketEndpoint(
            gateway,
            self.registry,
            self.authenticate,
            self.rate,
            self._forward_headers,
            max_message_bytes,
            self._address_allowed,
            self._token_refused,
        )

    def routes(self) -> list[WebSocketRoute]:
        return [WebSocketRoute("/graphql", self.websocket.__call__)]

    def authenticate(self, token: str | None) -> tuple[RequestContext | None, float | None]:
        if self.verifier is None:
            return None, None  # authentication off (development only)
        if not token:
            raise Unauthenticated("Missing bearer token.")
        token = token.strip()
        if token.lower().startswith("bearer "):
            token = token[7:].strip()
        caller = self.verifier.verify(token)
        return caller, token_expiry(token)

    def _address_allowed(self, address: str) -> bool:
        """A WebSocket connection counts as a request of its address, as at /graphql."""
        if self.bad_tokens is not None and self.bad_tokens.locked_for(address):
            return False
        return self.per_ip is None or not self.per_ip.enabled or self.per_ip.take(address).allowed

    def _token_refused(self, address: str) -> None:
        if self.bad_tokens is not None:
            self.bad_tokens.failed(address)

    def rate(self, caller: RequestContext | None) -> dict[str, Any] | None:
        if not self.per_token.enabled or caller is None:
            return None
        decision = self.per_token.take(caller_key(caller))
        if decision.allowed:
            return None
        return {
            "message": f"Rate limit ({decision.policy}) exceeded; retry in "
            f"{decision.retry_after} s.",
            "extensions": {"code": "RATE_LIMITED", "retryable": True},
        }

    def _forward_headers(self, websocket: WebSocket) -> dict[str, str]:
        # The client's trace (or a new one) goes on to the subgraph streams.
        headers: dict[str, str] = {}
        with telemetry.continued(websocket.headers, edge=True):
            telemetry.inject(headers)
        request_id = websocket.headers.get("x-request-id")
        if request_id:
            headers["x-request-id"] = request_id
        return headers

    def respond(
        self, request: GatewayRequest, token: str | None, media_type: str, headers: dict[str, str]
    ) -> Response:
        """The answer to a request accepting `text/event-stream`: the stream, or a JSON
        refusal with its status."""
        operation = prepare(self.gateway, request, self.registry)
        if isinstance(operation, GatewayResponse):
            return _json(operation.body, operation.status or 400, media_type, headers)
        key = caller_key(request.caller)
        if operation.subscription:
            try:
                self.registry.claim(key)
            except LimitReached as limit:
                return _json({"errors": [limit.error()]}, 429, media_type, headers)
        expires_at = token_expiry(token) if token else None
        return EventStream(operation, self.registry, key, expires_at, headers)


def _json(body: Any, status: int, media_type: str, headers: dict[str, str]) -> Response:
    return Response(orjson.dumps(body), status, headers, media_type=media_type)
