"""A message for a person or a team, for the delivery channels (email, chat, the web
client) that listen to `notification.created`. A notification is itself the domain event
of whatever raised it (a reminder, an overdue task, a rule's action)."""

from __future__ import annotations

from dataclasses import dataclass, field

from crm_kit.ids import new_id


@dataclass(frozen=True)
class Notification:
    workspace_id: str
    title: str
    reason: str  # reminder | overdue | rule | escalation
    user_id: str | None = None
    team_id: str | None = None
    body: str | None = None
    task_id: str | None = None
    deal_id: str | None = None
    rule_id: str | None = None
    id: str = field(default_factory=new_id)
