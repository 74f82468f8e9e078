"""The deliveries that became due, from the service's own stream: one durable pull consumer
shared by the replicas. Each message is one delivery; a failed attempt is retried by
JetStream itself (`nak` with the schedule's delay), so the retry plan survives restarts and
needs no polling of the database; the delivery (and its `webhook-id`) stays the same.
A failure of our own (the database unreachable) is retried soon (`error_retry_delay`:
0.25 s doubling to 10 s), without using up the receiver's schedule, which counts only
attempts at the receiver; the durable sets no delivery limit, as the schedule ends the
receiver's attempts and an outage of ours must not strand a delivery (it would stay
pending, its record's queue blocked, had the server stopped handing it out)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from pydantic import ValidationError

from crm_contracts import webhooks as contract
from crm_contracts.envelope import CloudEvent
from crm_contracts.streams import stream_for
from crm_kit.consumer import ACK_WAIT_SECONDS as CONSUMER_ACK_WAIT_SECONDS
from crm_kit.consumer import keep_in_progress
from crm_kit.context import RequestContext

from ..domain.schedule import error_retry_delay
from ..usecases import dispatch
from ..usecases.scope import Scopes

log = logging.getLogger(__name__)

DURABLE = "webhooks-dispatch"
IN_FLIGHT = 32  # deliveries attempted at once per process
# How soon a delivery a dead process held is handed to another (the kit consumers' value).
# A live process keeps the deliveries it holds (attempting, or waiting behind its
# endpoint's other deliveries) with progress reports every third of it.
ACK_WAIT_SECONDS = CONSUMER_ACK_WAIT_SECONDS
UNLIMITED = -1


class Dispatcher:
    def __init__(
        self,
        js: JetStreamContext,
        scopes: Scopes,
        send: dispatch.Send,
    ) -> None:
        self._js = js
        self._scopes = scopes
        self._send = send
        self._slots = asyncio.Semaphore(IN_FLIGHT)
        self._tasks: set[asyncio.Task[None]] = set()
        # Fetched and not yet settled, by identity: what the progress reports keep.
        self._held: dict[int, Msg] = {}
        self._subscription: JetStreamContext.PullSubscription | None = None
        self.attempted = 0

    async def start(self) -> None:
        stream = stream_for("webhooks").name
        config = ConsumerConfig(
            durable_name=DURABLE,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=ACK_WAIT_SECONDS,
            max_deliver=UNLIMITED,
            filter_subject=contract.DELIVERY_DUE,
        )
        await self._js.add_consumer(stream, config)
        self._subscription = await self._js.pull_subscribe_bind(durable=DURABLE, stream=stream)

    async def run(self) -> None:
        assert self._subscription is not None, "start() first"
        heartbeat = asyncio.create_task(
            keep_in_progress(lambda: list(self._held.values()), ACK_WAIT_SECONDS)
        )
        try:
            await self._pull()
        finally:
            heartbeat.cancel()

    async def _pull(self) -> None:
        assert self._subscription is not None
        while True:
            await self._slots.acquire()
            self._slots.release()
            try:
                messages = await self._subscription.fetch(8, timeout=1.0)
            except (NatsTimeoutError, TimeoutError):
                continue
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("fetch failed; retrying", exc_info=True)
                await asyncio.sleep(0.5)
                continue
            self._held.update((id(message), message) for message in messages)
            for message in messages:
                await self._slots.acquire()
                task = asyncio.ensure_future(self._held_while(message))
                self._tasks.add(task)
                task.add_done_callback(self._done)

    async def _held_while(self, message: Msg) -> None:
        try:
            await self._handle(message)
        finally:
            self._held.pop(id(message), None)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._slots.release()

    async def _handle(self, message: Msg) -> None:
        try:
            event = CloudEvent.from_json(message.data)
            due = contract.DeliveryDue.model_validate(event.data)
        except (ValidationError, ValueError):
            log.error("unreadable delivery message dropped")
            await message.term()
            return
        caller = RequestContext(event.workspace, "service:webhooks", frozenset({"admin"}))
        try:
            outcome = await dispatch.attempt(self._scopes(caller), due.delivery_id, self._send)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("delivery %s: attempt failed", due.delivery_id, exc_info=True)
            with contextlib.suppress(Exception):  # NATS unreachable too: ack_wait does it
                await message.nak(delay=error_retry_delay(message.metadata.num_delivered))
            return
        self.attempted += 1
        try:
            if outcome.retry_in is not None:
                await message.nak(delay=outcome.retry_in)
            else:
                await message.ack_sync()
        except Exception:
            # NATS unreachable: the server hands the delivery out again after ack_wait, and
            # the attempt finds it settled (or tries the receiver again, same webhook-id).
            log.warning("delivery %s: not settled with NATS", due.delivery_id, exc_info=True)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._subscription is not None:
            with contextlib.suppress(Exception):
                await self._subscription.unsubscribe()
            self._subscription = None
