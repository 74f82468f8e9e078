"""The request pipeline, free of HTTP: APQ, document cache, limits, plan cache, execute, shape."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any, cast

import httpx
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    execute_sync,
    parse,
    validate,
)
from graphql.execution.values import get_variable_values

from crm_gateway.api_schema import build_api_schema
from crm_gateway.cache import LRUCache
from crm_gateway.cost import CostModel, size_input
from crm_gateway.executor import Executor
from crm_gateway.identity import CALLER, SubgraphSigner
from crm_gateway.limits import LimitExceeded, Limits, check_shape
from crm_gateway.metrics import Metrics
from crm_gateway.plan import QueryPlan
from crm_gateway.planner import (
    INTROSPECTION_ROOT_FIELDS,
    MAX_CONDITION_BRANCHES,
    Planner,
    PlanningError,
)
from crm_gateway.shaper import Shaper
from crm_gateway.subgraph_client import SubgraphClient
from crm_gateway.supergraph import Supergraph
from crm_kit import telemetry
from crm_kit.context import RequestContext
from crm_kit.errors import variable_field


@dataclass
class GatewayRequest:
    query: str | None
    variables: dict[str, Any] | None = None
    operation_name: str | None = None
    extensions: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)  # forwarded to subgraphs
    method: str = "POST"
    want_plan: bool = False
    caller: RequestContext | None = None  # the verified caller (None: auth off)


# Costs kept per operation, one per distinct value of its page-size variables.
COSTS_KEPT = 64

# Codes of errors that say a dependency was unavailable, not that the request was wrong.
UNAVAILABLE_CODES = frozenset({"SERVICE_UNAVAILABLE", "SUBGRAPH_TIMEOUT"})


@dataclass
class GatewayResponse:
    body: dict[str, Any]
    status: int = 200
    operation_type: str = "unknown"
    operation_name: str | None = None  # as the document names it (for metrics and traces)
    error_codes: list[str] = field(default_factory=list)
    # Nothing came back and every error is an unavailable dependency: the whole operation
    # failed for a reason the client did not cause (HTTP 503 where the client accepts
    # application/graphql-response+json); `retryable` when repeating it is safe.
    unavailable: bool = False
    retryable: bool = False


@dataclass
class PreparedOperation:
    operation: OperationDefinitionNode
    condition_names: list[str]
    shaper: Shaper
    shape_error: LimitExceeded | None
    introspection: DocumentNode | None  # the introspection-only part, answered locally
    only_introspection: bool
    cost: int | None = None  # known once when it does not depend on variables
    # When it does: the variables it reads (`CostModel.estimate_inputs`, the same for every
    # request of the document) and the costs by what it read of them (bounded).
    cost_inputs: tuple[str, ...] | None = None
    costs: dict[tuple[int | None, ...], int] = field(default_factory=dict)


@dataclass
class PreparedDocument:
    document: DocumentNode | None
    errors: list[GraphQLError]
    fragments: dict[str, FragmentDefinitionNode] = field(default_factory=dict)
    operations: dict[str | None, PreparedOperation] = field(default_factory=dict)


@dataclass
class Admitted:
    """An operation that passed every check before execution, with its plan."""

    query: str
    op: PreparedOperation
    op_type: str
    op_name: str | None
    values: dict[str, Any]  # the coerced variables
    send_vars: dict[str, Any]  # the variables forwarded to subgraphs
    plan: QueryPlan
    root_type: GraphQLObjectType

    def shape(self, data: dict[str, Any], errors: list[dict[str, Any]]) -> Any:
        """The client's response data from the merged tree (errors are appended to)."""
        selections = tuple(self.op.operation.selection_set.selections)
        return self.op.shaper.shape(self.root_type, selections, data, self.values, errors)


def _variable_error(message: str) -> dict[str, Any]:
    """A variable that does not coerce: BAD_USER_INPUT naming the field, as the subgraphs
    name it (`crm_kit.errors.variable_field`)."""
    field = variable_field(message)
    extensions: dict[str, Any] = {"code": "BAD_USER_INPUT"}
    if field is not None:
        extensions["field"] = field
    return extensions


def _error(message: str, code: str, **extra: Any) -> dict[str, Any]:
    return {"message": message, "extensions": {"code": code, **extra}}


