"""Per-request context: who is calling, in which workspace (the trace context is
OpenTelemetry's: `crm_kit.telemetry`)."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field

ROLES = ("admin", "manager", "rep", "viewer")
WRITE_ROLES = frozenset({"admin", "manager", "rep"})


@dataclass(frozen=True)
class RequestContext:
    workspace_id: str
    subject: str
    roles: frozenset[str] = field(default_factory=frozenset)

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    @property
    def can_write(self) -> bool:
        return bool(self.roles & WRITE_ROLES)


_request: ContextVar[RequestContext | None] = ContextVar("crm_request", default=None)


def current_request() -> RequestContext | None:
    return _request.get()


def bind_request(ctx: RequestContext | None) -> None:
    _request.set(ctx)
