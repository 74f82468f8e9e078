"""Pipelines: the lazily created default, creation, and versioned updates."""

from __future__ import annotations

from dataclasses import replace

from crm_kit.errors import BadUserInput, Conflict, NotFound
from crm_kit.ids import new_id

from ..domain.default_pipeline import default_pipeline, default_pipeline_id
from ..domain.money import validate_currency
from ..domain.pipeline import Pipeline, Stage, build_stages, pipeline_from_doc, pipeline_to_doc
from ..events import publish
from ..store.protocol import PIPELINES, DealStore, Doc
from .context import Actor


class PipelineService:
    """Lives for one request or one event. Pipeline documents read are kept for that span
    (a move reads its pipeline, the GraphQL `stage` fields read it again): a handful of
    small documents, and one request never sees two versions of a pipeline."""

    def __init__(self, store: DealStore, actor: Actor) -> None:
        self.store = store
        self.actor = actor
        self._docs: dict[str, Doc] = {}

    async def _doc(self, pipeline_id: str) -> Doc | None:
        doc = self._docs.get(pipeline_id)
        if doc is None:
            doc = await self.store.get_pipeline(pipeline_id)
            if doc is not None:
                self._docs[pipeline_id] = doc
        return doc

    async def ensure_default(self) -> Pipeline:
        """Idempotent under concurrency: the deterministic id makes a second insert a no-op."""
        pipeline_id = default_pipeline_id(self.store.workspace_id)
        doc = await self._doc(pipeline_id)
        if doc is None:
            pipeline = default_pipeline(self.store.workspace_id, self.actor.clock())
            created = await self.store.insert_pipeline(
                pipeline_to_doc(pipeline), [publish.pipeline_created(pipeline)]
            )
            if created:
                self.actor.notify(PIPELINES, pipeline_id)
            doc = await self._doc(pipeline_id)
        assert doc is not None
        return pipeline_from_doc(doc)

    async def list(self) -> list[Pipeline]:
        await self.ensure_default()
        return [pipeline_from_doc(doc) for doc in await self.store.list_pipelines()]

    async def find(self, pipeline_id: str) -> Pipeline | None:
        if pipeline_id == default_pipeline_id(self.store.workspace_id):
            return await self.ensure_default()
        doc = await self._doc(pipeline_id)
        return pipeline_from_doc(doc) if doc else None

    async def get(self, pipeline_id: str | None, field: str = "pipelineId") -> Pipeline:
        if not pipeline_id:
            return await self.ensure_default()
        pipeline = await self.find(pipeline_id)
        if pipeline is None:
            raise NotFound(f"no pipeline {pipeline_id!r}", field=field)
        return pipeline

    async def create(self, name: str, open_stages: list[Stage], currency: str = "USD") -> Pipeline:
        self.actor.require_manager()
        if not name.strip():
            raise BadUserInput("name must not be empty", field="input.name")
        now = self.actor.clock()
        pipeline = Pipeline(
            id=new_id(),
            workspace_id=self.store.workspace_id,
            name=name.strip(),
            version=1,
            stages=build_stages(open_stages),
            currency=validate_currency(currency),
            created_at=now,
            updated_at=now,
            updated_by=self.actor.subject,
        )
        await self.store.insert_pipeline(
            pipeline_to_doc(pipeline), [publish.pipeline_created(pipeline)]
        )
        self.actor.notify(PIPELINES, pipeline.id)
        return pipeline

    async def update(
        self, pipeline_id: str, name: str | None, open_stages: list[Stage] | None
    ) -> Pipeline:
        """A change creates a new version; deals stay on theirs until moved."""
        self.actor.require_manager()
        current = await self.get(pipeline_id, field="id")
        new_name = current.name if name is None else name.strip()
        if not new_name:
            raise BadUserInput("name must not be empty", field="input.name")
        stages = current.stages if open_stages is None else build_stages(open_stages)
        if new_name == current.name and stages == current.stages:
            return current
        updated = current.new_version(
            name=new_name, stages=stages, at=self.actor.clock(), by=self.actor.subject
        )
        doc = pipeline_to_doc(updated)
        ok = await self.store.update_pipeline(
            current.id, current.version, doc, [publish.pipeline_updated(updated, current.version)]
        )
        self._docs.pop(current.id, None)
        if not ok:
            raise Conflict(
                "the pipeline changed meanwhile; reload it and retry",
                currentVersion=current.version,
            )
        self.actor.notify(PIPELINES, current.id)
        return replace(updated)
