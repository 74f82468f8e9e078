"""Automation rules: managing them, and running them once per event.

A run is recorded before its actions start (`rule_runs`, its id derived from the rule and
the event), and finished with its notifications in the same write. A crash in between
leaves a `running` record: the redelivered event resumes it; tasks it already created
are found by their idempotency key `rule:<rule>:<event>:<action index>`, and its
notifications go out only with the finishing write, so each rule acts once per event.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import UnionType
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel

from crm_contracts import capture, contacts, deals
from crm_contracts import tasks as task_events
from crm_contracts.catalogue import CATALOGUE
from crm_contracts.envelope import CloudEvent
from crm_contracts.placeholders import DEAL_PLACEHOLDERS, deal_values, names_in
from crm_contracts.placeholders import render as render_values
from crm_kit import bounds
from crm_kit.context import RequestContext
from crm_kit.errors import BadUserInput, CRMError, NotFound
from crm_kit.ids import is_id, new_id
from crm_kit.pagination import Cursor
from crm_kit.unset import Unset

from ..domain.conditions import InvalidCondition, all_hold, resolve, validate
from ..domain.notification import Notification
from ..domain.rule import (
    ACTION_TYPES,
    ASSIGNEE_RULES,
    ESCALATE_MODES,
    Action,
    Rule,
    RuleRun,
    RunResult,
    TaskTemplate,
)
from ..domain.task import PRIORITIES, TASK_TYPES, Task, TaskSource
from ..store.port import DealMoveRefused, SeenStage
from .inputs import RuleInput, TaskInput
from .scope import Scope, automation_caller
from .tasks import new_task, store_tasks
from .teams import MANAGE, get_team

log = logging.getLogger(__name__)
# A pipeline's stage key (the deals service's rule): MOVE_DEAL names one.
STAGE_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


@dataclass(frozen=True)
class Trigger:
    """An event rules can react to: the rule's `trigger` and the event's subject (its
    payload model is the event catalogue's)."""

    name: str
    subject: str


# One entry per trigger: rules are validated against it, the GraphQL enum `RuleTrigger`
# lists it, and the consumers subscribe to its subject (the durable
# `tasks-rules-<owning service>`, declared in `crm_contracts.access`).
TRIGGERS: tuple[Trigger, ...] = (
    Trigger("deal_created", deals.DEAL_CREATED),
    Trigger("deal_stage_changed", deals.DEAL_STAGE_CHANGED),
    Trigger("deal_won", deals.DEAL_WON),
    Trigger("deal_lost", deals.DEAL_LOST),
    Trigger("contact_created", contacts.CONTACT_CREATED),
    Trigger("interaction_logged", contacts.INTERACTION_LOGGED),
    Trigger("task_completed", task_events.TASK_COMPLETED),
    Trigger("task_overdue", task_events.TASK_OVERDUE),
    # What the capture service captured (its events carry `dealId` with the deal's stage
    # and owner, `contactIds`, `companyId` and the rep as `loggedBy`). A revision of the
    # same email or meeting (matched again, the invitation updated) is another event:
    # the condition `revision EQ 1` acts on the first one only.
    Trigger("email_captured", capture.EMAIL_CAPTURED),
    Trigger("meeting_captured", capture.MEETING_CAPTURED),
    # Once per contact and window; it names no owner (assign to a team or a user).
    Trigger("hot_lead_detected", capture.HOT_LEAD_DETECTED),
)
TRIGGER_NAMES = tuple(trigger.name for trigger in TRIGGERS)
_SUBJECTS = {trigger.name: trigger.subject for trigger in TRIGGERS}


class ActionFailed(Exception):
    pass


class RunAgainLater(Exception):
    """The run is put back: the consumer leaves its event for redelivery (with backoff)."""


class Superseded(ActionFailed):
    """A MOVE_DEAL found its deal moved on since the run saw it: the run ends
    `superseded` (recorded with the reason), and nothing is asked again."""


# A MOVE_DEAL refused on exit criteria is asked again this many times, on redeliveries of
# its event, before the run fails: the criteria may be met by an event still on its way to
# the deals service (the completion of the very task that triggered the rule). Fewer than
# the consumer's deliveries (5), so the run fails with the reason rather than dead-letters.
MOVE_RETRIES = 2


# ---- managing rules -------------------------------------------------------------------

MAX_RULE_PARTS = 20  # conditions, and actions, of one rule


def _validate_rule(rule: Rule) -> None:
    if not rule.name.strip():
        raise BadUserInput("must not be empty", field="input.name")
    bounds.text(rule.name, bounds.MAX_NAME, "input.name")
    bounds.count(rule.conditions, MAX_RULE_PARTS, "input.conditions")
    bounds.count(rule.actions, MAX_RULE_PARTS, "input.actions")
    if rule.trigger not in TRIGGER_NAMES:
        raise BadUserInput("unknown trigger", field="input.trigger")
    for index, condition in enumerate(rule.conditions):
        try:
            validate(condition)
        except InvalidCondition as error:
            raise BadUserInput(str(error), field=f"input.conditions.{index}") from None
    if not rule.actions:
        raise BadUserInput("a rule needs at least one action", field="input.actions")
    for index, action in enumerate(rule.actions):
        _validate_action(action, f"input.actions.{index}")
        if action.type == "move_deal" and not _names_a_deal(rule.trigger):
            raise BadUserInput(
                f"MOVE_DEAL needs a trigger whose events name a deal, not {rule.trigger}",
                field=f"input.actions.{index}.type",
            )
    _validate_texts(rule)


def _validate_texts(rule: Rule) -> None:
    """Every placeholder of the rule's texts names a value its trigger's events carry: a
    deal placeholder (`crm_contracts.placeholders`) for a deal trigger, or a path into the
    trigger's payload (e.g. `{{contact.email}}`). Refused otherwise: it would render blank."""
    model = CATALOGUE.get(_SUBJECTS[rule.trigger])
    texts: list[tuple[str, str | None]] = [("name", rule.name)]
    for index, action in enumerate(rule.actions):
        where = f"actions.{index}"
        texts += [(f"{where}.title", action.title), (f"{where}.body", action.body)]
        if action.task is not None:
            texts += [
                (f"{where}.task.title", action.task.title),
                (f"{where}.task.description", action.task.description),
            ]
    carries_deal = model is not None and "deal" in model.model_fields
    for field, text in texts:
        for name in names_in(text):
            if (carries_deal and name in DEAL_PLACEHOLDERS) or _in_payload(model, name):
                continue
            raise BadUserInput(
                f"unknown placeholder {{{{{name}}}}} for trigger {rule.trigger}",
                field=f"input.{field}",
            )


def _names_a_deal(trigger: str) -> bool:
    """Whether the trigger's events can carry a deal id (where `related` finds it)."""
    model = CATALOGUE.get(_SUBJECTS[trigger])
    return any(_in_payload(model, path) for path in DEAL_ID_PATHS)


def _in_payload(model: Any, path: str) -> bool:
    """Whether `path` (wire names, dots, list indexes) names a scalar of the payload model."""
    current: Any = model
    for part in path.split("."):
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            fields = {info.alias or name: info for name, info in current.model_fields.items()}
            if part not in fields:
                return False
            current = fields[part].annotation
        elif get_origin(current) is list and part.isdigit():
            current = get_args(current)[0]
        else:
            return False
    current = _unwrap(current)
    return current in (str, int, float, bool, datetime)


def _unwrap(annotation: Any) -> Any:
    """`X | None` -> X."""
    if get_origin(annotation) in (Union, UnionType):
        kept = [arg for arg in get_args(annotation) if arg is not type(None)]
        return kept[0] if len(kept) == 1 else annotation
    return annotation


def _validate_action(action: Action, field: str) -> None:
    bounds.text(action.title, bounds.MAX_NAME, f"{field}.title")
    bounds.text(action.body, bounds.MAX_TEXT, f"{field}.body")
    bounds.text(action.user_id, bounds.MAX_ID, f"{field}.userId")
    bounds.text(action.team_id, bounds.MAX_ID, f"{field}.teamId")
    if action.type not in ACTION_TYPES:
        raise BadUserInput(f"must be one of {ACTION_TYPES}", field=f"{field}.type")
    if action.type == "create_task":
        template = action.task
        if template is None or not template.title.strip():
            raise BadUserInput("CREATE_TASK needs task.title", field=f"{field}.task")
        if template.type not in TASK_TYPES or template.priority not in PRIORITIES:
            raise BadUserInput("unknown task type or priority", field=f"{field}.task")
        bounds.text(template.title, bounds.MAX_NAME, f"{field}.task.title")
        bounds.text(template.description, bounds.MAX_TEXT, f"{field}.task.description")
        # Added to the event's time when the rule fires: an overflow would fail every run.
        days, hours = bounds.MAX_DAY_OFFSET, bounds.MAX_DAY_OFFSET * 24
        bounds.in_range(template.due_offset_days, 0, days, f"{field}.task.dueOffsetDays")
        bounds.in_range(template.due_offset_hours, 0, hours, f"{field}.task.dueOffsetHours")
        rule = template.assignee
        if rule.rule not in ASSIGNEE_RULES:
            raise BadUserInput("unknown assignee rule", field=f"{field}.task.assignee.rule")
        if rule.rule == "team" and not rule.team_id:
            raise BadUserInput("rule TEAM needs teamId", field=f"{field}.task.assignee.teamId")
        if rule.rule == "user" and not rule.user_id:
            raise BadUserInput("rule USER needs userId", field=f"{field}.task.assignee.userId")
    elif action.type == "notify":
        if not (action.user_id or action.team_id):
            raise BadUserInput("NOTIFY needs userId or teamId", field=f"{field}.userId")
    elif action.type == "move_deal":
        key = action.stage_key or ""
        if not STAGE_KEY.match(key) or key == "lost":
            raise BadUserInput(
                "MOVE_DEAL needs stageKey, a stage key other than lost (closing lost needs a "
                "reason)",
                field=f"{field}.stageKey",
            )
    elif action.escalate_mode not in ESCALATE_MODES:
        raise BadUserInput(f"must be one of {ESCALATE_MODES}", field=f"{field}.escalateMode")


async def _check_teams(scope: Scope, actions: Sequence[Action]) -> None:
    for index, action in enumerate(actions):
        field = f"input.actions.{index}"
        if action.task is not None and action.task.assignee.team_id:
            await get_team(scope, action.task.assignee.team_id, f"{field}.task.assignee.teamId")
        if action.team_id:
            await get_team(scope, action.team_id, f"{field}.teamId")


def _given(data: RuleInput) -> dict[str, Any]:
    """What `data` gives (attribute -> value)."""
    return {
        item.name: value
        for item in dataclasses.fields(data)
        if not isinstance(value := getattr(data, item.name), Unset)
    }


async def create_rule(scope: Scope, data: RuleInput) -> Rule:
    scope.require_manager(MANAGE)
    now = scope.now()
    given = {"name": "", "trigger": "", "conditions": [], "actions": [], **_given(data)}
    rule = Rule(
        id=new_id(),
        workspace_id=scope.workspace_id,
        created_at=now,
        updated_at=now,
        created_by=scope.actor,
        **given,
    )
    rule.name = rule.name.strip()
    _validate_rule(rule)
    await _check_teams(scope, rule.actions)
    await scope.store.add_rule(rule)
    return rule


async def get_rule(scope: Scope, rule_id: str) -> Rule:
    rule = await scope.store.get_rule(rule_id) if is_id(rule_id) else None
    if rule is None:
        raise NotFound(f"no automation rule {rule_id}", field="id")
    return rule


async def list_rules(
    scope: Scope, trigger: str | None = None, enabled: bool | None = None
) -> list[Rule]:
    return await scope.store.list_rules(trigger, enabled)


async def update_rule(scope: Scope, rule_id: str, data: RuleInput) -> Rule:
    scope.require_manager(MANAGE)
    given = _given(data)
    merged = dataclasses.replace(await get_rule(scope, rule_id), **given)
    _validate_rule(merged)
    await _check_teams(scope, merged.actions)

    async def change(rule: Rule) -> bool:
        for name, value in given.items():
            setattr(rule, name, value)
        rule.updated_at = scope.now()
        return True

    updated = await scope.store.change_rule(rule_id, change)
    if updated is None:
        raise NotFound(f"no automation rule {rule_id}", field="id")
    return updated


async def delete_rule(scope: Scope, rule_id: str) -> bool:
    scope.require_manager(MANAGE)
    if not is_id(rule_id) or not await scope.store.delete_rule(rule_id):
        raise NotFound(f"no automation rule {rule_id}", field="id")
    return True


async def list_runs(
    scope: Scope, rule_id: str, after: Cursor | None, first: int
) -> tuple[list[RuleRun], bool]:
    """Runs of a rule, newest first: a page and whether more follow."""
    await get_rule(scope, rule_id)
    runs = await scope.store.list_runs(rule_id, after, first + 1)
    return runs[:first], len(runs) > first


# ---- running rules --------------------------------------------------------------------


def render(text: str, data: dict[str, Any]) -> str:
    """The placeholders of a rule's text from the event data: the deal placeholders
    (`{{deal.amount}}` with its currency) where the event carries a deal, else the value
    at that path of the payload (`{{contact.email}}`); checked when the rule was saved."""
    deal = data.get("deal")
    values = deal_values(deal if isinstance(deal, dict) else None)
    for name in names_in(text):
        if name not in values:
            found = resolve(data, name)
            values[name] = "" if found is None or isinstance(found, dict | list) else str(found)
    return render_values(text, values)


def _first(data: dict[str, Any], *paths: str) -> str | None:
    for path in paths:
        found = resolve(data, path)
        if isinstance(found, str) and found:
            return found
    return None


# Where an event names its deal, in order.
DEAL_ID_PATHS = ("dealId", "deal.id", "task.dealId")


def related(data: dict[str, Any]) -> dict[str, str | None]:
    """Deal, contact, company and owner an event is about, whatever its type."""
    return {
        "deal_id": _first(data, *DEAL_ID_PATHS),
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


@dataclass
class _Done:
    task_ids: list[str] = dataclasses.field(default_factory=list)
    notifications: list[Notification] = dataclasses.field(default_factory=list)


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
    data = TaskInput(
        title=render(template.title, event.data),
        type=template.type,
        priority=template.priority,
        description=render(template.description, event.data) if template.description else None,
        due_at=event.time
        + timedelta(days=template.due_offset_days, hours=template.due_offset_hours),
        assignee_id=assignee,
        team_id=team_id,
        deal_id=about["deal_id"],
        contact_id=about["contact_id"],
        company_id=about["company_id"],
    )
    task = await new_task(
        scope,
        data,
        source=TaskSource(kind="rule", rule_id=rule.id),
        idem_key=f"rule:{rule.id}:{event.id}:{index}",
        default_to_actor=False,
        prefix=f"actions.{index}.task",
    )
    return (await store_tasks(scope, [task]))[0].id


async def _escalate(scope: Scope, rule: Rule, event: CloudEvent, action: Action) -> Notification:
    about = related(event.data)
    team_id = action.team_id or about["team_id"]
    if not team_id:
        raise ActionFailed("ESCALATE needs a team: set teamId or use an event about a team task")
    team = await get_team(scope, team_id, "teamId")
    manager = team.manager_id
    if not manager:
        raise ActionFailed(f"team {team.name!r} has no manager")
    task_id = about["task_id"]
    if action.escalate_mode == "reassign":
        if task_id is None:
            raise ActionFailed("ESCALATE REASSIGN needs an event about a task")

        async def reassign(task: Task) -> bool:
            if not task.active or task.assignee_id == manager:
                return False
            return bool(task.change({"assignee_id": manager}, at=scope.now()))

        await scope.store.change_task(task_id, reassign)
    return Notification(
        workspace_id=scope.workspace_id,
        title=f"Escalation: {render(rule.name, event.data)}",
        reason="escalation",
        user_id=manager,
        body=render(action.body, event.data) if action.body else None,
        task_id=task_id,
        deal_id=about["deal_id"],
        rule_id=rule.id,
    )


async def _move_deal(
    scope: Scope, rule: Rule, run: RuleRun, event: CloudEvent, action: Action
) -> None:
    """Ask the deals service to move the event's deal, as the rule (`automation_caller`):
    it enforces the exit criteria as for any move, and a rule can never override them. A
    refusal fails the run with the reason (after MOVE_RETRIES more asks for unmet
    criteria, which an event in flight may still meet); an unanswered request is retried
    with the event (the run resumes; moving a deal to the stage it is in changes nothing)
    and dead-lettered after the consumer's last delivery.

    The move names where the run saw the deal (a stage event's own stage and sequence,
    else the deal as read at the first ask), kept on the run: asked again after a crash
    or delivered late, it never takes a deal that moved on back; that refusal ends the
    run as `superseded`, not retried."""
    deal_id = related(event.data)["deal_id"]
    stage_key = action.stage_key or ""
    if deal_id is None:
        raise ActionFailed("MOVE_DEAL needs an event about a deal; this one names none")
    if scope.deals is None:
        raise ActionFailed("MOVE_DEAL: this process cannot reach the deals service")
    caller = automation_caller(scope.workspace_id, rule.id)
    try:
        seen = await _seen_stage(scope, run, event, caller, deal_id)
        await scope.deals.move(caller, deal_id, stage_key, seen)
    except DealMoveRefused as refused:
        if refused.code == "STAGE_CHANGED":
            raise Superseded(
                f"deal {deal_id} moved on before the move to {stage_key!r}: {refused.message}"
            ) from None
        if refused.code == "PRECONDITION_FAILED" and run.retries < MOVE_RETRIES:
            run.retries += 1
            await scope.store.keep_run_progress(run)
            raise RunAgainLater(refused.message) from None
        raise ActionFailed(
            f"the deals service refused to move deal {deal_id} to {stage_key!r} "
            f"({refused.code}): {refused.message}"
        ) from None


async def _seen_stage(
    scope: Scope, run: RuleRun, event: CloudEvent, caller: RequestContext, deal_id: str
) -> SeenStage:
    """Where the run saw the deal: kept on the run from its first ask, else the stage
    event's own (the stage it announces, at its sequence), else the deal as it is now."""
    if run.expected_stage is not None:
        return SeenStage(run.expected_stage, run.expected_sequence)
    data = event.data
    if event.type == deals.DEAL_STAGE_CHANGED and isinstance(data.get("toStage"), str):
        seen = SeenStage(data["toStage"], data.get("stageSequence"))
    elif scope.deals is not None:
        seen = await scope.deals.where(caller, deal_id)
    else:
        raise ActionFailed("MOVE_DEAL: this process cannot reach the deals service")
    run.expected_stage, run.expected_sequence = seen.stage_key, seen.sequence
    await scope.store.keep_run_progress(run)
    return seen


async def _run_actions(scope: Scope, rule: Rule, run: RuleRun, event: CloudEvent) -> _Done:
    done = _Done()
    about = related(event.data)
    for index, action in enumerate(rule.actions):
        if action.type == "create_task" and action.task is not None:
            done.task_ids.append(await _create_task_action(scope, rule, event, index, action.task))
        elif action.type == "notify":
            done.notifications.append(
                Notification(
                    workspace_id=scope.workspace_id,
                    title=render(action.title or rule.name, event.data),
                    body=render(action.body, event.data) if action.body else None,
                    reason="rule",
                    user_id=action.user_id,
                    team_id=None if action.user_id else action.team_id,
                    task_id=about["task_id"],
                    deal_id=about["deal_id"],
                    rule_id=rule.id,
                )
            )
        elif action.type == "escalate":
            done.notifications.append(await _escalate(scope, rule, event, action))
        elif action.type == "move_deal":
            await _move_deal(scope, rule, run, event, action)
    return done


async def enabled_rules(scope: Scope, trigger: str) -> list[Rule]:
    return await scope.store.list_rules(trigger=trigger, enabled=True)


async def run_rules(
    scope: Scope, trigger: str, event: CloudEvent, rules: Sequence[Rule] | None = None
) -> list[RuleRun]:
    """Run every enabled rule of the trigger on the event, each at most once per event.
    `rules`: the trigger's enabled rules as read for several events handled together (a
    consumer's fetch: one read of the rules, not one per event); read here without."""
    runs: list[RuleRun] = []
    for rule in rules if rules is not None else await enabled_rules(scope, trigger):
        runs.append(await _run_rule(scope, rule, event))
    return runs


async def _run_rule(scope: Scope, rule: Rule, event: CloudEvent) -> RuleRun:
    run = RuleRun.start(scope.workspace_id, rule.id, event.id, event.type, scope.now())
    if not all_hold(rule.conditions, event.data):
        run.outcome = "skipped"
        return await scope.store.start_run(run) or run
    existing = await scope.store.start_run(run)
    if existing is not None:
        if existing.outcome != "running":
            return existing  # ran already for this event
        run = existing  # a crash interrupted it: resume (actions are idempotent)
    try:
        done = await _run_actions(scope, rule, run, event)
    except (ActionFailed, CRMError) as error:
        run.outcome = "superseded" if isinstance(error, Superseded) else "failed"
        run.error = getattr(error, "message", None) or str(error)
        log.warning(
            f"automation rule run {run.outcome}",
            extra={"fields": {"rule_id": rule.id, "event_id": event.id, "error": run.error}},
        )
        await scope.store.finish_run(run, RunResult.of(run, []))
        return run
    run.outcome, run.task_ids = "succeeded", done.task_ids
    run.notification_ids = [note.id for note in done.notifications]
    await scope.store.finish_run(run, RunResult.of(run, done.notifications))
    return run
