"""The single `auditTrail(recordId)`: the answering service's own trail first, then the
others'; cursors name the service that minted them so the next page goes there only;
NOT_FOUND when nobody holds the record for the caller; SERVICE_UNAVAILABLE, retryable,
when nobody did and a service could not be asked."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import strawberry

from crm_kit.audit import packed_changes
from crm_kit.audit_graphql import AuditConnection, AuditEdge, AuditEntry
from crm_kit.audit_rpc import Answer, RemoteTrails, _wire, any_trail
from crm_kit.context import RequestContext
from crm_kit.errors import BadUserInput, NotFound, ServiceUnavailable
from crm_kit.relay_types import PageInfo
from crm_kit.rpc import RpcError
from crm_kit.rpc_client import PeerUnavailable

CALLER = RequestContext("w1", "rita", frozenset({"rep"}))


def _page(service: str, record_id: str, cursor: str) -> AuditConnection:
    entry = AuditEntry(
        id=strawberry.ID("e1"),
        service=service,
        record_type="deal",
        record_id=strawberry.ID(record_id),
        action="create",
        at=datetime(2026, 1, 1, tzinfo=UTC),
        actor="rita",
        roles=["rep"],
        party="gateway",
        path="graphql",
        changes=[],
        detail=None,
    )
    edge = AuditEdge(node=entry, cursor=f"{service}:{cursor}")
    return AuditConnection(
        edges=[edge], page_info=PageInfo(has_next_page=True, end_cursor=edge.cursor), total_count=2
    )


class Holder:
    """A service holding the trails of `ids`; records what it was asked."""

    def __init__(self, service: str, ids: set[str], down: bool = False) -> None:
        self.service, self.ids, self.down = service, ids, down
        self.asked: list[tuple[str, str | None]] = []

    async def __call__(
        self, caller: RequestContext, record_id: str, first: int, after: str | None
    ) -> AuditConnection | None:
        self.asked.append((record_id, after))
        if self.down:
            raise PeerUnavailable(f"rpc.{self.service}.audit.trail", "NoRespondersError")
        return (
            _page(self.service, record_id, "c2" if after else "c1")
            if record_id in self.ids
            else None
        )


def _answers(*holders: Holder) -> list[tuple[str, Answer]]:
    return [(h.service, h) for h in holders]


async def test_the_service_holding_the_record_answers_and_its_cursor_leads_back_to_it() -> None:
    tasks, contacts, deals = (
        Holder("tasks", set()),
        Holder("contacts", set()),
        Holder("deals", {"d1"}),
    )
    first = await any_trail(CALLER, "d1", _answers(tasks, contacts, deals))
    assert first.edges[0].node.service == "deals"
    assert first.page_info.end_cursor == "deals:c1"
    await any_trail(CALLER, "d1", _answers(tasks, contacts, deals), after="deals:c1")
    assert deals.asked == [("d1", None), ("d1", "c1")]
    assert contacts.asked == [("d1", None)]  # not asked for the next page


async def test_the_own_trail_is_read_first_and_the_others_not_asked() -> None:
    tasks, deals = Holder("tasks", {"t1"}), Holder("deals", set())
    found = await any_trail(CALLER, "t1", _answers(tasks, deals))
    assert found.edges[0].node.service == "tasks"
    assert deals.asked == []


async def test_nobody_holding_it_is_not_found_and_a_service_down_is_retryable() -> None:
    with pytest.raises(NotFound) as missing:
        await any_trail(CALLER, "x", _answers(Holder("tasks", set()), Holder("deals", set())))
    assert missing.value.field == "recordId"
    down = _answers(Holder("tasks", set()), Holder("deals", set(), down=True))
    with pytest.raises(ServiceUnavailable) as unavailable:
        await any_trail(CALLER, "x", down)
    assert unavailable.value.extensions == {"retryable": True}
    # One service down does not hide a record another holds.
    found = await any_trail(
        CALLER,
        "c1",
        _answers(
            Holder("tasks", set()), Holder("deals", set(), down=True), Holder("contacts", {"c1"})
        ),
    )
    assert found.edges[0].node.service == "contacts"


@pytest.mark.parametrize("after", ["nope", "billing:c1", "deals:"])
async def test_a_cursor_naming_no_service_of_the_trail_is_refused(after: str) -> None:
    with pytest.raises(BadUserInput) as refused:
        await any_trail(
            CALLER, "d1", _answers(Holder("tasks", set()), Holder("deals", {"d1"})), after=after
        )
    assert refused.value.field == "after"


class PeerRpc:
    """A peer's endpoint as the client sees it: `answers` by subject (data, or an error)."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.asked: list[tuple[str, dict[str, Any]]] = []

    async def call(
        self, subject: str, caller: RequestContext, body: dict[str, Any], timeout: float
    ) -> Any:
        self.asked.append((subject, body))
        answer = self.answers[subject]
        if isinstance(answer, Exception):
            raise answer
        return answer


async def test_a_peers_reply_becomes_entries_with_its_cursors_and_its_refusals_mapped() -> None:
    entry = {
        "id": "e1",
        "service": "deals",
        "recordType": "deal",
        "recordId": "d1",
        "action": "update",
        "at": "2026-01-01T00:00:00Z",
        "actor": "rita",
        "roles": ["rep"],
        "party": "gateway",
        "path": "graphql",
        "changes": [{"field": "title", "before": '"A"', "after": '"B"'}],
        "detail": None,
        "cursor": "c1",
    }
    peer = PeerRpc(
        {
            "rpc.deals.audit.trail": {"entries": [entry], "hasNextPage": True, "totalCount": 3},
            "rpc.contacts.audit.trail": RpcError("NOT_FOUND", "no record"),
            "rpc.capture.audit.trail": RpcError("BAD_REQUEST", "after: not a cursor"),
        }
    )
    trails = RemoteTrails(
        peer,  # type: ignore[arg-type]
        {s: f"rpc.{s}.audit.trail" for s in ("deals", "contacts", "capture")},
    )
    found = await trails.answer("deals")(CALLER, "d1", 20, None)
    assert found is not None and found.total_count == 3
    node = found.edges[0].node
    assert (node.id, node.record_id, node.action, node.at) == (
        "e1",
        "d1",
        "update",
        datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert [(c.field, c.after) for c in node.changes] == [("title", '"B"')]
    assert found.page_info.end_cursor == "deals:c1" and found.page_info.has_next_page
    assert peer.asked[0] == (
        "rpc.deals.audit.trail",
        {"recordId": "d1", "first": 20, "after": None},
    )
    assert await trails.answer("contacts")(CALLER, "d1", 20, None) is None
    with pytest.raises(BadUserInput):
        await trails.answer("capture")(CALLER, "d1", 20, "x")


def test_an_entry_stored_with_packed_changes_is_sent_with_its_list() -> None:
    # An import batch's entries store their changes as one JSON text.
    change = {"field": "name", "before": None, "after": '"Acme"'}
    stored = {
        "_id": "e1", "service": "contacts", "record_type": "company", "record_id": "c1",
        "action": "create", "at": datetime(2026, 1, 1, tzinfo=UTC), "actor": "ann",
        "roles": ["admin"], "party": "imports", "path": "nats", "changes": [change],
    }  # fmt: skip
    packed = _wire(packed_changes(stored))
    assert packed == _wire(stored)
    assert [(c.field, c.before, c.after) for c in packed.changes] == [("name", None, '"Acme"')]
