"""The `/graphql` endpoint of a subgraph: only the gateway may call it.

The gateway verifies the caller's token and sends each subgraph request with an internal
assertion (`crm_kit.assertions`) in the `CRM-Assertion` header: signed by the gateway's
key, for this subgraph's audience and the exact bytes of this request. A bearer token, a
workspace header or another party's assertion is refused with 401 before anything else is
read, so nothing but the gateway can reach a resolver, and the request context (workspace,
subject, roles) comes from the verified assertion alone.

Behind the gate the same bounds as at the gateway hold again (defence in depth): body size,
query depth, aliases and root fields, all checked in linear time. Malformed requests get a
400 with a GraphQL error. GraphiQL is served only in development mode. A mutation with an
`Idempotency-Key` runs through `crm_kit.keyed_http` (stored result, refusal, or a run in
its keyed operation).
"""

from __future__ import annotations

import functools
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import ExecutionResult as GraphQLCoreResult
from graphql import (
    FragmentDefinitionNode,
    GraphQLError,
    OperationDefinitionNode,
    parse,
)
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.exceptions import MissingQueryError
from strawberry.federation import Schema
from strawberry.http import GraphQLHTTPResponse
from strawberry.http.ides import get_graphql_ide_html
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from . import keyed_http, metrics, telemetry
from .assertions import AssertionError_, KeyRing, VerifiedAssertion, idempotency_binding
from .audit import bind_channel
from .context import RequestContext, bind_request
from .errors import format_error
from .graphql_prepared import PreparedOperations
from .graphql_request import GraphQLRequest, RequestError, parse_graphql_request, read_body
from .idempotency import HEADER as IDEMPOTENCY_HEADER
from .idempotency import STEP_HEADER, Attempt, IdempotencyKeys, StoredResponse
from .live_http import LiveSubscriptions, wants_event_stream
from .metrics import GraphQLMetrics
from .query_shape import Shape, ShapeLimits, ShapeRefused, enforce, measure
from .request_arrival import request_arrived
from .settings import from_env

log = logging.getLogger(__name__)

ContextFactory = Callable[[RequestContext, Request], Any | Awaitable[Any]]
# Where the gate keeps idempotency keys for the app serving a request.
KeysOf = Callable[[Scope], IdempotencyKeys]
SCOPE_KEY = "crm_request_context"
OPERATION_KEY = "crm_operation_type"
# Where the result's error codes are left for the gate's metrics.
ERROR_CODES_KEY = "crm_error_codes"
# The header carrying the gateway's assertion, and the only issuer a subgraph accepts.
ASSERTION_HEADER = "crm-assertion"
GATEWAY_ISSUER = "gateway"


def subgraph_audience(service: str) -> str:
    """The audience the gateway names in an assertion for `service`'s subgraph."""
    return f"subgraph:{service}"


@dataclass(frozen=True)
class SubgraphLimits:
    """Looser than the gateway's (its plans add entity wrappers and conflict aliases), so
    they refuse only what the gateway would never send."""

    max_body_bytes: int = 4_000_000
    max_depth: int = 20
    max_aliases: int = 60
    max_root_fields: int = 40
    max_fields: int = 10_000

    @classmethod
    def from_env(cls) -> SubgraphLimits:
        return from_env(cls, {name: f"SUBGRAPH_{name.upper()}" for name in cls.__annotations__})

    @property
    def shape(self) -> ShapeLimits:
        return ShapeLimits(self.max_depth, self.max_aliases, self.max_root_fields, self.max_fields)


