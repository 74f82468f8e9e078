"""How every service builds its federation subgraph schema."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, cast

import strawberry
from graphql import GraphQLError
from strawberry.extensions import ParserCache, SchemaExtension
from strawberry.federation.schema import FederationAny
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import validate_document
from strawberry.types import ExecutionContext, Info
from strawberry.types.scalar import ScalarDefinition

from .errors import CRMError

# A federation type's classmethod `(info, ids) -> awaitable list` resolving many
# representations `{__typename, id}` of it at once, in their order (None: not found).
BATCH_RESOLVER = "resolve_references"


class SubgraphSchema(strawberry.federation.Schema):
    def entities_resolver(
        self, info: Info, representations: list[FederationAny]
    ) -> list[FederationAny]:
        """`_entities` with the representations of a type that resolves many at once
        (`BATCH_RESOLVER`) resolved in one call per type, the rest as Strawberry resolves
        them (one `resolve_reference` each).

        Why: the gateway sends a board's 140 cards' references in one fetch; resolved
        one by one, each is a coroutine, a task and a loader call of its own before the
        batch read they end up sharing (profiled: most of the contacts service's CPU for
        a board's companies). A batch answers the same objects in one await."""
        batched: dict[type, list[int]] = {}
        for index, representation in enumerate(representations):
            origin = self._batch_origin(representation)
            if origin is not None:
                batched.setdefault(origin, []).append(index)
        if not batched:
            return super().entities_resolver(info, representations)
        taken = {index for indexes in batched.values() for index in indexes}
        others = [i for i in range(len(representations)) if i not in taken]
        # Strawberry's own answers for the others (values, awaitables or exceptions,
        # which graphql-core completes or reports at their own index).
        resolved = super().entities_resolver(info, [representations[i] for i in others])
        ids = {
            origin: [cast(dict[str, Any], representations[i])["id"] for i in indexes]
            for origin, indexes in batched.items()
        }

        async def resolve() -> list[Any]:
            results: list[Any] = [None] * len(representations)
            for index, value in zip(others, resolved, strict=True):
                results[index] = value
            for origin, indexes in batched.items():
                found: Sequence[Any]
                try:
                    found = await getattr(origin, BATCH_RESOLVER)(info, ids[origin])
                except Exception as error:  # noqa: BLE001 - an error at each index, as before
                    found = [error] * len(indexes)
                for index, value in zip(indexes, found, strict=True):
                    results[index] = value
            return results

        # An awaitable in place of the list: graphql-core awaits it. (Strawberry builds
        # `_entities` from this method's annotations, so they stay its own.)
        return resolve()  # type: ignore[return-value]

    def _batch_origin(self, representation: Any) -> type | None:
        """The class resolving this representation in a batch, if it is `{__typename,
        id}` of a type that has one (anything else: Strawberry's path and its errors)."""
        if not isinstance(representation, dict) or representation.keys() != {"__typename", "id"}:
            return None
        type_ = self.schema_converter.type_map.get(representation["__typename"])
        origin = getattr(getattr(type_, "definition", None), "origin", None)
        return origin if origin is not None and hasattr(origin, BATCH_RESOLVER) else None

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
