"""Composition root: settings, runtime (Mongo, NATS, outbox relay), the write path and the
store for the database's profile (with the read index and its event feed on the embedded
database), the use cases' scopes, and the entry points (GraphQL over HTTP, NATS
request/reply, event consumers, the periodic jobs)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request

from crm_contracts.streams import stream_for
from crm_kit.access_feed import start_access_views
from crm_kit.access_view import AccessViews
from crm_kit.clock import Clock, utcnow
from crm_kit.context import RequestContext, bind_request
from crm_kit.exports import NatsExportNames, page_endpoints
from crm_kit.index_feed import IndexFeed, start_feed
from crm_kit.index_snapshot import index_snapshots
from crm_kit.leases import LEASE_TIME_FIELD
from crm_kit.outbox import WRITTEN_AT
from crm_kit.profile import DatabaseProfile
from crm_kit.records import MongoSource
from crm_kit.retention import Retention
from crm_kit.rpc_client import RpcClient
from crm_kit.runtime import ServiceRuntime, build_http_app
from crm_kit.settings import IndexSettings, Settings
from crm_kit.writer import DocumentWriter

from .config import (
    ACCESS_VIEW_CONSUMER,
    AUDIT,
    DESCRIPTION,
    HANDOVERS,
    IMPORT_BATCHES,
    INDEX_PREFIX,
    OUTBOX_COLLECTIONS,
    SNAPSHOT_LEASES,
    WIN_MODEL_JOBS,
    WIN_MODEL_LEASES,
    forecast_snapshot_check_seconds,
    import_batches_at_once,
    load_settings,
    win_model_retrain_hours,
)
from .entrypoints.consumers import subscriptions
from .entrypoints.imports import import_endpoints
from .entrypoints.rpc import endpoints
from .entrypoints.win_model_rpc import win_model_endpoints
from .events.publish import encode
from .graphql.context import DealsContext, context_for
from .graphql.export_pages import export_readers
from .graphql.schema import schema
from .store.contacts_directory import NatsContactsDirectory
from .store.indexed import IndexedRecordStore
from .store.mongo import ensure_indexes, mongo_store
from .store.port import DealsStore, References
from .store.references import KnownReferences, NatsReferences
from .usecases.analytics import SnapshotScheduler
from .usecases.scope import Scopes, Spawn, scopes
from .usecases.win_model import RetrainScheduler

# The events that name a deal (`subject` = deal id): the index re-reads that deal.
DEAL_EVENTS = "crm.deals.deal.>"


def background(runtime: ServiceRuntime | None, tasks: set[asyncio.Task[None]]) -> Spawn:
    """Work that outlives the request (win model training): on the runtime, which cancels
    it at shutdown; without one (the in-memory store), a plain task."""

    def spawn(job: Coroutine[Any, Any, None], name: str) -> None:
        if runtime is not None:
            runtime.spawn(job, name)
            return
        task = asyncio.get_running_loop().create_task(job, name=name)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    return spawn


async def _start(
    runtime: ServiceRuntime, settings: Settings, clock: Clock
) -> tuple[DealsStore, IndexFeed | None, AccessViews]:
    """The store on the runtime's database, writing through the kit's write path; on the
    embedded database, the read index and the feed that keeps it current; the view of
    teams and sharing settings (crm_kit.sharing)."""
    writer = DocumentWriter(
        runtime.db,
        profile=await DatabaseProfile.detect(runtime.db, settings.database_profile),
        outbox_collections=OUTBOX_COLLECTIONS,
        # Shared with the outbox relay's clean-up (crm_kit.locks).
        locks=runtime.doc_locks,
        wake=runtime.notify_outbox,
        encode=encode,
        audit=AUDIT,
    )
    views = AccessViews(MongoSource(writer))
    index = IndexSettings.of(settings, INDEX_PREFIX)
    store = mongo_store(writer, index=index.enabled, live=False, change_log=index.change_log)
    # Import batches a crash left held (their deals written, the events not yet armed):
    # their events go out now, whether or not the job is ever resumed.
    await store.repair_imports()
    if not isinstance(store, IndexedRecordStore):
        return store, None, views

    # Subscribed before any workspace is scanned (the index goes live then); every
    # workspace warms up in the background from one scan of the deals: a first board or
    # list would otherwise pay the scan (seconds on FerretDB) in a user's request.
    feed = await start_feed(
        runtime,
        store.index,
        subjects=[DEAL_EVENTS],
        stream=stream_for("deals").name,
        rebuild_seconds=index.rebuild_seconds,
        name="deal-index",
        # Later starts load the index from its snapshot instead of scanning the deals.
        snapshots=index_snapshots(runtime.db),
        snapshot_seconds=index.snapshot_seconds,
    )
    return store, feed, views


def _schedule(runtime: ServiceRuntime, store: DealsStore, scoped: Scopes) -> None:
    retrain_hours = win_model_retrain_hours()
    if retrain_hours > 0:
        retrain = RetrainScheduler(store, scoped, period_hours=retrain_hours)
        runtime.spawn(retrain.run(), "win-model-retrain")
    snapshot_seconds = forecast_snapshot_check_seconds()
    if snapshot_seconds > 0:
        snapshots = SnapshotScheduler(store, scoped, check_seconds=snapshot_seconds)
        runtime.spawn(snapshots.run(), "forecast-snapshots")


def create_app(
    settings: Settings | None = None,
    *,
    store: DealsStore | None = None,
    bus: Any = None,
    clock: Clock = utcnow,
    references: References | None = None,
) -> Starlette:
    """With `store` given (the in-memory fake) nothing external is started; otherwise the
    lifespan connects to MongoDB and NATS and starts the consumers, the request/reply
    endpoints and the periodic jobs. `bus` is unused: events leave through the outbox (the
    writer wakes the relay)."""
    del bus
    settings = settings or load_settings()
    tasks: set[asyncio.Task[None]] = set()
    state: dict[str, Any] = {
        "store": store,
        "runtime": None,
        "feed": None,
        "views": None,
        "access": None,
        # The in-memory fake knows every id unless the test gives its own.
        "references": references or KnownReferences(),
    }

    def scoped() -> Scopes:
        assert state["store"] is not None, "app used before its lifespan started"
        spawn = background(state["runtime"], tasks)
        return scopes(
            state["store"], clock, spawn, views=state["views"], references=state["references"]
        )

    def context_factory(ctx: RequestContext, _: Request) -> DealsContext:
        return context_for(scoped()(ctx))

    async def readiness() -> dict[str, bool]:
        runtime: ServiceRuntime | None = state["runtime"]
        return await runtime.ready() if runtime else {"store": state["store"] is not None}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if store is not None:
            yield
            return
        runtime = ServiceRuntime(settings, outbox_collections=OUTBOX_COLLECTIONS)
        await runtime.start(ensure_indexes)
        try:
            mongo, feed, views = await _start(runtime, settings, clock)
            rpc = RpcClient(lambda: runtime.nc, lambda: runtime.keys)
            contacts = NatsReferences(rpc)
            state.update(store=mongo, runtime=runtime, feed=feed, views=views, references=contacts)
            app.state.runtime = runtime
            app.state.store = mongo
            app.state.feed = feed
            for subscription in subscriptions(scoped()):
                await subscription.start(runtime)
            # Teams and settings held in this process from then on (crm_kit.access_feed).
            access = await start_access_views(runtime, ACCESS_VIEW_CONSUMER, views)
            state["access"] = app.state.access = access
            directory = NatsContactsDirectory(rpc)
            names = NatsExportNames(rpc)
            await runtime.serve_rpc(
                [
                    *endpoints(scoped()),
                    *win_model_endpoints(scoped()),
                    *import_endpoints(
                        scoped(), directory, batches_at_once=import_batches_at_once()
                    ),
                    *page_endpoints(export_readers(scoped(), names)),
                ],
                DESCRIPTION,
            )
            # Import batches, once published, are only bookkeeping (crm_kit.retention).
            # Spent job leases too (the snapshots are kept: accuracy reads them), and
            # handover records (each deal keeps its own in `owner_changes`).
            runtime.retain(
                Retention(IMPORT_BATCHES, WRITTEN_AT, outbox=True),
                Retention(HANDOVERS, WRITTEN_AT, outbox=True),
                Retention(SNAPSHOT_LEASES, LEASE_TIME_FIELD),
                Retention(WIN_MODEL_LEASES, LEASE_TIME_FIELD),
                Retention(WIN_MODEL_JOBS, "requested_at"),
            )
            _schedule(runtime, mongo, scoped())
            bind_request(None)
            yield
        finally:
            if state["access"] is not None:
                await state["access"].stop()
            if state["feed"] is not None:
                await state["feed"].stop()
            await runtime.stop()
            state.update(store=store, runtime=None, feed=None, access=None)

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
    return app
