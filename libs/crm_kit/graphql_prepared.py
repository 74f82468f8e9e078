"""Valid operations executed by graphql-core directly, from a document parsed and
validated once per text.

Why: a subgraph answers the same few planned operations all day, and Strawberry's
`Schema.execute` spends on each of them more than graphql-core's execution of a small
list: an execution context and the extensions' context managers per request, its parser
cache's and validation cache's look-ups, its result conversion (measured in process:
about a third of a `{ __typename }` request through the whole ASGI app). What Strawberry
adds around execution does nothing for a subgraph whose only extensions are those two
caches, so a document that parses, validates against this schema and names an operation
of an allowed type runs straight through `graphql.execute` with Strawberry's own
execution-context class (its resolvers see the same `Info`).

Everything else (no query, a syntax or validation error, an unknown or ambiguous
operation, an operation type the method does not allow) is not prepared: the caller
answers it through Strawberry, which words those answers. So is every operation of a
schema with anything Strawberry would have to run per request (another extension, an
operation directive): `prepared_for` returns None for it once and for all.

A document is validated against the schema of the cache that holds it (one cache per
schema) and never depends on the caller: roles act in the resolvers, not in validation.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Collection
from dataclasses import dataclass
from typing import Any, cast

from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    OperationDefinitionNode,
    execute,
    parse,
    specified_rules,
)
from graphql.language import BREAK, Visitor, visit
from strawberry.execution.is_awaitable import optimized_is_awaitable
from strawberry.extensions import ParserCache
from strawberry.schema import Schema
from strawberry.schema.schema import validate_document
from strawberry.types.graphql import OperationType

from .graphql_rows import PlainRows, SharedPlans
from .graphql_schema import TextValidationCache

log = logging.getLogger(__name__)

# The operation types executed here.
EXECUTED = frozenset({OperationType.QUERY, OperationType.MUTATION})
# Extensions that only cache parsing and validation: what this module does itself.
CACHING_EXTENSIONS = (ParserCache, TextValidationCache)


@dataclass(frozen=True)
class Prepared:
    """A document valid against one schema, and its operations' types by name (None: the
    document's only operation)."""

    document: DocumentNode
    operations: dict[str | None, OperationType]
    # The plain objects' plans (`crm_kit.graphql_rows`) kept with the document whose nodes
    # they are keyed by; None when a directive makes its selections depend on variables.
    plans: SharedPlans | None


class PreparedOperations:
    """Per text, the document parsed and validated once (bounded, least recently used
    first out); None for a text that does not parse or does not validate, which is
    answered through Strawberry every time."""

    def __init__(self, schema: Schema, maxsize: int = 256) -> None:
        self._schema = schema
        self._maxsize = maxsize
        self._documents: OrderedDict[str, Prepared | None] = OrderedDict()
        # Strawberry's execution-context class, with plain objects completed in one pass.
        self._executor = type("PlainRowsExecutor", (PlainRows, schema.execution_context_class), {})
        self.enabled = _only_caches(schema)
        if not self.enabled:
            log.info("operations run through Strawberry: the schema has per-request work")

    def prepared_for(
        self, query: str | None, operation_name: str | None, allowed: Collection[OperationType]
    ) -> Prepared | None:
        """The prepared document when its operation `operation_name` exists and is of an
        `allowed` type; else None."""
        if not self.enabled or not query:
            return None
        try:
            prepared = self._documents[query]
            self._documents.move_to_end(query)
        except KeyError:
            prepared = self._prepare(query)
            self._documents[query] = prepared
            if len(self._documents) > self._maxsize:
                self._documents.popitem(last=False)
        if prepared is None:
            return None
        kind = prepared.operations.get(operation_name)
        # A subscription never runs here (the gate streams it or refuses it).
        runs = kind in EXECUTED and kind in allowed
        return prepared if runs else None

    def _prepare(self, query: str) -> Prepared | None:
        try:
            document = parse(query)
        except GraphQLError:
            return None
        if validate_document(self._schema._schema, document, tuple(specified_rules)):
            return None
        ops = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        operations: dict[str | None, OperationType] = {
            op.name.value: OperationType(op.operation.value) for op in ops if op.name
        }
        if len(ops) == 1:
            operations[None] = OperationType(ops[0].operation.value)
        return Prepared(document, operations, None if _has_directives(document) else {})

    async def execute(
        self,
        prepared: Prepared,
        *,
        variables: dict[str, Any] | None,
        context: Any,
        operation_name: str | None,
        operation_extensions: dict[str, Any] | None,
    ) -> ExecutionResult:
        """Run a prepared operation as Strawberry's `Schema.execute` would (the same
        execution-context class, the same errors logged), minus its per-request set-up."""
        schema = self._schema
        try:
            result = execute(
                schema._schema,
                prepared.document,
                context_value=context,
                variable_values=variables,
                operation_name=operation_name,
                executor_class=self._executor,
                # Strawberry's check: a type look-up for plain values before the
                # generic one (it runs once per field).
                is_awaitable=optimized_is_awaitable,  # type: ignore[arg-type]
                operation_extensions=operation_extensions,
                plain_plans=prepared.plans,
            )
            if optimized_is_awaitable(result):
                result = await cast(Awaitable[ExecutionResult], result)
        except Exception as error:  # noqa: BLE001 - answered as Strawberry answers it
            result = ExecutionResult(None, [GraphQLError(str(error), original_error=error)])
        result = cast(ExecutionResult, result)
        if result.errors:
            schema.process_errors(result.errors, None)
        return result


def _only_caches(schema: Schema) -> bool:
    """Whether Strawberry would run nothing per request but its parse and validation
    caches (then skipping it changes no answer)."""
    extensions = getattr(schema, "extensions", ())
    return not getattr(schema, "directives", ()) and all(
        isinstance(extension, CACHING_EXTENSIONS) for extension in extensions
    )


def _has_directives(document: DocumentNode) -> bool:
    """Whether any directive is used in the document (`@skip`/`@include` make the fields
    selected depend on the variables)."""
    found = False

    class Finder(Visitor):
        def enter_directive(self, *_: Any) -> Any:
            nonlocal found
            found = True
            return BREAK

    visit(document, Finder())
    return found
