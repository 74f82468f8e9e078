"""Automation rules: managing them, and running them once per event.

A run is recorded before its actions start (`rule_runs`, unique on workspace, rule and
event), and finished with its notifications in the same write. A crash in between leaves a
`running` record: the redelivered event resumes it; tasks it already created are found by
their idempotency key `rule:<rule>:<event>:<action index>`, and its notifications go out
only with the finishing write, so each rule acts once per event.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from crm_contracts import contacts, deals
from crm_contracts import tasks as task_events
from crm_contracts.envelope import CloudEvent
from crm_kit.errors import BadUserInput, CRMError, NotFound
from crm_kit.ids import is_id, new_id

from ..domain.conditions import InvalidCondition, all_hold, resolve, validate
from ..domain.model import (
    PRIORITIES,
    TASK_TYPES,
    Action,
    Condition,
    NewTask,
    Rule,
    RuleRun,
    TaskSource,
    TaskTemplate,
)
from ..events import publish
from ..store.protocol import RUN_RESULTS, TASKS
from .base import Scope
from .playbooks import parse_time
from .tasks import create_task
from .teams import get_team

log = logging.getLogger(__name__)

TRIGGER_SUBJECTS: dict[str, str] = {
    "deal_created": deals.DEAL_CREATED,
    "deal_stage_changed": deals.DEAL_STAGE_CHANGED,
    "deal_won": deals.DEAL_WON,
    "deal_lost": deals.DEAL_LOST,
    "contact_created": contacts.CONTACT_CREATED,
    "interaction_logged": contacts.INTERACTION_LOGGED,
    "task_completed": task_events.TASK_COMPLETED,
    "task_overdue": task_events.TASK_OVERDUE,
}
SUBJECT_TRIGGERS = {subject: trigger for trigger, subject in TRIGGER_SUBJECTS.items()}
ACTION_TYPES = ("create_task", "notify", "escalate")
ESCALATE_MODES = ("reassign", "notify")
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_.]+)\s*\}\}")


class ActionFailed(Exception):
    pass


# ---- managing rules -------------------------------------------------------------------


def _validate_rule(
    name: str, trigger: str, conditions: Sequence[Condition], actions: Sequence[Action]
) -> None:
    if not name.strip():
        raise BadUserInput("must not be empty", field="input.name")
    if trigger not in TRIGGER_SUBJECTS:
        raise BadUserInput("unknown trigger", field="input.trigger")
    for index, condition in enumerate(conditions):
        try:
            validate(condition)
        except InvalidCondition as error:
            raise BadUserInput(str(error), field=f"input.conditions.{index}") from None
    if not actions:
        raise BadUserInput("a rule needs at least one action", field="input.actions")
    for index, action in enumerate(actions):
        _validate_action(action, f"input.actions.{index}")


def _validate_action(action: Action, field: str) -> None:
    if action.type not in ACTION_TYPES:
        raise BadUserInput(f"must be one of {ACTION_TYPES}", field=f"{field}.type")
    if action.type == "create_task":
        template = action.task
        if template is None or not template.title.strip():
            raise BadUserInput("CREATE_TASK needs task.title", field=f"{field}.task")
        if template.type not in TASK_TYPES or template.priority not in PRIORITIES:
            raise BadUserInput("unknown task type or priority", field=f"{field}.task")
        rule = template.assignee
        if rule.rule not in ("owner", "team", "user"):
            raise BadUserInput("unknown assignee rule", field=f"{field}.task.assignee.rule")
        if rule.rule == "team" and not rule.team_id:
            raise BadUserInput("rule TEAM needs teamId", field=f"{field}.task.assignee.teamId")
        if rule.rule == "user" and not rule.user_id:
            raise BadUserInput("rule USER needs userId", field=f"{field}.task.assignee.userId")
    elif action.type == "notify":
        if not (action.user_id or action.team_id):
            raise BadUserInput("NOTIFY needs userId or teamId", field=f"{field}.userId")
    elif action.escalate_mode not in ESCALATE_MODES:
        raise BadUserInput(f"must be one of {ESCALATE_MODES}", field=f"{field}.escalateMode")


async def create_rule(
    scope: Scope,
    *,
    name: str,
    trigger: str,
    conditions: Sequence[Condition],
    actions: Sequence[Action],
    enabled: bool = True,
) -> Rule:
    _validate_rule(name, trigger, conditions, actions)
    for index, action in enumerate(actions):
        await _check_teams(scope, action, f"input.actions.{index}")
    now = scope.now()
    rule = Rule(
        id=new_id(),
        workspace_id=scope.workspace_id,
        name=name.strip(),
        trigger=trigger,
        conditions=list(conditions),
        actions=list(actions),
        enabled=enabled,
        created_at=now,
        updated_at=now,
        created_by=scope.actor,
    )
    await scope.store.insert_rule(rule)
    return rule


async def _check_teams(scope: Scope, action: Action, field: str) -> None:
    if action.task is not None and action.task.assignee.team_id:
        await get_team(scope, action.task.assignee.team_id, f"{field}.task.assignee.teamId")
    if action.team_id:
        await get_team(scope, action.team_id, f"{field}.teamId")


async def get_rule(scope: Scope, rule_id: str) -> Rule:
    rule = await scope.store.get_rule(rule_id) if is_id(rule_id) else None
    if rule is None:
        raise NotFound(f"no automation rule {rule_id}", field="id")
    return rule


async def update_rule(scope: Scope, rule_id: str, changes: dict[str, Any]) -> Rule:
    current = await get_rule(scope, rule_id)
    merged = dataclasses.replace(current, **changes)
    _validate_rule(merged.name, merged.trigger, merged.conditions, merged.actions)
    for index, action in enumerate(merged.actions):
        await _check_teams(scope, action, f"input.actions.{index}")
    updated = await scope.store.update_rule(rule_id, {**changes, "updated_at": scope.now()})
    if updated is None:
        raise NotFound(f"no automation rule {rule_id}", field="id")
    return updated


async def delete_rule(scope: Scope, rule_id: str) -> bool:
    if not is_id(rule_id) or not await scope.store.delete_rule(rule_id):
        raise NotFound(f"no automation rule {rule_id}", field="id")
    return True


# ---- running rules --------------------------------------------------------------------


def render(text: str, data: dict[str, Any]) -> str:
    """`{{deal.title}}` in a title or body is replaced by that value of the event data."""

    def value(match: re.Match[str]) -> str:
        found = resolve(data, match.group(1))
        return "" if found is None or not isinstance(found, str | int | float) else str(found)

    return _PLACEHOLDER.sub(value, text)


def _first(data: dict[str, Any], *paths: str) -> str | None:
    for path in paths:
        found = resolve(data, path)
        if isinstance(found, str) and found:
            return found
    return None


def related(data: dict[str, Any]) -> dict[str, str | None]:
    """Deal, contact, company and owner an event is about, whatever its type."""
    return {
        "deal_id": _first(data, "dealId", "deal.id", "task.dealId"),
        "contact_id": _first(
            data, "contact.id", "task.contactId", "deal.primaryContactId", "contactIds.0"
        ),
        "company_id": _first(data, "companyId", "deal.companyId", "contact.companyId"),
        "owner_id": _first(
            data, "ownerId", "deal.ownerId", "contact.ownerId", "task.assigneeId", "loggedBy"
        ),
        "task_id": _first(data, "task.id"),
        "team_id": _first(data, "task.teamId"),
    }


@dataclasses.dataclass
class _RunResult:
    task_ids: list[str] = dataclasses.field(default_factory=list)
    events: list[CloudEvent] = dataclasses.field(default_factory=list)


async def _create_task_action(
    scope: Scope, rule: Rule, event: CloudEvent, index: int, template: TaskTemplate
) -> str:
    about = related(event.data)
    assignee, team_id = None, None
    if template.assignee.rule == "user":
        assignee = template.assignee.user_id
    elif template.assignee.rule == "team" and template.assignee.team_id:
        team_id = template.assignee.team_id
    else:
        assignee = about["owner_id"]
    base = parse_time(event.time)
    draft = NewTask(
        title=render(template.title, event.data),
        type=template.type,
        priority=template.priority,
        description=render(template.description, event.data) if template.description else None,
        due_at=base + timedelta(days=template.due_offset_days, hours=template.due_offset_hours),
        assignee_id=assignee,
        team_id=team_id,
        deal_id=about["deal_id"],
        contact_id=about["contact_id"],
        company_id=about["company_id"],
    )
    key = f"rule:{rule.id}:{event.id}:{index}"
    task = await create_task(
        scope,
        draft,
        source=TaskSource(kind="rule", rule_id=rule.id),
        idem_key=key,
        default_to_actor=False,
        prefix=f"actions.{index}.task",
    )
    return task.id


async def _escalate(
    scope: Scope, rule: Rule, event: CloudEvent, action: Action
) -> list[CloudEvent]:
    about = related(event.data)
    team_id = action.team_id or about["team_id"]
    if not team_id:
        raise ActionFailed("ESCALATE needs a team: set teamId or use an event about a team task")
    team = await get_team(scope, team_id, "teamId")
    if not team.manager_id:
        raise ActionFailed(f"team {team.name!r} has no manager")
    task_id = about["task_id"]
    if action.escalate_mode == "reassign":
        if task_id is None:
            raise ActionFailed("ESCALATE REASSIGN needs an event about a task")
        task = await scope.store.get_task(task_id)
        if task is not None and task.active and task.assignee_id != team.manager_id:
            reassigned = await scope.store.update_task(
                task.id,
                {"assignee_id": team.manager_id, "updated_at": scope.now()},
                lambda t: [publish.task_updated(t, ["assigneeId"])],
                expect={"status": task.status},
            )
            if reassigned is not None:
                scope.notify_outbox(TASKS, reassigned.id)
    title = render(rule.name, event.data)
    return [
        publish.notification(
            workspace=scope.workspace_id,
            title=f"Escalation: {title}",
            reason="escalation",
            user_id=team.manager_id,
            body=render(action.body, event.data) if action.body else None,
            task_id=task_id,
            deal_id=about["deal_id"],
            rule_id=rule.id,
        )
    ]


async def _run_actions(scope: Scope, rule: Rule, event: CloudEvent) -> _RunResult:
    result = _RunResult()
    for index, action in enumerate(rule.actions):
        if action.type == "create_task" and action.task is not None:
            result.task_ids.append(
                await _create_task_action(scope, rule, event, index, action.task)
            )
        elif action.type == "notify":
            result.events.append(
                publish.notification(
                    workspace=scope.workspace_id,
                    title=render(action.title or rule.name, event.data),
                    body=render(action.body, event.data) if action.body else None,
                    reason="rule",
                    user_id=action.user_id,
                    team_id=None if action.user_id else action.team_id,
                    task_id=related(event.data)["task_id"],
                    deal_id=related(event.data)["deal_id"],
                    rule_id=rule.id,
                )
            )
        elif action.type == "escalate":
            result.events.extend(await _escalate(scope, rule, event, action))
    return result


async def run_rules(scope: Scope, event: CloudEvent) -> list[RuleRun]:
    """Run every enabled rule of the event's trigger, each at most once per event."""
    trigger = SUBJECT_TRIGGERS.get(event.type)
    if trigger is None:
        return []
    runs: list[RuleRun] = []
    for rule in await scope.store.list_rules(trigger=trigger, enabled=True):
        runs.append(await _run_rule(scope, rule, event))
    return runs


