"""The platform's single `auditTrail(recordId)`, answered by this service: a task's own
trail (also as `Task.auditTrail`), another service's record from that service (a fake of
the request/reply answers here), NOT_FOUND for a record nobody holds for the caller."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import strawberry

from crm_kit.access_view import AccessViews
from crm_kit.audit_graphql import AuditConnection, AuditEdge, AuditEntry
from crm_kit.audit_rpc import Answer
from crm_kit.context import RequestContext
from crm_kit.relay_types import PageInfo
from crm_kit.testing import Clock, GraphQLClient
from crm_tasks.graphql.context import GraphQLContext, context_for
from crm_tasks.graphql.schema import schema
from crm_tasks.usecases.scope import scopes

from .conftest import FakeStore

TRAIL = """query($id: ID!, $after: String) { auditTrail(recordId: $id, first: 1, after: $after) {
  totalCount pageInfo { hasNextPage endCursor } edges { node { service recordId action } } } }"""


class DealsTrails:
    """The deals service, as the request/reply answers: it holds deal `d1` only."""

    subjects: Mapping[str, str] = {"deals": "rpc.deals.audit.trail"}

    def __init__(self) -> None:
        self.asked: list[tuple[str, str, str | None]] = []

    def answer(self, service: str) -> Answer:
        async def ask(
            caller: RequestContext, record_id: str, first: int, after: str | None
        ) -> AuditConnection | None:
            self.asked.append((caller.subject, record_id, after))
            if record_id != "d1":
                return None
            node = AuditEntry(
                id=strawberry.ID("e1"),
                service=service,
                record_type="deal",
                record_id=strawberry.ID(record_id),
                action="update" if after else "create",
                at=datetime(2026, 1, 1, tzinfo=UTC),
                actor=caller.subject,
                roles=sorted(caller.roles),
                party="gateway",
                path="graphql",
                changes=[],
                detail=None,
            )
            edge = AuditEdge(node=node, cursor=f"{service}:c")
            return AuditConnection(
                edges=[edge],
                page_info=PageInfo(has_next_page=not after, end_cursor=edge.cursor),
                total_count=2,
            )

        return ask


def _client(store: FakeStore, clock: Clock, trails: DealsTrails, roles: str) -> GraphQLClient:
    views = AccessViews(store.db)

    def context_of(caller: RequestContext) -> GraphQLContext:
        return context_for(scopes(store.store, clock, views, trails=trails)(caller))

    return GraphQLClient.in_process(schema, context_of, "w1", "rita", roles)


async def test_a_tasks_trail_is_answered_here_and_on_the_task(clock: Clock) -> None:
    store = FakeStore(audited=True)
    trails = DealsTrails()
    rita = _client(store, clock, trails, "rep")
    made = await rita.data('mutation { createTask(input: {title: "Call"}) { id } }')
    task_id = made["createTask"]["id"]
    trail = (await rita.data(TRAIL, {"id": task_id}))["auditTrail"]
    assert trail["totalCount"] == 1
    assert trail["edges"][0]["node"] == {
        "service": "tasks",
        "recordId": task_id,
        "action": "create",
    }
    assert trail["pageInfo"]["endCursor"].startswith("tasks:")
    assert trails.asked == []  # its own record: nobody else asked
    on_task = await rita.data(
        "query($id: ID!) { task(id: $id) { auditTrail { totalCount } } }", {"id": task_id}
    )
    assert on_task["task"]["auditTrail"]["totalCount"] == 1


async def test_another_services_record_is_asked_of_it_for_the_caller(
    store: FakeStore, clock: Clock
) -> None:
    trails = DealsTrails()
    rita = _client(store, clock, trails, "rep")
    first = (await rita.data(TRAIL, {"id": "d1"}))["auditTrail"]
    assert first["edges"][0]["node"] == {"service": "deals", "recordId": "d1", "action": "create"}
    after = first["pageInfo"]["endCursor"]
    assert after == "deals:c"
    second = (await rita.data(TRAIL, {"id": "d1", "after": after}))["auditTrail"]
    assert second["edges"][0]["node"]["action"] == "update"
    # Asked as Rita (signed for her over NATS), the next page with the deals cursor only.
    assert trails.asked == [("rita", "d1", None), ("rita", "d1", "c")]
    missing = await rita.execute(TRAIL, {"id": "0" * 24})
    assert missing["errors"][0]["extensions"] == {"code": "NOT_FOUND", "field": "recordId"}
    bad = await rita.execute(TRAIL, {"id": "d1", "after": "somewhere:c"})
    assert bad["errors"][0]["extensions"]["field"] == "after"
