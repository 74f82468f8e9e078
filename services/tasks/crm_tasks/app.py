"""Composition root: settings, store, runtime (Mongo, NATS, outbox relay, consumers,
request/reply endpoints, the reminder scheduler) and the GraphQL HTTP app."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.requests import Request

from crm_contracts.streams import stream_for
from crm_kit.context import RequestContext
from crm_kit.index_feed import IndexFeed, start_feed
from crm_kit.runtime import ServiceRuntime, build_http_app
from crm_kit.settings import IndexSettings, Settings

from .config import INDEX_PREFIX, OUTBOX_COLLECTIONS, load_settings, scheduler_interval
from .domain.model import utcnow
from .events.consume import EventHandlers, start_consumers
from .graphql.context import TasksContext
from .graphql.schema import schema
from .rpc import endpoints
from .scheduler import Scheduler
from .store.indexed import IndexedTasksStore, task_index
from .store.mongo import RETENTION, MongoTasksStore
from .store.protocol import TASKS, TasksStore
from .usecases.base import Scope

# The events that name a task (`subject` = task id): the index re-reads that task.
TASK_EVENTS = "crm.tasks.task.>"


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
    endpoints and the reminder scheduler. Unless `TASKS_INDEX=off`, task lists, counts,
    open counts and analytics are served by the read index (`store/indexed.py`)."""
    settings = settings or load_settings()
    index_settings = IndexSettings.of(settings, INDEX_PREFIX)
    served: TasksStore | None = store
    if store is not None and index_settings.enabled:
        # No event feed without NATS: only this process writes, and it refreshes itself.
        served = IndexedTasksStore(store, task_index(store))
    state: dict[str, Any] = {"store": served, "bus": bus, "runtime": None}

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
        feed: IndexFeed | None = None
        try:
            mongo_store = MongoTasksStore(
                runtime.db, runtime.doc_locks, runtime.mongo.isolated_updates
            )
            tasks_store: TasksStore = mongo_store
            if index_settings.enabled:
                assert runtime.nc is not None and runtime.js is not None
                index = task_index(mongo_store, live=False)

                async def workspaces() -> list[str]:
                    # One scan of `tasks` at start-up, in the background.
                    return list(await runtime.db[TASKS].distinct("workspace_id"))

                # Subscribed before any workspace is scanned.
                feed = await start_feed(
                    runtime,
                    index,
                    subjects=[TASK_EVENTS],
                    stream=stream_for("tasks").name,
                    rebuild_seconds=index_settings.rebuild_seconds,
                    list_workspaces=workspaces,
                    name="task-index",
                )
                tasks_store = IndexedTasksStore(mongo_store, index)
                app.state.index, app.state.feed = index, feed
            state.update(store=tasks_store, bus=runtime, runtime=runtime)
            app.state.runtime = runtime
            app.state.store = tasks_store
            handlers = EventHandlers(tasks_store, runtime.notify_outbox, clock)
            await start_consumers(runtime, handlers)
            await runtime.serve_rpc(
                endpoints(tasks_store, runtime.notify_outbox, clock), "CRM tasks"
            )
            runtime.retain(*RETENTION)
            if run_scheduler:
                scheduler = Scheduler(
                    tasks_store, runtime.notify_outbox, interval=scheduler_interval(), clock=clock
                )
                app.state.scheduler = scheduler
                runtime.spawn(scheduler.run(), "reminder-scheduler")
            yield
        finally:
            if feed is not None:
                await feed.stop()
            await runtime.stop()
            app.state.index = app.state.feed = None

    app = build_http_app(
        schema=schema,
        context_factory=context_factory,
        service=settings.service,
        readiness=readiness,
        lifespan=lifespan,
        live=lambda: state["runtime"].live if state["runtime"] else None,
    )
    app.state.settings = settings
    app.state.store = served
    app.state.index = served.index if isinstance(served, IndexedTasksStore) else None
    app.state.feed = None
    return app
