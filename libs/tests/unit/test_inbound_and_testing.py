"""Typed consumer registration, the one test client and clock, and the generic Relay
connection."""

from __future__ import annotations

from typing import Any

import pytest
import strawberry

from crm_contracts import contacts, deals
from crm_contracts.envelope import CloudEvent, new_event
from crm_contracts.streams import stream_for
from crm_kit.consumer import PermanentFailure
from crm_kit.context import RequestContext
from crm_kit.errors import Forbidden
from crm_kit.inbound import Delivery, Subscription, subjects_of
from crm_kit.pagination import Page
from crm_kit.relay_types import Connection, connection
from crm_kit.testing import Clock, GraphQLClient


def _merged(workspace: str = "w1", **data: Any) -> CloudEvent:
    body = {"survivorId": "s", "mergedId": "m", "movedInteractions": 2, **data}
    return new_event(
        event_type=contacts.CONTACT_MERGED, source="crm/contacts", workspace=workspace, data=body
    )


async def test_handlers_get_the_validated_payload_of_their_model() -> None:
    got: list[tuple[str, int]] = []

    async def merged(delivery: Delivery[contacts.ContactMerged]) -> None:
        got.append((delivery.workspace, delivery.payload.moved_interactions))

    inbound = Subscription("deals-contacts").on(contacts.ContactMerged, merged)
    assert inbound.subjects == [contacts.CONTACT_MERGED]
    assert inbound.source == stream_for("contacts")
    await inbound.handle(_merged())
    await inbound.handle(
        new_event(event_type=contacts.CONTACT_DELETED, source="x", workspace="w1", data={})
    )  # no handler registered for it: ignored
    assert got == [("w1", 2)]
    with pytest.raises(PermanentFailure, match="invalid payload"):
        await inbound.handle(_merged(movedInteractions="many"))
    with pytest.raises(PermanentFailure, match="no workspace"):
        await inbound.handle(_merged(workspace=""))


async def test_registration_checks_subjects_against_the_catalogue() -> None:
    async def closed(_: Delivery[deals.DealClosed]) -> None: ...

    assert subjects_of(deals.DealClosed) == [deals.DEAL_LOST, deals.DEAL_WON]
    won_only = Subscription("x").on(deals.DealClosed, closed, subjects=[deals.DEAL_WON])
    assert won_only.subjects == [deals.DEAL_WON]
    with pytest.raises(ValueError, match="does not carry"):
        Subscription("x").on(deals.DealClosed, closed, subjects=[deals.DEAL_CREATED])
    with pytest.raises(ValueError, match="one stream"):
        won_only.on(contacts.ContactMerged, closed)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="has a handler"):
        won_only.on(deals.DealClosed, closed, subjects=[deals.DEAL_WON])


async def test_start_binds_one_durable_consumer_on_the_owners_stream() -> None:
    calls: list[dict[str, Any]] = []

    class Runtime:
        async def consume(self, **kwargs: Any) -> None:
            calls.append(kwargs)

    async def merged(_: Delivery[contacts.ContactMerged]) -> None: ...

    inbound = Subscription("deals-contacts", record_processed=False, workers=2)
    await inbound.on(contacts.ContactMerged, merged).start(Runtime())
    assert len(calls) == 2  # two pullers on the one durable
    bound = calls[0]
    assert bound["durable"] == "deals-contacts" and bound["record_processed"] is False
    assert bound["source"] == stream_for("contacts")
    assert bound["subjects"] == [contacts.CONTACT_MERGED]
    # Each of several pullers holds only the event it works on: a backlog is shared.
    assert bound["fetch"] == 1
    calls.clear()
    await Subscription("deals-merges").on(contacts.ContactMerged, merged).start(Runtime())
    assert "fetch" not in calls[0]  # one puller: the kit's usual fetch


async def test_a_batch_subscription_takes_the_fetch_it_names() -> None:
    calls: list[dict[str, Any]] = []

    class Runtime:
        async def consume(self, **kwargs: Any) -> None:
            calls.append(kwargs)

    async def merged(_: Delivery[contacts.ContactMerged]) -> None: ...

    async def together(_: list[Delivery[Any]]) -> None: ...

    bulk = Subscription("deals-merges", record_processed=False, batch=together, fetch=500)
    await bulk.on(contacts.ContactMerged, merged).start(Runtime())
    assert calls[0]["fetch"] == 500 and calls[0]["batch_handler"] == bulk.handle_batch
    calls.clear()
    # Without a batch handler each event is handled alone: the kit's fetch stays.
    alone = Subscription("deals-merged", fetch=500).on(contacts.ContactMerged, merged)
    await alone.start(Runtime())
    assert "fetch" not in calls[0]


async def test_a_gathering_subscription_hands_its_pullers_one_turn_to_pull() -> None:
    calls: list[dict[str, Any]] = []

    class Runtime:
        async def consume(self, **kwargs: Any) -> None:
            calls.append(kwargs)

    async def changed(_: Delivery[deals.DealStageChanged]) -> None: ...

    async def together(_: list[Delivery[Any]]) -> None: ...

    playbooks = Subscription(
        "tasks-playbooks",
        record_processed=False,
        workers=3,
        batch=together,
        gather=8,
        gather_window=0.02,
    ).on(deals.DealStageChanged, changed)
    await playbooks.start(Runtime())
    first = calls[0]["gathering"]
    assert len(calls) == 3 and all(call["gathering"] is first for call in calls)  # one turn
    assert first.window == 0.02 and calls[0]["gather"] == 8
    calls.clear()
    await playbooks.start(Runtime())  # another start (a new process): its own turn
    assert all(call["gathering"] is not first for call in calls)
    calls.clear()
    # No window, or no batch handler: pulls as before, each puller its own.
    plain = Subscription("tasks-plain", record_processed=False, workers=2, batch=together)
    await plain.on(deals.DealStageChanged, changed).start(Runtime())
    alone = Subscription("tasks-alone", workers=2, gather_window=0.02)
    await alone.on(deals.DealStageChanged, changed).start(Runtime())
    assert all("gathering" not in call for call in calls)


@strawberry.type
class Item:
    name: str


@strawberry.type
class Query:
    @strawberry.field
    def items(self, info: strawberry.Info) -> Connection[Item]:
        caller: RequestContext = info.context
        if not caller.can_write:
            raise Forbidden("writers only")
        page = Page(["a", "b"], total=3, has_next=True)
        return connection(page, lambda n: Item(name=f"{caller.subject}:{n}"), lambda n: n)


async def test_one_client_in_process_and_as_other_users() -> None:
    schema = strawberry.federation.Schema(query=Query)
    client = GraphQLClient.in_process(schema, lambda caller: caller, subject="ada", roles="rep")
    data = await client.data(
        "{ items { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { name } } } }"
    )
    assert data["items"] == {
        "totalCount": 3,
        "pageInfo": {"hasNextPage": True, "endCursor": "b"},
        "edges": [
            {"cursor": "a", "node": {"name": "ada:a"}},
            {"cursor": "b", "node": {"name": "ada:b"}},
        ],
    }
    error = await client.as_user(roles="viewer").error("{ items { totalCount } }")
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert "type ItemConnection" in str(schema)


def test_the_clock_is_set_and_moved_by_the_test() -> None:
    clock = Clock()
    start = clock()
    clock.advance(hours=2)
    assert (clock() - start).total_seconds() == 7200
