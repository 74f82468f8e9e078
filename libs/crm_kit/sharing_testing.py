"""Test helpers for record sharing: the tasks service's team and settings events, as it
publishes them, for a service's integration tests to feed its projection through NATS."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from nats.js import JetStreamContext

from crm_contracts import tasks as contract
from crm_contracts.envelope import HEADER_WORKSPACE, new_event

from .clock import utcnow


async def publish_team(
    js: JetStreamContext,
    workspace: str,
    team_id: str,
    manager_id: str | None,
    member_ids: Sequence[str],
    at: datetime | None = None,
) -> None:
    payload = contract.TeamChanged(
        id=team_id,
        name=team_id,
        manager_id=manager_id,
        member_ids=list(member_ids),
        updated_at=at or utcnow(),
    )
    await _publish(js, contract.TEAM_CHANGED, workspace, team_id, payload.wire())


async def publish_settings(
    js: JetStreamContext,
    workspace: str,
    version: int,
    sharing: dict[str, str],
    field_roles: dict[str, list[str]] | None = None,
) -> None:
    payload = contract.AccessSettingsChanged(
        sharing=sharing,
        field_roles=[
            contract.FieldRoles(field=name, roles=roles)
            for name, roles in (field_roles or {}).items()
        ],
        version=version,
    )
    await _publish(js, contract.ACCESS_SETTINGS_CHANGED, workspace, workspace, payload.wire())


async def _publish(
    js: JetStreamContext, subject: str, workspace: str, about: str, data: dict[str, object]
) -> None:
    event = new_event(
        event_type=subject, source="crm/tasks", workspace=workspace, subject=about, data=data
    )
    headers = {"Nats-Msg-Id": event.id, HEADER_WORKSPACE: workspace}
    await js.publish(subject, event.to_json(), headers=headers)
