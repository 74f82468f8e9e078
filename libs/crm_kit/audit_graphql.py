"""The audit log's GraphQL types and resolvers, the same in every subgraph that audits.

The types are @shareable (one `AuditEntry` in the supergraph whichever service answers);
each service names its own root fields (`<service>AuditTrail(recordId)`,
`<service>AuditLog(filter)`: root fields must not collide across subgraphs, and record ids
carry no type to route by), made by `trail_field` / `log_field`. Who may read: a record's
trail, whoever may read the record (the service says, with `readable(scope, id)`); the
workspace's log, admins. The resolvers read the service's use-case scope from the GraphQL
context (`info.context.scope`, with `caller` and `store.audit_trail`), as every service
has it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

import strawberry
from strawberry.types import Info

from . import bounds
from .audit import stored_changes
from .audit_read import AuditQuery, AuditTrail, entry_cursor
from .context import RequestContext
from .errors import BadUserInput, Forbidden, NotFound
from .pagination import Page, decode_cursor, page_size
from .relay_types import PageInfo

# Whether the scope's caller may read the record with this id now.
Readable = Callable[[Any, str], Awaitable[bool]]

# A record type name (`deal`, `contact`...).
MAX_RECORD_TYPE = 40


@strawberry.federation.type(
    shareable=True,
    description="One field a change set: its value before and after, as JSON text "
    "(null: absent or null). `field` is the stored field's name.",
)
class AuditChange:
    field: str
    before: str | None
    after: str | None


@strawberry.federation.type(
    shareable=True,
    description="One change to a record: who made it (subject, roles, the party that "
    "carried it), when, through which path (graphql, nats, import, automation, cli), the "
    "action (create, update, delete, restore) and each changed field.",
)
class AuditEntry:
    id: strawberry.ID
    service: str
    record_type: str
    record_id: strawberry.ID
    action: str
    at: datetime
    actor: str
    roles: list[str]
    party: str
    path: str
    changes: list[AuditChange]
    detail: str | None = strawberry.field(
        description="What the change does not show, as JSON text: e.g. an admin's "
        '`{"override": [exit criteria passed over]}`.'
    )


@strawberry.federation.type(shareable=True)
class AuditEdge:
    node: AuditEntry
    cursor: str


@strawberry.federation.type(shareable=True)
class AuditConnection:
    edges: list[AuditEdge]
    page_info: PageInfo
    total_count: int


@strawberry.input(description="Which entries of the workspace's audit log (all optional).")
class AuditLogFilter:
    record_type: str | None = None
    actor: str | None = None
    from_: datetime | None = strawberry.field(default=None, name="from")
    to: datetime | None = None


def node_of(entry: Mapping[str, Any]) -> AuditEntry:
    return AuditEntry(
        id=strawberry.ID(str(entry["_id"])),
        service=entry.get("service", ""),
        record_type=entry.get("record_type", ""),
        record_id=strawberry.ID(entry.get("record_id", "")),
        action=entry.get("action", ""),
        at=entry["at"],
        actor=entry.get("actor", ""),
        roles=list(entry.get("roles") or []),
        party=entry.get("party", ""),
        path=entry.get("path", ""),
        changes=[
            AuditChange(field=c["field"], before=c.get("before"), after=c.get("after"))
            for c in stored_changes(entry)
        ],
        detail=entry.get("detail"),
    )


async def _connection(
    trail: AuditTrail, query: AuditQuery, first: int | None, after: str | None
) -> AuditConnection:
    size = page_size(first)
    cursor = decode_cursor(after) if after is not None else None
    return connection_of(await trail.page(query, first=size, after=cursor))


def connection_of(page: Page[dict[str, Any]], prefix: str = "") -> AuditConnection:
    """A page of stored entries as a connection; `prefix` goes before each cursor (the
    single `auditTrail` names the service that minted it)."""
    edges = [AuditEdge(node=node_of(e), cursor=prefix + entry_cursor(e)) for e in page.items]
    return AuditConnection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=page.has_next, end_cursor=edges[-1].cursor if edges else None
        ),
        total_count=page.total,
    )


def _bounded(value: str | None, field: str, limit: int) -> str | None:
    if value is not None and len(value) > limit:
        raise BadUserInput(f"longer than {limit} characters", field=field)
    return value


async def trail_page(
    trail: AuditTrail,
    caller: RequestContext,
    record_id: str,
    readable: Callable[[str], Awaitable[bool]],
    *,
    first: int | None = None,
    after: str | None = None,
) -> Page[dict[str, Any]]:
    """A page of a record's changes, newest first. An admin reads any record's (a deleted
    one's too); anyone else one they may read now (`readable`), else NOT_FOUND as for the
    record itself."""
    _bounded(record_id, "recordId", bounds.MAX_ID)
    if not caller.has_role("admin") and not await readable(record_id):
        raise NotFound(f"no record {record_id!r}", field="recordId")
    size = page_size(first)
    cursor = decode_cursor(after) if after is not None else None
    return await trail.page(AuditQuery(record_id=record_id), first=size, after=cursor)


async def trail_connection(
    trail: AuditTrail,
    caller: RequestContext,
    record_id: str,
    readable: Callable[[str], Awaitable[bool]],
    *,
    first: int | None = None,
    after: str | None = None,
) -> AuditConnection:
    """`trail_page` as a connection."""
    page = await trail_page(trail, caller, record_id, readable, first=first, after=after)
    return connection_of(page)


async def log_connection(
    trail: AuditTrail,
    caller: RequestContext,
    filter: AuditLogFilter | None = None,
    *,
    first: int | None = None,
    after: str | None = None,
) -> AuditConnection:
    """The workspace's changes, newest first, for admins."""
    if not caller.has_role("admin"):
        raise Forbidden("only an admin may read the workspace's audit log")
    chosen = filter or AuditLogFilter()
    query = AuditQuery(
        record_type=_bounded(chosen.record_type, "filter.recordType", MAX_RECORD_TYPE),
        actor=_bounded(chosen.actor, "filter.actor", bounds.MAX_ID),
        since=chosen.from_,
        until=chosen.to,
    )
    return await _connection(trail, query, first, after)


def trail_field(readable: Readable, records: str) -> Any:
    """The root field of a record's trail; `records` names them in its description."""

    async def resolve(
        info: Info, record_id: strawberry.ID, first: int | None = None, after: str | None = None
    ) -> AuditConnection:
        scope = info.context.scope
        return await trail_connection(
            scope.store.audit_trail,
            scope.caller,
            str(record_id),
            lambda wanted: readable(scope, wanted),
            first=first,
            after=after,
        )

    return strawberry.field(
        resolver=resolve,
        description=f"The changes to one {records}, newest first (whoever may read the "
        "record; admins also a deleted one's).",
        deprecation_reason="Use auditTrail(recordId), which answers for every record type, "
        "or the record's own auditTrail field.",
    )


def log_field(records: str) -> Any:
    """The root field of the workspace's log (admins)."""

    async def resolve(
        info: Info,
        filter: AuditLogFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> AuditConnection:
        scope = info.context.scope
        return await log_connection(
            scope.store.audit_trail, scope.caller, filter, first=first, after=after
        )

    return strawberry.field(
        resolver=resolve,
        description=f"The changes to the workspace's {records}, newest first (admins).",
    )


def record_trail_field(readable: Readable, record: str) -> Any:
    """`<Type>.auditTrail`: the changes to this record, with the same rules as the root
    trail (`trail_connection`); the object it is on gives the id."""

    async def resolve(
        root: Any, info: Info, first: int | None = None, after: str | None = None
    ) -> AuditConnection:
        scope = info.context.scope
        return await trail_connection(
            scope.store.audit_trail,
            scope.caller,
            str(root.id),
            lambda wanted: readable(scope, wanted),
            first=first,
            after=after,
        )

    return strawberry.field(
        resolver=resolve,
        description=f"The changes to this {record}, newest first (whoever may read it; "
        "admins also a deleted one's). As `auditTrail(recordId)`.",
    )
