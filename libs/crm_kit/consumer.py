"""Durable JetStream pull consumers with idempotent handling and a dead-letter subject.

Every replica of a service binds the same durable consumer, so JetStream hands each
event to one replica only. A processed-event record (one per consumer and event id)
turns a redelivery or a re-published duplicate into a no-op. Handlers should still use
natural idempotency keys for what they create: a crash between the handler's write and
the processed record means the handler sees that event again. A handler that is fully
idempotent on natural keys (deterministic ids, unique inserts, conditional updates) may
run without the record (`record_processed=False`): one read and one write less per event,
which matters on a single-writer database.

An event a consumer fetched and did not settle comes back after `ack_wait` (3 s): that is
how long a crashed replica's events wait for another. A handler may run longer (a database
outage, a big playbook): while a fetched batch is being worked on, every unsettled event of
it is reported in progress every third of `ack_wait`, so the server redelivers only what a
dead process held. Starting a consumer creates or updates its durable, so a durable made
with an older configuration (e.g. a longer `ack_wait`) takes the current one.

A handler that fails because the database (or a peer service) did not answer is run again
in place for up to a minute (`in_place`), so an outage neither uses up an event's
deliveries nor delays it past the outage's end by a back-off; any other failure is
nak'd with a back-off and dead-lettered after `max_deliveries`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from pydantic import ValidationError
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConnectionFailure, DuplicateKeyError

from crm_contracts.envelope import (
    HEADER_WORKSPACE,
    CloudEvent,
    DeadLetter,
    service_of,
    source_of,
)
from crm_contracts.streams import (
    DEAD_LETTER_STREAM,
    dead_letter_subject,
    max_deliveries_advisory,
)

from . import metrics, telemetry
from .audit import bind_channel
from .context import RequestContext, bind_request
from .errors import ServiceUnavailable
from .gathering import Gathering
from .logs import log_fields
from .nats_io import require_stream

log = logging.getLogger(__name__)

T = TypeVar("T")
Handler = Callable[[CloudEvent], Awaitable[None]]
# Handles the events of one fetch together (one bulk write instead of one per event):
# idempotent on natural keys alone, as `record_processed=False` requires.
BatchHandler = Callable[[list[CloudEvent]], Awaitable[None]]
PROCESSED = "processed_events"
# How long a fetched, unsettled event waits before the server hands it out again: the
# delay before another replica takes over a crashed one's events. Live handlers keep
# theirs with progress reports (`keep_in_progress`), so this bounds recovery, not handlers.
# 3 s (was 5): a part killed and started again (1 s down, a second or two to start) is to be
# consistent within 5 s of being ready, redeliveries and their handling included; a
# JetStream server started again hands out what it had delivered after one `ack_wait`.
ACK_WAIT_SECONDS = 3.0
# A handler that met an unreachable database (or a peer service that did not answer) is
# run again in place: after 0.1 s, doubling to 1 s, for up to a minute. The event stays
# held (its progress reported) and uses up no delivery, where a nak counted one per try
# and dead-lettered what an outage of a few seconds outlasted; the events behind it, which
# would fail alike, wait (they were each failing in turn, half a second apiece). Once the
# database is back, the event goes through within the last pause. Past the minute it takes
# the usual way (nak with back-off, dead letter after `max_deliveries`).
IN_PLACE_FIRST_SECONDS = 0.1
IN_PLACE_MAX_SECONDS = 1.0
IN_PLACE_PATIENCE_SECONDS = 60.0


def unreachable(error: BaseException) -> bool:
    """Whether `error` says a dependency did not answer (as opposed to refusing the event)."""
    if isinstance(error, ConnectionFailure):
        return True
    return isinstance(error, ServiceUnavailable) and error.extensions.get("retryable") is True


async def in_place(call: Callable[[], Awaitable[T]], what: str) -> T:
    """`call()`, again while it fails with an `unreachable` error, within the patience."""
    pause = IN_PLACE_FIRST_SECONDS
    deadline = time.monotonic() + IN_PLACE_PATIENCE_SECONDS
    while True:
        try:
            return await call()
        except Exception as error:
            if not unreachable(error) or time.monotonic() + pause > deadline:
                raise
            log.warning("%s: %s unreachable; trying again in place", what, type(error).__name__)
        await asyncio.sleep(pause)
        pause = min(pause * 2, IN_PLACE_MAX_SECONDS)


async def keep_in_progress(held: Callable[[], Iterable[Msg]], ack_wait: float) -> None:
    """Until cancelled, report every message `held()` names in progress (+WPI) every third
    of `ack_wait`: the server then redelivers only what a dead process held."""
    while True:
        await asyncio.sleep(ack_wait / 3)
        for message in held():
            try:
                await message.in_progress()
            except asyncio.CancelledError:
                raise
            except Exception:
                # NATS unreachable: the message may be redelivered, which is safe.
                log.debug("progress report failed", exc_info=True)


async def _ack_together(messages: list[Msg]) -> list[BaseException | None]:
    """Acknowledge the events of a fetch a batch handler took: every one but the last
    with a plain ack (a publish, no reply to wait for and parse), the last with
    `ack_sync`, whose reply comes after the server took the acks sent before it on the
    same connection. Half the messages a burst costs the process (an import's events
    reach the tasks service's rule durables one per record). An ack lost anyway
    (NATS went away meanwhile) is a redelivery, which a batch handler (idempotent on
    natural keys) shrugs off. The failures, one per message (None: acknowledged)."""
    outcomes: list[BaseException | None] = []
    for message in messages[:-1]:
        try:
            await message.ack()
            outcomes.append(None)
        except Exception as error:  # noqa: BLE001 - reported with the others by the caller
            outcomes.append(error)
    try:
        await messages[-1].ack_sync()
        outcomes.append(None)
    except Exception as error:  # noqa: BLE001 - reported with the others by the caller
        outcomes.append(error)
    return outcomes


class PermanentFailure(Exception):
    """Raised by a handler for an event it can never process: dead-letter at once."""


class EventConsumer:
    def __init__(
        self,
        *,
        js: JetStreamContext,
        db: AsyncDatabase[Any],
        service: str,
        durable: str,
        stream: str,
        subjects: Iterable[str],
        handler: Handler,
        max_deliveries: int = 5,
        ack_wait_seconds: float = ACK_WAIT_SECONDS,
        batch: int = 32,
        record_processed: bool = True,
        batch_handler: BatchHandler | None = None,
        gather: int = 1,
        gathering: Gathering | None = None,
    ) -> None:
        self._js = js
        self._db = db
        self.service = service
        self.durable = durable
        self.stream = stream
        self.subjects = list(subjects)
        self._handler = handler
        self._max_deliveries = max_deliveries
        self._ack_wait = ack_wait_seconds
        self._batch = batch
        self._record_processed = record_processed
        if batch_handler is not None and record_processed:
            raise ValueError("a batch handler keeps no processed-event records")
        self._batch_handler = batch_handler
        # With a batch handler: each fetch takes what is waiting, up to `gather` events,
        # and they are handled together. A puller then holds only what it works on now
        # (the fairness of fetching one), yet a burst costs one bulk write per few events
        # instead of one per event. One pull does it: the server answers a pull for several
        # (nats-py's no-wait pull with an expiry) as soon as it has any event, with all it
        # has then (`test_pullers_that_fetch_one_gather_what_is_waiting...`). A second,
        # no-wait pull after fetching one, as before, met nothing waiting at low rates and
        # nats-py then left a pull without expiry lingering: a lone event waited for the
        # next one, or for that pull's 5 s timeout (`bench/tasks/run.py`).
        if batch_handler is not None and gather > 1:
            self._batch = max(self._batch, gather)
        # With a batch handler: the pulls taken in turns with the durable's other pullers in
        # this process, each holding its turn for a short window after its first event
        # (`crm_kit.gathering`: batches by design, not only by backlog).
        self._gathering = gathering if batch_handler is not None else None
        self._subscription: JetStreamContext.PullSubscription | None = None
        self._advisories: Subscription | None = None
        self.handled = 0
        self.skipped_duplicates = 0
        self.dead_lettered = 0
        # From the server's consumer info (`refresh_state`): events not yet delivered,
        # delivered and not yet acknowledged, and redelivered awaiting their ack.
        self.state: dict[str, int] | None = None
        metrics.track(self)

    @staticmethod
    async def ensure_indexes(db: AsyncDatabase[Any]) -> None:
        # _id is "<durable>:<event id>", unique by construction; this one serves clean-ups.
        await db[PROCESSED].create_index([("at", 1)], name="processed_at")

    async def start(self) -> None:
        await require_stream(self._js, DEAD_LETTER_STREAM)
        config = ConsumerConfig(
            durable_name=self.durable,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self._ack_wait,
            # One more than ours so that our own dead-lettering, not the server, ends it.
            max_deliver=self._max_deliveries + 1,
            filter_subjects=self.subjects,
        )
        # Create or update: the server applies the changed fields (ack_wait, max_deliver,
        # filters) to an existing durable, so an upgrade takes effect on the next start.
        await self._js.add_consumer(self.stream, config)
        self._subscription = await self._js.pull_subscribe_bind(
            durable=self.durable, stream=self.stream
        )
        # The server's word that an event ran out of deliveries unsettled: the handler never
        # saw its last delivery (this dead-letters at `max_deliveries` itself), so its
        # deliveries went to processes that died, or were dropped before handling. One
        # replica of the queue group takes each.
        self._advisories = await self._js._nc.subscribe(
            max_deliveries_advisory(self.stream, self.durable),
            queue=self.durable,
            cb=self._ran_out,
        )

    async def stop(self) -> None:
        """Release the pull subscription: a bound one makes a NATS drain wait its timeout."""
        for subscription in (self._subscription, self._advisories):
            if subscription is not None:
                with contextlib.suppress(Exception):
                    await subscription.unsubscribe()
        self._subscription = self._advisories = None

    async def _ran_out(self, advisory: Msg) -> None:
        """Dead-letter the event an advisory names, unless it was handled after all (its
        processed record); never lose it silently in the stream."""
        try:
            body = orjson.loads(advisory.data)
            sequence, deliveries = int(body["stream_seq"]), int(body.get("deliveries", 0))
            stored = await self._js.get_msg(self.stream, sequence)
            data = stored.data or b""
            try:
                event: CloudEvent | None = CloudEvent.from_json(data)
            except (ValidationError, orjson.JSONDecodeError, ValueError):
                event = None
            if (
                event is not None
                and self._record_processed
                and await self._db[PROCESSED].find_one({"_id": f"{self.durable}:{event.id}"})
            ):
                return  # handled; only its acknowledgements were lost
            reason = f"ran out of deliveries ({deliveries}) unsettled: never handled to the end"
            await self._publish_dead_letter(stored.subject or "", data, deliveries, event, reason)
        except Exception:
            # NATS or the database unreachable: the event stays in the stream, unhandled;
            # the log line is what is left of it.
            log.error(
                "max-deliveries advisory not followed",
                extra=log_fields(consumer=self.durable, advisory=advisory.data[:300]),
                exc_info=True,
            )

    async def run(self) -> None:
        if self._subscription is None:
            await self.start()
        assert self._subscription is not None
        while True:
            try:
                # nats-py's own timeout, never a cancellation from outside: a fetch
                # holds the events it has taken in a local list, and cancelled, drops
                # them unacknowledged (back after `ack_wait`, a delivery spent each time).
                messages = await self._take()
            except (NatsTimeoutError, TimeoutError):
                continue
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("fetch failed; retrying", exc_info=True)
                await asyncio.sleep(0.5)
                continue
            if not messages:
                continue  # nats-py may end a pull for several with nothing instead of raising
            unsettled = list(messages)
            # The one being handled and those waiting their turn behind it stay with this
            # process for as long as it lives, however long the handler takes.
            heartbeat = asyncio.create_task(
                keep_in_progress(functools.partial(list, unsettled), self._ack_wait)
            )
            try:
                if self._batch_handler is not None and await self._handle_together(messages):
                    continue
                for message in messages:
                    try:
                        await self.handle(message)
                    except asyncio.CancelledError:
                        raise
                    except Exception:
                        # Typically an ack that found no stream leader (an election after
                        # a server died): JetStream redelivers after ack_wait and the
                        # handler is idempotent. Never let it end the consumer.
                        log.warning(
                            "event left unacknowledged; it will be redelivered", exc_info=True
                        )
                    finally:
                        unsettled.remove(message)
            finally:
                heartbeat.cancel()

    async def _take(self) -> list[Msg]:
        """The next fetch: what is waiting (at least one event, within the fetch's timeout),
        and with a gathering, what else arrives within its window, up to the batch."""
        assert self._subscription is not None
        if self._gathering is None:
            return await self._subscription.fetch(self._batch, timeout=1.0)
        return await self._gathering.take(self._subscription, self._batch, 1.0)

    async def _handle_together(self, messages: list[Msg]) -> bool:
        """The fetched events through the batch handler at once, then acknowledged; False
        (nothing acknowledged) when any is unparseable or not its owner's, or the handler
        fails: then each is handled alone, with its own retries and dead-lettering."""
        assert self._batch_handler is not None
        events = []
        for message in messages:
            try:
                event = CloudEvent.from_json(message.data)
            except (ValidationError, orjson.JSONDecodeError, ValueError):
                return False
            owner = service_of(message.subject)
            if event.source != source_of(owner) or event.type != message.subject:
                return False
            events.append(event)
        bind_request(RequestContext("", f"service:{self.service}", frozenset({"admin"})))
        bind_channel("automation", self.service)
        started = time.perf_counter()
        try:
            # The batch's span continues the first event's trace, linked to the others'.
            with telemetry.batch_process_span(
                messages[0].subject,
                [message.headers or {} for message in messages],
                consumer=self.durable,
                event_ids=[event.id for event in events],
            ):
                await in_place(functools.partial(self._batch_handler, events), self.durable)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("batch handler failed; each event is handled alone", exc_info=True)
            return False
        finally:
            bind_request(None)
            bind_channel(None)
            metrics.CONSUMER_DURATION.labels(self.service, self.durable).observe(
                time.perf_counter() - started
            )
        acks = await _ack_together(messages)
        if failed := [ack for ack in acks if isinstance(ack, Exception)]:
            # NATS went away (or an election): those come back after ack_wait, and the
            # batch handler is idempotent. Raised, this ended the consumer for good.
            log.warning(
                "%d events of a batch left unacknowledged; they will be redelivered",
                len(failed),
                exc_info=failed[0],
            )
        self.handled += len(messages)
        metrics.CONSUMER_EVENTS.labels(self.service, self.durable, "handled").inc(len(messages))
        return True

    async def handle(self, message: Msg) -> None:
        """Handle one delivery: parse, skip if seen, run the handler, record, ack."""
        deliveries = message.metadata.num_delivered
        if deliveries > 1:
            metrics.CONSUMER_REDELIVERIES.labels(self.service, self.durable).inc()
        try:
            event = CloudEvent.from_json(message.data)
        except (ValidationError, orjson.JSONDecodeError, ValueError) as error:
            await self._dead_letter(message, None, f"unparseable event: {error}")
            metrics.CONSUMER_EVENTS.labels(self.service, self.durable, "dead_lettered").inc()
            return
        with telemetry.process_span(
            message.subject,
            message.headers or {},
            consumer=self.durable,
            event_id=event.id,
            delivery=deliveries,
        ) as span:
            outcome = await self._handle(message, event)
            if outcome in ("retried", "dead_lettered"):
                telemetry.mark_failed(span, outcome)
        metrics.CONSUMER_EVENTS.labels(self.service, self.durable, outcome).inc()
        if outcome == "handled":
            stored = message.metadata.timestamp
            delay = time.time() - stored.timestamp() if stored is not None else None
            if delay is not None:
                metrics.EVENT_DELAY.labels(self.service, self.durable).observe(max(delay, 0.0))

    async def _handle(self, message: Msg, event: CloudEvent) -> str:
        """The outcome: handled, duplicate, retried or dead_lettered."""
        # Defence in depth behind the NATS permissions (only the owner may publish on
        # crm.<owner>.>): act only on events that say they come from the owner.
        owner = service_of(message.subject)
        if event.source != source_of(owner) or event.type != message.subject:
            reason = f"event {event.type!r} from {event.source!r} is not {owner}'s"
            await self._dead_letter(message, event, reason)
            return "dead_lettered"
        record_id = f"{self.durable}:{event.id}"
        processed = self._db[PROCESSED]
        if (
            self._record_processed
            and await in_place(
                functools.partial(processed.find_one, {"_id": record_id}, {"_id": 1}),
                self.durable,
            )
            is not None
        ):
            self.skipped_duplicates += 1
            await message.ack_sync()
            return "duplicate"
        headers = message.headers or {}
        bind_request(
            RequestContext(
                workspace_id=event.workspace or headers.get(HEADER_WORKSPACE, ""),
                subject=f"service:{self.service}",
                roles=frozenset({"admin"}),
            )
        )
        # What a handler changes, the service changed on its own (the audit log's path).
        bind_channel("automation", self.service)
        started = time.perf_counter()
        try:
            await in_place(functools.partial(self._handler, event), self.durable)
        except PermanentFailure as error:
            await self._dead_letter(message, event, str(error))
            return "dead_lettered"
        except asyncio.CancelledError:
            raise
        except Exception as error:
            deliveries = message.metadata.num_delivered
            if deliveries >= self._max_deliveries:
                await self._dead_letter(message, event, f"{type(error).__name__}: {error}")
                return "dead_lettered"
            log.warning(
                "handler failed; will retry",
                exc_info=True,
                extra=log_fields(event_id=event.id, type=event.type, deliveries=deliveries),
            )
            await message.nak(delay=min(0.2 * 2**deliveries, 5.0))
            return "retried"
        finally:
            bind_request(None)
            bind_channel(None)
            metrics.CONSUMER_DURATION.labels(self.service, self.durable).observe(
                time.perf_counter() - started
            )
        if self._record_processed:
            # A concurrent redelivery may have finished first; both outcomes are the same.
            with contextlib.suppress(DuplicateKeyError):
                await self._db[PROCESSED].insert_one(
                    {"_id": record_id, "type": event.type, "at": datetime.now(UTC)}
                )
        self.handled += 1
        await message.ack_sync()
        return "handled"

    async def refresh_state(self) -> None:
        """Read the durable's counts from the server (for the lag metrics)."""
        info = await self._js.consumer_info(self.stream, self.durable)
        self.state = {
            "pending": info.num_pending or 0,
            "ack_pending": info.num_ack_pending or 0,
            "redelivered": info.num_redelivered or 0,
        }

    def metric_readings(self) -> Iterable[metrics.Reading]:
        if self.state is None:
            return
        labels = {"service": self.service, "stream": self.stream, "durable": self.durable}
        yield (
            "crm_consumer_pending_messages",
            "Events in the stream the durable has not yet been delivered (its lag).",
            labels,
            float(self.state["pending"]),
        )
        yield (
            "crm_consumer_ack_pending_messages",
            "Events delivered to the durable and not yet acknowledged.",
            labels,
            float(self.state["ack_pending"]),
        )
        yield (
            "crm_consumer_redelivered_messages",
            "Events being redelivered to the durable, awaiting their ack.",
            labels,
            float(self.state["redelivered"]),
        )

    async def _dead_letter(self, message: Msg, event: CloudEvent | None, reason: str) -> None:
        deliveries = message.metadata.num_delivered or 0
        await self._publish_dead_letter(message.subject, message.data, deliveries, event, reason)
        await message.term()

    async def _publish_dead_letter(
        self, subject: str, data: bytes, deliveries: int, event: CloudEvent | None, reason: str
    ) -> None:
        body = DeadLetter(
            consumer=self.durable,
            service=self.service,
            reason=reason,
            subject=subject,
            deliveries=deliveries,
            failedAt=datetime.now(UTC),
            event=orjson.loads(data) if event is not None else None,
            raw=data.decode(errors="replace") if event is None else None,
        ).model_dump(mode="json", by_alias=True)
        headers = {"crm-dlq-reason": reason[:200]}
        if event is not None:  # dead-lettered once, however many replicas or paths try
            headers["Nats-Msg-Id"] = f"dlq:{self.durable}:{event.id}"
        await self._js.publish(
            dead_letter_subject(self.service, self.durable), orjson.dumps(body), headers=headers
        )
        self.dead_lettered += 1
        metrics.DEAD_LETTERS.labels(self.service, self.durable).inc()
        log.error(
            "event dead-lettered",
            extra=log_fields(consumer=self.durable, reason=reason, subject=subject),
        )
