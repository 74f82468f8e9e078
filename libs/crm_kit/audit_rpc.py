"""One `auditTrail(recordId)` for every record type (docs/audit.md, "Reading it").

Record ids carry no type and root fields must be unique across subgraphs, so the gateway
cannot route a record id to the service holding its trail. One service (tasks) owns the
root field and asks the others for the id over request/reply
(`rpc.<service>.audit.trail`), signed for the caller, so each applies its own read rules
(`readable`) exactly as for its own `…AuditTrail`: the service that holds the record
answers, the others answer NOT_FOUND. Ids are unique across services (`crm_kit.ids`), so
at most one holds entries. The cursors it hands out start with the service that minted
them (`deals:…`), so the next page is asked of that service only.

Why not typed ids (`Deal:…`): every id already stored, sent in events and held by clients
would change. Why not a field per service on one shared type: a client would have to know
which service holds the record, which is what it cannot tell from an id.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

import strawberry
from pydantic import ValidationError
from strawberry.types import Info

from crm_contracts.audit_trail import AuditEntryWire, AuditTrailReply, AuditTrailRequest

from . import bounds
from .audit import stored_changes
from .audit_graphql import AuditConnection, AuditEdge, Readable, connection_of, node_of, trail_page
from .audit_read import entry_cursor
from .context import RequestContext
from .errors import BadUserInput, NotFound, ServiceUnavailable
from .pagination import page_size
from .relay_types import PageInfo
from .rpc import READ, Endpoint, RpcError
from .rpc_client import PeerUnavailable, RpcClient

# What one service answers for a record id: its page, or None (not its record, or not one
# the caller may read).
Answer = Callable[[RequestContext, str, int, str | None], Awaitable[AuditConnection | None]]


def _wire(entry: Mapping[str, Any]) -> AuditEntryWire:
    """A stored entry as the endpoint sends it (its fields, its id and its cursor)."""
    named = {name: entry.get(name) for name in AuditEntryWire.model_fields}
    named.update(id=str(entry["_id"]), cursor=entry_cursor(entry))
    # An import's entries store their changes packed as one JSON text (`packed_changes`):
    # sent as the list, as the GraphQL audit reads them (the endpoint failed on them).
    named.update(roles=list(entry.get("roles") or []), changes=stored_changes(entry))
    return AuditEntryWire.model_validate(named)


async def admins_only(scope: Any, record_id: str) -> bool:
    """`readable` for records only admins manage (capture settings, webhook endpoints):
    nobody else reads their trail (admins read every trail anyway)."""
    del scope, record_id
    return False


def trail_endpoint(
    subject: str, scopes: Callable[[RequestContext], Any], readable: Readable
) -> Endpoint:
    """The service's `rpc.<service>.audit.trail`: a page of a record's trail as the signed
    caller may read it (the rules of `trail_page`); NOT_FOUND when the caller may not, or
    when an admin asks for a record this service holds no entry of."""

    async def handle(caller: RequestContext, payload: dict[str, Any]) -> Any:
        try:
            asked = AuditTrailRequest.model_validate(payload)
        except ValidationError as error:
            raise RpcError("BAD_REQUEST", str(error.errors()[0]["msg"])) from None
        scope = scopes(caller)
        try:
            page = await trail_page(
                scope.store.audit_trail,
                caller,
                asked.record_id,
                lambda wanted: readable(scope, wanted),
                first=asked.first,
                after=asked.after,
            )
        except NotFound as error:
            raise RpcError("NOT_FOUND", error.message) from None
        except BadUserInput as error:
            raise RpcError("BAD_REQUEST", f"{error.field}: {error.message}") from None
        if page.total == 0 and caller.has_role("admin"):
            raise RpcError("NOT_FOUND", f"no entry of {asked.record_id!r}")
        return AuditTrailReply(
            entries=[_wire(e) for e in page.items],
            has_next_page=page.has_next,
            total_count=page.total,
        ).wire()

    return Endpoint(
        "audit-trail",
        subject,
        handle,
        "A page of a record's audit trail, as the caller may read it: {recordId, first, after}",
        roles=READ,
    )


def _connection(service: str, reply: AuditTrailReply) -> AuditConnection:
    """A peer's page as this service's connection: the entries as stored-entry shapes for
    `node_of`, the cursors prefixed with the peer's name."""
    edges = [
        AuditEdge(
            node=node_of({**e.model_dump(exclude={"id", "cursor"}), "_id": e.id}),
            cursor=f"{service}:{e.cursor}",
        )
        for e in reply.entries
    ]
    return AuditConnection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=reply.has_next_page, end_cursor=edges[-1].cursor if edges else None
        ),
        total_count=reply.total_count,
    )


