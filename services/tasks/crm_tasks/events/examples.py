"""Example events: what this service publishes (for the README and the contract tests) and
builders of the events it consumes (for tests and the benchmark). No I/O."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from crm_contracts import contacts, deals
from crm_contracts import tasks as contract
from crm_contracts.base import Payload
from crm_contracts.envelope import CloudEvent, new_event
from crm_kit.clock import utcnow

from ..domain.access import WorkspaceAccess
from ..domain.reminders import REMINDER, fire
from ..domain.task import Task, TaskSource
from ..domain.team import Team
from . import publish


def deal_snapshot(deal_id: str, owner_id: str | None = "owner-1", **extra: Any) -> dict[str, Any]:
    return deals.DealSnapshot(
        id=deal_id,
        title=extra.pop("title", f"Deal {deal_id}"),
        amount_minor=extra.pop("amount_minor", 1_250_000),
        amount_text=extra.pop("amount_text", "12500.00"),
        currency="USD",
        owner_id=owner_id,
        company_id=extra.pop("company_id", None),
        primary_contact_id=extra.pop("primary_contact_id", None),
        pipeline_id="p1",
        pipeline_version=1,
        stage_key=extra.pop("stage_key", "qualify"),
        status=extra.pop("status", "open"),
        probability=20,
        forecast_category="pipeline",
        **extra,
    ).wire()


def stage_changed(
    *,
    workspace: str = "w1",
    deal_id: str = "deal-1",
    stage_change_id: str | None = None,
    to_stage: str = "qualify",
    changed_at: datetime | None = None,
    owner_id: str | None = "owner-1",
    playbook: list[dict[str, Any]] | None = None,
    event_id: str | None = None,
    stage_sequence: int | None = None,
    **deal: Any,
) -> CloudEvent:
    """A `crm.deals.deal.stage_changed.v1` event as the deals service sends it."""
    at = changed_at or utcnow()
    templates = [
        deals.TaskTemplate.model_validate({"type": "todo", **t})
        for t in (
            playbook
            if playbook is not None
            else [
                {"key": "intro-call", "title": "Intro call", "type": "call", "dueOffsetDays": 1},
                {"key": "send-deck", "title": "Send deck", "type": "email", "dueOffsetDays": 2},
            ]
        )
    ]
    payload = deals.DealStageChanged(
        stage_change_id=stage_change_id or uuid4().hex,
        deal_id=deal_id,
        pipeline_id="p1",
        pipeline_version=1,
        from_stage="lead",
        to_stage=to_stage,
        changed_at=at,
        changed_by=owner_id,
        owner_id=owner_id,
        playbook=templates,
        deal=deals.DealSnapshot.model_validate(
            deal_snapshot(deal_id, owner_id, stage_key=to_stage, **deal)
        ),
        stage_sequence=stage_sequence,
    )
    return new_event(
        event_type=deals.DEAL_STAGE_CHANGED,
        source="crm/deals",
        workspace=workspace,
        subject=deal_id,
        data=payload.wire(),
        event_id=event_id,
    )


def deal_closed(
    *,
    workspace: str = "w1",
    deal_id: str = "deal-1",
    won: bool = True,
    at: datetime | None = None,
    stage_sequence: int | None = None,
) -> CloudEvent:
    when = at or utcnow()
    payload = deals.DealClosed(
        deal=deals.DealSnapshot.model_validate(
            deal_snapshot(deal_id, status="won" if won else "lost")
        ),
        stage_change_id=uuid4().hex,
        closed_at=when,
        lost_reason=None if won else "price",
        stage_sequence=stage_sequence,
    )
    return new_event(
        event_type=deals.DEAL_WON if won else deals.DEAL_LOST,
        source="crm/deals",
        workspace=workspace,
        subject=deal_id,
        data=payload.wire(),
        time=at,
    )


def deal_reopened(
    *,
    workspace: str = "w1",
    deal_id: str = "deal-1",
    at: datetime | None = None,
    stage_sequence: int | None = None,
    to_stage: str = "qualify",
) -> CloudEvent:
    """A `crm.deals.deal.reopened.v1` event as the deals service sends it."""
    when = at or utcnow()
    payload = deals.DealReopened(
        deal=deals.DealSnapshot.model_validate(deal_snapshot(deal_id, stage_key=to_stage)),
        stage_change_id=uuid4().hex,
        stage_sequence=stage_sequence,
        reopened_at=when,
    )
    return new_event(
        event_type=deals.DEAL_REOPENED,
        source="crm/deals",
        workspace=workspace,
        subject=deal_id,
        data=payload.wire(),
        time=when,
    )


def owner_changed(
    *,
    workspace: str = "w1",
    deal_id: str = "deal-1",
    from_owner: str = "owner-1",
    to_owner: str = "owner-2",
) -> CloudEvent:
    """A `crm.deals.deal.updated.v1` event for an owner change, as the deals service sends
    it (a handover sends one per deal)."""
    payload = deals.DealUpdated(
        deal=deals.DealSnapshot.model_validate(deal_snapshot(deal_id, owner_id=to_owner)),
        changed_fields=["ownerId"],
        previous_owner_id=from_owner,
    )
    return new_event(
        event_type=deals.DEAL_UPDATED,
        source="crm/deals",
        workspace=workspace,
        subject=deal_id,
        data=payload.wire(),
    )


def contact_merged(*, workspace: str = "w1", survivor: str, merged: str) -> CloudEvent:
    payload = contacts.ContactMerged(survivor_id=survivor, merged_id=merged, moved_interactions=0)
    return new_event(
        event_type=contacts.CONTACT_MERGED,
        source="crm/contacts",
        workspace=workspace,
        subject=survivor,
        data=payload.wire(),
    )


def interaction_logged(
    *, workspace: str = "w1", kind: str = "call", contact_id: str = "c1", by: str = "bob"
) -> CloudEvent:
    payload = contacts.InteractionLogged(
        id=uuid4().hex,
        kind=kind,
        occurred_at=utcnow(),
        direction="inbound",
        subject="Pricing question",
        contact_ids=[contact_id],
        logged_by=by,
    )
    return new_event(
        event_type=contacts.INTERACTION_LOGGED,
        source="crm/contacts",
        workspace=workspace,
        subject=payload.id,
        data=payload.wire(),
    )


def _example_task() -> Task:
    created = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    return Task(
        id="665f1c2e9b1d4a0012ab34cd",
        workspace_id="demo",
        title="Intro call",
        type="call",
        created_at=created,
        updated_at=created,
        idem_key="playbook:sc-1:intro-call",
        source=TaskSource(kind="playbook", template_key="intro-call", stage_change_id="sc-1"),
        due_at=datetime(2026, 3, 3, 9, 0, tzinfo=UTC),
        remind_at=datetime(2026, 3, 3, 8, 0, tzinfo=UTC),
        assignee_id="darcel-schlecht",
        team_id=None,
        deal_id="665f1c2e9b1d4a0012ab0001",
        contact_id="665f1c2e9b1d4a0012ab0002",
    )


def published_examples() -> dict[str, CloudEvent]:
    """One example of every event this service publishes, keyed by subject."""
    task = _example_task()
    done = dataclasses.replace(
        task,
        status="done",
        completed_at=datetime(2026, 3, 3, 8, 30, tzinfo=UTC),
        completed_by="darcel-schlecht",
        outcome="Booked a demo",
        on_time=True,
    )
    cancelled = dataclasses.replace(task, status="cancelled", cancel_reason="deal lost")
    firing = fire(dataclasses.replace(task), REMINDER, datetime(2026, 3, 3, 8, 0, tzinfo=UTC))
    assert firing is not None
    reminder, notification = (publish.encode(event) for event in firing.pending_events)
    return {
        contract.TASK_CREATED: publish.task_created(task),
        contract.TASK_UPDATED: publish.task_updated(task, ["assigneeId", "dueAt"]),
        contract.TASK_COMPLETED: publish.task_completed(done),
        contract.TASK_CANCELLED: publish.task_cancelled(cancelled),
        contract.TASK_REMINDER_DUE: reminder,
        contract.TASK_OVERDUE: publish.task_overdue(task),
        contract.NOTIFICATION_CREATED: notification,
        contract.TEAM_CHANGED: publish.team_changed(_example_team()),
        contract.ACCESS_SETTINGS_CHANGED: publish.access_settings_changed(_example_access()),
    }


def _example_team() -> Team:
    at = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    return Team(
        id="665f1c2e9b1d4a0012ab7777",
        workspace_id="demo",
        name="East",
        member_ids=["darcel-schlecht", "moses-frase"],
        manager_id="melvin-marxen",
        created_at=at,
        updated_at=at,
    )


def _example_access() -> WorkspaceAccess:
    access = WorkspaceAccess("demo")
    at = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    access.set_level("deal", "team", "admin-1", at)
    access.set_field_roles("contact.phone", frozenset({"manager", "admin"}), "admin-1", at)
    return access


PAYLOAD_MODELS: dict[str, type[Payload]] = {
    contract.TASK_CREATED: contract.TaskCreated,
    contract.TASK_UPDATED: contract.TaskUpdated,
    contract.TASK_COMPLETED: contract.TaskCompleted,
    contract.TASK_CANCELLED: contract.TaskCancelled,
    contract.TASK_REMINDER_DUE: contract.TaskReminderDue,
    contract.TASK_OVERDUE: contract.TaskOverdue,
    contract.NOTIFICATION_CREATED: contract.NotificationCreated,
    contract.TEAM_CHANGED: contract.TeamChanged,
    contract.ACCESS_SETTINGS_CHANGED: contract.AccessSettingsChanged,
}
