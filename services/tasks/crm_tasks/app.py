"""Composition root: settings, store, runtime (Mongo, NATS, outbox relay, consumers,
request/reply endpoints, the reminder scheduler) and the GraphQL HTTP app."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.requests import Request

from crm_kit.auth import TokenVerifier
from crm_kit.context import RequestContext
from crm_kit.runtime import ServiceRuntime, build_http_app
from crm_kit.settings import Settings

from .config import OUTBOX_COLLECTIONS, load_settings, scheduler_interval
from .domain.model import utcnow
from .events.consume import EventHandlers, start_consumers
from .graphql.context import TasksContext
from .graphql.schema import schema
from .rpc import endpoints
from .scheduler import Scheduler
from .store.mongo import RETENTION, MongoTasksStore
from .store.protocol import TasksStore
from .usecases.base import Scope


class Bus(Protocol):
    def notify_outbox(self, collection: str | None = None, doc_id: object = None) -> None: ...


def create_app(
    settings: Settings | None = None,
    *,
    store: TasksStore | None = None,
    bus: Bus | None = None,
    clock: Callable[[], datetime] = utcnow,
    run_scheduler: bool = True,
) -> Starlette:
    """With `store` given (e.g. the in-memory fake) nothing external is started; otherwise
    the lifespan connects to MongoDB and NATS, starts the consumers, the request/reply
    endpoints and the reminder scheduler."""
    settings = settings or load_settings()
    verifier = TokenVerifier.from_env()
    state: dict[str, Any] = {"store": store, "bus": bus, "runtime": None}

    def notify(collection: str, doc_id: Any) -> None:
        if state["bus"] is not None:
            state["bus"].notify_outbox(collection, doc_id)

    def context_factory(ctx: RequestContext, _: Request) -> TasksContext:
        scope = Scope(state["store"].for_workspace(ctx.workspace_id), ctx.subject, notify, clock)
        return TasksContext(request=ctx, scope=scope)

    async def readiness() -> dict[str, bool]:
        runtime: ServiceRuntime | None = state["runtime"]
        return await runtime.ready() if runtime else {"store": True}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if store is not None:
            yield
            return
        runtime = ServiceRuntime(settings, outbox_collections=OUTBOX_COLLECTIONS)

        async def indexes(db: Any) -> None:
            await MongoTasksStore(db, runtime.doc_locks).ensure_indexes()

        await runtime.start(indexes)
        try:
            mongo_store = MongoTasksStore(
                runtime.db, runtime.doc_locks, runtime.mongo.isolated_updates
            )
            state.update(store=mongo_store, bus=runtime, runtime=runtime)
            app.state.runtime = runtime
            app.state.store = mongo_store
            handlers = EventHandlers(mongo_store, runtime.notify_outbox, clock)
            await start_consumers(runtime, handlers)
            await runtime.serve_rpc(
                endpoints(mongo_store, runtime.notify_outbox, clock), "CRM tasks"
            )
            runtime.retain(*RETENTION)
            if run_scheduler:
                scheduler = Scheduler(
                    mongo_store, runtime.notify_outbox, interval=scheduler_interval(), clock=clock
                )
                app.state.scheduler = scheduler
                runtime.spawn(scheduler.run(), "reminder-scheduler")
            yield
        finally:
            await runtime.stop()

    app = build_http_app(
        schema=schema,
        context_factory=context_factory,
        verifier=verifier,
        readiness=readiness,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.store = store
    return app
