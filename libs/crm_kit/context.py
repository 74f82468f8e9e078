"""Per-request context: who is calling, in which workspace, under which trace."""

from __future__ import annotations

import os
import re
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


_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


@dataclass(frozen=True)
class TraceContext:
    """W3C trace context (https://www.w3.org/TR/trace-context/)."""

    trace_id: str
    parent_id: str
    flags: str = "01"

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.parent_id}-{self.flags}"

    def child(self) -> TraceContext:
        """Same trace, a new span id for the outgoing hop."""
        return TraceContext(self.trace_id, os.urandom(8).hex(), self.flags)

    @classmethod
    def parse(cls, header: str | None) -> TraceContext | None:
        if not header:
            return None
        match = _TRACEPARENT.match(header.strip().lower())
        if match is None or set(match.group(1)) == {"0"} or set(match.group(2)) == {"0"}:
            return None
        return cls(match.group(1), match.group(2), match.group(3))

    @classmethod
    def new(cls) -> TraceContext:
        return cls(os.urandom(16).hex(), os.urandom(8).hex())

    @classmethod
    def continue_or_start(cls, header: str | None) -> TraceContext:
        parsed = cls.parse(header)
        return parsed.child() if parsed else cls.new()


_request: ContextVar[RequestContext | None] = ContextVar("crm_request", default=None)
_trace: ContextVar[TraceContext | None] = ContextVar("crm_trace", default=None)


def current_request() -> RequestContext | None:
    return _request.get()


def current_trace() -> TraceContext | None:
    return _trace.get()


def bind_request(ctx: RequestContext | None) -> None:
    _request.set(ctx)


def bind_trace(trace: TraceContext | None) -> None:
    _trace.set(trace)
