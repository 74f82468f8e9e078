"""Durable JetStream pull consumers with idempotent handling and a dead-letter subject.

Every replica of a service binds the same durable consumer, so JetStream hands each
event to one replica only. A processed-event record (one per consumer and event id)
turns a redelivery or a re-published duplicate into a no-op. Handlers should still use
natural idempotency keys for what they create: a crash between the handler's write and
the processed record means the handler sees that event again. A handler that is fully
idempotent on natural keys (deterministic ids, unique inserts, conditional updates) may
run without the record (`record_processed=False`): one read and one write less per event,
which matters on a single-writer database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime

import orjson
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from pydantic import ValidationError
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from crm_contracts.envelope import (
    HEADER_TRACEPARENT,
    HEADER_WORKSPACE,
    CloudEvent,
    service_of,
    source_of,
)
from crm_contracts.streams import DEAD_LETTER_STREAM, dead_letter_subject

from .context import RequestContext, TraceContext, bind_request, bind_trace
from .logs import log_fields
from .nats_io import require_stream

log = logging.getLogger(__name__)

Handler = Callable[[CloudEvent], Awaitable[None]]
PROCESSED = "processed_events"


class PermanentFailure(Exception):
    """Raised by a handler for an event it can never process: dead-letter at once."""


class EventConsumer:
    def __init__(
        self,
        *,
        js: JetStreamContext,
        db: AsyncDatabase,
        service: str,
        durable: str,
        stream: str,
        subjects: Iterable[str],
        handler: Handler,
        max_deliveries: int = 5,
        ack_wait_seconds: float = 30.0,
        batch: int = 32,
        record_processed: bool = True,
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
        self._subscription: JetStreamContext.PullSubscription | None = None
        self.handled = 0
        self.skipped_duplicates = 0
        self.dead_lettered = 0

    @staticmethod
    async def ensure_indexes(db: AsyncDatabase) -> None:
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
        await self._js.add_consumer(self.stream, config)
        self._subscription = await self._js.pull_subscribe_bind(
            durable=self.durable, stream=self.stream
        )

    async def stop(self) -> None:
        """Release the pull subscription: a bound one makes a NATS drain wait its timeout."""
        if self._subscription is not None:
            with contextlib.suppress(Exception):
                await self._subscription.unsubscribe()
            self._subscription = None

    async def run(self) -> None:
        if self._subscription is None:
            await self.start()
        assert self._subscription is not None
        while True:
            try:
                messages = await self._subscription.fetch(self._batch, timeout=1.0)
            except (NatsTimeoutError, TimeoutError):
                continue
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("fetch failed; retrying", exc_info=True)
                await asyncio.sleep(0.5)
                continue
            for message in messages:
                try:
                    await self.handle(message)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    # Typically an ack that found no stream leader (an election after a
                    # server died): JetStream redelivers after ack_wait and the handler is
                    # idempotent. Never let it end the consumer.
                    log.warning("event left unacknowledged; it will be redelivered", exc_info=True)

    async def handle(self, message: Msg) -> None:
        """Handle one delivery: parse, skip if seen, run the handler, record, ack."""
        try:
            event = CloudEvent.from_json(message.data)
        except (ValidationError, orjson.JSONDecodeError, ValueError) as error:
            await self._dead_letter(message, None, f"unparseable event: {error}")
            return
        # Defence in depth behind the NATS permissions (only the owner may publish on
        # crm.<owner>.>): act only on events that say they come from the owner.
        owner = service_of(message.subject)
        if event.source != source_of(owner) or event.type != message.subject:
            reason = f"event {event.type!r} from {event.source!r} is not {owner}'s"
            await self._dead_letter(message, event, reason)
            return
        record_id = f"{self.durable}:{event.id}"
        if (
            self._record_processed
            and await self._db[PROCESSED].find_one({"_id": record_id}, {"_id": 1}) is not None
        ):
            self.skipped_duplicates += 1
            await message.ack_sync()
            return
        headers = message.headers or {}
        bind_trace(TraceContext.continue_or_start(headers.get(HEADER_TRACEPARENT)))
        bind_request(
            RequestContext(
                workspace_id=event.workspace or headers.get(HEADER_WORKSPACE, ""),
                subject=f"service:{self.service}",
                roles=frozenset({"admin"}),
            )
        )
        try:
            await self._handler(event)
        except PermanentFailure as error:
            await self._dead_letter(message, event, str(error))
            return
        except asyncio.CancelledError:
            raise
        except Exception as error:
            deliveries = message.metadata.num_delivered
            if deliveries >= self._max_deliveries:
                await self._dead_letter(message, event, f"{type(error).__name__}: {error}")
            else:
                log.warning(
                    "handler failed; will retry",
                    exc_info=True,
                    extra=log_fields(event_id=event.id, type=event.type, deliveries=deliveries),
                )
                await message.nak(delay=min(0.2 * 2**deliveries, 5.0))
            return
        finally:
            bind_request(None)
        if self._record_processed:
            # A concurrent redelivery may have finished first; both outcomes are the same.
            with contextlib.suppress(DuplicateKeyError):
                await self._db[PROCESSED].insert_one(
                    {"_id": record_id, "type": event.type, "at": datetime.now(UTC)}
                )
        self.handled += 1
        await message.ack_sync()

    async def _dead_letter(self, message: Msg, event: CloudEvent | None, reason: str) -> None:
        subject = dead_letter_subject(self.service, self.durable)
        body = {
            "consumer": self.durable,
            "service": self.service,
            "reason": reason,
            "subject": message.subject,
            "deliveries": message.metadata.num_delivered,
            "failedAt": datetime.now(UTC).isoformat(),
            "event": orjson.loads(message.data) if event is not None else None,
            "raw": message.data.decode(errors="replace") if event is None else None,
        }
        headers = {"crm-dlq-reason": reason[:200]}
        if event is not None:
            headers["Nats-Msg-Id"] = f"dlq:{self.durable}:{event.id}"
        await self._js.publish(subject, orjson.dumps(body), headers=headers)
        self.dead_lettered += 1
        log.error(
            "event dead-lettered",
            extra=log_fields(consumer=self.durable, reason=reason, subject=message.subject),
        )
        await message.term()
