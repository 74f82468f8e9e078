"""Composition root: settings, runtime (Mongo, NATS, outbox relay), the write path and the
store, the use cases' scopes, and the entry points (GraphQL over HTTP, the intake consumers
of the other services' streams, the dispatcher of due deliveries)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request

from crm_contracts import webhooks as contracts
from crm_kit.audit_rpc import admins_only, trail_endpoint
from crm_kit.auth import development_mode
from crm_kit.context import RequestContext
from crm_kit.profile import DatabaseProfile
from crm_kit.retention import Retention
from crm_kit.runtime import ServiceRuntime, build_http_app
from crm_kit.settings import Settings
from crm_kit.writer import DocumentWriter

from .config import AUDIT, DELIVERIES, OUTBOX_COLLECTIONS, DeliverySettings, load_settings
from .entrypoints.consumers import start_intake
from .entrypoints.dispatch import Dispatcher
from .entrypoints.sender import Sender
from .events.publish import encode
from .graphql.context import GraphQLContext
from .graphql.schema import schema
from .store.mongo import ensure_indexes, mongo_store
from .store.port import WebhooksStore
from .usecases.scope import scopes


def create_app(
    settings: Settings | None = None,
    *,
    store: WebhooksStore | None = None,
    delivery: DeliverySettings | None = None,
) -> Starlette:
    """With `store` given (the in-memory fake) nothing external is started; otherwise the
    lifespan connects to MongoDB and NATS and starts the intake and the dispatcher."""
    settings = settings or load_settings()
    delivery = delivery or DeliverySettings.from_env(development_mode())
    state: dict[str, Any] = {"store": store, "runtime": None}

    def context_factory(ctx: RequestContext, _: Request) -> GraphQLContext:
        return GraphQLContext(scope=scopes(state["store"], delivery)(ctx))

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
        sender = Sender(delivery.max_in_flight_per_endpoint)
        dispatcher: Dispatcher | None = None
        try:
            writer = DocumentWriter(
                runtime.db,
                profile=await DatabaseProfile.detect(runtime.db, settings.database_profile),
                outbox_collections=OUTBOX_COLLECTIONS,
                locks=runtime.doc_locks,
                wake=runtime.notify_outbox,
                encode=encode,
                audit=AUDIT,
            )
            mongo = mongo_store(writer)
            state.update(store=mongo, runtime=runtime)
            app.state.runtime = runtime
            scoped = scopes(mongo, delivery)
            # The single `auditTrail(recordId)` (tasks) asks for an endpoint's trail here.
            audit_trail = trail_endpoint(contracts.RPC_AUDIT_TRAIL, scoped, admins_only)
            await runtime.serve_rpc([audit_trail], "CRM webhooks")
            await start_intake(runtime, scoped)
            assert runtime.js is not None
            dispatcher = Dispatcher(runtime.js, scoped, sender)
            await dispatcher.start()
            runtime.spawn(dispatcher.run(), "webhook-dispatch")
            app.state.dispatcher = dispatcher
            # Deliveries are kept RETENTION_DAYS (their log), then deleted.
            runtime.retain(Retention(DELIVERIES, "created_at"))
            yield
        finally:
            if dispatcher is not None:
                await dispatcher.stop()
            await runtime.stop()
            await sender.aclose()

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
