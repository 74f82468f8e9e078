"""The running parts of a service behind its GraphQL API: Mongo, NATS, the outbox relay,
consumers, request/reply endpoints, and the Starlette app with `/health` and `/ready`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any

from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.micro.service import Service
from pymongo.asynchronous.database import AsyncDatabase
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Scope
from strawberry.federation import Schema

from crm_contracts.streams import DEAD_LETTER_STREAM, StreamSpec, stream_for

from . import audit, metrics, telemetry
from .access_view import audit_retention_by_workspace
from .assertions import KeyRing
from .auth import development_mode
from .consumer import PROCESSED, BatchHandler, EventConsumer, Handler
from .gathering import Gathering
from .graphql_http import ContextFactory, GatewayOnlyGraphQL, SubgraphGraphQL, SubgraphLimits
from .idempotency import COLLECTION as IDEMPOTENCY_KEYS
from .idempotency import TIME_FIELD as IDEMPOTENCY_TIME
from .idempotency import (
    IdempotencyKeys,
    IdempotencySettings,
    MemoryKeyRecords,
    MongoKeyRecords,
)
from .live import LiveHub
from .live_http import LiveSource, LiveSubscriptions
from .locks import DocLocks
from .mongo import MongoResource
from .nats_io import connect, require_stream
from .outbox import OutboxRelay
from .retention import Janitor, Retention
from .rpc import Endpoint, settle_requests, start_rpc_service
from .settings import Settings

log = logging.getLogger(__name__)

# How often the runtime asks NATS for its consumers' lag and its dead letters (metrics).
STATE_POLL_SECONDS = 15.0


class ServiceRuntime:
    """Owns connections and background tasks; created in the app lifespan, never at import
    (the async Mongo client and the NATS client are bound to one event loop)."""

    def __init__(self, settings: Settings, *, outbox_collections: Iterable[str]) -> None:
        self.settings = settings
        self.mongo = MongoResource(settings.mongodb_uri, settings.database)
        self.outbox_collections = list(outbox_collections)
        self.nc: Client | None = None
        self.js: JetStreamContext | None = None
        self.relay: OutboxRelay | None = None
        self.consumers: list[EventConsumer] = []
        self.rpc: Service | None = None
        # Requests of endpoints that take several at once, while they run.
        self._rpc_running: set[asyncio.Task[None]] = set()
        # This service's signing key and its callers' public keys (request/reply identity).
        self.keys: KeyRing | None = None
        # Shared by every writer in this process (stores, consumers, the relay): see locks.py.
        self.doc_locks = DocLocks()
        # The service's own events for its GraphQL subscriptions (started on first use).
        self.live: LiveHub | None = None
        self._tasks: list[asyncio.Task[None]] = []
        # Dead letters of this service's consumers waiting in their stream, by subject.
        self.dead_letters: dict[str, int] = {}
        # A service's own doors that readiness needs besides the database (e.g. a listening
        # socket), by check name: `ready()` reports them, so `/ready` and the readiness gauge
        # agree.
        self.checks: dict[str, Callable[[], bool]] = {}
        # The mutations' idempotency keys, in the service's database (crm_kit.idempotency).
        self.idempotency_settings = IdempotencySettings.from_env()
        self.idempotency: IdempotencyKeys | None = None
        self.janitor: Janitor | None = None
        metrics.track(self)

    @property
    def db(self) -> AsyncDatabase[Any]:
        return self.mongo.db

    async def start(
        self, ensure_indexes: Callable[[AsyncDatabase[Any]], Awaitable[None]] | None = None
    ) -> None:
        async def indexes(db: AsyncDatabase[Any]) -> None:
            await OutboxRelay.ensure_indexes(db, self.outbox_collections)
            await EventConsumer.ensure_indexes(db)
            await audit.ensure_indexes(db)
            # For the janitor's sweep (on MongoDB; FerretDB scans either way).
            await db[IDEMPOTENCY_KEYS].create_index([(IDEMPOTENCY_TIME, 1)], name="by_time")
            if ensure_indexes is not None:
                await ensure_indexes(db)

        await self.mongo.start(indexes)
        self.idempotency = IdempotencyKeys(
            MongoKeyRecords(self.db[IDEMPOTENCY_KEYS]), self.idempotency_settings
        )
        self.keys = KeyRing.from_env(self.settings.service)
        # As the service's own NATS user: it may publish only its own events (nats_auth).
        self.nc = await connect(self.settings.nats_url, user=self.settings.service)
        self.js = self.nc.jetstream()
        await require_stream(self.js, stream_for(self.settings.service))
        self.live = LiveHub(self.js, stream_for(self.settings.service))
        self.relay = OutboxRelay(
            self.db,
            self.outbox_collections,
            self.js,
            self.settings.outbox_sweep_seconds,
            locks=self.doc_locks,
            isolated_updates=self.mongo.isolated_updates,
            service=self.settings.service,
            backstop_seconds=self.settings.outbox_backstop_seconds,
        )
        self.spawn(self.relay.run(), "outbox-relay")
        self.spawn(self._poll_state(), "metrics-state")

    def spawn(self, coro: Awaitable[None], name: str) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        task.add_done_callback(_report_crash)
        self._tasks.append(task)

    async def consume(
        self,
        *,
        durable: str,
        source: StreamSpec,
        subjects: Iterable[str],
        handler: Handler,
        record_processed: bool = True,
        batch_handler: BatchHandler | None = None,
        fetch: int | None = None,
        gather: int = 1,
        gathering: Gathering | None = None,
    ) -> EventConsumer:
        """Bind a durable consumer. `record_processed=False` is for handlers idempotent on
        natural keys alone (see `EventConsumer`): it saves a read and a write per event.
        `fetch`: events taken per fetch (default 32; 1 where several pullers share the
        durable in one process); `gather`: with a batch handler, each fetch takes what is
        waiting, up to this many events (`EventConsumer`); `gathering`: shared by the
        durable's pullers in this process, their pulls in turns, each gathering for a
        window (`crm_kit.gathering`)."""
        assert self.js is not None, "start() first"
        await require_stream(self.js, source)
        consumer = EventConsumer(
            js=self.js,
            db=self.db,
            service=self.settings.service,
            durable=durable,
            stream=source.name,
            subjects=subjects,
            handler=handler,
            max_deliveries=self.settings.max_deliveries,
            record_processed=record_processed,
            batch_handler=batch_handler,
            gather=gather,
            gathering=gathering,
            **({"batch": fetch} if fetch is not None else {}),
        )
        await consumer.start()
        self.consumers.append(consumer)
        self.spawn(consumer.run(), f"consumer-{durable}")
        return consumer

    async def serve_rpc(self, endpoints: list[Endpoint], description: str) -> None:
        assert self.nc is not None and self.keys is not None, "start() first"
        self.rpc = await start_rpc_service(
            self.nc,
            service=self.settings.service,
            version="1.0.0",
            description=description,
            endpoints=endpoints,
            keys=self.keys,
            running=self._rpc_running,
        )

    def retain(self, *rules: Retention) -> Janitor:
        """Delete old bookkeeping records: the consumers' processed-event records, the
        idempotency keys (after IDEMPOTENCY_KEEP_HOURS, 24), the audit log's entries (after
        the workspace's own audit retention, else AUDIT_RETENTION_DAYS, 365) and the
        service's own `rules` (kept for the RETENTION_DAYS setting unless they say)."""
        keep = timedelta(days=self.settings.retention_days)
        keys_kept = timedelta(hours=self.idempotency_settings.keep_hours)
        audit_kept = timedelta(days=self.settings.audit_retention_days)
        janitor = Janitor(
            self.db,
            [
                Retention(PROCESSED, "at", keep=keep),
                Retention(IDEMPOTENCY_KEYS, IDEMPOTENCY_TIME, keep=keys_kept),
                # Unless the workspace's admin chose a period (crm_kit.access_view).
                Retention(
                    audit.AUDIT,
                    "at",
                    keep=audit_kept,
                    per_workspace=lambda: audit_retention_by_workspace(self.db),
                ),
                *(replace(rule, keep=rule.keep or keep) for rule in rules),
            ],
            self.settings.retention_interval_seconds,
        )
        self.spawn(janitor.run(), "retention")
        self.janitor = janitor
        return janitor

    def notify_outbox(
        self,
        collection: str | None = None,
        doc_id: object = None,
        held: Mapping[str, Any] | None = None,
    ) -> None:
        """After a write: publish that document's events now (a full pass without ids);
        `held`: its outbox fields as the write left them (`OutboxRelay.notify`)."""
        if self.relay is not None:
            self.relay.notify(collection, doc_id, held)

    async def ready(self) -> dict[str, bool]:
        """What this process can do now (see DEGRADABLE_CHECKS for what readiness needs)."""
        nats_ok = self.nc is not None and self.nc.is_connected
        checks = {"mongo": await self.mongo.ping(), "nats": nats_ok}
        checks.update((name, check()) for name, check in self.checks.items())
        return checks

    async def _poll_state(self) -> None:
        """Keep what the metrics read from the servers fresh: each consumer's lag, the
        dead letters waiting, and readiness (also when nothing probes `/ready`)."""
        gauge = metrics.readiness_gauge(self.settings.service)
        while True:
            checks = await self.ready()
            gauge.record(readiness_report(checks)[0]["status"], checks)
            if self.js is not None and self.nc is not None and self.nc.is_connected:
                try:
                    for consumer in list(self.consumers):
                        await consumer.refresh_state()
                    info = await self.js.stream_info(
                        DEAD_LETTER_STREAM.name,
                        subjects_filter=f"dlq.{self.settings.service}.>",
                    )
                    self.dead_letters = dict(info.state.subjects or {})
                except asyncio.CancelledError:
                    raise
                except Exception:  # NATS may be between servers: next round
                    log.debug("consumer state not read", exc_info=True)
            await asyncio.sleep(STATE_POLL_SECONDS)

    def metric_readings(self) -> Iterable[metrics.Reading]:
        for subject, count in self.dead_letters.items():
            yield (
                "crm_dead_letter_messages",
                "Dead letters of this service's consumers kept in CRM_DEAD_LETTER, by subject.",
                {"service": self.settings.service, "subject": subject},
                float(count),
            )
        if self.nc is not None:
            yield (
                "crm_nats_connected",
                "Whether the process is connected to NATS now (1) or not (0).",
                {"service": self.settings.service},
                1.0 if self.nc.is_connected else 0.0,
            )

    async def stop(self) -> None:
        if self.live is not None:
            await self.live.stop()
        await cancel_tasks(self._tasks)
        self._tasks.clear()
        for consumer in self.consumers:
            await consumer.stop()
        if self.rpc is not None:
            with contextlib.suppress(Exception):
                await self.rpc.stop()
            # Requests handled side by side (an import batch) finish before NATS drains.
            await settle_requests(self._rpc_running)
        if self.nc is not None:
            with contextlib.suppress(Exception):
                await self.nc.drain()
        await self.mongo.close()


