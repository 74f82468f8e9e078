"""The federation v2.9 subgraph schema."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.types import ExecutionContext

from crm_kit.errors import CRMError

from .mutation import Mutation
from .query import Query
from .types import Company, Contact, Interaction


class ContactsSchema(strawberry.federation.Schema):
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


def build_schema() -> strawberry.federation.Schema:
    return ContactsSchema(
        query=Query,
        mutation=Mutation,
        types=[Contact, Company, Interaction],
        federation_version="2.9",
        # Clients and the gateway repeat the same few operations: parse and validate each
        # once (validation is most of a small request's CPU time).
        extensions=[ParserCache(maxsize=256), ValidationCache(maxsize=256)],
    )


schema = build_schema()