async def _run_rule(scope: Scope, rule: Rule, event: CloudEvent) -> RuleRun:
    run = RuleRun(
        id=new_id(),
        workspace_id=scope.workspace_id,
        rule_id=rule.id,
        event_id=event.id,
        event_type=event.type,
        outcome="running",
        at=scope.now(),
    )
    if not all_hold(rule.conditions, event.data):
        run.outcome = "skipped"
        existing = await scope.store.start_run(run)
        return existing or run
    existing = await scope.store.start_run(run)
    if existing is not None:
        if existing.outcome != "running":
            return existing  # ran already for this event
        run = existing  # a crash interrupted it: resume (actions are idempotent)
    try:
        result = await _run_actions(scope, rule, event)
    except (ActionFailed, CRMError) as error:
        run.outcome, run.error = "failed", getattr(error, "message", None) or str(error)
        log.warning(
            "automation rule run failed",
            extra={"fields": {"rule_id": rule.id, "event_id": event.id, "error": run.error}},
        )
        await scope.store.finish_run(run, [])
        return run
    run.outcome, run.task_ids = "succeeded", result.task_ids
    run.notification_ids = [
        e.subject or "" for e in result.events if e.type == task_events.NOTIFICATION_CREATED
    ]
    await scope.store.finish_run(run, result.events)
    if result.events:  # ours, or those of the attempt that finished it first
        scope.notify_outbox(RUN_RESULTS, run.id)
    return run
