"""Composition root: wires settings, store, runtime (Mongo, NATS, outbox relay, NATS
endpoints) and the GraphQL HTTP app."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.requests import Request

from crm_kit.context import RequestContext, bind_request
from crm_kit.runtime import ServiceRuntime, build_http_app
from crm_kit.settings import Settings

from .config import OUTBOX_COLLECTIONS, load_settings
from .graphql.context import GraphQLContext, build_context
from .graphql.schema import schema
from .rpc import endpoints
from .service import ContactsService
from .store.mongo import MongoContactsStore, ensure_indexes
from .store.protocol import ContactsStore

log = logging.getLogger(__name__)


class Bus(Protocol):
    def notify_outbox(self, collection: str | None = None, doc_id: object = None) -> None: ...


async def resume_merges(store: ContactsStore) -> int:
    """Finish merges a crash interrupted (each step is safe to repeat)."""
    resumed = 0
    for record in await store.pending_merges():
        caller = RequestContext(record.workspace_id, "service:contacts", frozenset({"admin"}))
        service = ContactsService(store.for_workspace(record.workspace_id), caller)
        try:
            await service.resume_merge(record)
            resumed += 1
        except Exception:
            log.exception("could not resume merge of %s", record.duplicate_id)
    return resumed


def create_app(
    settings: Settings | None = None,
    *,
    store: ContactsStore | None = None,
    bus: Bus | None = None,
) -> Starlette:
    """With `store` given (e.g. the in-memory fake) nothing external is started; otherwise
    the lifespan connects to MongoDB and NATS and serves the request/reply endpoints.
    `bus` is unused: the Mongo store itself tells the runtime's relay which document holds
    new events (`notify_outbox(collection, _id)`), and the fake keeps its events."""
    del bus
    settings = settings or load_settings()
    state: dict[str, Any] = {"store": store, "runtime": None}

    def context_factory(ctx: RequestContext, _: Request) -> GraphQLContext:
        return build_context(state["store"], ctx)

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
            # The runtime's lock registry, shared with the outbox relay's clean-up; its
            # notify_outbox publishes exactly the document just written.
            mongo_store = MongoContactsStore(
                runtime.db, locks=runtime.doc_locks, notify=runtime.notify_outbox
            )
            state.update(store=mongo_store, runtime=runtime)
            app.state.runtime = runtime
            app.state.store = mongo_store
            await runtime.serve_rpc(endpoints(mongo_store), "CRM contacts and companies")
            runtime.retain()  # the consumers' processed-event records
            await resume_merges(mongo_store)
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
    )
    app.state.settings = settings
    app.state.store = store
    return app