class SubgraphGraphQL(GraphQL):
    def __init__(self, schema: Schema, context_factory: ContextFactory) -> None:
        # The IDE page is served by the gate (development mode only), never by Strawberry.
        super().__init__(schema, graphql_ide=None, allow_queries_via_get=True)
        self._context_factory = context_factory
        self._prepared = PreparedOperations(schema)

    async def get_context(self, request: Request, response: Response) -> Any:  # type: ignore[override]
        return await self._context(request)

    async def _context(self, request: Request) -> Any:
        ctx: RequestContext = request.scope[SCOPE_KEY]
        made = self._context_factory(ctx, request)
        return await made if inspect.isawaitable(made) else made

    async def respond(self, request: Request, gql: GraphQLRequest, send: Send) -> None:
        """Execute a request the gate has admitted and answer it as Strawberry's HTTP view
        does (`GraphQL.run`: the same operation types per method, the same 400s, the same
        JSON), without reading its body, JSON and content type again: the view's second
        parse was 6 to 9 % of a service's CPU under load. The gate takes only JSON POSTs
        and GETs, and routes subscriptions to the live transport. A valid operation of an
        allowed type runs from its prepared document (`crm_kit.graphql_prepared`);
        anything else through Strawberry, which words the refusals."""
        method = request.method
        allowed = OperationType.from_http("GET" if method == "GET" else "POST")
        context = await self._context(request)
        answer: Response
        prepared = self._prepared.prepared_for(gql.query, gql.operation_name, allowed)
        if prepared is not None:
            done = await self._prepared.execute(
                prepared,
                variables=gql.variables,
                context=context,
                operation_name=gql.operation_name,
                operation_extensions=gql.extensions,
            )
            body = self.encode_json(self._body(request, done))
            answer = Response(body, 200, media_type="application/json")
            await answer(request.scope, request.receive, send)
            return
        try:
            result = await self.schema.execute(
                gql.query,
                variable_values=gql.variables,
                context_value=context,
                operation_name=gql.operation_name,
                allowed_operation_types=allowed,
                operation_extensions=gql.extensions,
            )
        except CannotGetOperationTypeError as error:
            answer = PlainTextResponse(error.as_http_error_reason(), 400)
        except InvalidOperationTypeError as error:
            answer = PlainTextResponse(error.as_http_error_reason(method), 400)
        except MissingQueryError:
            answer = PlainTextResponse("No GraphQL query found in the request", 400)
        else:
            data = await self.process_result(request, result)
            answer = Response(self.encode_json(data), 200, media_type="application/json")
        await answer(request.scope, request.receive, send)

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        return self._body(request, result)

    def _body(
        self, request: Request, result: ExecutionResult | GraphQLCoreResult
    ) -> GraphQLHTTPResponse:
        operation = request.scope.get(OPERATION_KEY, "query")
        response: GraphQLHTTPResponse = {"data": result.data}
        if result.errors:
            errors = [format_error(error, operation) for error in result.errors]
            response["errors"] = list[object](errors)
            request.scope[ERROR_CODES_KEY] = [
                str((error.get("extensions") or {}).get("code", "ERROR")) for error in errors
            ]
        if result.extensions:
            response["extensions"] = result.extensions
        return response

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)


def request_error(
    status: int, error: dict[str, Any], headers: dict[str, str] | None = None
) -> Response:
    """A request-level failure: no `data` entry, as the GraphQL-over-HTTP spec asks."""
    return Response(
        orjson.dumps({"errors": [error]}), status, headers, media_type="application/json"
    )


def unauthenticated(message: str) -> Response:
    return request_error(401, {"message": message, "extensions": {"code": "UNAUTHENTICATED"}})


@dataclass(frozen=True)
class _Operation:
    kind: str  # query, mutation, subscription
    shape: Shape


@functools.lru_cache(maxsize=256)
def _operations(query: str) -> dict[str | None, _Operation] | None:
    """The operations of a document with their shapes (None: it does not parse, which
    Strawberry reports). Cached: the gateway sends the same planned operations again and
    again."""
    try:
        document = parse(query)
    except GraphQLError:
        return None
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    ops = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    out = {
        (op.name.value if op.name else None): _Operation(op.operation.value, measure(op, fragments))
        for op in ops
    }
    if len(ops) == 1:
        out.setdefault(None, next(iter(out.values())))
    return out


