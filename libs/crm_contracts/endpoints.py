"""Request/reply endpoints as contracts: subject, request body, reply `data`, the error
codes a caller must handle and who may call (NATS micro protocol, `crm_kit.rpc`).

A reply is `{"data": <reply>}`; a failure is `{"error": {"code", "message"}}` with the micro
protocol's `Nats-Service-Error-Code` / `Nats-Service-Error` headers. Every request carries
the caller's signed internal assertion in the `crm-assertion` header.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict

# Every endpoint may answer these (crm_kit.rpc): no valid assertion, a role or party it does
# not accept, a body that is not a JSON object or misses a field, an unexpected failure.
COMMON_ERRORS = ("UNAUTHENTICATED", "FORBIDDEN", "BAD_REQUEST", "INTERNAL")

ErrorCode = Literal[
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "BAD_REQUEST",
    "NOT_FOUND",
    "CONFLICT",
    "PRECONDITION_FAILED",
    # The record is no longer in the state the request expected (it moved on): final.
    "STAGE_CHANGED",
    "INTERNAL",
]
# Who may call, by role (the GraphQL API's rules): any role reads; rep, manager and admin
# write; admin administers.
Roles = Literal["read", "write", "admin"]


class RpcErrorBody(BaseModel):
    model_config = ConfigDict(extra="allow")

    code: ErrorCode
    message: str


class RpcError(BaseModel):
    """The body of a failed request."""

    model_config = ConfigDict(extra="allow")

    error: RpcErrorBody


@dataclass(frozen=True)
class RpcEndpoint:
    subject: str
    summary: str
    request: type[BaseModel]
    # The model of `data` in the reply; `nullable`: `data` may be null (nothing found).
    reply: type[BaseModel]
    roles: Roles
    errors: tuple[str, ...] = COMMON_ERRORS
    nullable: bool = False
    # Parties whose assertions it accepts (None: the services and the operators' tools).
    callers: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        unknown = set(self.errors) - set(ErrorCode.__args__)  # type: ignore[attr-defined]
        if unknown:
            raise ValueError(f"{self.subject}: unknown error codes {sorted(unknown)}")
