"""Mapping between the domain dataclasses and stored documents (shared by both adapters,
so the fake stores exactly what MongoDB stores)."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

import orjson

from ..domain.model import (
    Action,
    AssigneeRule,
    Condition,
    Rule,
    RuleRun,
    Task,
    TaskSource,
    TaskTemplate,
    Team,
)
from .protocol import NO_DUE

T = TypeVar("T")

PRIORITY_RANK = {"low": 0, "normal": 1, "high": 2, "urgent": 3}


def _fields(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def _known(cls: type[T], doc: dict[str, Any]) -> dict[str, Any]:
    names = _fields(cls)
    return {key: value for key, value in doc.items() if key in names}


def task_to_doc(task: Task) -> dict[str, Any]:
    doc = dataclasses.asdict(task)
    doc["_id"] = doc.pop("id")
    doc.update(derived_task_fields(doc))
    return doc


def derived_task_fields(changes: dict[str, Any]) -> dict[str, Any]:
    """Fields stored only for sorting, derived at write time."""
    derived: dict[str, Any] = {}
    if "due_at" in changes:
        derived["due_sort"] = changes["due_at"] or NO_DUE
    if "priority" in changes:
        derived["priority_rank"] = PRIORITY_RANK.get(changes["priority"], 1)
    return derived


def task_from_doc(doc: dict[str, Any]) -> Task:
    data = _known(Task, {**doc, "id": doc["_id"]})
    data["source"] = TaskSource(**_known(TaskSource, doc.get("source") or {}))
    return Task(**data)


def team_to_doc(team: Team) -> dict[str, Any]:
    doc = dataclasses.asdict(team)
    doc["_id"] = doc.pop("id")
    return doc


def team_from_doc(doc: dict[str, Any]) -> Team:
    return Team(**_known(Team, {**doc, "id": doc["_id"]}))


def _template_from(data: dict[str, Any] | None) -> TaskTemplate | None:
    if data is None:
        return None
    fields = _known(TaskTemplate, data)
    fields["assignee"] = AssigneeRule(**_known(AssigneeRule, data.get("assignee") or {}))
    return TaskTemplate(**fields)


def rule_to_doc(rule: Rule) -> dict[str, Any]:
    doc = dataclasses.asdict(rule)
    doc["_id"] = doc.pop("id")
    # Condition values are arbitrary JSON (keys may hold '.' or '$'): stored as text.
    doc["conditions"] = [
        {"path": c.path, "op": c.op, "value_json": orjson.dumps(c.value).decode()}
        for c in rule.conditions
    ]
    return doc


def rule_from_doc(doc: dict[str, Any]) -> Rule:
    data = _known(Rule, {**doc, "id": doc["_id"]})
    data["conditions"] = [
        Condition(path=c["path"], op=c["op"], value=orjson.loads(c.get("value_json") or "null"))
        for c in doc.get("conditions") or []
    ]
    data["actions"] = [
        Action(**{**_known(Action, a), "task": _template_from(a.get("task"))})
        for a in doc.get("actions") or []
    ]
    return Rule(**data)


def rule_changes_to_doc(changes: dict[str, Any]) -> dict[str, Any]:
    out = dict(changes)
    if "conditions" in out:
        out["conditions"] = rule_to_doc(Rule("", "", "", "", out["conditions"], []))["conditions"]
    if "actions" in out:
        out["actions"] = [dataclasses.asdict(a) for a in out["actions"]]
    return out


def run_to_doc(run: RuleRun) -> dict[str, Any]:
    doc = dataclasses.asdict(run)
    doc["_id"] = doc.pop("id")
    return doc


def run_from_doc(doc: dict[str, Any]) -> RuleRun:
    return RuleRun(**_known(RuleRun, {**doc, "id": doc["_id"]}))
