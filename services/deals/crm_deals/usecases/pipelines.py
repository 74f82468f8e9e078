"""Pipelines: the lazily created default, creation, and versioned updates."""

from __future__ import annotations

from crm_contracts.placeholders import DEAL_PLACEHOLDERS, unknown_in
from crm_kit.errors import BadUserInput, Conflict, NotFound
from crm_kit.ids import new_id

from ..domain.default_pipeline import default_pipeline, default_pipeline_id
from ..domain.money import validate_currency
from ..domain.pipeline import Pipeline, Stage, build_stages
from .inputs import PipelineInput
from .scope import Scope

MANAGERS_ONLY = "only managers and admins change pipelines"


async def _read(scope: Scope, pipeline_id: str) -> Pipeline | None:
    found = scope.memo.pipelines.get(pipeline_id)
    if found is None:
        found = await scope.store.get_pipeline(pipeline_id)
        if found is not None:
            scope.memo.pipelines[pipeline_id] = found
    return found


async def ensure_default(scope: Scope) -> Pipeline:
    """Idempotent under concurrency: the deterministic id makes a second insert a no-op."""
    pipeline_id = default_pipeline_id(scope.workspace_id)
    found = await _read(scope, pipeline_id)
    if found is None:
        created = default_pipeline(scope.workspace_id, scope.now()).created()
        await scope.store.add_pipeline(created)
        found = await _read(scope, pipeline_id)
    assert found is not None, "the default pipeline exists once inserted"
    return found


async def list_pipelines(scope: Scope) -> list[Pipeline]:
    await ensure_default(scope)
    return await scope.store.list_pipelines()


async def find_pipeline(scope: Scope, pipeline_id: str) -> Pipeline | None:
    if pipeline_id == default_pipeline_id(scope.workspace_id):
        return await ensure_default(scope)
    return await _read(scope, pipeline_id)


async def get_pipeline(
    scope: Scope, pipeline_id: str | None, field: str = "pipelineId"
) -> Pipeline:
    """The pipeline, or the default one without an id; NOT_FOUND naming `field`."""
    if not pipeline_id:
        return await ensure_default(scope)
    found = await find_pipeline(scope, pipeline_id)
    if found is None:
        raise NotFound(f"no pipeline {pipeline_id!r}", field=field)
    return found


def check_pipeline_id(pipeline_id: str | None) -> str | None:
    """An optional pipeline argument: omitted means the default; blank is an error."""
    if pipeline_id is not None and not pipeline_id.strip():
        raise BadUserInput(
            "pipelineId must not be blank (omit it for the default)", field="pipelineId"
        )
    return pipeline_id.strip() if pipeline_id else None


def _checked(open_stages: list[Stage]) -> tuple[Stage, ...]:
    """The stages built, with every playbook text using only placeholders the tasks
    service renders (`crm_contracts.placeholders`): an unknown one would render blank."""
    stages = build_stages(open_stages)
    for i, stage in enumerate(open_stages):
        for j, template in enumerate(stage.playbook):
            for name, text in (("title", template.title), ("description", template.description)):
                unknown = unknown_in(text, DEAL_PLACEHOLDERS)
                if unknown:
                    raise BadUserInput(
                        f"unknown placeholder {{{{{unknown[0]}}}}}; one of "
                        f"{', '.join(sorted(DEAL_PLACEHOLDERS))}",
                        field=f"input.stages.{i}.playbook.{j}.{name}",
                    )
    return stages


async def create_pipeline(scope: Scope, values: PipelineInput) -> Pipeline:
    scope.require_manager(MANAGERS_ONLY)
    if not values.name.strip():
        raise BadUserInput("name must not be empty", field="input.name")
    now = scope.now()
    pipeline = Pipeline(
        id=new_id(),
        workspace_id=scope.workspace_id,
        name=values.name.strip(),
        version=1,
        stages=_checked(values.stages),
        currency=validate_currency(values.currency),
        created_at=now,
        updated_at=now,
        updated_by=scope.subject,
    ).created()
    await scope.store.add_pipeline(pipeline)
    return pipeline


async def update_pipeline(
    scope: Scope, pipeline_id: str, name: str | None, open_stages: list[Stage] | None
) -> Pipeline:
    """A change creates a new version; deals stay on theirs until moved."""
    scope.require_manager(MANAGERS_ONLY)
    current = await get_pipeline(scope, pipeline_id, field="id")
    new_name = current.name if name is None else name.strip()
    if not new_name:
        raise BadUserInput("name must not be empty", field="input.name")
    stages = current.stages if open_stages is None else _checked(open_stages)
    if new_name == current.name and stages == current.stages:
        return current
    updated = current.new_version(name=new_name, stages=stages, at=scope.now(), by=scope.subject)
    saved = await scope.store.save_pipeline(updated, current.version)
    scope.memo.pipelines.pop(current.id, None)
    if not saved:
        raise Conflict(
            "the pipeline changed meanwhile; reload it and retry", currentVersion=current.version
        )
    return updated
