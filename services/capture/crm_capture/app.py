"""Composition root: settings, runtime (Mongo, NATS, outbox relay), the write path and the
store, the directory of contacts and deals (NATS request/reply), the secret box, the use
cases' scopes, and the entry points: GraphQL over HTTP, the tracking endpoints (behind the
gateway), inbound SMTP, the IMAP poller, NATS request/reply and the event consumers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request

from crm_kit.assertions import KeyRing
from crm_kit.context import RequestContext, bind_request
from crm_kit.profile import DatabaseProfile
from crm_kit.retention import Retention
from crm_kit.rpc_client import RpcClient
from crm_kit.runtime import ServiceRuntime, build_http_app
from crm_kit.settings import Settings
from crm_kit.writer import DocumentWriter

from .config import (
    AUDIT,
    LEASES,
    OUTBOX_COLLECTIONS,
    SESSIONS,
    VISITORS,
    CaptureConfig,
    load_settings,
)
from .entrypoints.consumers import subscriptions
from .entrypoints.imap import ImapPoller
from .entrypoints.rpc import endpoints
from .entrypoints.smtp import start_smtp
from .entrypoints.tracking import TrackingEndpoints
from .events.publish import encode
from .graphql.context import GraphQLContext, context_for
from .graphql.schema import schema
from .store.directory import NatsDirectory
from .store.mongo import ensure_indexes, mongo_store
from .store.port import CaptureStore, Directory, SecretBox
from .store.secrets import FernetBox
from .usecases.routing import Routes
from .usecases.scope import Scopes, scopes


async def _start(runtime: ServiceRuntime, settings: Settings) -> CaptureStore:
    """The store on the runtime's database, writing through the kit's write path."""
    writer = DocumentWriter(
        runtime.db,
        profile=await DatabaseProfile.detect(runtime.db, settings.database_profile),
        outbox_collections=OUTBOX_COLLECTIONS,
        locks=runtime.doc_locks,  # shared with the outbox relay's clean-up
        wake=runtime.notify_outbox,
        encode=encode,
        audit=AUDIT,
    )
    return mongo_store(writer)


def _retention(config: CaptureConfig) -> list[Retention]:
    visits = timedelta(days=config.visit_retention_days)
    return [
        Retention(LEASES, "taken_at", keep=timedelta(days=1)),
        Retention(SESSIONS, "last_at", outbox=True, keep=visits),
        Retention(VISITORS, "last_seen_at", outbox=True, keep=visits),
    ]


def create_app(
    settings: Settings | None = None,
    *,
    store: CaptureStore | None = None,
    bus: Any = None,
    directory: Directory | None = None,
    secrets: SecretBox | None = None,
    config: CaptureConfig | None = None,
) -> Starlette:
    """With `store` given (the in-memory fake, with a fake `directory`) nothing external is
    started; otherwise the lifespan connects to MongoDB and NATS and opens the doors.
    `bus` is unused: events leave through the outbox (the writer wakes the relay)."""
    del bus
    settings = settings or load_settings()
    config = config or CaptureConfig.from_env()
    box = secrets or FernetBox()
    state: dict[str, Any] = {"scopes": None, "runtime": None}
    tracking = TrackingEndpoints(None, None, config)
    if store is not None:
        assert directory is not None, "a fake store needs a fake directory"
        state["scopes"] = scopes(store, directory, box, config)
        tracking.routes = Routes(store, state["scopes"])
        tracking.keys = KeyRing.from_env(settings.service)

    def context_factory(ctx: RequestContext, _: Request) -> GraphQLContext:
        scopes_of: Scopes = state["scopes"]
        return context_for(scopes_of(ctx))

    async def readiness() -> dict[str, bool]:
        runtime: ServiceRuntime | None = state["runtime"]
        return await runtime.ready() if runtime else {"store": state["scopes"] is not None}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if store is not None:
            yield
            return
        runtime = ServiceRuntime(settings, outbox_collections=OUTBOX_COLLECTIONS)
        await runtime.start(ensure_indexes)
        smtp: asyncio.Server | None = None
        try:
            mongo = await _start(runtime, settings)
            nats = NatsDirectory(
                RpcClient(lambda: runtime.nc, lambda: runtime.keys, config.rpc_timeout_seconds)
            )
            scopes_of = scopes(mongo, nats, box, config)
            routes = Routes(mongo, scopes_of)
            state.update(scopes=scopes_of, runtime=runtime)
            app.state.runtime, app.state.store = runtime, mongo
            await runtime.serve_rpc(endpoints(scopes_of), "CRM capture of emails, meetings, visits")
            for subscription in subscriptions(scopes_of):
                await subscription.start(runtime)
            runtime.retain(*_retention(config))
            tracking.routes, tracking.keys = routes, runtime.keys
            if config.smtp_port:
                smtp = await start_smtp(routes, config)
                runtime.checks["smtp"] = smtp.is_serving
            runtime.spawn(ImapPoller(routes, config).run(), "imap-poller")
            bind_request(None)
            yield
        finally:
            if smtp is not None:
                smtp.close()
                await smtp.wait_closed()
            await runtime.stop()

    app = build_http_app(
        schema=schema,
        context_factory=context_factory,
        service=settings.service,
        readiness=readiness,
        lifespan=lifespan,
    )
    app.router.routes.extend(tracking.routes_())
    app.state.settings = settings
    app.state.config = config
    return app
