"""Teams and sharing settings held in each process (`crm_kit.access_feed`) on a real
FerretDB + NATS: two deals apps on one database share the durable consumer that stores
the projection (each event is stored by one of them), yet a membership change, a manager
change and a settings change narrow or widen what a rep reads on BOTH, without a database
read per request; an app started afterwards reads the stored document once."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest
from nats.aio.client import Client

from crm_deals.app import create_app
from crm_kit.access_feed import REREAD_ENV, AccessFeed
from crm_kit.access_view import AccessViews
from crm_kit.clock import utcnow
from crm_kit.settings import Settings
from crm_kit.sharing_testing import publish_settings, publish_team
from crm_kit.testing import GraphQLClient, eventually, gateway_auth, running_app

pytestmark = [
    pytest.mark.integration,
    pytest.mark.parametrize("settings", ["auto"], indirect=True),
]

CREATE = """mutation($owner: String!) {
  createDeal(input: {title: "Deal", amount: "10.00", ownerId: $owner}) { id } }"""
COUNT = "{ deals { totalCount } }"


@contextlib.asynccontextmanager
async def instance(settings: Settings, workspace: str) -> AsyncIterator[tuple[Any, AccessFeed]]:
    app = create_app(settings)
    async with running_app(app) as http:

        def client(subject: str, roles: str) -> GraphQLClient:
            return GraphQLClient(http, gateway_auth("deals", workspace, subject, roles))

        feed = app.state.access
        assert isinstance(feed, AccessFeed) and feed.views.holding
        yield client, feed


async def test_access_changes_reach_every_replica_without_a_read_per_request(
    settings: Settings, nc: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No periodic re-read during the test: the reads counted are the requests' own.
    monkeypatch.setenv(REREAD_ENV, "3600")
    workspace = f"ws-hold-{uuid4().hex[:8]}"
    js = nc.jetstream()
    async with (
        instance(settings, workspace) as (a, feed_a),
        instance(settings, workspace) as (
            b,
            feed_b,
        ),
    ):
        for owner in ("rita", "otto", "max"):
            await a("alice", "admin").data(CREATE, {"owner": owner})

        async def seen(client: Any, subject: str, roles: str, expected: int) -> bool:
            data = await client(subject, roles).data(COUNT)
            return bool(data["deals"]["totalCount"] == expected)

        async def everywhere(subject: str, roles: str, expected: int) -> None:
            for client in (a, b):
                await eventually(
                    lambda c=client: seen(c, subject, roles, expected),
                    timeout=15,
                    what=f"{subject} ({roles}) sees {expected}",
                )

        # Everyone sees everything until the workspace says otherwise.
        await everywhere("rita", "rep", 3)
        at = utcnow()
        await publish_settings(js, workspace, 1, {"deal": "team"})
        await publish_team(js, workspace, "east", "max", ["rita"], at=at)
        await everywhere("rita", "rep", 2)  # hers and her manager's
        # Held: more requests read no stored view.
        reads = (feed_a.views.reads, feed_b.views.reads)
        for client in (a, b):
            for _ in range(3):
                assert await seen(client, "rita", "rep", 2)
                assert await seen(client, "max", "manager", 2)
        assert (feed_a.views.reads, feed_b.views.reads) == reads

        # Membership: otto joins, then rita leaves.
        await publish_team(js, workspace, "east", "max", ["rita", "otto"], at=at + timedelta(1))
        await everywhere("rita", "rep", 3)
        await publish_team(js, workspace, "east", "max", ["otto"], at=at + timedelta(2))
        await everywhere("rita", "rep", 1)
        # An older version arriving late changes nothing.
        await publish_team(js, workspace, "east", "max", ["rita", "otto"], at=at)
        # The manager changes: max no longer sees otto's deal.
        await everywhere("max", "manager", 2)
        await publish_team(js, workspace, "east", "mia", ["otto"], at=at + timedelta(3))
        await everywhere("max", "manager", 1)
        await everywhere("mia", "manager", 1)
        # The same person with another role (a role change: the assertion's) is another
        # caller: an admin sees everything.
        await everywhere("max", "admin", 3)
        # Settings: own, then everyone again.
        await publish_settings(js, workspace, 2, {"deal": "own"})
        await everywhere("otto", "rep", 1)
        await publish_settings(js, workspace, 3, {"deal": "everyone"})
        await everywhere("otto", "rep", 3)
        await everywhere("rita", "rep", 3)
        await publish_settings(js, workspace, 4, {"deal": "own"})
        await everywhere("rita", "rep", 1)

        # Both replicas heard every event, though each was stored by one of them.
        assert feed_a.received >= 9 and feed_b.received >= 9

        async def stored() -> bool:
            found = await AccessViews(feed_a.views.source).view(workspace)
            return found.settings.version == 4 and set(found.teams) == {"east"}

        await eventually(stored, timeout=15, what="the durable consumer stored version 4")

    # A replica started now: the stored document once, then held.
    async with instance(settings, workspace) as (c, feed_c):
        assert await seen(c, "rita", "rep", 1)
        assert await seen(c, "mia", "manager", 1)
        assert await seen(c, "max", "manager", 1)
        assert feed_c.views.reads == 1
