"""Composition root: settings, runtime (Mongo, NATS, outbox relay), the write path and the
store for the database's profile (with the read index and its event feed where it runs),
the use cases' scopes, and the entry points (GraphQL over HTTP, NATS request/reply, event
consumers, the reminder scheduler)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request

from crm_contracts import capture, contacts, deals, webhooks
from crm_contracts.streams import stream_for
from crm_kit.access_feed import AccessFeed, start_access_views
from crm_kit.access_view import AccessViews
from crm_kit.audit_rpc import RemoteTrails
from crm_kit.clock import Clock, utcnow
from crm_kit.context import RequestContext
from crm_kit.exports import NatsExportNames, page_endpoints
from crm_kit.index_feed import IndexFeed, start_feed
from crm_kit.index_snapshot import index_snapshots
from crm_kit.profile import DatabaseProfile
from crm_kit.records import MongoSource
from crm_kit.rpc_client import RpcClient
from crm_kit.runtime import ServiceRuntime, build_http_app
from crm_kit.settings import IndexSettings, Settings
from crm_kit.writer import DocumentWriter

from .config import (
    ACCESS_VIEW_CONSUMER,
    AUDIT,
    IMPORT_BATCHES,
    INDEX_PREFIX,
    OUTBOX_COLLECTIONS,
    SERVICE,
    load_settings,
    scheduler_interval,
)
from .entrypoints.consumers import subscriptions
from .entrypoints.imports import import_endpoints
from .entrypoints.rpc import endpoints
from .entrypoints.scheduler import Scheduler
from .events.publish import encode
from .graphql.context import GraphQLContext, context_for
from .graphql.export_pages import export_readers
from .graphql.schema import schema
from .store.deal_moves import NatsDealMoves
from .store.directory import NatsDirectory
from .store.indexed import IndexedStore
from .store.mongo import (
    RETENTION,
    backfill_deal_lists,
    ensure_indexes,
    mongo_store,
)
from .store.port import References, TasksStore
from .store.references import KnownReferences, NatsReferences
from .usecases.reminders import reminders
from .usecases.scope import scopes

# The events that name a task (`subject` = task id): the read index re-reads that task.
TASK_EVENTS = f"crm.{SERVICE}.task.>"


async def _writer(runtime: ServiceRuntime, settings: Settings) -> DocumentWriter:
    return DocumentWriter(
        runtime.db,
        profile=await DatabaseProfile.detect(runtime.db, settings.database_profile),
        outbox_collections=OUTBOX_COLLECTIONS,
        # Shared with the outbox relay's clean-up (crm_kit.locks).
        locks=runtime.doc_locks,
        wake=runtime.notify_outbox,
        encode=encode,
        audit=AUDIT,
    )


async def _index_feed(
    runtime: ServiceRuntime, store: IndexedStore, settings: IndexSettings
) -> IndexFeed:
    """Other replicas' writes reach the index as events; subscribed before it serves
    (warmed from its snapshot, `crm_kit.index_snapshot`, else from one scan)."""
    assert runtime.nc is not None and runtime.js is not None

    return await start_feed(
        runtime,
        store.index,
        subjects=[TASK_EVENTS],
        stream=stream_for(SERVICE).name,
        rebuild_seconds=settings.rebuild_seconds,
        name="task-index",
        snapshots=index_snapshots(runtime.db),
        snapshot_seconds=settings.snapshot_seconds,
    )


def create_app(
    settings: Settings | None = None,
    *,
    store: TasksStore | None = None,
    bus: Any = None,
    clock: Clock = utcnow,
    run_scheduler: bool = True,
    references: References | None = None,
) -> Starlette:
    """With `store` given (the in-memory fake) nothing external is started; otherwise the
    lifespan connects to MongoDB and NATS and starts the consumers, the request/reply
    endpoints and the reminder scheduler. `bus` is unused: events leave through the
    outbox (the writer wakes the relay)."""
    del bus
    settings = settings or load_settings()
    index_settings = IndexSettings.of(settings, INDEX_PREFIX)
    # The in-memory fake knows every id unless the test gives its own.
    state: dict[str, Any] = {
        "store": store,
        "runtime": None,
        "views": None,
        "references": references or KnownReferences(),
        "trails": None,
    }

    def context_factory(ctx: RequestContext, _: Request) -> GraphQLContext:
        scoped = scopes(
            state["store"],
            clock,
            state["views"],
            references=state["references"],
            trails=state["trails"],
        )
        return context_for(scoped(ctx))

    async def readiness() -> dict[str, bool]:
        runtime: ServiceRuntime | None = state["runtime"]
        return await runtime.ready() if runtime else {"store": True}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if store is not None:
            yield
            return
        runtime = ServiceRuntime(settings, outbox_collections=OUTBOX_COLLECTIONS)
        await runtime.start(ensure_indexes)
        feed: IndexFeed | None = None
        access: AccessFeed | None = None
        try:
            writer = await _writer(runtime, settings)
            # Import batches a crash left held: their tasks' events and entries go out.
            await writer.arm_batches(IMPORT_BATCHES)
            # The index serves only once its feed is subscribed (`live=False` until then).
            mongo = mongo_store(
                writer,
                index=index_settings.enabled,
                live=False,
                change_log=index_settings.change_log,
            )
            # After the store: its change logs journal the lists the backfill writes.
            await backfill_deal_lists(writer)
            if isinstance(mongo, IndexedStore):
                feed = await _index_feed(runtime, mongo, index_settings)
                app.state.index, app.state.feed = mongo.index, feed
            # Teams and sharing settings, as every service sees them (crm_kit.sharing).
            views = AccessViews(MongoSource(writer))
            rpc = RpcClient(lambda: runtime.nc, lambda: runtime.keys)
            others = NatsReferences(rpc)
            # The single `auditTrail(recordId)` asks the other auditing services.
            trails = RemoteTrails(
                rpc,
                {
                    service.SERVICE: service.RPC_AUDIT_TRAIL
                    for service in (contacts, deals, capture, webhooks)
                },
            )
            state.update(
                store=mongo, runtime=runtime, views=views, references=others, trails=trails
            )
            app.state.runtime = runtime
            app.state.store = mongo
            directory = NatsDirectory(rpc)
            names = NatsExportNames(rpc)
            await runtime.serve_rpc(
                [
                    *endpoints(scopes(mongo, clock, views, references=others)),
                    # An import batch resolves its rows' deals and contacts itself, in one
                    # request each (the directory), not once per row.
                    *import_endpoints(scopes(mongo, clock, views), directory),
                    *page_endpoints(export_readers(scopes(mongo, clock, views), names)),
                ],
                "CRM tasks",
            )
            moves = NatsDealMoves(rpc)
            for subscription in subscriptions(scopes(mongo, clock, deals=moves)):
                await subscription.start(runtime)
            # Teams and settings held in this process from then on (crm_kit.access_feed).
            access = app.state.access = await start_access_views(
                runtime, ACCESS_VIEW_CONSUMER, views
            )
            runtime.retain(*RETENTION)
            if run_scheduler:
                scheduler = Scheduler(reminders(mongo), interval=scheduler_interval(), clock=clock)
                app.state.scheduler = scheduler
                runtime.spawn(scheduler.run(), "reminder-scheduler")
            yield
        finally:
            if access is not None:
                await access.stop()
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
    app.state.store = store
    app.state.index = store.index if isinstance(store, IndexedStore) else None
    app.state.feed = None
    return app