class Gateway:
    def __init__(
        self,
        supergraph_sdl: str,
        *,
        subgraph_urls: dict[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        limits: Limits | None = None,
        document_cache_size: int = 1000,
        plan_cache_size: int = 1000,
        apq_cache_size: int = 10_000,
        subgraph_timeout: float = 10.0,
        subgraph_connect_timeout: float = 1.0,
        subgraph_queue_timeout: float = 5.0,
        ready_cache_seconds: float = 2.0,
        signer: SubgraphSigner | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.supergraph = Supergraph.from_sdl(supergraph_sdl)
        self.schema: GraphQLSchema = build_api_schema(self.supergraph)
        self.planner = Planner(self.supergraph)
        self.metrics = metrics or Metrics()
        self.limits = limits or Limits()
        self.costs = CostModel(
            self.schema,
            supergraph_sdl,
            default_list_size=self.limits.default_list_size,
            default_page_size=self.limits.default_page_size,
        )
        overrides = {k.lower(): v for k, v in (subgraph_urls or {}).items()}
        urls = {}
        for enum_value, sub in self.supergraph.subgraphs.items():
            urls[enum_value] = overrides.get(sub.name.lower()) or overrides.get(
                enum_value.lower(), sub.url
            )
        self.client = SubgraphClient(
            urls,
            {k: s.name for k, s in self.supergraph.subgraphs.items()},
            timeout=subgraph_timeout,
            connect_timeout=subgraph_connect_timeout,
            queue_timeout=subgraph_queue_timeout,
            transport=transport,
            observer=self.metrics.observe_fetch,
            signer=signer,
            ready_cache_seconds=ready_cache_seconds,
        )
        self.executor = Executor(self.supergraph, self.client)
        self.documents: LRUCache[PreparedDocument] = LRUCache(document_cache_size)
        self.plans: LRUCache[QueryPlan] = LRUCache(plan_cache_size)
        # Keyed by (workspace, hash): one workspace can neither probe for nor run a query
        # text another workspace registered.
        self.persisted: LRUCache[str] = LRUCache(apq_cache_size)

    async def aclose(self) -> None:
        await self.client.aclose()

    # --- preparing documents ------------------------------------------------------------

    def prepare(self, query: str) -> PreparedDocument:
        prepared = self.documents.get(query)
        if prepared is not None:
            return prepared
        try:
            document = parse(query, no_location=False)
        except GraphQLError as exc:
            prepared = PreparedDocument(None, [exc])
        else:
            errors = validate(self.schema, document)
            prepared = PreparedDocument(document if not errors else None, list(errors))
            if not errors:
                self._index(prepared, document)
        self.documents.put(query, prepared)
        return prepared

    def _index(self, prepared: PreparedDocument, document: DocumentNode) -> None:
        prepared.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        ops = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        for op in ops:
            names = Planner.condition_variables(op, prepared.fragments)
            shape_error = None
            try:
                check_shape(self.limits, op, prepared.fragments)
            except LimitExceeded as exc:
                shape_error = exc
            intro = [
                s
                for s in op.selection_set.selections
                if isinstance(s, FieldNode) and s.name.value in INTROSPECTION_ROOT_FIELDS
            ]
            intro_doc = None
            if intro:
                intro_op = OperationDefinitionNode(
                    operation=op.operation,
                    name=op.name,
                    variable_definitions=op.variable_definitions,
                    directives=(),
                    selection_set=SelectionSetNode(selections=tuple(intro)),
                )
                intro_doc = DocumentNode(definitions=(intro_op, *prepared.fragments.values()))
            only = bool(intro) and all(
                isinstance(s, FieldNode)
                and (s.name.value in INTROSPECTION_ROOT_FIELDS or s.name.value == "__typename")
                for s in op.selection_set.selections
            )
            prep_op = PreparedOperation(
                op,
                names,
                Shaper(self.schema, prepared.fragments, names),
                shape_error,
                intro_doc,
                only,
            )
            prepared.operations[op.name.value if op.name else None] = prep_op
        if len(ops) == 1:
            prepared.operations.setdefault(
                None, prepared.operations[next(iter(prepared.operations))]
            )

    def plan_for(
        self, query: str, operation_name: str | None, variables: dict[str, Any] | None = None
    ) -> QueryPlan:
        prepared = self.prepare(query)
        if prepared.document is None:
            raise PlanningError("; ".join(e.message for e in prepared.errors))
        op = prepared.operations[operation_name]
        return self._plan(query, operation_name, prepared.document, op, variables or {})

    def _plan(
        self,
        query: str,
        operation_name: str | None,
        document: DocumentNode,
        op: PreparedOperation,
        variables: dict[str, Any],
    ) -> QueryPlan:
        if len(op.condition_names) > MAX_CONDITION_BRANCHES:
            values = tuple(bool(variables.get(n)) for n in op.condition_names)
            cache_key: tuple[Any, ...] = (query, operation_name, values)
        else:
            cache_key = (query, operation_name)
        plan = self.plans.get(cache_key)
        if plan is None:
            if len(op.condition_names) > MAX_CONDITION_BRANCHES:
                fixed = dict(zip(op.condition_names, cache_key[2], strict=True))
                plan = self.planner.plan(document, op.operation, fixed)
            else:
                plan = self.planner.plan(document, op.operation)
            self.plans.put(cache_key, plan)
        return plan

    # --- APQ ------------------------------------------------------------------------------

    def _resolve_query(self, req: GatewayRequest) -> str | dict[str, Any]:
        """The query text, or an error body (Apollo's automatic persisted queries)."""
        pq = (req.extensions or {}).get("persistedQuery")
        if not isinstance(pq, dict):
            if not req.query:
                return _error("Must provide a query string.", "BAD_REQUEST", field="query")
            return req.query
        if pq.get("version") != 1:
            return _error("Unsupported persisted query version.", "PERSISTED_QUERY_NOT_SUPPORTED")
        digest = str(pq.get("sha256Hash") or "").lower()
        key = (req.caller.workspace_id if req.caller is not None else None, digest)
        if req.query:
            actual = hashlib.sha256(req.query.encode()).hexdigest()
            if actual != digest:
                return _error("provided sha does not match query", "BAD_REQUEST")
            self.persisted.put(key, req.query)
            return req.query
        stored = self.persisted.get(key)
        if stored is None:
            return _error("PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND")
        return stored

    # --- executing -----------------------------------------------------------------------

    async def execute(self, req: GatewayRequest) -> GatewayResponse:
        start = time.perf_counter()
        # The operation's span: the subgraph fetches (client spans) are its children.
        with telemetry.graphql_span("graphql", req.operation_name) as span:
            resp = await self._execute(req)
            codes = [
                str((e.get("extensions") or {}).get("code", "ERROR"))
                for e in resp.body.get("errors") or ()
            ]
            name = resp.operation_name or req.operation_name
            if span.is_recording():
                span.update_name(f"{resp.operation_type} {name or ''}".strip())
                span.set_attribute("graphql.operation.type", resp.operation_type)
                if codes:
                    telemetry.mark_failed(span, ", ".join(sorted(set(codes))))
        resp.error_codes = codes
        self.metrics.observe_request(resp.operation_type, time.perf_counter() - start, codes, name)
        return resp

    async def _execute(self, req: GatewayRequest) -> GatewayResponse:
        admitted = self.admit(req)
        if isinstance(admitted, GatewayResponse):
            return admitted
        if admitted.op.operation.operation == OperationType.SUBSCRIPTION:
            err = _error(
                "A subscription needs a stream: use WebSocket (graphql-transport-ws) or "
                "Accept: text/event-stream.",
                "BAD_REQUEST",
                field="accept",
            )
            return GatewayResponse({"errors": [err]}, 406, admitted.op_type, admitted.op_name)
        bound = CALLER.set(req.caller)
        try:
            state = await self.executor.execute(admitted.plan, admitted.send_vars, req.headers)
        finally:
            CALLER.reset(bound)
        errors = state.errors
        data = state.data
        op = admitted.op
        if op.introspection is not None:
            intro = execute_sync(self.schema, op.introspection, variable_values=req.variables or {})
            if intro.errors:
                errors.extend(dict(e.formatted) for e in intro.errors)
            data.update(intro.data or {})
        shaped = admitted.shape(data, errors)
        body: dict[str, Any] = {}
        if errors:
            body["errors"] = errors
        body["data"] = shaped
        if req.want_plan:
            body["extensions"] = {"queryPlan": admitted.plan.to_json()}
        resp = GatewayResponse(body, 200, admitted.op_type, admitted.op_name)
        if errors and not _has_data(shaped) and all(_code(e) in UNAVAILABLE_CODES for e in errors):
            resp.unavailable = True
            resp.retryable = all((e.get("extensions") or {}).get("retryable") for e in errors)
        return resp

    def admit(self, req: GatewayRequest) -> Admitted | GatewayResponse:
        """Everything before execution: the query text (APQ), its size, parsing and
        validation, the operation, GET rules, shape limits, variables, cost and the plan.
        A refusal comes back as the response to send."""
        query = self._resolve_query(req)
        if isinstance(query, dict):
            status = 400 if query["extensions"]["code"] == "BAD_REQUEST" else 200
            return GatewayResponse({"errors": [query]}, status)
        if len(query.encode()) > self.limits.max_document_bytes:
            return GatewayResponse(
                {
                    "errors": [
                        _error(
                            "Document exceeds the limit of "
                            f"{self.limits.max_document_bytes} bytes.",
                            "DOCUMENT_TOO_LARGE",
                        )
                    ]
                },
                413,
            )
        prepared = self.prepare(query)
        if prepared.document is None:
            code = (
                "GRAPHQL_PARSE_FAILED"
                if len(prepared.errors) == 1 and not any(e.nodes for e in prepared.errors)
                else "GRAPHQL_VALIDATION_FAILED"
            )
            errs = []
            for e in prepared.errors:
                fe = e.formatted
                fe["extensions"] = {**(fe.get("extensions") or {}), "code": code}
                errs.append(fe)
            return GatewayResponse({"errors": errs}, 400)
        op = prepared.operations.get(req.operation_name)
        if op is None:
            msg = (
                f"Unknown operation named '{req.operation_name}'."
                if req.operation_name
                else "Must provide operation name if query contains multiple operations."
            )
            return GatewayResponse({"errors": [_error(msg, "BAD_REQUEST")]}, 400)
        op_type = op.operation.operation.value
        op_name = op.operation.name.value if op.operation.name else None
        if req.method == "GET" and op.operation.operation != OperationType.QUERY:
            return GatewayResponse(
                {"errors": [_error("Only queries can be sent with GET.", "METHOD_NOT_ALLOWED")]},
                405,
                op_type,
                op_name,
            )
        if op.shape_error is not None:
            err = _error(op.shape_error.message, op.shape_error.code)
            return GatewayResponse({"errors": [err]}, 400, op_type, op_name)
        raw_vars = req.variables or {}
        coerced = get_variable_values(
            self.schema, op.operation.variable_definitions or (), raw_vars
        )
        if isinstance(coerced, list):
            errs = [{**e.formatted, "extensions": _variable_error(e.message)} for e in coerced]
            return GatewayResponse({"errors": errs}, 400, op_type, op_name)
        # graphql-core 3.3 wraps the coerced values with their sources.
        values = cast(dict[str, Any], getattr(coerced, "coerced", coerced))
        root_type = self.schema.get_root_type(op.operation.operation)
        assert root_type is not None
        cost = self._cost(op, prepared.fragments, values)
        if cost > self.limits.max_cost:
            msg = f"Estimated query cost {cost} exceeds the limit of {self.limits.max_cost}."
            err = _error(msg, "COST_LIMIT_EXCEEDED", cost=cost, maxCost=self.limits.max_cost)
            return GatewayResponse({"errors": [err]}, 400, op_type, op_name)
        try:
            plan = self._plan(query, req.operation_name, prepared.document, op, values)
        except PlanningError as exc:
            return GatewayResponse(
                {"errors": [_error(f"Cannot plan operation: {exc}", "QUERY_PLANNING_FAILED")]},
                200,
                op_type,
                op_name,
            )
        # Forward variables as the client sent them (subgraphs coerce them again), with the
        # coerced values only where the client left a defaulted variable out.
        send_vars = dict(raw_vars)
        for k, v in values.items():
            send_vars.setdefault(k, v)
        return Admitted(query, op, op_type, op_name, values, send_vars, plan, root_type)

    def _cost(
        self,
        op: PreparedOperation,
        fragments: dict[str, FragmentDefinitionNode],
        variables: dict[str, Any],
    ) -> int:
        """The operation's estimated cost, walked once per document and per distinct
        value of the variables that size its lists (a page size): the walk was a seventh
        of the gateway's CPU under the load's mix, whose lists take `first` by variable."""
        if op.cost is not None:
            return op.cost
        if op.cost_inputs is not None:
            kept = op.costs.get(tuple(size_input(variables.get(n)) for n in op.cost_inputs))
            if kept is not None:
                return kept
        cost, inputs = self.costs.estimate_inputs(op.operation, fragments, variables)
        if not inputs:
            op.cost = cost
            return cost
        op.cost_inputs = inputs
        if len(op.costs) >= COSTS_KEPT:
            op.costs.clear()  # a client cycling page sizes: walk again, never grow
        op.costs[tuple(size_input(variables.get(n)) for n in inputs)] = cost
        return cost


def _code(error: dict[str, Any]) -> Any:
    return (error.get("extensions") or {}).get("code")


def _has_data(data: Any) -> bool:
    """Whether any root field came back with a value."""
    return isinstance(data, dict) and any(v is not None for v in data.values())
