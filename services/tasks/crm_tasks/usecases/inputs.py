"""What clients give the use cases, typed. An optional field left `UNSET` is "not given"
(an update keeps the stored value); `None` is "clear it"."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from crm_kit.unset import UNSET, Unset

from ..domain.rule import Action, Condition


@dataclass(frozen=True)
class TaskInput:
    """A new task; assignment and source are decided by the use case."""

    title: str
    type: str = "todo"
    priority: str = "normal"
    description: str | None = None
    due_at: datetime | None = None
    remind_at: datetime | None = None
    assignee_id: str | None = None  # none and no team: the caller (a person)
    team_id: str | None = None  # without an assignee: the team's strategy picks one
    deal_id: str | None = None
    contact_id: str | None = None
    company_id: str | None = None


@dataclass(frozen=True)
class TaskChanges:
    """Editable fields of a task (not its status: see `tasks.set_status`)."""

    title: str | Unset = UNSET
    type: str | Unset = UNSET
    priority: str | Unset = UNSET
    description: str | Unset | None = UNSET
    due_at: datetime | Unset | None = UNSET
    remind_at: datetime | Unset | None = UNSET
    assignee_id: str | Unset | None = UNSET
    team_id: str | Unset | None = UNSET
    deal_id: str | Unset | None = UNSET
    contact_id: str | Unset | None = UNSET
    company_id: str | Unset | None = UNSET


@dataclass(frozen=True)
class TeamInput:
    name: str | Unset = UNSET
    member_ids: list[str] | Unset = UNSET
    strategy: str | Unset = UNSET
    manager_id: str | Unset | None = UNSET  # None or "": no manager


@dataclass(frozen=True)
class RuleInput:
    name: str | Unset = UNSET
    trigger: str | Unset = UNSET
    conditions: list[Condition] | Unset = UNSET
    actions: list[Action] | Unset = UNSET
    enabled: bool | Unset = UNSET
