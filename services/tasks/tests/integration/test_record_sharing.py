"""Sharing settings on the real FerretDB and NATS: an admin's `setSharing` and a team's
change leave as events through the outbox (the settings document and the team carry
them), come back through this service's own projection consumer as they reach every
other service, and narrow the task reads in the database (and the read index)."""

from __future__ import annotations

from uuid import uuid4

import pytest

from crm_kit.settings import Settings
from crm_kit.testing import GraphQLClient, eventually, gateway_auth, running_app
from crm_tasks.app import create_app

pytestmark = pytest.mark.integration

VIEW = "{ tasks { totalCount edges { node { title } } } }"


async def test_settings_and_teams_reach_the_projection_through_nats(settings: Settings) -> None:
    workspace = f"ws-share-{uuid4().hex[:8]}"
    app = create_app(settings)
    async with running_app(app) as http:

        def as_(subject: str, roles: str) -> GraphQLClient:
            return GraphQLClient(http, gateway_auth("tasks", workspace, subject, roles))

        admin = as_("ada", "admin")
        for holder in ("rita", "otto"):
            await admin.data(
                "mutation($a: ID!, $t: String!) { createTask(input: {title: $t, "
                "assigneeId: $a}) { id } }",
                {"a": holder, "t": f"{holder} task"},
            )
        await admin.data(
            'mutation { createTeam(input: {name: "East", memberIds: ["otto"], '
            'managerId: "max"}) { id } }'
        )
        await admin.data("mutation { setSharing(recordType: TASK, level: OWN) { version } }")
        rita, manager = as_("rita", "rep"), as_("max", "manager")

        async def narrowed() -> bool:
            return (await rita.data(VIEW))["tasks"]["totalCount"] == 1

        await eventually(narrowed, timeout=15)
        assert [e["node"]["title"] for e in (await rita.data(VIEW))["tasks"]["edges"]] == [
            "rita task"
        ]

        async def team_applied() -> bool:
            titles = {e["node"]["title"] for e in (await manager.data(VIEW))["tasks"]["edges"]}
            return titles == {"otto task"}

        await eventually(team_applied, timeout=15)
        settings_read = await rita.data("{ sharingSettings { version records { level } } }")
        assert settings_read["sharingSettings"]["version"] == 1
