"""Teams and sharing settings held in the process (`AccessViews.hold`, fed by
`crm_kit.access_feed`): the stored document read once per workspace, joined with every
event heard, in any order; what two replicas hold after the same events is the same, and
equal to what reading the stored document per request gives."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from crm_contracts import tasks as contract
from crm_contracts.envelope import new_event
from crm_kit.access_feed import AccessFeed
from crm_kit.access_view import AccessViews
from crm_kit.context import RequestContext
from crm_kit.memory_db import MemoryDatabase

NOW = datetime(2026, 1, 1, tzinfo=UTC)
REP = RequestContext("w1", "ann", frozenset({"rep"}))
MANAGER = RequestContext("w1", "mia", frozenset({"manager"}))


def team(members: list[str], minutes: int, manager: str | None = "mia") -> contract.TeamChanged:
    return contract.TeamChanged(
        id="east",
        name="East",
        manager_id=manager,
        member_ids=members,
        updated_at=NOW + timedelta(minutes=minutes),
    )


def settings(version: int, deal: str) -> contract.AccessSettingsChanged:
    return contract.AccessSettingsChanged(sharing={"deal": deal}, field_roles=[], version=version)


async def test_a_held_view_reads_the_stored_document_once_and_then_answers_from_memory() -> None:
    db = MemoryDatabase()
    stored = AccessViews(db)  # the durable consumer's, in another replica
    await stored.team_changed("w1", team(["ann"], 0))
    await stored.settings_changed("w1", settings(1, "own"))
    held = AccessViews(db)
    held.hold()
    for _ in range(3):
        access = await held.access(MANAGER)
        assert access.of("deal").holders == {"mia", "ann"}
    assert held.reads == 1
    # Not holding: one read per request, as before.
    plain = AccessViews(db)
    for _ in range(3):
        await plain.access(MANAGER)
    assert plain.reads == 3


async def test_concurrent_first_requests_share_one_read() -> None:
    held = AccessViews(MemoryDatabase())
    held.hold()
    await asyncio.gather(*(held.access(REP) for _ in range(10)))
    assert held.reads == 1


async def test_an_event_heard_changes_the_next_request_at_once() -> None:
    db = MemoryDatabase()
    held = AccessViews(db)
    held.hold()
    assert (await held.access(REP)).of("deal").everything
    held.heard_settings("w1", settings(1, "team"))
    held.heard_team("w1", team(["ann", "bob"], 0))
    assert (await held.access(REP)).of("deal").holders == {"ann", "bob", "mia"}
    # A member leaves (a later version): their records leave the view at once.
    held.heard_team("w1", team(["ann"], 1))
    assert (await held.access(REP)).of("deal").holders == {"ann", "mia"}
    # A manager change: the old manager no longer sees the team's records.
    held.heard_team("w1", team(["ann"], 2, manager="max"))
    assert (await held.access(MANAGER)).of("deal").holders == {"mia"}
    assert held.reads == 1


async def test_older_and_repeated_events_change_nothing_whatever_their_order() -> None:
    events: list[Any] = [
        team(["ann", "bob"], 0),
        team(["ann"], 1),
        settings(1, "everyone"),
        settings(2, "team"),
    ]
    answers = set()
    for order in (events, events[::-1], [events[1], events[3], events[0], events[2], events[1]]):
        held = AccessViews(MemoryDatabase())
        held.hold()
        for event in order:
            if isinstance(event, contract.TeamChanged):
                held.heard_team("w1", event)
            else:
                held.heard_settings("w1", event)
        answers.add((await held.access(REP)).of("deal").holders)
    assert answers == {frozenset({"ann", "mia"})}


async def test_events_heard_before_the_first_read_join_the_stored_document() -> None:
    """A replica hears an event its durable consumer (elsewhere) has not stored yet, and
    the stored document has a team the replica never heard of: it holds both."""
    db = MemoryDatabase()
    stored = AccessViews(db)
    west = contract.TeamChanged(
        id="west", name="West", manager_id="max", member_ids=["cat"], updated_at=NOW
    )
    await stored.team_changed("w1", west)
    await stored.settings_changed("w1", settings(1, "team"))
    held = AccessViews(db)
    held.hold()
    held.heard_team("w1", team(["ann", "bob"], 0))
    held.heard_settings("w1", settings(2, "own"))  # newer than the stored version 1
    view = await held.view("w1")
    assert set(view.teams) == {"east", "west"}
    assert view.settings.level("deal") == "own"
    # The stored document's older settings do not undo the newer one heard.
    await held.reload()
    assert (await held.view("w1")).settings.version == 2


async def test_a_reload_brings_what_another_replica_stored_and_this_one_missed() -> None:
    db = MemoryDatabase()
    held = AccessViews(db)
    held.hold()
    assert (await held.access(REP)).of("deal").everything
    other = AccessViews(db)
    await other.settings_changed("w1", settings(1, "own"))  # never heard here
    assert (await held.access(REP)).of("deal").everything  # held until re-read
    assert await held.reload() == 1
    assert (await held.access(REP)).of("deal").holders == {"ann"}


async def test_the_durable_consumers_events_are_held_before_they_are_stored() -> None:
    held = AccessViews(MemoryDatabase())
    held.hold()
    await held.access(REP)
    await held.settings_changed("w1", settings(1, "own"))
    assert (await held.access(REP)).of("deal").holders == {"ann"}
    assert held.reads == 1
    # And stored: a fresh process reads it.
    fresh = AccessViews(held.source)
    assert (await fresh.access(REP)).of("deal").holders == {"ann"}


async def test_each_caller_and_workspace_gets_its_own_access() -> None:
    held = AccessViews(MemoryDatabase())
    held.hold()
    held.heard_settings("w1", settings(1, "own"))
    assert (await held.access(REP)).of("deal").holders == {"ann"}
    bob = RequestContext("w1", "bob", frozenset({"rep"}))
    assert (await held.access(bob)).of("deal").holders == {"bob"}
    # The same subject with another role is another caller.
    assert (
        (await held.access(RequestContext("w1", "ann", frozenset({"admin"})))).of("deal").everything
    )
    # Another workspace's settings are its own.
    assert (
        (await held.access(RequestContext("w2", "ann", frozenset({"rep"})))).of("deal").everything
    )


async def test_released_views_read_per_request_again() -> None:
    db = MemoryDatabase()
    held = AccessViews(db)
    held.hold()
    await held.access(REP)
    held.release()
    await AccessViews(db).settings_changed("w1", settings(1, "own"))
    assert (await held.access(REP)).of("deal").holders == {"ann"}
    assert held.reads == 2


def _message(event_type: str, workspace: str, data: dict[str, Any]) -> Any:
    event = new_event(event_type=event_type, source="crm/tasks", workspace=workspace, data=data)

    class Message:
        subject = event_type
        headers: dict[str, str] = {}

    message = Message()
    message.data = event.to_json()  # type: ignore[attr-defined]
    return message


async def test_the_feed_applies_the_events_it_hears_and_skips_unreadable_ones() -> None:
    held = AccessViews(MemoryDatabase())
    feed = AccessFeed(held, None, None)
    held.hold()
    await feed.on_message(
        _message(contract.ACCESS_SETTINGS_CHANGED, "w1", settings(1, "own").wire())
    )
    await feed.on_message(_message(contract.TEAM_CHANGED, "w1", {"id": "east"}))  # invalid
    broken = _message(contract.TEAM_CHANGED, "w1", {})
    broken.data = b"{not json"
    await feed.on_message(broken)
    await feed.on_message(_message("crm.tasks.task.created.v1", "w1", {"id": "t1"}))
    assert feed.received == 1
    assert (await held.access(REP)).of("deal").holders == {"ann"}
    assert orjson.loads(_message(contract.TEAM_CHANGED, "w1", {}).data)["workspace"] == "w1"


async def test_a_failed_first_read_is_tried_again_by_the_next_request() -> None:
    class Failing(MemoryDatabase):
        fail = True

        def records(self, kind: Any, workspace_id: str | None) -> Any:
            if self.fail:
                raise ConnectionError("database down")
            return super().records(kind, workspace_id)

    db = Failing()
    held = AccessViews(db)
    held.hold()
    with pytest.raises(ConnectionError):
        await held.access(REP)
    db.fail = False
    assert (await held.access(REP)).of("deal").everything
