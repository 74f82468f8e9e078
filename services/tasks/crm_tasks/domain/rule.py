"""Automation rules (data per workspace: a trigger, conditions, actions) and their runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crm_kit.entity import Entity

from .notification import Notification
from .task import keyed_id

# Rule triggers: the events a rule may react to (`usecases.automation` maps each to the
# subject and payload model that carry it).
TRIGGERS = (
    "deal_created",
    "deal_stage_changed",
    "deal_won",
    "deal_lost",
    "contact_created",
    "interaction_logged",
    "task_completed",
    "task_overdue",
    "email_captured",
    "meeting_captured",
    "hot_lead_detected",
)
ACTION_TYPES = ("create_task", "notify", "escalate", "move_deal")
ESCALATE_MODES = ("reassign", "notify")
ASSIGNEE_RULES = ("owner", "team", "user")


@dataclass
class Condition:
    path: str
    op: str  # eq | neq | in | gt | lt | exists
    value: Any = None


@dataclass
class AssigneeRule:
    rule: str = "owner"  # owner | team | user
    team_id: str | None = None
    user_id: str | None = None


@dataclass
class TaskTemplate:
    title: str
    type: str = "todo"
    priority: str = "normal"
    description: str | None = None
    due_offset_days: int = 0
    due_offset_hours: int = 0
    assignee: AssigneeRule = field(default_factory=AssigneeRule)
    key: str | None = None


@dataclass
class Action:
    type: str  # create_task | notify | escalate
    task: TaskTemplate | None = None
    # notify
    user_id: str | None = None
    team_id: str | None = None
    title: str | None = None
    body: str | None = None
    # escalate: reassign the event's task to the team's manager, or notify the manager
    escalate_mode: str | None = None  # reassign | notify
    # move_deal: the stage the event's deal is moved to (by the deals service, with the
    # exit criteria enforced as for any move)
    stage_key: str | None = None


@dataclass
class Rule:
    id: str
    workspace_id: str
    name: str
    trigger: str
    conditions: list[Condition]
    actions: list[Action]
    enabled: bool = True
    created_at: datetime | None = None
    updated_at: datetime | None = None
    created_by: str | None = None


@dataclass
class RuleRun:
    """One evaluation of a rule for one event; its id derives from (rule, event), so a
    redelivered event finds the run it started."""

    id: str
    workspace_id: str
    rule_id: str
    event_id: str
    event_type: str
    # running | succeeded | failed | skipped | superseded (a MOVE_DEAL whose deal moved on
    # before the move: not made, and not asked again)
    outcome: str
    at: datetime
    error: str | None = None
    task_ids: list[str] = field(default_factory=list)
    notification_ids: list[str] = field(default_factory=list)
    # Times the run was put back for another delivery of its event (a MOVE_DEAL refused on
    # criteria that an event in flight may still meet).
    retries: int = 0
    # MOVE_DEAL: where the run saw the deal (its first ask's), kept so that a move asked
    # again after a crash or a redelivery expects what the first ask did.
    expected_stage: str | None = None
    expected_sequence: int | None = None

    @classmethod
    def start(
        cls, workspace_id: str, rule_id: str, event_id: str, event_type: str, at: datetime
    ) -> RuleRun:
        run_id = keyed_id(workspace_id, f"run:{rule_id}:{event_id}")
        return cls(run_id, workspace_id, rule_id, event_id, event_type, "running", at)


@dataclass
class RunResult(Entity):
    """How a run ended, stored once under the run's id with the notifications it sends
    (raised as its events): of two replicas finishing the same run, one sends them."""

    id: str
    workspace_id: str
    outcome: str

    @classmethod
    def of(cls, run: RuleRun, notifications: list[Notification]) -> RunResult:
        result = cls(run.id, run.workspace_id, run.outcome)
        for notification in notifications:
            result.raise_event(notification)
        return result
