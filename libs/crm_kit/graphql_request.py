"""Reading one GraphQL-over-HTTP request (GET query string or POST JSON body) into checked
parameters, so that whatever a client sends ends in a 4xx with a GraphQL error naming what
was wrong, never a 500. Shared by the gateway and the subgraphs.

The body is read in chunks and abandoned as soon as it passes the limit: a declared
`Content-Length` over the limit is refused before a byte of the body is read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = [
    "BAD_REQUEST",
    "PAYLOAD_TOO_LARGE",
    "GraphQLRequest",
    "RequestError",
    "parse_graphql_request",
    "read_body",
]

BAD_REQUEST = "BAD_REQUEST"
PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
# What a POST body may be declared as (`application/json; charset=utf-8` included).
JSON_MEDIA_TYPES = ("application/json", "application/graphql-response+json")


class RequestError(Exception):
    """A request the server cannot take as a GraphQL request: answered with `status` and a
    GraphQL error (`extensions.code`, `extensions.field` for the offending parameter)."""

    def __init__(
        self, message: str, *, status: int = 400, code: str = BAD_REQUEST, field: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.field = field

    def error(self) -> dict[str, Any]:
        extensions: dict[str, Any] = {"code": self.code}
        if self.field is not None:
            extensions["field"] = self.field
        return {"message": self.message, "extensions": extensions}


@dataclass(frozen=True)
class GraphQLRequest:
    query: str | None
    operation_name: str | None = None
    variables: dict[str, Any] | None = None
    extensions: dict[str, Any] | None = None


async def read_body(chunks: AsyncIterator[bytes], declared_length: str | None, limit: int) -> bytes:
    """The whole body, or RequestError(413) once it is known to pass `limit` bytes."""
    too_large = RequestError(
        f"Request body exceeds the limit of {limit} bytes.", status=413, code=PAYLOAD_TOO_LARGE
    )
    if declared_length is not None:
        try:
            declared = int(declared_length)
        except ValueError:
            raise RequestError("Content-Length is not a number.", field="content-length") from None
        if declared > limit:
            raise too_large
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise too_large
        parts.append(chunk)
    return b"".join(parts)


def parse_graphql_request(
    method: str, content_type: str | None, body: bytes, query_params: Mapping[str, str]
) -> GraphQLRequest:
    """The request's parameters, type-checked as the GraphQL-over-HTTP spec asks."""
    if method == "GET":
        raw: dict[str, Any] = {
            "query": query_params.get("query"),
            "operationName": query_params.get("operationName"),
            "variables": _json_param(query_params, "variables"),
            "extensions": _json_param(query_params, "extensions"),
        }
    elif method == "POST":
        media_type = (content_type or "").split(";", 1)[0].strip().lower()
        if media_type not in JSON_MEDIA_TYPES:
            raise RequestError("Content-Type must be application/json.", field="content-type")
        try:
            decoded = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise RequestError("Request body is not valid JSON.", field="body") from None
        if not isinstance(decoded, dict):
            raise RequestError("Request body must be a JSON object.", field="body")
        raw = decoded
    else:
        raise RequestError("GraphQL requests are GET or POST.", status=405)
    return GraphQLRequest(
        query=_optional(raw, "query", str, "a string"),
        operation_name=_optional(raw, "operationName", str, "a string"),
        variables=_optional(raw, "variables", dict, "an object"),
        extensions=_optional(raw, "extensions", dict, "an object"),
    )


def _json_param(params: Mapping[str, str], name: str) -> Any:
    value = params.get(name)
    if not value:
        return None
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        raise RequestError(f"'{name}' must be JSON.", field=name) from None


def _optional(raw: dict[str, Any], name: str, kind: type, described: str) -> Any:
    value = raw.get(name)
    if value is None or isinstance(value, kind):
        return value
    raise RequestError(f"'{name}' must be {described}.", field=name)
