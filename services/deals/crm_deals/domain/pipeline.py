"""Pipelines: the sales process written down as data, versioned on every change.

A pipeline is an ordered list of open stages followed by the terminal stages `won` and
`lost`. Each open stage carries its default win probability, forecast category, exit
criteria (checked when a deal leaves it forwards), a rotting threshold and a playbook of
task templates that the tasks service turns into tasks when a deal enters the stage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime

from crm_kit.entity import Entity
from crm_kit.errors import BadUserInput

WON = "won"
LOST = "lost"
TERMINAL = (WON, LOST)
OPEN_CATEGORIES = ("pipeline", "best_case", "commit")
CATEGORIES = (*OPEN_CATEGORIES, "closed")
TASK_TYPES = ("call", "email", "meeting", "todo", "follow_up")
ASSIGNEE_RULES = ("owner", "team", "user")
# Deal fields an exit criterion may require (GraphQL names; see domain.deal.FIELD_CHECKS).
REQUIRABLE_FIELDS = (
    "amount",
    "expectedCloseDate",
    "company",
    "nextStep",
    "nextStepDate",
    "source",
    "owner",
    "product",
)
_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


@dataclass(frozen=True)
class AssigneeRule:
    rule: str = "owner"  # owner | team | user
    team_id: str | None = None
    user_id: str | None = None


@dataclass(frozen=True)
class TaskTemplate:
    key: str
    title: str
    type: str = "todo"
    due_offset_days: int = 0
    assignee: AssigneeRule = field(default_factory=AssigneeRule)
    description: str | None = None


@dataclass(frozen=True)
class ExitCriteria:
    required_fields: tuple[str, ...] = ()
    playbook_keys: tuple[str, ...] = ()  # templates whose tasks must be completed
    primary_contact_required: bool = False

    @property
    def empty(self) -> bool:
        return not (self.required_fields or self.playbook_keys or self.primary_contact_required)


@dataclass(frozen=True)
class Stage:
    key: str
    name: str
    probability: int
    forecast_category: str
    rotting_days: int | None = None
    exit_criteria: ExitCriteria = field(default_factory=ExitCriteria)
    playbook: tuple[TaskTemplate, ...] = ()
    description: str | None = None

    @property
    def terminal(self) -> bool:
        return self.key in TERMINAL


@dataclass(frozen=True)
class PipelineVersion:
    """A superseded version, kept so deals still on it keep their rules and history."""

    version: int
    name: str
    stages: tuple[Stage, ...]
    created_at: datetime | None = None
    created_by: str | None = None


@dataclass
class Pipeline(Entity):
    """A record (not frozen): the store writes it with the events it raised."""

    id: str
    workspace_id: str
    name: str
    version: int
    stages: tuple[Stage, ...]
    currency: str = "USD"
    is_default: bool = False
    previous: tuple[PipelineVersion, ...] = ()
    created_at: datetime | None = None
    updated_at: datetime | None = None
    updated_by: str | None = None

    def stage(self, key: str) -> Stage | None:
        return next((s for s in self.stages if s.key == key), None)

    def stages_of(self, version: int) -> tuple[Stage, ...]:
        if version == self.version:
            return self.stages
        for old in self.previous:
            if old.version == version:
                return old.stages
        return self.stages

    def stage_at(self, version: int, key: str) -> Stage | None:
        """A stage as it was defined in `version` (falls back to the current one)."""
        found = next((s for s in self.stages_of(version) if s.key == key), None)
        return found or self.stage(key)

    def index(self, key: str) -> int:
        return next((i for i, s in enumerate(self.stages) if s.key == key), -1)

    @property
    def open_stages(self) -> tuple[Stage, ...]:
        return tuple(s for s in self.stages if not s.terminal)

    @property
    def first_stage(self) -> Stage:
        return self.open_stages[0]

    def new_version(
        self, *, name: str, stages: tuple[Stage, ...], at: datetime, by: str | None
    ) -> Pipeline:
        """The next version (this one kept in `previous`); it raises its update."""
        old = PipelineVersion(
            self.version, self.name, self.stages, self.updated_at, self.updated_by
        )
        updated = replace(
            self,
            name=name,
            stages=stages,
            version=self.version + 1,
            previous=(*self.previous, old),
            updated_at=at,
            updated_by=by,
        )
        updated.raise_event(PipelineUpdated(updated, self.version))
        return updated

    def created(self) -> Pipeline:
        """A new pipeline: it raises its creation."""
        self.raise_event(PipelineCreated(self))
        return self


@dataclass(frozen=True)
class PipelineCreated:
    pipeline: Pipeline


@dataclass(frozen=True)
class PipelineUpdated:
    pipeline: Pipeline
    previous_version: int


def terminal_stages() -> tuple[Stage, Stage]:
    return (
        Stage(WON, "Won", 100, "closed", description="Closed won: the customer signed."),
        Stage(LOST, "Lost", 0, "closed", description="Closed lost; a reason is recorded."),
    )


def build_stages(open_stages: list[Stage], field_prefix: str = "input.stages") -> tuple[Stage, ...]:
    """Validate the open stages of a pipeline and append the terminal ones."""
    if not open_stages:
        raise BadUserInput("a pipeline needs at least one open stage", field=field_prefix)
    keys: set[str] = set()
    template_keys: set[str] = set()
    for i, stage in enumerate(open_stages):
        where = f"{field_prefix}.{i}"
        if not _KEY.match(stage.key) or stage.key in TERMINAL:
            raise BadUserInput(
                "stage key must match [a-z][a-z0-9_]* and not be 'won' or 'lost'",
                field=f"{where}.key",
            )
        if stage.key in keys:
            raise BadUserInput(f"duplicate stage key {stage.key!r}", field=f"{where}.key")
        keys.add(stage.key)
        if not stage.name.strip():
            raise BadUserInput("stage name must not be empty", field=f"{where}.name")
        if not 0 <= stage.probability <= 100:
            raise BadUserInput("probability must be 0-100", field=f"{where}.probability")
        if stage.forecast_category not in OPEN_CATEGORIES:
            raise BadUserInput(
                f"forecast category of an open stage must be one of {OPEN_CATEGORIES}",
                field=f"{where}.forecastCategory",
            )
        if stage.rotting_days is not None and stage.rotting_days < 1:
            raise BadUserInput("rotting days must be at least 1", field=f"{where}.rottingDays")
        for j, template in enumerate(stage.playbook):
            _check_template(template, template_keys, f"{where}.playbook.{j}")
        for name in stage.exit_criteria.required_fields:
            if name not in REQUIRABLE_FIELDS:
                raise BadUserInput(
                    f"unknown required field {name!r}; one of {REQUIRABLE_FIELDS}",
                    field=f"{where}.exitCriteria.requiredFields",
                )
        for key in stage.exit_criteria.playbook_keys:
            # Only tasks the deal can have had by now: this stage's or an earlier one's.
            if key not in template_keys:
                raise BadUserInput(
                    f"exit criterion names playbook task {key!r}, which no stage up to "
                    f"{stage.key!r} defines",
                    field=f"{where}.exitCriteria.playbookKeys",
                )
    return (*open_stages, *terminal_stages())


def _check_template(template: TaskTemplate, seen: set[str], where: str) -> None:
    if not _KEY.match(template.key):
        raise BadUserInput("template key must match [a-z][a-z0-9_]*", field=f"{where}.key")
    if template.key in seen:
        raise BadUserInput(
            f"template key {template.key!r} is used twice in this pipeline", field=f"{where}.key"
        )
    seen.add(template.key)
    if not template.title.strip():
        raise BadUserInput("template title must not be empty", field=f"{where}.title")
    if template.type not in TASK_TYPES:
        raise BadUserInput(f"task type must be one of {TASK_TYPES}", field=f"{where}.type")
    if template.due_offset_days < 0:
        raise BadUserInput("due offset must be >= 0", field=f"{where}.dueOffsetDays")
    rule = template.assignee
    if rule.rule not in ASSIGNEE_RULES:
        raise BadUserInput(
            f"assignee rule must be one of {ASSIGNEE_RULES}", field=f"{where}.assignee"
        )
    if rule.rule == "team" and not rule.team_id:
        raise BadUserInput("a TEAM assignee needs teamId", field=f"{where}.assignee.teamId")
    if rule.rule == "user" and not rule.user_id:
        raise BadUserInput("a USER assignee needs userId", field=f"{where}.assignee.userId")
