"""The `/graphql` endpoint of a subgraph: authentication gate, request context, trace,
error formatting. A request without a valid bearer token is refused before any resolver
runs; the gateway forwards the caller's token, so a subgraph verifies it again itself."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.federation import Schema
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult

from .auth import AuthError, TokenVerifier
from .context import RequestContext, TraceContext, bind_request, bind_trace
from .errors import format_error

log = logging.getLogger(__name__)

ContextFactory = Callable[[RequestContext, Request], Any | Awaitable[Any]]
SCOPE_KEY = "crm_request_context"


class SubgraphGraphQL(GraphQL):
    def __init__(self, schema: Schema, context_factory: ContextFactory) -> None:
        super().__init__(schema, graphql_ide="graphiql", allow_queries_via_get=True)
        self._context_factory = context_factory

    async def get_context(self, request: Request, response: Response) -> Any:  # type: ignore[override]
        ctx: RequestContext = request.scope[SCOPE_KEY]
        made = self._context_factory(ctx, request)
        return await made if inspect.isawaitable(made) else made

    async def process_result(  # type: ignore[override]
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        response: GraphQLHTTPResponse = {"data": result.data}
        if result.errors:
            response["errors"] = [format_error(error) for error in result.errors]
        if result.extensions:
            response["extensions"] = result.extensions
        return response

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)


def unauthenticated(message: str) -> JSONResponse:
    body = {
        "data": None,
        "errors": [{"message": message, "extensions": {"code": "UNAUTHENTICATED"}}],
    }
    return JSONResponse(body, status_code=401)


class AuthenticatedGraphQL:
    """ASGI wrapper: verify the token, bind request and trace context, then run GraphQL."""

    def __init__(self, graphql: SubgraphGraphQL, verifier: TokenVerifier) -> None:
        self._graphql = graphql
        self._verifier = verifier

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
            await self._graphql(scope, receive, send)  # the GraphiQL page holds no data
            return
        bind_trace(TraceContext.continue_or_start(request.headers.get("traceparent")))
        try:
            ctx = self._verifier.verify_header(request.headers.get("authorization"))
        except AuthError as error:
            await unauthenticated(error.message)(scope, receive, send)
            return
        scope[SCOPE_KEY] = ctx
        bind_request(ctx)
        try:
            await self._graphql(scope, receive, send)
        finally:
            bind_request(None)
