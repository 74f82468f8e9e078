"""Composition root: settings, runtime (Mongo, NATS, outbox relay), the write path and the
store, the owners' endpoints (the sinks), the use cases' scopes, and the entry points
(GraphQL over HTTP, the upload door the gateway forwards files to, the job runner)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request

from crm_kit.assertions import KeyRing
from crm_kit.clock import Clock, utcnow
from crm_kit.context import RequestContext
from crm_kit.profile import DatabaseProfile
from crm_kit.records import MongoSource
from crm_kit.retention import Retention
from crm_kit.runtime import ServiceRuntime, build_http_app
from crm_kit.settings import Settings
from crm_kit.writer import DocumentWriter

from .config import (
    EXPORT_CHUNKS,
    EXPORT_JOBS,
    LEASES,
    OUTBOX_COLLECTIONS,
    ExportSettings,
    RunSettings,
    load_settings,
)
from .entrypoints.download_http import DownloadEndpoint
from .entrypoints.export_runner import ExportRunner
from .entrypoints.runner import JobRunner
from .entrypoints.upload_http import UploadEndpoint
from .events.publish import encode
from .graphql.context import GraphQLContext
from .graphql.schema import schema
from .store.exports import Exports
from .store.mongo import ensure_indexes, mongo_store
from .store.pages import NatsPages
from .store.port import ExportsStore, ImportsStore, OwnerPages, RecordSinks
from .store.sinks import NatsSinks
from .usecases.claims import Claims
from .usecases.export_scope import ExportScopes, export_scopes
from .usecases.scope import Scopes, scopes


def create_app(
    settings: Settings | None = None,
    *,
    store: ImportsStore | None = None,
    sinks: RecordSinks | None = None,
    run: RunSettings | None = None,
    clock: Clock = utcnow,
    exports: ExportsStore | None = None,
    pages: OwnerPages | None = None,
    exporting: ExportSettings | None = None,
) -> Starlette:
    """With `store` given (the in-memory fake, and `sinks` a fake; `exports` and `pages`
    for exports) nothing external is started, and jobs run in process as they are
    started; otherwise the lifespan connects to MongoDB and NATS and starts the runners."""
    settings = settings or load_settings()
    run = run or RunSettings.from_env()
    exporting = exporting or ExportSettings.from_env()
    state: dict[str, Any] = {"scopes": None, "runtime": None, "exports": None}

    def wire(found: ImportsStore, found_sinks: RecordSinks) -> tuple[Scopes, JobRunner]:
        runner = JobRunner(
            Claims(found.active_jobs, found.for_workspace), lambda c: state["scopes"](c), run, clock
        )
        state["scopes"] = scopes(found, found_sinks, run, clock, runner.wake)
        state["runner"] = runner
        return state["scopes"], runner

    def wire_exports(found: ExportsStore, found_pages: OwnerPages) -> ExportRunner:
        runner = ExportRunner(
            Claims(found.active_exports, found.for_workspace),
            lambda c: state["exports"](c),
            run,
            clock,
        )
        state["exports"] = export_scopes(found, found_pages, exporting, clock, runner.wake)
        state["export_runner"] = runner
        return runner

    if store is not None:
        assert sinks is not None, "an in-memory store needs fake sinks"
        wire(store, sinks)
        if exports is not None:
            assert pages is not None, "in-memory exports need fake pages"
            wire_exports(exports, pages)

    def context_factory(ctx: RequestContext, _: Request) -> GraphQLContext:
        found: ExportScopes | None = state["exports"]
        return GraphQLContext(scope=state["scopes"](ctx), exports=found(ctx) if found else None)

    async def readiness() -> dict[str, bool]:
        runtime: ServiceRuntime | None = state["runtime"]
        return await runtime.ready() if runtime else {"store": True}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if store is not None:
            runners: list[JobRunner | ExportRunner] = [state["runner"]]
            if state.get("export_runner") is not None:
                runners.append(state["export_runner"])
            tasks = [asyncio.ensure_future(r.run()) for r in runners]
            try:
                yield
            finally:
                for task, in_memory in zip(tasks, runners, strict=True):
                    task.cancel()
                    await in_memory.stop()
            return
        runtime = ServiceRuntime(settings, outbox_collections=OUTBOX_COLLECTIONS)
        await runtime.start(ensure_indexes)
        runner: JobRunner | None = None
        export_runner: ExportRunner | None = None
        try:
            writer = DocumentWriter(
                runtime.db,
                profile=await DatabaseProfile.detect(runtime.db, settings.database_profile),
                outbox_collections=OUTBOX_COLLECTIONS,
                locks=runtime.doc_locks,
                wake=runtime.notify_outbox,
                encode=encode,
            )
            nc, keys = runtime.nc, runtime.keys
            assert nc is not None and keys is not None
            nats_sinks = NatsSinks(lambda: nc, lambda: keys, run.sink_timeout_seconds)
            _, runner = wire(mongo_store(writer), sinks or nats_sinks)
            nats_pages = NatsPages(lambda: nc, lambda: keys, exporting.page_timeout_seconds)
            export_runner = wire_exports(Exports(MongoSource(writer)), pages or nats_pages)
            state["runtime"] = runtime
            app.state.runtime = runtime
            runtime.spawn(runner.run(), "import-runner")
            runtime.spawn(export_runner.run(), "export-runner")
            kept = timedelta(hours=exporting.keep_hours)
            runtime.retain(
                # A lease is bookkeeping once its period passed.
                Retention(LEASES, "taken_at", keep=timedelta(days=1)),
                # An export's file is served until it expires; its chunks go after.
                Retention(EXPORT_CHUNKS, "written_at", keep=kept),
                # The export's record a while longer (it says the file expired).
                Retention(EXPORT_JOBS, "created_at", outbox=True, keep=kept * 2),
            )
            yield
        finally:
            if export_runner is not None:
                await export_runner.stop()
            if runner is not None:
                await runner.stop()
            await runtime.stop()

    app = build_http_app(
        schema=schema,
        context_factory=context_factory,
        service=settings.service,
        readiness=readiness,
        lifespan=lifespan,
        live=lambda: state["runtime"].live if state["runtime"] else None,
    )
    keys = _keys_of(state, settings.service)
    uploads = UploadEndpoint(lambda: state["scopes"], keys)
    app.router.routes.extend(uploads.routes)
    downloads = DownloadEndpoint(lambda: state["exports"], keys)
    app.router.routes.extend(downloads.routes)
    app.state.settings = settings
    app.state.store = store
    app.state.imports = state
    return app


def _keys_of(state: dict[str, Any], service: str) -> Any:
    """The runtime's key ring once it started, else (in-memory) this party's own."""
    own: list[KeyRing] = []

    def keys() -> KeyRing:
        runtime: ServiceRuntime | None = state["runtime"]
        if runtime is not None and runtime.keys is not None:
            return runtime.keys
        if not own:
            own.append(KeyRing.from_env(service))
        return own[0]

    return keys