class Trails(Protocol):
    """The other services' trails by service name (`subjects`' keys)."""

    @property
    def subjects(self) -> Mapping[str, str]: ...

    def answer(self, service: str) -> Answer: ...


# A trail read scans the service's `audit` collection on FerretDB's SQLite backend (only
# `_id` is index-served there): far slower than an existence check's `_id` read, so it
# gets longer than the client's default before the peer counts as not answering.
TRAIL_TIMEOUT = 8.0


class RemoteTrails:
    """The other services' trails, asked over request/reply for the caller."""

    def __init__(
        self, rpc: RpcClient, subjects: Mapping[str, str], timeout: float = TRAIL_TIMEOUT
    ) -> None:
        self._rpc = rpc
        self._timeout = timeout
        self._subjects = dict(subjects)

    @property
    def subjects(self) -> Mapping[str, str]:
        return self._subjects

    def answer(self, service: str) -> Answer:
        subject = self._subjects[service]

        async def ask(
            caller: RequestContext, record_id: str, first: int, after: str | None
        ) -> AuditConnection | None:
            body = {"recordId": record_id, "first": first, "after": after}
            try:
                data = await self._rpc.call(subject, caller, body, timeout=self._timeout)
            except RpcError as error:
                if error.code == "NOT_FOUND":
                    return None
                if error.code == "BAD_REQUEST":
                    raise BadUserInput("not a cursor of this trail", field="after") from None
                raise PeerUnavailable(subject, error.code) from None
            return _connection(service, AuditTrailReply.model_validate(data))

        return ask


def local_answer(service: str, readable: Readable, scope: Any) -> Answer:
    """This service's own trail, as an `Answer` (cursors prefixed like the others')."""

    async def ask(
        caller: RequestContext, record_id: str, first: int, after: str | None
    ) -> AuditConnection | None:
        try:
            page = await trail_page(
                scope.store.audit_trail,
                caller,
                record_id,
                lambda wanted: readable(scope, wanted),
                first=first,
                after=after,
            )
        except NotFound:
            return None
        if page.total == 0 and caller.has_role("admin"):
            return None
        return connection_of(page, prefix=f"{service}:")

    return ask


async def any_trail(
    caller: RequestContext,
    record_id: str,
    answers: Sequence[tuple[str, Answer]],
    *,
    first: int | None = None,
    after: str | None = None,
) -> AuditConnection:
    """The trail of `record_id` from whichever service holds it (`answers`, this service
    first). NOT_FOUND naming `recordId` when none does (or none the caller may read);
    SERVICE_UNAVAILABLE, retryable, when none did and one could not be asked."""
    if len(record_id) > bounds.MAX_ID:
        raise BadUserInput(f"longer than {bounds.MAX_ID} characters", field="recordId")
    size = page_size(first)
    by_service = dict(answers)
    if after is not None:
        service, _, inner = after.partition(":")
        if service not in by_service or not inner:
            raise BadUserInput("not a cursor of this trail", field="after")
        found = await by_service[service](caller, record_id, size, inner)
        if found is None:
            raise NotFound(f"no record {record_id!r}", field="recordId")
        return found
    (_, own), *others = answers
    mine = await own(caller, record_id, size, None)
    if mine is not None:
        return mine
    results = await asyncio.gather(
        *(ask(caller, record_id, size, None) for _, ask in others), return_exceptions=True
    )
    unavailable: ServiceUnavailable | None = None
    for result in results:
        if isinstance(result, AuditConnection):
            return result
        if isinstance(result, ServiceUnavailable):
            unavailable = result
        elif isinstance(result, BaseException):
            raise result
    if unavailable is not None:
        raise ServiceUnavailable(
            f"the trail could not be looked up everywhere ({unavailable.message})",
            retryable=True,
        )
    raise NotFound(f"no record {record_id!r}", field="recordId")


def any_trail_field(service: str, readable: Readable) -> Any:
    """The root `auditTrail(recordId)` of the service that answers it: its own trail first,
    then the others' (`scope.trails`, `RemoteTrails` when running; None: its own only)."""

    async def resolve(
        info: Info, record_id: strawberry.ID, first: int | None = None, after: str | None = None
    ) -> AuditConnection:
        scope = info.context.scope
        remote: Trails | None = getattr(scope, "trails", None)
        answers = [(service, local_answer(service, readable, scope))]
        if remote is not None:
            answers += [(name, remote.answer(name)) for name in remote.subjects]
        return await any_trail(scope.caller, str(record_id), answers, first=first, after=after)

    return strawberry.field(
        resolver=resolve,
        description="The changes to any record (a deal, contact, company, interaction, "
        "task, pipeline, team, rule...), newest first, whichever service holds it: whoever "
        "may read the record; admins also a deleted one's. NOT_FOUND naming recordId "
        "otherwise.",
    )
