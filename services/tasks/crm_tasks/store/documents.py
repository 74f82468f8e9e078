"""The Mongo adapter's mapping between domain records and documents (`to_doc`/`from_doc`),
and how each kind of record is stored (`crm_kit.records.RecordType`).

Derived fields are written here, at write time, because FerretDB v1 cannot compute them
in a query: `due_sort` (the due time, undated last) and `priority_rank`, which the orders
and cursors name (`filters.py`). Rule condition values are arbitrary JSON (keys may hold
`.` or start with `$`, which MongoDB forbids): stored as text. Readers tolerate fields
they do not know and fill in the ones older documents lack.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from crm_kit.records import RecordType
from crm_kit.sharing import AccessSettings

from ..config import ACCESS_SETTINGS, FIRES, OUTCOMES, RULES, RUN_RESULTS, RUNS, TASKS, TEAMS
from ..domain.access import WorkspaceAccess
from ..domain.outcome import DealOutcome
from ..domain.reminders import Firing
from ..domain.rule import Action, AssigneeRule, Condition, Rule, RuleRun, RunResult, TaskTemplate
from ..domain.task import Task, TaskSource
from ..domain.team import Team


def task_to_doc(task: Task) -> dict[str, Any]:
    source = task.source
    return {
        "_id": task.id,
        "workspace_id": task.workspace_id,
        "title": task.title,
        "type": task.type,
        "created_at": task.created_at,
        "idem_key": task.idem_key,
        "status": task.status,
        "priority": task.priority,
        "source": {
            "kind": source.kind,
            "template_key": source.template_key,
            "rule_id": source.rule_id,
            "stage_change_id": source.stage_change_id,
            "stage_sequence": source.stage_sequence,
        },
        "description": task.description,
        "due_at": task.due_at,
        "remind_at": task.remind_at,
        "assignee_id": task.assignee_id,
        "team_id": task.team_id,
        "deal_id": task.deal_id,
        "contact_id": task.contact_id,
        "company_id": task.company_id,
        "created_by": task.created_by,
        "updated_at": task.updated_at,
        "completed_at": task.completed_at,
        "completed_by": task.completed_by,
        "outcome": task.outcome,
        "on_time": task.on_time,
        "cancel_reason": task.cancel_reason,
        "reminder_sent": task.reminder_sent,
        "overdue_sent": task.overdue_sent,
        "version": task.version,
        "import_job": task.import_job,
        "due_sort": task.due_sort,
        "priority_rank": task.priority_rank,
    }


def task_from_doc(doc: Mapping[str, Any]) -> Task:
    source = doc.get("source") or {}
    return Task(
        id=doc["_id"],
        workspace_id=doc["workspace_id"],
        title=doc["title"],
        type=doc["type"],
        created_at=doc["created_at"],
        idem_key=doc["idem_key"],
        status=doc.get("status") or "open",
        priority=doc.get("priority") or "normal",
        source=TaskSource(
            kind=source.get("kind") or "manual",
            template_key=source.get("template_key"),
            rule_id=source.get("rule_id"),
            stage_change_id=source.get("stage_change_id"),
            stage_sequence=source.get("stage_sequence"),
        ),
        description=doc.get("description"),
        due_at=doc.get("due_at"),
        remind_at=doc.get("remind_at"),
        assignee_id=doc.get("assignee_id"),
        team_id=doc.get("team_id"),
        deal_id=doc.get("deal_id"),
        contact_id=doc.get("contact_id"),
        company_id=doc.get("company_id"),
        created_by=doc.get("created_by"),
        updated_at=doc.get("updated_at"),
        completed_at=doc.get("completed_at"),
        completed_by=doc.get("completed_by"),
        outcome=doc.get("outcome"),
        on_time=doc.get("on_time"),
        cancel_reason=doc.get("cancel_reason"),
        reminder_sent=bool(doc.get("reminder_sent")),
        overdue_sent=bool(doc.get("overdue_sent")),
        version=int(doc.get("version") or 0),
        import_job=doc.get("import_job"),
    )


def team_to_doc(team: Team) -> dict[str, Any]:
    return {
        "_id": team.id,
        "workspace_id": team.workspace_id,
        "name": team.name,
        "member_ids": list(team.member_ids),
        "strategy": team.strategy,
        "manager_id": team.manager_id,
        "created_at": team.created_at,
        "updated_at": team.updated_at,
        "rr_hint": team.rr_hint,
    }


def team_from_doc(doc: Mapping[str, Any]) -> Team:
    return Team(
        id=doc["_id"],
        workspace_id=doc["workspace_id"],
        name=doc["name"],
        member_ids=list(doc.get("member_ids") or []),
        strategy=doc.get("strategy") or "round_robin",
        manager_id=doc.get("manager_id"),
        created_at=doc.get("created_at"),
        updated_at=doc.get("updated_at"),
        rr_hint=int(doc.get("rr_hint") or 0),
    )


def access_to_doc(access: WorkspaceAccess) -> dict[str, Any]:
    return {
        "_id": access.workspace_id,
        "workspace_id": access.workspace_id,
        "settings": access.settings.to_doc(),
        "updated_at": access.updated_at,
        "updated_by": access.updated_by,
        "version": access.version,
    }


def access_from_doc(doc: Mapping[str, Any]) -> WorkspaceAccess:
    return WorkspaceAccess(
        workspace_id=doc["workspace_id"],
        settings=AccessSettings.from_doc(doc.get("settings")),
        updated_at=doc.get("updated_at"),
        updated_by=doc.get("updated_by"),
        version=int(doc.get("version") or 0),
    )


def _template_to_doc(template: TaskTemplate) -> dict[str, Any]:
    assignee = template.assignee
    return {
        "title": template.title,
        "type": template.type,
        "priority": template.priority,
        "description": template.description,
        "due_offset_days": template.due_offset_days,
        "due_offset_hours": template.due_offset_hours,
        "assignee": {
            "rule": assignee.rule,
            "team_id": assignee.team_id,
            "user_id": assignee.user_id,
        },
        "key": template.key,
    }


def _template_from_doc(doc: Mapping[str, Any] | None) -> TaskTemplate | None:
    if doc is None:
        return None
    assignee = doc.get("assignee") or {}
    return TaskTemplate(
        title=doc["title"],
        type=doc.get("type") or "todo",
        priority=doc.get("priority") or "normal",
        description=doc.get("description"),
        due_offset_days=int(doc.get("due_offset_days") or 0),
        due_offset_hours=int(doc.get("due_offset_hours") or 0),
        assignee=AssigneeRule(
            rule=assignee.get("rule") or "owner",
            team_id=assignee.get("team_id"),
            user_id=assignee.get("user_id"),
        ),
        key=doc.get("key"),
    )


def _action_to_doc(action: Action) -> dict[str, Any]:
    return {
        "type": action.type,
        "task": _template_to_doc(action.task) if action.task else None,
        "user_id": action.user_id,
        "team_id": action.team_id,
        "title": action.title,
        "body": action.body,
        "escalate_mode": action.escalate_mode,
        "stage_key": action.stage_key,
    }


def _action_from_doc(doc: Mapping[str, Any]) -> Action:
    return Action(
        type=doc["type"],
        task=_template_from_doc(doc.get("task")),
        user_id=doc.get("user_id"),
        team_id=doc.get("team_id"),
        title=doc.get("title"),
        body=doc.get("body"),
        escalate_mode=doc.get("escalate_mode"),
        stage_key=doc.get("stage_key"),
    )


def rule_to_doc(rule: Rule) -> dict[str, Any]:
    return {
        "_id": rule.id,
        "workspace_id": rule.workspace_id,
        "name": rule.name,
        "trigger": rule.trigger,
        "conditions": [
            {"path": c.path, "op": c.op, "value_json": orjson.dumps(c.value).decode()}
            for c in rule.conditions
        ],
        "actions": [_action_to_doc(action) for action in rule.actions],
        "enabled": rule.enabled,
        "created_at": rule.created_at,
        "updated_at": rule.updated_at,
        "created_by": rule.created_by,
    }


def rule_from_doc(doc: Mapping[str, Any]) -> Rule:
    return Rule(
        id=doc["_id"],
        workspace_id=doc["workspace_id"],
        name=doc["name"],
        trigger=doc["trigger"],
        conditions=[
            Condition(c["path"], c["op"], orjson.loads(c.get("value_json") or "null"))
            for c in doc.get("conditions") or []
        ],
        actions=[_action_from_doc(action) for action in doc.get("actions") or []],
        enabled=bool(doc.get("enabled", True)),
        created_at=doc.get("created_at"),
        updated_at=doc.get("updated_at"),
        created_by=doc.get("created_by"),
    )


def run_to_doc(run: RuleRun) -> dict[str, Any]:
    return {
        "_id": run.id,
        "workspace_id": run.workspace_id,
        "rule_id": run.rule_id,
        "event_id": run.event_id,
        "event_type": run.event_type,
        "outcome": run.outcome,
        "at": run.at,
        "error": run.error,
        "task_ids": list(run.task_ids),
        "notification_ids": list(run.notification_ids),
        "retries": run.retries,
        "expected_stage": run.expected_stage,
        "expected_sequence": run.expected_sequence,
    }


def run_from_doc(doc: Mapping[str, Any]) -> RuleRun:
    return RuleRun(
        id=doc["_id"],
        workspace_id=doc["workspace_id"],
        rule_id=doc["rule_id"],
        event_id=doc["event_id"],
        event_type=doc.get("event_type") or "",
        outcome=doc["outcome"],
        at=doc["at"],
        error=doc.get("error"),
        task_ids=list(doc.get("task_ids") or []),
        notification_ids=list(doc.get("notification_ids") or []),
        retries=int(doc.get("retries") or 0),
        expected_stage=doc.get("expected_stage"),
        expected_sequence=doc.get("expected_sequence"),
    )


def result_to_doc(result: RunResult) -> dict[str, Any]:
    return {"_id": result.id, "workspace_id": result.workspace_id, "outcome": result.outcome}


def result_from_doc(doc: Mapping[str, Any]) -> RunResult:
    return RunResult(doc["_id"], doc["workspace_id"], doc.get("outcome") or "")


def outcome_id(workspace_id: str, deal_id: str) -> str:
    # The id names the workspace, so `{_id}` alone (served by index) is scoped.
    return f"{workspace_id}:{deal_id}"


def outcome_to_doc(outcome: DealOutcome) -> dict[str, Any]:
    return {
        "_id": outcome_id(outcome.workspace_id, outcome.deal_id),
        "workspace_id": outcome.workspace_id,
        "deal_id": outcome.deal_id,
        "outcome": outcome.outcome,
        "closed_at": outcome.closed_at,
        "sequence": outcome.sequence,
    }


def outcome_from_doc(doc: Mapping[str, Any]) -> DealOutcome:
    return DealOutcome(
        doc["deal_id"], doc["outcome"], doc["closed_at"], doc["workspace_id"], doc.get("sequence")
    )


def firing_to_doc(firing: Firing) -> dict[str, Any]:
    return {
        "_id": firing.id,
        "workspace_id": firing.workspace_id,
        "task_id": firing.task_id,
        "at": firing.at,
        "flag": firing.flag,
        "due": firing.due,
    }


def firing_from_doc(doc: Mapping[str, Any]) -> Firing:
    # Firings stored before `flag` and `due` were kept: the flag leads the id ("<flag>:");
    # the due time is taken as the firing time.
    flag = doc.get("flag") or str(doc["_id"]).split(":", 1)[0]
    return Firing(
        doc["_id"], doc["workspace_id"], doc["task_id"], doc["at"], flag, doc.get("due", doc["at"])
    )


# One task per natural key per workspace (the playbook and rule tasks' exactly-once).
TASK = RecordType(TASKS, task_to_doc, task_from_doc, unique=("idem_key",), versioned=True)
TEAM = RecordType(TEAMS, team_to_doc, team_from_doc, unique=("name",))
ACCESS = RecordType(ACCESS_SETTINGS, access_to_doc, access_from_doc, versioned=True)
RULE = RecordType(RULES, rule_to_doc, rule_from_doc)
RUN = RecordType(RUNS, run_to_doc, run_from_doc)
RESULT = RecordType(RUN_RESULTS, result_to_doc, result_from_doc)
OUTCOME = RecordType(OUTCOMES, outcome_to_doc, outcome_from_doc)
FIRING = RecordType(FIRES, firing_to_doc, firing_from_doc)