async def cancel_tasks(tasks: list[asyncio.Task[None]], timeout: float = 5.0) -> None:
    """Cancel and wait, re-cancelling a task that swallowed its cancellation, with a bound
    so that shutdown can never hang."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    pending = {task for task in tasks if not task.done()}
    while pending and loop.time() < deadline:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=0.5)
    for task in pending:
        log.error("background task %s did not stop", task.get_name())


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background task %s crashed", task.get_name(), exc_info=task.exception())


Readiness = Callable[[], Awaitable[dict[str, bool]]]

# Checks a service stays ready without, reported as "degraded". NATS: every write still
# succeeds (its events wait in the outbox, which is the database), and consumers and
# request/reply endpoints resume when the client reconnects; taking every replica out of
# service on a NATS blip would turn a delay of events into an outage.
DEGRADABLE_CHECKS = frozenset({"nats"})


def readiness_report(checks: dict[str, bool]) -> tuple[dict[str, Any], int]:
    """The `/ready` body and status: 503 when a check it cannot do without fails."""
    ok = all(passed for name, passed in checks.items() if name not in DEGRADABLE_CHECKS)
    status = ("ready" if all(checks.values()) else "degraded") if ok else "unavailable"
    return {"ready": ok, "status": status, "checks": checks}, 200 if ok else 503


def build_http_app(
    *,
    schema: Schema,
    context_factory: ContextFactory,
    service: str,
    readiness: Readiness,
    lifespan: Callable[[Starlette], contextlib.AbstractAsyncContextManager[Any]] | None = None,
    live: LiveSource | None = None,
) -> Starlette:
    """`/graphql` for the gateway only (`crm_kit.graphql_http`), `/health` (the process
    is alive; never depends on anything else) and `/ready` (it can serve). A schema with
    subscriptions serves them from `live()` (the runtime's hub, once started)."""

    async def health(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    gauge = metrics.readiness_gauge(service)

    async def ready(_: Request) -> JSONResponse:
        checks = await readiness()
        body, status = readiness_report(checks)
        gauge.record(body["status"], checks)
        return JSONResponse(body, status_code=status)

    graphql = GatewayOnlyGraphQL(
        SubgraphGraphQL(schema, context_factory),
        service=service,
        keyring=KeyRing.from_env(service),
        limits=SubgraphLimits.from_env(),
        graphiql=development_mode(),
        live=(
            LiveSubscriptions(schema._schema, context_factory, live or (lambda: None))
            if schema.subscription is not None
            else None
        ),
        keys=idempotency_keys_of,
    )
    app = Starlette(
        routes=[
            Route("/health", health),
            Route("/ready", ready),
            Route("/graphql", graphql, methods=["GET", "POST"]),
        ],
        lifespan=lifespan,
    )
    telemetry.instrument_app(app, ROUTES)
    return app


def idempotency_keys_of(scope: Scope) -> IdempotencyKeys:
    """The idempotency keys of the app serving `scope`: in the database of its runtime
    (`app.state.runtime`, which the service's lifespan sets), or, for an app without one
    (a service on its in-memory fakes), in memory."""
    state = scope["app"].state
    runtime = getattr(state, "runtime", None)
    if isinstance(runtime, ServiceRuntime) and runtime.idempotency is not None:
        return runtime.idempotency
    keys: IdempotencyKeys | None = getattr(state, "idempotency_keys", None)
    if keys is None:
        keys = IdempotencyKeys(MemoryKeyRecords(), IdempotencySettings.from_env())
        state.idempotency_keys = keys
    return keys


# What a service serves (its metrics are on a port of their own: `crm_kit.metrics`).
ROUTES = ("/graphql", "/health", "/ready")


@contextlib.asynccontextmanager
async def no_lifespan(_: Starlette) -> AsyncIterator[None]:
    yield
