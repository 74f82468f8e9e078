"""The HTTP surface: /graphql (POST, GET, GraphiQL), /health, /ready, /metrics."""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

import httpx
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from crm_gateway.config import GatewaySettings
from crm_gateway.gateway import Gateway, GatewayRequest
from crm_gateway.graphiql import GRAPHIQL_HTML
from crm_gateway.web import mount_web

log = logging.getLogger("crm_gateway")

_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
PLAN_HEADER = "x-crm-query-plan"


class Verifier(Protocol):
    """What the gateway needs from crm_kit.auth.TokenVerifier."""

    def verify(self, token: str) -> Any: ...


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


def _unauthenticated(message: str) -> Response:
    body = {"errors": [{"message": message, "extensions": {"code": "UNAUTHENTICATED"}}]}
    return _json(body, 401, {"www-authenticate": "Bearer"})


def child_traceparent(incoming: str | None) -> str:
    """Keeps the caller's trace id (or starts a trace) with a fresh span id for this hop."""
    m = _TRACEPARENT.match((incoming or "").strip().lower())
    if m and m.group(2) != "0" * 32 and m.group(3) != "0" * 16:
        return f"00-{m.group(2)}-{secrets.token_hex(8)}-{m.group(4)}"
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


def _load_verifier() -> Verifier:
    from crm_kit.auth import TokenVerifier  # imported lazily: auth may be off in tests

    return TokenVerifier.from_env()


def create_app(
    settings: GatewaySettings | None = None,
    *,
    supergraph_sdl: str | None = None,
    verifier: Verifier | None = None,
    auth: bool | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Starlette:
    """Builds the gateway app; tests pass `supergraph_sdl`, `transport` and a verifier."""
    settings = settings or GatewaySettings.from_env()
    sdl = supergraph_sdl if supergraph_sdl is not None else settings.supergraph_path.read_text()
    auth_on = settings.auth_enabled if auth is None else auth
    if auth_on and verifier is None:
        verifier = _load_verifier()
    gateway = Gateway(
        sdl,
        subgraph_urls=settings.subgraph_urls,
        transport=transport,
        limits=settings.limits,
        document_cache_size=settings.document_cache_size,
        plan_cache_size=settings.plan_cache_size,
        apq_cache_size=settings.apq_cache_size,
        subgraph_timeout=settings.subgraph_timeout,
    )

    async def graphql(request: Request) -> Response:
        start = time.perf_counter()
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        if request.method == "GET":
            params = request.query_params
            accept = request.headers.get("accept", "")
            if "query" not in params and "extensions" not in params:
                if settings.graphiql and "text/html" in accept:
                    return HTMLResponse(GRAPHIQL_HTML)
                return _json({"errors": [{"message": "Must provide a query string."}]}, 400)
            try:
                payload: dict[str, Any] = {
                    "query": params.get("query"),
                    "operationName": params.get("operationName"),
                    "variables": orjson.loads(params["variables"])
                    if params.get("variables")
                    else None,
                    "extensions": orjson.loads(params["extensions"])
                    if params.get("extensions")
                    else None,
                }
            except orjson.JSONDecodeError:
                return _json({"errors": [{"message": "variables/extensions must be JSON."}]}, 400)
        else:
            try:
                payload = orjson.loads(await request.body())
            except orjson.JSONDecodeError:
                return _json({"errors": [{"message": "Request body is not valid JSON."}]}, 400)
            if not isinstance(payload, dict):
                return _json({"errors": [{"message": "Request body must be an object."}]}, 400)

        forward = {"x-request-id": request_id}
        authz = request.headers.get("authorization")
        if auth_on:
            assert verifier is not None
            if not authz or not authz.lower().startswith("bearer "):
                return _unauthenticated("Missing bearer token.")
            try:
                verifier.verify(authz[7:].strip())
            except Exception as exc:  # noqa: BLE001 (AuthError, or any verifier failure: refuse)
                return _unauthenticated(getattr(exc, "message", None) or "Invalid token.")
        if authz:
            forward["authorization"] = authz
        forward["traceparent"] = child_traceparent(request.headers.get("traceparent"))
        if request.headers.get("tracestate"):
            forward["tracestate"] = request.headers["tracestate"]

        variables = payload.get("variables")
        greq = GatewayRequest(
            query=payload.get("query"),
            variables=variables if isinstance(variables, dict) else None,
            operation_name=payload.get("operationName") or None,
            extensions=payload.get("extensions")
            if isinstance(payload.get("extensions"), dict)
            else None,
            headers=forward,
            method=request.method,
            want_plan=request.headers.get(PLAN_HEADER, "").lower() in ("true", "1"),
        )
        resp = await gateway.execute(greq)
        if log.isEnabledFor(logging.INFO):
            log.info(
                "graphql request",
                extra={
                    "request_id": request_id,
                    "operation_name": greq.operation_name,
                    "operation_type": resp.operation_type,
                    "status": resp.status,
                    "errors": resp.error_codes,
                    "duration_ms": round((time.perf_counter() - start) * 1000, 3),
                },
            )
        return _json(resp.body, resp.status, {"x-request-id": request_id})

    async def health(_: Request) -> Response:
        return _json({"status": "ok"})

    async def ready(_: Request) -> Response:
        graphs = list(gateway.supergraph.subgraphs)
        results = await asyncio.gather(*(gateway.client.reachable(g) for g in graphs))
        status = {gateway.supergraph.name_of(g): ok for g, ok in zip(graphs, results, strict=True)}
        ok = all(results)
        return _json(
            {"status": "ready" if ok else "unavailable", "subgraphs": status}, 200 if ok else 503
        )

    async def metrics(_: Request) -> Response:
        return PlainTextResponse(
            gateway.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8"
        )

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        log.info("gateway started", extra={"subgraphs": gateway.client.urls, "auth": auth_on})
        yield
        await gateway.aclose()

    app = Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            Route("/health", health, methods=["GET"]),
            Route("/ready", ready, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.gateway = gateway
    mount_web(app)  # the web app, sign-in support, CORS (crm_gateway/web.py)
    return app
