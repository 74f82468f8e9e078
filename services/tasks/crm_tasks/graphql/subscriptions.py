"""Live fields: the service's own task and notification events as they happen
(`crm_kit.live`: one JetStream consumer per process, never a poll of the database). A
subscriber sees only its workspace's events; a notification reaches only its recipient
(the user, or the members and manager of the team it is for)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncGenerator
from datetime import datetime
from enum import Enum
from typing import Any

import strawberry

from crm_contracts import tasks as contract
from crm_kit.clock import parse_iso
from crm_kit.live import LiveEvent, current_session, live_events

from ..domain.team import Team
from .context import ContextInfo, GraphQLContext
from .types import Deal, Task, task_type

TASK_TYPES = (
    contract.TASK_CREATED,
    contract.TASK_UPDATED,
    contract.TASK_COMPLETED,
    contract.TASK_CANCELLED,
)
NOTIFICATION_TYPES = (contract.NOTIFICATION_CREATED, contract.TASK_CREATED, contract.TASK_UPDATED)
# Tasks a filtered subscription delivered, so that it also hears when one leaves its filter
# (reassigned to someone else, moved to another deal).
REMEMBERED_TASKS = 10_000


@strawberry.enum
class TaskChangeKind(Enum):
    CREATED = "created"
    UPDATED = "updated"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


@strawberry.type(description="One change of a task, as it happened.")
class TaskChange:
    kind: TaskChangeKind
    task_id: strawberry.ID
    changed_fields: list[str] = strawberry.field(
        description="UPDATED: the fields that changed (API names); empty otherwise."
    )
    occurred_at: datetime | None
    _event: strawberry.Private[LiveEvent]

    @strawberry.field(description="The task now.")
    async def task(self, info: ContextInfo) -> Task | None:
        return await _task(info.context, self._event, str(self.task_id))


@strawberry.enum
class NotificationReason(Enum):
    RULE = "rule"
    ESCALATION = "escalation"
    REMINDER = "reminder"
    OVERDUE = "overdue"
    ASSIGNMENT = "assignment"


REASONS = {reason.value: reason for reason in NotificationReason}


@strawberry.type(description="A message for the signed-in user (or a team they are in).")
class Notification:
    id: strawberry.ID
    title: str
    body: str | None
    reason: NotificationReason
    task_id: strawberry.ID | None
    rule_id: strawberry.ID | None
    created_at: datetime | None
    _event: strawberry.Private[LiveEvent]
    _deal_id: strawberry.Private[str | None]

    @strawberry.field
    async def task(self, info: ContextInfo) -> Task | None:
        if not self.task_id:
            return None
        return await _task(info.context, self._event, str(self.task_id))

    @strawberry.field
    def deal(self) -> Deal | None:
        return Deal(id=strawberry.ID(self._deal_id)) if self._deal_id else None


async def _task(ctx: GraphQLContext, event: LiveEvent, task_id: str) -> Task | None:
    # Shared only among subscribers who see the same tasks (record sharing).
    seen = (await ctx.scope.access()).of("task").holders
    found = await event.shared(("task", task_id, seen), lambda: ctx.loaders.task.load(task_id))
    return task_type(found, ctx.scope.now()) if found is not None else None


def _at(event: LiveEvent) -> datetime | None:
    return parse_iso(event.time) if event.time else None


def _change(event: LiveEvent, snapshot: contract.TaskSnapshot) -> TaskChange:
    fields: list[str] = []
    if event.type == contract.TASK_UPDATED:
        fields = list(event.payload(contract.TaskUpdated).changed_fields)
    return TaskChange(
        kind=TaskChangeKind(event.type.split(".")[3]),
        task_id=strawberry.ID(snapshot.id),
        changed_fields=fields,
        occurred_at=_at(event),
        _event=event,
    )


def _snapshot(event: LiveEvent) -> contract.TaskSnapshot:
    model_of: dict[str, Any] = {
        contract.TASK_CREATED: contract.TaskCreated,
        contract.TASK_UPDATED: contract.TaskUpdated,
        contract.TASK_COMPLETED: contract.TaskCompleted,
        contract.TASK_CANCELLED: contract.TaskCancelled,
    }
    task: contract.TaskSnapshot = event.payload(model_of[event.type]).task
    return task


async def _team(event: LiveEvent, team_id: str) -> Team | None:
    async def load() -> Team | None:
        ctx = await current_session().fresh_context()
        found: Team | None = await ctx.loaders.team.load(team_id)
        return found

    return await event.shared(("team", team_id), load)


async def _notification(event: LiveEvent, user: str) -> Notification | None:
    """The notification `event` brings `user`, if any."""
    if event.type == contract.NOTIFICATION_CREATED:
        sent = event.payload(contract.NotificationCreated)
        if sent.recipient_user_id != user:
            if sent.recipient_user_id is not None or sent.recipient_team_id is None:
                return None
            team = await _team(event, sent.recipient_team_id)
            if team is None or (user not in team.member_ids and team.manager_id != user):
                return None
        reason = REASONS.get(sent.reason)
        if reason is None:
            return None  # a reason added after this build: not one its schema can say
        return Notification(
            id=strawberry.ID(sent.id),
            title=sent.title,
            body=sent.body,
            reason=reason,
            task_id=strawberry.ID(sent.task_id) if sent.task_id else None,
            rule_id=strawberry.ID(sent.rule_id) if sent.rule_id else None,
            created_at=_at(event),
            _event=event,
            _deal_id=sent.deal_id,
        )
    task = _snapshot(event)
    if task.assignee_id != user:
        return None
    if event.type == contract.TASK_UPDATED and "assigneeId" not in (
        event.payload(contract.TaskUpdated).changed_fields
    ):
        return None
    return Notification(
        id=strawberry.ID(f"assignment:{event.id}"),
        title=f"Assigned to you: {task.title}",
        body=None,
        reason=NotificationReason.ASSIGNMENT,
        task_id=strawberry.ID(task.id),
        rule_id=None,
        created_at=_at(event),
        _event=event,
        _deal_id=task.deal_id,
    )


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Every change of a task from now on: of one assignee and/or one deal "
        "when given (a task leaving the filter is reported once more, as it leaves); only "
        "of tasks the subscriber sees (record sharing, as it stood when the subscription "
        "started)."
    )
    async def task_changed(
        self,
        info: ContextInfo,
        assignee_id: str | None = None,
        deal_id: strawberry.ID | None = None,
    ) -> AsyncGenerator[TaskChange, None]:
        deal = str(deal_id) if deal_id is not None else None
        delivered: OrderedDict[str, None] = OrderedDict()
        # What the subscriber sees, as it stood when the subscription started.
        seen = (await info.context.scope.access()).of("task")
        async for event in live_events(TASK_TYPES):
            task = _snapshot(event)
            if not seen.sees((task.assignee_id, task.created_by)):
                continue
            matches = (assignee_id is None or task.assignee_id == assignee_id) and (
                deal is None or task.deal_id == deal
            )
            filtered = assignee_id is not None or deal is not None
            if filtered and not matches:
                if task.id not in delivered:
                    continue
                del delivered[task.id]  # it left the filter: said this once
            elif filtered:
                delivered[task.id] = None
                delivered.move_to_end(task.id)
                while len(delivered) > REMEMBERED_TASKS:
                    delivered.popitem(last=False)
            yield _change(event, task)

    @strawberry.subscription(
        description="Notifications for the signed-in user from now on: reminders, overdue "
        "notices, rule notices and escalations (their own or their team's), and tasks "
        "assigned to them."
    )
    async def notification_received(self, info: ContextInfo) -> AsyncGenerator[Notification, None]:
        user = info.context.scope.caller.subject
        async for event in live_events(NOTIFICATION_TYPES):
            notification = await _notification(event, user)
            if notification is not None:
                yield notification
