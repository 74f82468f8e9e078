"""The HTTP surface: /graphql (POST, GET, GraphiQL in development), /health, /ready.
(Metrics are served on a port of their own: `crm_gateway.metrics`.)

A GraphQL request passes, in this order and each refused before the next costs anything:
the bound on requests in flight (503), the bad-token back-off of its address (429), the
rate limit of its address (429), the caller's token (401), the caller's rate limit (429),
the body size (413; a GraphQL multipart request with files for the import service up to
100 MiB: crm_gateway/uploads.py) and the request's shape (400); then the gateway's own
limits (depth, aliases, root fields, cost) and execution.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

import httpx
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from crm_contracts.imports import DOWNLOAD_PATH
from crm_gateway.admission import (
    AuthFailureGuard,
    ConcurrencyLimit,
    Decision,
    RateLimiter,
    client_address,
    ratelimit_headers,
)
from crm_gateway.config import GatewaySettings
from crm_gateway.downloads import Downloads, refusal
from crm_gateway.gateway import Gateway, GatewayRequest, GatewayResponse
from crm_gateway.graphiql import GRAPHIQL_HTML
from crm_gateway.identity import SubgraphSigner
from crm_gateway.metrics import Metrics
from crm_gateway.subscriptions.mount import LiveTransports, wants_event_stream
from crm_gateway.tracking_proxy import TRACKING_ROUTES, TrackingProxy
from crm_gateway.uploads import Uploads, is_multipart
from crm_gateway.verified_tokens import VerifiedTokens
from crm_gateway.web import mount_web
from crm_kit import metrics, telemetry
from crm_kit.assertions import KeyRing
from crm_kit.context import RequestContext
from crm_kit.graphql_request import (
    GraphQLRequest,
    RequestError,
    parse_graphql_request,
    read_body,
)

log = logging.getLogger("crm_gateway")

PLAN_HEADER = "x-crm-query-plan"
JSON = "application/json"
GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
# Seconds a client is asked to wait after a 503 (overload, or a subgraph unavailable).
RETRY_AFTER_UNAVAILABLE = 1


class Verifier(Protocol):
    """What the gateway needs from crm_kit.auth.TokenVerifier."""

    def verify(self, token: str) -> RequestContext: ...


def _body(body: Any, status: int, media_type: str, headers: dict[str, str]) -> Response:
    return Response(orjson.dumps(body), status, headers, media_type=media_type)


def _refusal(
    message: str, code: str, status: int, media_type: str, headers: dict[str, str], **ext: Any
) -> Response:
    error = {"message": message, "extensions": {"code": code, **ext}}
    return _body({"errors": [error]}, status, media_type, headers)


def response_media_type(accept: str | None) -> str:
    """application/graphql-response+json when the client prefers it (or accepts only it);
    application/json otherwise, including when Accept is missing (as the spec asks)."""
    ranked: dict[str, float] = {}
    for part in (accept or "").split(","):
        media, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for p in params:
            if p.startswith("q="):
                try:
                    quality = float(p[2:])
                except ValueError:
                    quality = 0.0
        ranked[media.lower()] = max(quality, ranked.get(media.lower(), 0.0))
    wanted = ranked.get(GRAPHQL_RESPONSE_JSON, 0.0)
    return GRAPHQL_RESPONSE_JSON if wanted > 0 and wanted >= ranked.get(JSON, 0.0) else JSON


def _load_verifier() -> Verifier:
    from crm_kit.auth import TokenVerifier  # imported lazily: auth may be off in tests

    return TokenVerifier.from_env()


def _http_status(
    resp: GatewayResponse, media_type: str
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """GraphQL-over-HTTP status rules. For application/graphql-response+json an operation
    that failed as a whole because a dependency was unavailable has no `data` and gets 503
    (with Retry-After) when repeating it is safe, 502 when a change may have been applied.
    application/json clients keep 200 with `data: null`, as the spec asks."""
    if not resp.unavailable or media_type != GRAPHQL_RESPONSE_JSON:
        return resp.status, resp.body, {}
    body = {k: v for k, v in resp.body.items() if k != "data"}
    if resp.retryable:
        return 503, body, {"Retry-After": str(RETRY_AFTER_UNAVAILABLE)}
    return 502, body, {}


def create_app(
    settings: GatewaySettings | None = None,
    *,
    supergraph_sdl: str | None = None,
    verifier: Verifier | None = None,
    auth: bool | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    keyring: KeyRing | None = None,
) -> Starlette:
    """Builds the gateway app; tests pass `supergraph_sdl`, `transport` and a verifier.
    `keyring`: the gateway's signing keys (default `KeyRing.from_env("gateway")`)."""
    settings = settings or GatewaySettings.from_env()
    sdl = supergraph_sdl if supergraph_sdl is not None else settings.supergraph_path.read_text()
    auth_on = settings.auth_enabled if auth is None else auth
    if auth_on and verifier is None:
        verifier = _load_verifier()
    if verifier is not None and settings.token_cache_size > 0:
        verifier = VerifiedTokens(verifier, settings.token_cache_size)
    # One signing key for every door (subgraph requests, tracking reports), loaded on first
    # use: without authentication and without a capture subgraph nothing signs.
    gateway_keys = functools.cache(lambda: keyring or KeyRing.from_env("gateway"))
    signer = None
    if auth_on:
        signer = SubgraphSigner(gateway_keys(), cache_size=settings.assertion_cache_size)
    gateway = Gateway(
        sdl,
        subgraph_urls=settings.subgraph_urls,
        transport=transport,
        limits=settings.limits,
        document_cache_size=settings.document_cache_size,
        plan_cache_size=settings.plan_cache_size,
        apq_cache_size=settings.apq_cache_size,
        subgraph_timeout=settings.subgraph_timeout,
        subgraph_connect_timeout=settings.subgraph_connect_timeout,
        subgraph_queue_timeout=settings.subgraph_queue_timeout,
        ready_cache_seconds=settings.ready_cache_seconds,
        signer=signer,
    )
    adm = settings.admission
    per_ip = RateLimiter("per-ip", adm.rate_per_ip, adm.burst_per_ip)
    per_token = RateLimiter("per-token", adm.rate_per_token, adm.burst_per_token)
    in_flight = ConcurrencyLimit(adm.max_in_flight)
    bad_tokens = AuthFailureGuard(
        slow_after=adm.auth_slow_after,
        lock_after=adm.auth_lock_after,
        forgive_per_second=adm.auth_forgive_per_second,
    )
    # Subscriptions (WebSocket, and SSE for requests accepting text/event-stream).
    live = LiveTransports(
        gateway,
        settings.live,
        verifier=verifier if auth_on else None,
        per_token=per_token,
        max_message_bytes=adm.max_body_bytes,
        per_ip=per_ip,
        bad_tokens=bad_tokens,
    )
    # Public (no token): bounded per browser address before anything is signed.
    tracking_per_ip = RateLimiter(
        "tracking-per-ip", adm.tracking_rate_per_ip, adm.tracking_burst_per_ip
    )
    tracking = TrackingProxy.for_gateway(gateway, gateway_keys, transport, tracking_per_ip)
    # GraphQL multipart requests: files for the import service (crm_gateway/uploads.py).
    by_name = {gateway.supergraph.name_of(g): url for g, url in gateway.client.urls.items()}
    uploads = Uploads.for_gateway(by_name, gateway_keys, transport)
    # Export files from the import service, for their creators (crm_gateway/downloads.py).
    downloads = Downloads.for_gateway(by_name, gateway_keys, transport)

    async def graphql(request: Request) -> Response:
        # The caller's trace, or a new one: every log line of the request names it.
        with telemetry.continued(request.headers, edge=True):
            return await traced_graphql(request)

    async def traced_graphql(request: Request) -> Response:
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        media_type = response_media_type(request.headers.get("accept"))
        headers = {"x-request-id": request_id}
        if (
            settings.graphiql
            and request.method == "GET"
            and "query" not in request.query_params
            and "extensions" not in request.query_params
            and "text/html" in request.headers.get("accept", "")
        ):
            return HTMLResponse(GRAPHIQL_HTML)
        if not in_flight.try_enter():
            gateway.metrics.rejected("overloaded")
            return _refusal(
                f"The gateway is handling its limit of {in_flight.limit} requests; retry shortly.",
                "SERVICE_UNAVAILABLE",
                503,
                media_type,
                {**headers, "Retry-After": str(RETRY_AFTER_UNAVAILABLE)},
                retryable=True,
            )
        delay = 0.0
        try:
            response, delay = await admitted(request, media_type, headers)
        finally:
            in_flight.leave()
        if delay > 0:
            # Outside the in-flight bound: a token guesser waiting out its back-off must not
            # take the places of other clients.
            await asyncio.sleep(delay)
        return response

    async def admitted(
        request: Request, media_type: str, headers: dict[str, str]
    ) -> tuple[Response, float]:
        start = time.perf_counter()
        address = client_address(request)
        locked = bad_tokens.locked_for(address)
        if locked:
            gateway.metrics.rejected("locked_out")
            return _refusal(
                f"Too many invalid tokens from this address; retry in {locked} s.",
                "TOO_MANY_REQUESTS",
                429,
                media_type,
                {**headers, "Retry-After": str(locked)},
            ), 0.0
        decisions: list[Decision] = []
        refused = _take(per_ip, address, decisions, media_type, headers)
        if refused is not None:
            return refused, 0.0
        caller: RequestContext | None = None
        token: str | None = None
        if auth_on:
            assert verifier is not None
            authz = request.headers.get("authorization") or ""
            try:
                if not authz.lower().startswith("bearer "):
                    raise _MissingToken("Missing bearer token.")
                token = authz[7:].strip()
                caller = verifier.verify(token)
            except Exception as exc:  # noqa: BLE001 (AuthError, or any verifier failure: refuse)
                message = getattr(exc, "message", None) or "Invalid token."
                delay = bad_tokens.failed(address)
                gateway.metrics.rejected("unauthenticated")
                return _refusal(
                    message,
                    "UNAUTHENTICATED",
                    401,
                    media_type,
                    {**headers, **ratelimit_headers(decisions), "www-authenticate": "Bearer"},
                ), delay
            key = f"{caller.workspace_id}\x00{caller.subject}"
            refused = _take(per_token, key, decisions, media_type, headers)
            if refused is not None:
                return refused, 0.0
        headers.update(ratelimit_headers(decisions))
        try:
            if is_multipart(request):
                gql = await uploads.read(request, caller)
            else:
                gql = await _read_request(request, adm.max_body_bytes)
        except RequestError as error:
            return _body({"errors": [error.error()]}, error.status, media_type, headers), 0.0

        forward = {"x-request-id": headers["x-request-id"]}
        telemetry.inject(forward)  # the trace (traceparent, tracestate) goes on to the subgraphs
        if request.headers.get("idempotency-key"):
            forward["idempotency-key"] = request.headers["idempotency-key"]
        greq = GatewayRequest(
            query=gql.query,
            variables=gql.variables,
            operation_name=gql.operation_name or None,
            extensions=gql.extensions,
            headers=forward,
            method=request.method,
            want_plan=request.headers.get(PLAN_HEADER, "").lower() in ("true", "1"),
            caller=caller,
        )
        if wants_event_stream(request.headers.get("accept")):
            # The stream runs after this returns, outside the in-flight bound.
            return live.respond(greq, token, media_type, headers), 0.0
        resp = await gateway.execute(greq)
        status, body, extra = _http_status(resp, media_type)
        if log.isEnabledFor(logging.INFO):
            log.info(
                "graphql request",
                extra={
                    "request_id": headers["x-request-id"],
                    "operation_name": greq.operation_name,
                    "operation_type": resp.operation_type,
                    "status": status,
                    "errors": resp.error_codes,
                    "duration_ms": round((time.perf_counter() - start) * 1000, 3),
                },
            )
        return _body(body, status, media_type, {**headers, **extra}), 0.0

    async def download(request: Request) -> Response:
        address = client_address(request)
        locked = bad_tokens.locked_for(address)
        if locked:
            return refusal(
                429, "TOO_MANY_REQUESTS", f"Too many invalid tokens; retry in {locked} s."
            )
        authz = request.headers.get("authorization") or ""
        if verifier is None or not authz.lower().startswith("bearer "):
            return refusal(401, "UNAUTHENTICATED", "Downloads need a bearer token.")
        try:
            caller = verifier.verify(authz[7:].strip())
        except Exception as exc:  # noqa: BLE001 (AuthError, or any verifier failure: refuse)
            await asyncio.sleep(bad_tokens.failed(address))
            return refusal(
                401, "UNAUTHENTICATED", getattr(exc, "message", None) or "Invalid token."
            )
        return await downloads.fetch(request.path_params["id"], caller)

    async def health(_: Request) -> Response:
        return _body({"status": "ok"}, 200, JSON, {})

    async def ready(_: Request) -> Response:
        graphs = list(gateway.supergraph.subgraphs)
        results = await asyncio.gather(*(gateway.client.ready(g) for g in graphs))
        status = {gateway.supergraph.name_of(g): ok for g, ok in zip(graphs, results, strict=True)}
        ok = all(results)
        return _body(
            {"status": "ready" if ok else "unavailable", "subgraphs": status},
            200 if ok else 503,
            JSON,
            {},
        )

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        log.info("gateway started", extra={"subgraphs": gateway.client.urls, "auth": auth_on})
        yield
        live.registry.stop_all()
        await gateway.aclose()
        await tracking.aclose()
        await uploads.aclose()
        await downloads.aclose()

    app = Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            Route("/health", health, methods=["GET"]),
            Route("/ready", ready, methods=["GET"]),
            Route(DOWNLOAD_PATH, download, methods=["GET"]),
            *live.routes(),
            *tracking.routes,
        ],
        lifespan=lifespan,
    )
    telemetry.instrument_app(app, ROUTES)
    app.state.gateway = gateway
    app.state.live = live
    metrics.track(live.registry)  # its gauges on the metrics port
    mount_web(app)  # the web app, sign-in support, CORS (crm_gateway/web.py)
    return app


ROUTES = ("/graphql", "/health", "/ready", *TRACKING_ROUTES)


class _MissingToken(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _take(
    limiter: RateLimiter,
    key: str,
    decisions: list[Decision],
    media_type: str,
    headers: dict[str, str],
) -> Response | None:
    """Take one request from `key`'s bucket; the 429 when it is empty."""
    if not limiter.enabled:
        return None
    decision = limiter.take(key)
    decisions.append(decision)
    if decision.allowed:
        return None
    Metrics.rejected("rate_limited", limiter.policy)
    return _refusal(
        f"Rate limit ({decision.policy}) exceeded; retry in {decision.retry_after} s.",
        "RATE_LIMITED",
        429,
        media_type,
        {**headers, **ratelimit_headers(decisions), "Retry-After": str(decision.retry_after)},
        retryable=True,
    )


async def _read_request(request: Request, max_body_bytes: int) -> GraphQLRequest:
    body = b""
    if request.method == "POST":
        body = await read_body(
            request.stream(), request.headers.get("content-length"), max_body_bytes
        )
    return parse_graphql_request(
        request.method, request.headers.get("content-type"), body, request.query_params
    )
