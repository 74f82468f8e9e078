"""Client-facing errors: every error a client can cause carries `extensions.code`, and
input errors name the offending field. A database that cannot be reached is
SERVICE_UNAVAILABLE with `extensions.retryable`, so a client knows to try again. Anything
else becomes a generic internal error without a stack trace (the trace goes to the log)."""

from __future__ import annotations

import logging
import re
from typing import Any

from graphql import GraphQLError
from pymongo.errors import ConnectionFailure, ServerSelectionTimeoutError

from .operation import current_operation

log = logging.getLogger(__name__)


class CRMError(Exception):
    code = "INTERNAL_SERVER_ERROR"

    def __init__(self, message: str, *, field: str | None = None, **extensions: Any) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.extensions = extensions

    def as_extensions(self) -> dict[str, Any]:
        ext: dict[str, Any] = {"code": self.code, **self.extensions}
        if self.field is not None:
            ext["field"] = self.field
        return ext


class Unauthenticated(CRMError):
    code = "UNAUTHENTICATED"


class Forbidden(CRMError):
    code = "FORBIDDEN"


class BadUserInput(CRMError):
    code = "BAD_USER_INPUT"


class NotFound(CRMError):
    code = "NOT_FOUND"


class Conflict(CRMError):
    code = "CONFLICT"


class PreconditionFailed(CRMError):
    code = "PRECONDITION_FAILED"


class ServiceUnavailable(CRMError):
    code = "SERVICE_UNAVAILABLE"


def unavailable_database(error: ConnectionFailure, operation: str) -> ServiceUnavailable:
    """What to tell a client whose operation met an unreachable database. No server could
    be selected: nothing was sent, so any operation may be repeated. The connection broke
    during an operation: a query may be repeated, but a mutation may have been applied,
    unless it carries an idempotency key (a keyed operation is bound): then its repeat
    with the same key completes it once (`crm_kit.idempotency`)."""
    if current_operation() is not None:
        return ServiceUnavailable(
            "The database is unavailable; repeat the request with the same Idempotency-Key.",
            retryable=True,
        )
    if isinstance(error, ServerSelectionTimeoutError) or operation != "mutation":
        return ServiceUnavailable("The database is unavailable; retry shortly.", retryable=True)
    return ServiceUnavailable(
        "The database connection failed during the change, which may or may not have been "
        "applied; check before repeating it.",
        retryable=False,
    )


def _code_for_graphql_error(error: GraphQLError) -> str:
    message = error.message
    if message.startswith("Syntax Error"):
        return "GRAPHQL_PARSE_FAILED"
    if message.startswith("Variable ") or "got invalid value" in message:
        return "BAD_USER_INPUT"
    return "GRAPHQL_VALIDATION_FAILED"


# graphql-core's words for a variable that does not coerce: "Variable '$input' has invalid
# value at .stages[2].key: ...", "Variable '$n' of required type 'Int!' was not provided."
_VARIABLE = re.compile(
    r"^Variable '\$(?P<name>\w+)' (?:(?:has|got) invalid value(?: at (?P<path>[^:\s]+))?|of )"
)
_PATH_STEP = re.compile(r"\.(\w+)|\[(\d+)\]")
_NAMED_FIELD = re.compile(r"to include (?:required|unknown) field '(\w+)'")


def variable_field(message: str) -> str | None:
    """The offending field of a variable coercion error, as input errors name fields
    (`input.stages.2.key`: the variable, then its path with list indexes as steps), or
    None for any other message."""
    matched = _VARIABLE.match(message)
    if matched is None:
        return None
    steps = [matched["name"]]
    for name, index in _PATH_STEP.findall(matched["path"] or ""):
        steps.append(name or index)
    named = _NAMED_FIELD.search(message)
    if named is not None:
        steps.append(named[1])
    return ".".join(steps)


def format_error(error: GraphQLError, operation: str = "query") -> dict[str, Any]:
    """The JSON shape of one error in a response (`operation`: query or mutation)."""
    original = error.original_error
    message = error.message
    if isinstance(original, ConnectionFailure):
        log.warning("database unavailable: %s", original)
        original = unavailable_database(original, operation)
        message = original.message
    formatted: dict[str, Any] = {"message": message}
    if error.locations:
        formatted["locations"] = [
            {"line": loc.line, "column": loc.column} for loc in error.locations
        ]
    if error.path:
        formatted["path"] = list(error.path)
    if isinstance(original, CRMError):
        formatted["extensions"] = original.as_extensions()
    elif original is None or isinstance(original, GraphQLError) or not error.path:
        # A request-level error (parse, validation, variable coercion): no resolver ran, so
        # the message is about the client's document or variables and safe to show.
        extensions = dict(error.extensions or {})
        extensions.setdefault("code", _code_for_graphql_error(error))
        field = variable_field(message)
        if field is not None:
            extensions.setdefault("field", field)
        formatted["extensions"] = extensions
    else:
        log.error("unexpected error in resolver", exc_info=original)
        formatted["message"] = "Internal server error"
        formatted["extensions"] = {"code": "INTERNAL_SERVER_ERROR"}
    return formatted
