"""Composition root: settings, runtime (Mongo, NATS, outbox relay), the write path and the
store for the database's profile, the use cases' scopes, and the entry points (GraphQL
over HTTP, NATS request/reply, event consumers)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request

from crm_kit.context import RequestContext, bind_request
from crm_kit.outbox import WRITTEN_AT
from crm_kit.profile import DatabaseProfile
from crm_kit.retention import Retention
from crm_kit.runtime import ServiceRuntime, build_http_app
from crm_kit.settings import Settings
from crm_kit.writer import DocumentWriter

from .config import IMPORT_BATCHES, OUTBOX_COLLECTIONS, load_settings
from .entrypoints.consumers import subscriptions
from .entrypoints.imports import import_endpoints
from .entrypoints.rpc import endpoints
from .events.publish import encode
from .graphql.context import GraphQLContext, context_for
from .graphql.schema import schema
from .store.mongo import ensure_indexes, mongo_store
from .store.port import ContactsStore
from .usecases.merging import resume_merges
from .usecases.scope import scopes


async def _start(runtime: ServiceRuntime, settings: Settings) -> ContactsStore:
    """The store on the runtime's database, writing through the kit's write path."""
    writer = DocumentWriter(
        runtime.db,
        profile=await DatabaseProfile.detect(runtime.db, settings.database_profile),
        outbox_collections=OUTBOX_COLLECTIONS,
        # Shared with the outbox relay's clean-up (crm_kit.locks).
        locks=runtime.doc_locks,
        wake=runtime.notify_outbox,
        encode=encode,
    )
    # Import batches a crash left held: their records' events go out now.
    await writer.arm_batches(IMPORT_BATCHES)
    return mongo_store(writer)


def create_app(
    settings: Settings | None = None,
    *,
    store: ContactsStore | None = None,
    bus: Any = None,
) -> Starlette:
    """With `store` given (the in-memory fake) nothing external is started; otherwise the
    lifespan connects to MongoDB and NATS and serves the request/reply endpoints. `bus` is
    unused: events leave through the outbox (the writer wakes the relay)."""
    del bus
    settings = settings or load_settings()
    state: dict[str, Any] = {"store": store, "runtime": None}

    def context_factory(ctx: RequestContext, _: Request) -> GraphQLContext:
        return context_for(scopes(state["store"])(ctx))

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
        try:
            mongo = await _start(runtime, settings)
            state.update(store=mongo, runtime=runtime)
            app.state.runtime = runtime
            app.state.store = mongo
            await runtime.serve_rpc(
                [*endpoints(scopes(mongo)), *import_endpoints(scopes(mongo))],
                "CRM contacts and companies",
            )
            for subscription in subscriptions(scopes(mongo)):
                await subscription.start(runtime)
            # The consumers' processed-event records; import batches, once published, are
            # only bookkeeping.
            runtime.retain(Retention(IMPORT_BATCHES, WRITTEN_AT, outbox=True))
            await resume_merges(mongo)
            bind_request(None)
            yield
        finally:
            await runtime.stop()

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
