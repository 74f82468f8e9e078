"""Composition root: wires settings, store, runtime (Mongo, NATS, relay, consumers, RPC)
and the GraphQL subgraph into one Starlette app."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request

from crm_contracts.streams import stream_for
from crm_kit.context import RequestContext
from crm_kit.index_feed import IndexFeed, start_feed
from crm_kit.leases import LEASE_TIME_FIELD
from crm_kit.outbox import WRITTEN_AT
from crm_kit.retention import Retention
from crm_kit.runtime import ServiceRuntime, build_http_app
from crm_kit.settings import IndexSettings, Settings

from .config import (
    DESCRIPTION,
    DURABLE_COMPANY_FACTS,
    DURABLE_CONTACTS,
    DURABLE_TASKS,
    INDEX_PREFIX,
    forecast_snapshot_check_seconds,
    load_settings,
    win_model_retrain_hours,
)
from .events.consume import COMPANY_SUBJECTS, CONTACT_SUBJECTS, TASK_SUBJECTS, Handlers
from .graphql.context import DealsContext, make_context
from .graphql.schema import schema
from .rpc import endpoints
from .store.documents import (
    WIN_MODEL_JOBS,
    DocumentStores,
    MongoDocumentStores,
    document_stores_for,
)
from .store.forecast_snapshots import (
    SNAPSHOT_LEASES,
    MongoSnapshotStores,
    SnapshotStores,
    snapshot_stores_for,
)
from .store.indexed import DealIndex, IndexedStoreFactory, deal_index
from .store.mongo import MongoStoreFactory, ensure_indexes
from .store.protocol import (
    HANDOVERS,
    IMPORT_BATCHES,
    OUTBOX_COLLECTIONS,
    PIPELINES,
    StoreFactory,
)
from .store.win_models import (
    WIN_MODEL_LEASES,
    MongoWinModelStores,
    WinModelStores,
    win_model_stores_for,
)
from .usecases.analytics import SnapshotScheduler
from .usecases.context import utc_now
from .usecases.win_model import RetrainScheduler
from .win_model_rpc import win_model_endpoints

# The events that name a deal (`subject` = deal id): the index re-reads that deal.
DEAL_EVENTS = "crm.deals.deal.>"


class _Holder:
    """What the lifespan creates and the request handlers use."""

    stores: StoreFactory | None = None
    win_models: WinModelStores | None = None
    snapshots: SnapshotStores | None = None
    documents: DocumentStores | None = None
    runtime: ServiceRuntime | None = None
    index: DealIndex | None = None
    feed: IndexFeed | None = None


def create_app(
    settings: Settings | None = None,
    *,
    store: StoreFactory | None = None,
    bus: Any = None,
) -> Starlette:
    """`store` replaces MongoDB (unit tests: `MemoryDatabase()`); without it the lifespan
    starts the full runtime. `bus` is unused here (events leave through the outbox).
    Unless `DEALS_INDEX=off`, lists and the board are served by the read index."""
    settings = settings or load_settings()
    index_settings = IndexSettings.of(settings, INDEX_PREFIX)
    holder = _Holder()
    holder.stores = store
    holder.win_models = win_model_stores_for(store) if store is not None else None
    holder.snapshots = snapshot_stores_for(store) if store is not None else None
    holder.documents = document_stores_for(store) if store is not None else None
    background: set[asyncio.Task] = set()

    def spawn(job: Coroutine[Any, Any, None], name: str) -> None:
        """Background work that outlives the request (win model training): on the
        runtime, which cancels it at shutdown; without one (unit tests), a plain task."""
        if holder.runtime is not None:
            holder.runtime.spawn(job, name)
            return
        task = asyncio.get_running_loop().create_task(job, name=name)
        background.add(task)
        task.add_done_callback(background.discard)

    if store is not None and index_settings.enabled:
        # No event feed without NATS: only this process writes, and it refreshes itself.
        holder.index = deal_index(store)
        holder.stores = IndexedStoreFactory(store, holder.index)

    def notify(collection: str | None = None, doc_id: object = None) -> None:
        if holder.runtime is not None:
            holder.runtime.notify_outbox(collection, doc_id)

    def context_factory(ctx: RequestContext, _: Request) -> DealsContext:
        assert holder.stores is not None, "app used before its lifespan started"
        return make_context(
            holder.stores,
            ctx,
            notify=notify,
            win_models=holder.win_models,
            snapshots=holder.snapshots,
            documents=holder.documents,
            spawn=spawn,
        )

    async def readiness() -> dict[str, bool]:
        if holder.runtime is None:
            return {"store": holder.stores is not None}
        return await holder.runtime.ready()

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        if store is not None:
            yield
            return
        runtime = ServiceRuntime(settings, outbox_collections=OUTBOX_COLLECTIONS)
        await runtime.start(ensure_indexes)
        holder.runtime = runtime
        # The store and the relay share the runtime's per-document locks (crm_kit.locks).
        stores = await MongoStoreFactory.create(runtime.db, runtime.doc_locks)
        holder.stores = stores
        # One model cache per process, beside the locks (store/win_models.py).
        holder.win_models = MongoWinModelStores(runtime.db, runtime.doc_locks)
        holder.snapshots = MongoSnapshotStores(runtime.db, runtime.doc_locks)
        holder.documents = MongoDocumentStores(runtime.db, runtime.doc_locks)
        try:
            if index_settings.enabled:
                assert runtime.nc is not None and runtime.js is not None
                index = deal_index(stores, live=False)

                async def workspaces() -> list[str]:
                    # Every workspace with a pipeline, loaded in the background: its first
                    # board or list would otherwise pay the scan (seconds on FerretDB) in a
                    # user's request.
                    return list(await runtime.db[PIPELINES].distinct("workspace_id"))

                # Subscribed before any workspace is scanned.
                holder.feed = await start_feed(
                    runtime,
                    index,
                    subjects=[DEAL_EVENTS],
                    stream=stream_for("deals").name,
                    rebuild_seconds=index_settings.rebuild_seconds,
                    list_workspaces=workspaces,
                    name="deal-index",
                )
                holder.index = index
                holder.stores = IndexedStoreFactory(stores, index)
            handlers = Handlers(holder.stores, notify, holder.documents)
            await runtime.consume(
                durable=DURABLE_TASKS,
                source=stream_for("tasks"),
                subjects=TASK_SUBJECTS,
                handler=handlers.task_completed,
            )
            await runtime.consume(
                durable=DURABLE_CONTACTS,
                source=stream_for("contacts"),
                subjects=CONTACT_SUBJECTS,
                handler=handlers.contacts_event,
            )
            await runtime.consume(
                durable=DURABLE_COMPANY_FACTS,
                source=stream_for("contacts"),
                subjects=COMPANY_SUBJECTS,
                handler=handlers.company_facts,
                record_processed=False,
            )
            await runtime.serve_rpc(
                [
                    *endpoints(holder.stores),
                    *win_model_endpoints(holder.stores, holder.win_models, notify),
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
            retrain_hours = win_model_retrain_hours()
            if retrain_hours > 0:
                scheduler = RetrainScheduler(
                    holder.stores,
                    holder.win_models,
                    period_hours=retrain_hours,
                    clock=utc_now,
                    notify=notify,
                    documents=holder.documents,
                )
                runtime.spawn(scheduler.run(), "win-model-retrain")
            snapshot_seconds = forecast_snapshot_check_seconds()
            if snapshot_seconds > 0:
                snapshots = SnapshotScheduler(
                    holder.stores,
                    holder.snapshots,
                    clock=utc_now,
                    check_seconds=snapshot_seconds,
                    documents=holder.documents,
                )
                runtime.spawn(snapshots.run(), "forecast-snapshots")
            yield
        finally:
            if holder.feed is not None:
                await holder.feed.stop()
            await runtime.stop()
            holder.runtime = None
            holder.stores = None
            holder.win_models = None
            holder.snapshots = None
            holder.documents = None
            holder.index = holder.feed = None

    app = build_http_app(
        schema=schema,
        context_factory=context_factory,
        service=settings.service,
        readiness=readiness,
        lifespan=lifespan,
        live=lambda: holder.runtime.live if holder.runtime else None,
    )
    app.state.deals = holder
    return app
