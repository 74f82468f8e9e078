"""The owning side of an export page (`crm_contracts.export_pages`): what every record
owner does the same way, with no domain types.

A service answers `export_<type>.page` with `page_endpoint(record_type, columns, page)`,
where `page` reads one page through the same list use case its GraphQL API uses, acting
for the caller the request names (so record sharing and field permissions apply), and
turns each record into a row keyed by the import target's field names.

The filter arrives as the GraphQL list filter's JSON (camelCase keys) and is read by the
service's own schema (`parse_filter`): GraphQL's coercion of the input type, its enums and
scalars, so an export accepts exactly what the list accepts; a problem is
`BAD_USER_INPUT` naming `filter.<key>`, sent as `BAD_REQUEST` with the message
`filter.<key>: <reason>` (the import service turns it back into a GraphQL error); a
filter the caller may not use (by a hidden field) is `FORBIDDEN`, placed the same way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import orjson
from graphql import GraphQLError, GraphQLInputObjectType
from graphql.utilities import coerce_input_value, validate_input_value
from pydantic import ValidationError
from strawberry import Schema
from strawberry.types.arguments import convert_argument

from crm_contracts.export_pages import (
    RPC_EXPORT_NAMES,
    ExportNames,
    ExportNamesRequest,
    ExportPageReply,
    ExportPageRequest,
    page_subject,
)
from crm_tabular.write import cell_text

from .context import RequestContext
from .errors import BadUserInput, CRMError, Forbidden, ServiceUnavailable
from .rpc import READ, Endpoint, RpcError
from .rpc_client import RpcClient

T = TypeVar("T")
FILTER = "filter"


def parse_filter(schema: Schema, input_type: type[T], given: dict[str, Any]) -> T:
    """`given` (the filter's JSON) as an instance of the strawberry input `input_type`,
    coerced by GraphQL's rules for the schema's type of the same name."""
    name = input_type.__strawberry_definition__.name  # type: ignore[attr-defined]
    graphql_type = schema._schema.get_type(name)
    assert isinstance(graphql_type, GraphQLInputObjectType), name
    unknown = sorted(set(given) - set(graphql_type.fields))
    if unknown:
        raise BadUserInput(f"{name} has no field {unknown[0]!r}", field=f"{FILTER}.{unknown[0]}")
    problems: list[tuple[list[str | int], str]] = []

    def collect(error: GraphQLError, path: list[str | int]) -> None:
        problems.append((path, error.message))

    validate_input_value(given, graphql_type, collect, hide_suggestions=True)
    if problems:
        path, message = problems[0]
        where = ".".join(str(part) for part in (FILTER, *path))
        raise BadUserInput(message, field=where)
    coerced = coerce_input_value(given, graphql_type)
    converted = convert_argument(
        coerced, input_type, schema.schema_converter.scalar_registry, schema.config
    )
    return converted  # type: ignore[return-value]


@dataclass(frozen=True)
class RowsPage:
    """What a service's page reader answers: the rows in order, the `after` of the next
    page (None after the last) and the total the filter selects when known."""

    rows: list[dict[str, Any]]
    after: str | None
    total: int | None = None


PageReader = Callable[[RequestContext, ExportPageRequest], Awaitable[RowsPage]]


def parse_page(payload: dict[str, Any]) -> ExportPageRequest:
    try:
        return ExportPageRequest.model_validate(payload)
    except ValidationError as error:
        problem = error.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        raise RpcError("BAD_REQUEST", f"{where}: {problem['msg']}") from None


def page_endpoint(record_type: str, columns: Sequence[str], read: PageReader) -> Endpoint:
    """The request/reply endpoint answering pages of `record_type` for an export."""

    async def handle(caller: RequestContext, payload: dict[str, Any]) -> dict[str, Any]:
        request = parse_page(payload)
        try:
            page = await read(caller, request)
        except (Forbidden, BadUserInput) as error:
            code = "FORBIDDEN" if isinstance(error, Forbidden) else "BAD_REQUEST"
            placed = f"{error.field}: {error.message}" if error.field else error.message
            raise RpcError(code, placed) from None
        except CRMError as error:
            raise RpcError(error.code, error.message) from None
        reply = ExportPageReply(
            columns=list(columns), rows=page.rows, after=page.after, total=page.total
        )
        return reply.wire()

    return Endpoint(
        f"export-{record_type}-page",
        page_subject(record_type),
        handle,
        f"One page of {record_type} for an export, read as the caller: "
        "ExportPageRequest -> ExportPageReply",
        roles=READ,
    )


Readers = dict[str, tuple[Sequence[str], PageReader]]


def page_endpoints(readers: Readers) -> list[Endpoint]:
    """The endpoints of a service's record types: type -> (columns, page reader)."""
    return [page_endpoint(kind, columns, read) for kind, (columns, read) in readers.items()]


def columns_of(fields: Sequence[str]) -> list[str]:
    """A record type's file columns: its target fields, then the record's own `id` (last,
    so a suggested mapping takes the `external_id` column for the identity, not `id`)."""
    return [*fields, "id"]


def external_id_of(external_id: str | None, record_id: str) -> str:
    """The identity written to the file: the record's id in the system it came from, or
    its id here. A re-import of the file into another workspace keys on it, and the
    references to it in other files (a task's deal) are written the same way."""
    return external_id or record_id


def custom_cells(custom_fields: dict[str, Any]) -> dict[str, Any]:
    """A record's custom fields as `custom.<key>` cells, the import's names for them (the
    export adds a column for each key its rows hold). A number or a text reads back as
    itself; a list or an object is written as its JSON text, which reads back as text."""
    return {
        f"custom.{key}": orjson.dumps(value).decode() if isinstance(value, dict | list) else value
        for key, value in custom_fields.items()
    }


def iso(value: Any) -> str | None:
    """A date or date-time as the file's ISO text (`crm_tabular.write.cell_text`)."""
    return None if value is None else cell_text(value)


class NatsExportNames:
    """The names a page's rows refer to in the contacts service (`RPC_EXPORT_NAMES`),
    asked for the caller, one request per page."""

    def __init__(self, rpc: RpcClient, timeout: float = 30.0) -> None:
        self._rpc = rpc
        self._timeout = timeout

    async def names(
        self, caller: RequestContext, company_ids: Iterable[str], contact_ids: Iterable[str]
    ) -> ExportNames:
        request = ExportNamesRequest(
            company_ids=sorted({i for i in company_ids if i}),
            contact_ids=sorted({i for i in contact_ids if i}),
        )
        if not request.company_ids and not request.contact_ids:
            return ExportNames()
        try:
            data = await self._rpc.call(
                RPC_EXPORT_NAMES, caller, request.wire(), timeout=self._timeout
            )
        except RpcError as error:
            raise ServiceUnavailable(f"contacts did not answer ({error})", retryable=True) from None
        return ExportNames.model_validate(data)


class ExportNamesPort(Protocol):
    async def names(
        self, caller: RequestContext, company_ids: Iterable[str], contact_ids: Iterable[str]
    ) -> ExportNames: ...
