"""How every service builds its federation subgraph schema."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import ParserCache, SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import validate_document
from strawberry.types import ExecutionContext
from strawberry.types.scalar import ScalarDefinition

from .errors import CRMError


class SubgraphSchema(strawberry.federation.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Log only unexpected failures: a client's mistake (CRMError, invalid query) is an
        answer, not an incident. (`crm_kit.errors.format_error` logs the trace as well.)"""
        unexpected = [
            error
            for error in errors
            if error.original_error is not None and not isinstance(error.original_error, CRMError)
        ]
        if unexpected:
            super().process_errors(unexpected, execution_context)


class TextValidationCache(SchemaExtension):
    """Each operation validated once, keyed by its text (and the rules it ran with).

    Why not Strawberry's `ValidationCache`: it keys an `lru_cache` by the parsed document,
    and graphql-core 3.3's AST nodes are frozen dataclasses whose hash walks the whole
    tree on every call, so each request re-hashed its document (profiled at about a fifth
    of a list's CPU in the contacts service). The text is the parser cache's key already:
    the same text is the same document. An instance is one cache for the schema's life."""

    def __init__(self, maxsize: int = 256) -> None:
        super().__init__()
        self.maxsize = maxsize
        self._results: OrderedDict[tuple[Any, ...], list[GraphQLError]] = OrderedDict()

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        assert document is not None  # parsed before validation
        if context.query is None:  # a document given without text: nothing to key by
            key = None
        else:
            key = (id(context.schema), context.query, context.validation_rules)
        errors = self._results.get(key) if key is not None else None
        if errors is None:
            errors = validate_document(context.schema._schema, document, context.validation_rules)
            if key is not None:
                self._results[key] = errors
                if len(self._results) > self.maxsize:
                    self._results.popitem(last=False)
        context.pre_execution_errors = errors
        yield


def subgraph_schema(
    *,
    query: type,
    mutation: type,
    types: Sequence[Any],
    subscription: type | None = None,
    scalar_map: Mapping[object, ScalarDefinition] | None = None,
) -> SubgraphSchema:
    """`subscription`: the service's live fields, fed by `crm_kit.live` (its own events);
    `scalar_map`: the service's own scalars, each a NewType (Strawberry's way to declare
    one that type checkers follow)."""
    return SubgraphSchema(
        query=query,
        mutation=mutation,
        subscription=subscription,
        types=list(types),
        config=StrawberryConfig(scalar_map=dict(scalar_map or {})),
        federation_version="2.9",
        # Clients and the gateway repeat the same few operations: parse and validate each
        # once (measured: validation was a third of a pipeline board's 19 ms in the deals
        # service).
        # Instances, not classes: one cache for the schema's life (Strawberry accepts them,
        # though its annotation names only classes and factories).
        extensions=[ParserCache(maxsize=256), TextValidationCache(maxsize=256)],  # type: ignore[list-item]
    )
