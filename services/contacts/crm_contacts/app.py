"""Composition root: settings, runtime (Mongo, NATS, outbox relay), the write path and the
store for the database's profile (with the list indexes and their event feeds where they
run), the use cases' scopes, and the entry points (GraphQL over HTTP, NATS request/reply,
event consumers)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request

from crm_contracts.streams import stream_for
from crm_kit.access_feed import AccessFeed, start_access_views
from crm_kit.access_view import AccessViews
from crm_kit.context import RequestContext, bind_request
from crm_kit.doc_index import DocIndex
from crm_kit.exports import page_endpoints
from crm_kit.index_feed import IndexFeed, start_feed
from crm_kit.index_snapshot import index_snapshots
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
    IMPORT_BATCHES,
    INDEX_PREFIX,
    OUTBOX_COLLECTIONS,
    SERVICE,
    load_settings,
)
from .entrypoints.consumers import subscriptions
from .entrypoints.exports import export_endpoints
from .entrypoints.imports import import_endpoints
from .entrypoints.rpc import endpoints
from .events.publish import encode
from .graphql.context import GraphQLContext, context_for
from .graphql.export_pages import export_readers
from .graphql.schema import schema
from .store.deals import NatsDeals
from .store.indexed import IndexedStore
from .store.mongo import ensure_indexes, mongo_store
from .store.port import ContactsStore, Deals
from .usecases.merging import resume_merges
from .usecases.scope import scopes

# The events naming each index's records (`subject` = the record's id).
INDEX_EVENTS = {
    "contact index": f"crm.{SERVICE}.contact.>",
    "company index": f"crm.{SERVICE}.company.>",
    "interaction index": f"crm.{SERVICE}.interaction.>",
}


async def _start(
    runtime: ServiceRuntime, settings: Settings, index: IndexSettings
) -> tuple[ContactsStore, AccessViews]:
    """The store on the runtime's database, writing through the kit's write path (its
    indexes serve only once their feeds are subscribed: `live=False` until then), and the
    view of teams and sharing settings (crm_kit.sharing)."""
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
    # Import batches a crash left held: their records' events go out now.
    await writer.arm_batches(IMPORT_BATCHES)
    store = mongo_store(writer, index=index.enabled, live=False, change_log=index.change_log)
    return store, AccessViews(MongoSource(writer))


async def _index_feeds(
    runtime: ServiceRuntime, store: IndexedStore, settings: IndexSettings
) -> list[IndexFeed]:
    """Other replicas' writes reach the indexes as events; subscribed before they serve
    (each then warms every workspace up from its snapshot, `crm_kit.index_snapshot`, else
    from one scan of its collection)."""
    return [await _feed(runtime, doc_index, settings) for doc_index in store.indexes]


async def _feed(
    runtime: ServiceRuntime, doc_index: DocIndex[Any], settings: IndexSettings
) -> IndexFeed:
    name = doc_index.index.name
    return await start_feed(
        runtime,
        doc_index.index,
        subjects=[INDEX_EVENTS[name]],
        stream=stream_for(SERVICE).name,
        rebuild_seconds=settings.rebuild_seconds,
        name=name.replace(" ", "-"),
        snapshots=index_snapshots(runtime.db),
        snapshot_seconds=settings.snapshot_seconds,
    )


def create_app(
    settings: Settings | None = None,
    *,
    store: ContactsStore | None = None,
    bus: Any = None,
    deals: Deals | None = None,
) -> Starlette:
    """With `store` given (the in-memory fake) nothing external is started; otherwise the
    lifespan connects to MongoDB and NATS and serves the request/reply endpoints. `bus` is
    unused: events leave through the outbox (the writer wakes the relay). `deals`: where an
    interaction's deal is checked (the lifespan asks the deals service over NATS; a test's
    fake otherwise; none: unchecked)."""
    del bus
    settings = settings or load_settings()
    index_settings = IndexSettings.of(settings, INDEX_PREFIX)
    state: dict[str, Any] = {"store": store, "runtime": None, "views": None, "deals": deals}

    def context_factory(ctx: RequestContext, _: Request) -> GraphQLContext:
        return context_for(scopes(state["store"], views=state["views"], deals=state["deals"])(ctx))

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
        feeds: list[IndexFeed] = []
        access: AccessFeed | None = None
        try:
            mongo, views = await _start(runtime, settings, index_settings)
            if isinstance(mongo, IndexedStore):
                feeds = await _index_feeds(runtime, mongo, index_settings)
            app.state.feeds = feeds
            checked = NatsDeals(RpcClient(lambda: runtime.nc, lambda: runtime.keys))
            state.update(store=mongo, runtime=runtime, views=views, deals=checked)
            app.state.runtime = runtime
            app.state.store = mongo
            await runtime.serve_rpc(
                [
                    *endpoints(scopes(mongo, views=views, deals=checked)),
                    *import_endpoints(scopes(mongo, views=views)),
                    *export_endpoints(scopes(mongo, views=views)),
                    *page_endpoints(export_readers(scopes(mongo, views=views))),
                ],
                "CRM contacts and companies",
            )
            for subscription in subscriptions(scopes(mongo)):
                await subscription.start(runtime)
            # Teams and settings held in this process from then on (crm_kit.access_feed).
            access = app.state.access = await start_access_views(
                runtime, ACCESS_VIEW_CONSUMER, views
            )
            # The consumers' processed-event records; import batches, once published, are
            # only bookkeeping.
            runtime.retain(Retention(IMPORT_BATCHES, WRITTEN_AT, outbox=True))
            await resume_merges(mongo)
            bind_request(None)
            yield
        finally:
            if access is not None:
                await access.stop()
            # At once: each writes its index's snapshot first (`IndexFeed.stop`).
            await asyncio.gather(*(feed.stop() for feed in feeds))
            await runtime.stop()
            app.state.feeds = []

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
    app.state.feeds = []
    return app
