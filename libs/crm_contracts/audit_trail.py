"""The audit trail endpoint's request and reply, the same in every service that serves one
(`rpc.<service>.audit.trail`): a record's changes, newest first, as the signed caller may
read them (docs/audit.md). The service that answers the platform's single
`auditTrail(recordId)` asks the others with it, acting as the caller."""

from __future__ import annotations

from pydantic import Field

from .base import Payload, UtcDateTime


class AuditTrailRequest(Payload):
    """One page of a record's trail: up to `first` entries (0 to 200, default 20) after the
    cursor `after` (one this service minted)."""

    record_id: str = Field(max_length=100)
    first: int | None = Field(default=None, ge=0, le=200)
    after: str | None = Field(default=None, max_length=200)


class AuditChangeWire(Payload):
    field: str
    before: str | None = None
    after: str | None = None


class AuditEntryWire(Payload):
    """One entry (docs/audit.md, "An entry"); `cursor` pages on after it."""

    id: str
    service: str
    record_type: str
    record_id: str
    action: str
    at: UtcDateTime
    actor: str
    roles: list[str]
    party: str
    path: str
    changes: list[AuditChangeWire]
    detail: str | None = None
    cursor: str


class AuditTrailReply(Payload):
    """NOT_FOUND instead when the caller may not read the record (or, for an admin, when
    the service holds no entry of it)."""

    entries: list[AuditEntryWire]
    has_next_page: bool
    total_count: int