class GatewayOnlyGraphQL:
    """ASGI gate in front of Strawberry: bounded body, the gateway's assertion, request
    shape and limits; then the request context is bound and GraphQL runs. Subscriptions
    (`Accept: text/event-stream`) go to `live` (`crm_kit.live_http`)."""

    def __init__(
        self,
        graphql: SubgraphGraphQL,
        *,
        service: str,
        keyring: KeyRing,
        limits: SubgraphLimits | None = None,
        graphiql: bool = False,
        keys: KeysOf,
        live: LiveSubscriptions | None = None,
    ) -> None:
        self._graphql = graphql
        self._service = service
        self._keyring = keyring
        self._audience = subgraph_audience(service)
        self._limits = limits or SubgraphLimits()
        self._graphiql = graphiql
        self._live = live
        self._metrics = GraphQLMetrics(service)
        self._keys = keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        # In the gateway's trace (the ASGI middleware's server span when tracing is on).
        with telemetry.continued(request.headers):
            await self._serve(request, scope, receive, send)

    async def _serve(self, request: Request, scope: Scope, receive: Receive, send: Send) -> None:
        if self._wants_ide(request):
            await HTMLResponse(get_graphql_ide_html(graphql_ide="graphiql"))(scope, receive, send)
            return
        try:
            _, verified, gql = await self._admit(request)
            ctx = verified.context
            operation = self._check_shape(gql)
            streamed = self._streamed(operation, request.headers.get("accept"))
            keyed = await self._begin_keyed(request, scope, ctx, gql, operation)
        except RequestError as error:
            headers = getattr(error, "headers", None)
            await request_error(error.status, error.error(), headers)(scope, receive, send)
            return
        except AssertionError_ as error:
            await unauthenticated(f"This service accepts only the gateway: {error.message}.")(
                scope, receive, send
            )
            return
        if streamed and self._live is not None:
            bind_request(ctx)
            try:
                await self._live.serve(
                    scope, receive, send, caller=ctx, gql=gql, expires_at=verified.expires_at
                )
            finally:
                bind_request(None)
            return
        scope[SCOPE_KEY] = ctx
        scope[OPERATION_KEY] = operation
        bind_request(ctx)
        bind_channel("graphql", "gateway")
        started = time.perf_counter()
        try:
            # One request for the read indexes' change-log follows (`crm_kit.request_arrival`);
            # never a subscription's stream, whose reads go on after it opened.
            with request_arrived(), telemetry.graphql_span(operation, gql.operation_name) as span:
                if isinstance(keyed, StoredResponse):
                    await keyed_http.replay(keyed)(scope, receive, send)
                elif isinstance(keyed, Attempt):
                    await keyed_http.run(
                        self._keys(scope),
                        keyed,
                        lambda captured: self._graphql.respond(request, gql, captured),
                        lambda: scope.get(ERROR_CODES_KEY, ()),
                        send,
                        self._service,
                    )
                else:
                    await self._graphql.respond(request, gql, send)
                codes = scope.get(ERROR_CODES_KEY, ())
                if codes:
                    telemetry.mark_failed(span, ", ".join(sorted(set(codes))))
        finally:
            bind_request(None)
            bind_channel(None)
            self._metrics.observe(
                operation,
                gql.operation_name,
                time.perf_counter() - started,
                scope.get(ERROR_CODES_KEY, ()),
            )

    async def _begin_keyed(
        self,
        request: Request,
        scope: Scope,
        ctx: RequestContext,
        gql: GraphQLRequest,
        operation: str,
    ) -> Attempt | StoredResponse | None:
        """For a mutation with an idempotency key: its attempt to run or its stored
        response (raises `keyed_http.KeyedRefusal`). None for anything else."""
        if operation != "mutation" or IDEMPOTENCY_HEADER not in request.headers:
            return None
        try:
            begun = await keyed_http.begin(self._keys(scope), request.headers, ctx, gql)
        except keyed_http.KeyedRefusal:
            metrics.IDEMPOTENT_MUTATIONS.labels(self._service, "refused").inc()
            raise
        if isinstance(begun, StoredResponse):
            metrics.IDEMPOTENT_MUTATIONS.labels(self._service, "replayed").inc()
        return begun

    def _wants_ide(self, request: Request) -> bool:
        return (
            self._graphiql
            and request.method == "GET"
            and "query" not in request.query_params
            and "text/html" in request.headers.get("accept", "")
        )

    def _streamed(self, operation: str, accept: str | None) -> bool:
        """Whether the request is a subscription for the live transport; a subscription
        any other way is refused (it needs a stream)."""
        if operation != "subscription":
            return False
        if self._live is None:
            raise RequestError("This service serves no subscriptions.", field="query")
        if not wants_event_stream(accept):
            raise RequestError(
                "A subscription needs a stream: send it with Accept: text/event-stream.",
                status=406,
                field="accept",
            )
        return True

    async def _admit(self, request: Request) -> tuple[bytes, VerifiedAssertion, GraphQLRequest]:
        """Read the body within its limit, verify the assertion over exactly what was
        signed (the body of a POST, the query string of a GET), then parse."""
        token = request.headers.get(ASSERTION_HEADER)
        if not token:  # refused before its body is read
            raise AssertionError_("missing internal assertion")
        if request.method == "POST":
            body = await read_body(
                request.stream(), request.headers.get("content-length"), self._limits.max_body_bytes
            )
            signed = body
        else:
            body = b""
            signed = request.scope.get("query_string", b"")
        verified = self._keyring.verify(
            token,
            audience=self._audience,
            issuers=(GATEWAY_ISSUER,),
            body=signed,
            idempotency=idempotency_binding(
                request.headers.get(IDEMPOTENCY_HEADER), request.headers.get(STEP_HEADER)
            ),
        )
        # A POST's parameters are in its body: its query string is not parsed.
        params = request.query_params if request.method == "GET" else {}
        gql = parse_graphql_request(
            request.method, request.headers.get("content-type"), body, params
        )
        return body, verified, gql

    def _check_shape(self, gql: GraphQLRequest) -> str:
        """The operation's type (query or mutation), after its depth, aliases and root
        fields are checked."""
        if not gql.query:
            raise RequestError("Must provide a query string.", field="query")
        operations = _operations(gql.query)
        if operations is None:
            return "query"  # a syntax error: Strawberry reports it with its location
        op = operations.get(gql.operation_name)
        if op is None:
            return "query"  # unknown or ambiguous operation: Strawberry reports it
        try:
            enforce(self._limits.shape, op.shape)
        except ShapeRefused as refused:
            raise RequestError(refused.message, code=refused.code) from None
        return op.kind
