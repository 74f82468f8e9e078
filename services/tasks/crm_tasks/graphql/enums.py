"""GraphQL enums. Names are upper case; values are the lower-case strings stored and sent
in events."""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING

import strawberry

from ..usecases.automation import TRIGGER_NAMES


@strawberry.enum
class TaskStatus(Enum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    CANCELLED = "cancelled"


@strawberry.enum
class TaskType(Enum):
    CALL = "call"
    EMAIL = "email"
    MEETING = "meeting"
    TODO = "todo"
    FOLLOW_UP = "follow_up"


@strawberry.enum
class Priority(Enum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


@strawberry.enum(description="Where a task came from; details in `Task.sourceDetail`.")
class TaskSourceKind(Enum):
    MANUAL = "manual"
    PLAYBOOK = "playbook"
    RULE = "rule"
    # From a file (`crm_contracts.import_batches`): without it a workspace's task list
    # failed once it held an imported task.
    IMPORT = "import"


@strawberry.enum
class AssignmentStrategy(Enum):
    ROUND_ROBIN = "round_robin"
    FEWEST_OPEN = "fewest_open"


if TYPE_CHECKING:

    class RuleTrigger(Enum): ...

else:
    # One value per trigger of the automation rules' table (`usecases.automation.TRIGGERS`):
    # a trigger added there is offered here.
    RuleTrigger = strawberry.enum(
        Enum("RuleTrigger", [(name.upper(), name) for name in TRIGGER_NAMES])
    )


@strawberry.enum
class ConditionOp(Enum):
    EQ = "eq"
    NEQ = "neq"
    IN = "in"
    GT = "gt"
    LT = "lt"
    EXISTS = "exists"


@strawberry.enum
class ActionType(Enum):
    CREATE_TASK = "create_task"
    NOTIFY = "notify"
    ESCALATE = "escalate"
    MOVE_DEAL = "move_deal"


@strawberry.enum
class EscalateMode(Enum):
    REASSIGN = "reassign"
    NOTIFY = "notify"


@strawberry.enum
class AssigneeRuleKind(Enum):
    OWNER = "owner"
    TEAM = "team"
    USER = "user"


@strawberry.enum
class RuleRunOutcome(Enum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    SUPERSEDED = "superseded"


@strawberry.enum
class TaskOrderField(Enum):
    DUE_AT = "due_at"
    CREATED_AT = "created_at"
    UPDATED_AT = "updated_at"
    PRIORITY = "priority_rank"


@strawberry.enum
class SortDirection(Enum):
    ASC = "asc"
    DESC = "desc"


@strawberry.enum
class AnalyticsGroupBy(Enum):
    ASSIGNEE = "assignee"
    TEAM = "team"
    TYPE = "type"
