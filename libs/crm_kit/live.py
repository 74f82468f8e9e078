"""Live events for GraphQL subscriptions: a service's own JetStream events, fanned out in
process to the subscriptions it serves.

One `LiveHub` per process follows the service's own stream with one ordered consumer
(never by polling the database) and hands each event to the subscribers of the event's
workspace only; a subscriber never sees another workspace's event. Every event carries its
stream sequence (`position`), which a subscription reports with each result so that its
client (the gateway) can resume after a restart or a reconnect: from the hub's recent
events in memory, else by reading the stream again from that position.

Each subscriber has a bounded queue: one that falls behind is ended (`SlowSubscriber`)
rather than left to grow memory; its client resumes from its last position.

A resolver reads the events of the subscription being served:

    @strawberry.subscription
    async def deal_changed(self, info: Info) -> AsyncGenerator[DealChange, None]:
        async for event in live_events(DEAL_TYPES):
            if visible(event):
                yield DealChange.of(event)

Work that is the same for every subscriber of a workspace (reading the record an event
names, a board's figures) is shared through `event.shared(key, load)`: one read per event,
not one per subscriber. Only what does not depend on who is asking may be shared.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
import weakref
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Hashable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy
from pydantic import BaseModel

from crm_contracts.envelope import HEADER_WORKSPACE
from crm_contracts.streams import StreamSpec

from .context import RequestContext

log = logging.getLogger(__name__)

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

# Defaults, sized for a process serving a few thousand subscriptions.
RING_SIZE = 4096  # recent events kept for resumes without reading the stream
QUEUE_SIZE = 1024  # events one subscriber may have waiting before it is cut off
MAX_CATCH_UP = 100_000  # stream messages a resume may read back
CATCH_UP_TIMEOUT = 5.0  # seconds to wait for the next message of a catch-up read


class LiveError(Exception):
    """Ends a subscription with a code its client can act on."""

    code = "LIVE_EVENTS_FAILED"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SlowSubscriber(LiveError):
    """The subscriber's queue overflowed: resume from the last position."""

    code = "SLOW_SUBSCRIBER"


class ResumeFailed(LiveError):
    """The asked position cannot be resumed from (too old, gone from the stream, ahead of
    it): subscribe afresh and reload the state."""

    code = "RESUME_FAILED"


class ServiceStopping(LiveError):
    """The process is stopping: resume from the last position at another replica (or
    this one once it is back)."""

    code = "SERVICE_RESTARTING"


class EventsMissed(LiveError):
    """The stream skipped events this process never received (they were removed)."""

    code = "EVENTS_MISSED"


@dataclass(eq=False)
class LiveEvent:
    """One event of the service's stream, as every subscriber of its workspace sees it."""

    position: int  # the stream sequence
    type: str  # the CloudEvents type (= the subject it was published on)
    workspace: str
    subject: str | None  # the CloudEvents subject: the record the event is about
    id: str
    data: dict[str, Any]
    time: str | None = None  # the CloudEvents time (ISO 8601)
    _payloads: dict[Any, Any] = field(default_factory=dict, repr=False)
    _shared: dict[Hashable, asyncio.Future[Any]] = field(default_factory=dict, repr=False)

    def payload(self, model: builtins.type[M]) -> M:
        """The data validated as `model`, once per event for all subscribers."""
        found: M | None = self._payloads.get(model)
        if found is None:
            found = self._payloads[model] = model.model_validate(self.data)
        return found

    async def shared(self, key: Hashable, load: Callable[[], Awaitable[T]]) -> T:
        """`load()` once per event and key, shared by every subscriber awaiting it. For
        what does not depend on the subscriber (all are of this event's workspace)."""
        future = self._shared.get(key)
        if future is None:
            future = self._shared[key] = asyncio.ensure_future(load())
        found: T = await asyncio.shield(future)
        return found

    @classmethod
    def parse(cls, position: int, raw: bytes, headers: dict[str, str] | None) -> LiveEvent | None:
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(body, dict):
            return None
        workspace = (headers or {}).get(HEADER_WORKSPACE) or body.get("workspace")
        kind, data = body.get("type"), body.get("data")
        if not isinstance(workspace, str) or not isinstance(kind, str):
            return None
        subject, at = body.get("subject"), body.get("time")
        return cls(
            position=position,
            type=kind,
            workspace=workspace,
            subject=subject if isinstance(subject, str) else None,
            id=str(body.get("id") or ""),
            data=data if isinstance(data, dict) else {},
            time=at if isinstance(at, str) else None,
        )


class Subscriber:
    """One subscription's place at the hub: a bounded queue of its workspace's events."""

    def __init__(self, workspace: str, limit: int) -> None:
        self.workspace = workspace
        self._limit = limit
        self._queue: deque[LiveEvent] = deque()
        self._wake = asyncio.Event()
        self.failure: LiveError | None = None

    def offer(self, event: LiveEvent) -> None:
        if self.failure is not None:
            return
        if len(self._queue) >= self._limit:
            self.fail(SlowSubscriber(f"more than {self._limit} events waited for delivery"))
            return
        self._queue.append(event)
        self._wake.set()

    def fail(self, error: LiveError) -> None:
        if self.failure is None:
            self.failure = error
            self._queue.clear()
        self._wake.set()

    @property
    def idle(self) -> bool:
        return not self._queue

    async def next(self) -> LiveEvent:
        while not self._queue:
            if self.failure is not None:
                raise self.failure
            self._wake.clear()
            await self._wake.wait()
        if self.failure is not None:
            raise self.failure
        return self._queue.popleft()


@dataclass
class Attachment:
    """What a new subscriber must read before its live queue: stream positions to read
    back (`catch_up`, inclusive) and recent events from memory (`replay`)."""

    subscriber: Subscriber
    catch_up: tuple[int, int] | None
    replay: list[LiveEvent]


_HUBS: weakref.WeakSet[LiveHub] = weakref.WeakSet()


def stop_streams() -> None:
    """The process is stopping: end every subscription now (each with SERVICE_RESTARTING,
    so that the gateway resumes it elsewhere) rather than at the end of a shutdown grace
    period its open streams would otherwise hold up."""
    for hub in list(_HUBS):
        hub.end_subscriptions()


class LiveHub:
    """The process's live events of one stream (see the module docstring). Started on the
    first subscription; `js=None` makes a hub fed by `deliver` only (unit tests)."""

    def __init__(
        self,
        js: JetStreamContext | None,
        stream: StreamSpec,
        *,
        ring_size: int = RING_SIZE,
        queue_size: int = QUEUE_SIZE,
        max_catch_up: int = MAX_CATCH_UP,
    ) -> None:
        self._js = js
        self.stream = stream
        self.queue_size = queue_size
        self.max_catch_up = max_catch_up
        self.position = 0  # the last stream sequence received
        self._covered_from = 1  # the first position this hub received (or could have)
        self._ring: deque[LiveEvent] = deque(maxlen=ring_size)
        self._subscribers: dict[str, set[Subscriber]] = {}
        self._started: asyncio.Task[None] | None = None
        self._subscription: JetStreamContext.PushSubscription | None = None
        self.received = 0
        _HUBS.add(self)

    @property
    def subscribers(self) -> int:
        return sum(len(s) for s in self._subscribers.values())

    async def ensure_started(self) -> None:
        if self._js is None:
            return
        if self._started is None:
            self._started = asyncio.ensure_future(self._start())
        try:
            await asyncio.shield(self._started)
        except Exception:
            self._started = None  # the next subscription tries again
            raise

    async def _start(self) -> None:
        assert self._js is not None
        info = await self._js.stream_info(self.stream.name)
        self.position = info.state.last_seq
        self._covered_from = self.position + 1
        # From the exact next sequence, so nothing published between the look-up and the
        # subscription is missed. The ordered consumer re-creates itself from the last
        # sequence it delivered after a reconnect or a missed heartbeat.
        self._subscription = await self._js.subscribe(
            self.stream.subjects[0],
            stream=self.stream.name,
            ordered_consumer=True,
            config=ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=self.position + 1
            ),
            cb=self._on_message,
        )

    def end_subscriptions(self) -> None:
        for subscribers in self._subscribers.values():
            for subscriber in subscribers:
                subscriber.fail(ServiceStopping("the service is stopping; resume elsewhere"))

    async def stop(self) -> None:
        self.end_subscriptions()
        if self._started is not None and not self._started.done():
            self._started.cancel()
        if self._subscription is not None:
            with contextlib.suppress(Exception):
                await self._subscription.unsubscribe()
            self._subscription = None

    async def _on_message(self, msg: Msg) -> None:
        self.deliver_raw(msg.metadata.sequence.stream, msg.data, msg.headers)

    def deliver_raw(self, position: int, raw: bytes, headers: dict[str, str] | None) -> None:
        if position <= self.position:
            return  # a repeat after the ordered consumer re-created itself
        if position != self.position + 1:
            self._gap(position)
        self.position = position
        event = LiveEvent.parse(position, raw, headers)
        if event is None:
            log.warning("unreadable event at %s:%d skipped", self.stream.name, position)
            return
        self._fan_out(event)

    def deliver(self, event: LiveEvent) -> None:
        """Add an event (tests, and the stream consumer through `deliver_raw`)."""
        if event.position <= self.position:
            raise ValueError(f"position {event.position} is not after {self.position}")
        self.position = event.position
        self._fan_out(event)

    def _fan_out(self, event: LiveEvent) -> None:
        self.received += 1
        self._ring.append(event)
        for subscriber in tuple(self._subscribers.get(event.workspace, ())):
            subscriber.offer(event)

    def _gap(self, position: int) -> None:
        missed = f"{self.position + 1}..{position - 1}"
        log.error("%s: events %s are gone from the stream", self.stream.name, missed)
        for subscribers in self._subscribers.values():
            for subscriber in subscribers:
                subscriber.fail(EventsMissed(f"events {missed} were removed from the stream"))
        self._ring.clear()
        self._covered_from = position

    def attach(self, workspace: str, resume_after: int | None) -> Attachment:
        """Register a subscriber of `workspace`; with `resume_after`, also what happened
        after that position. Synchronous: nothing can arrive between the snapshot of
        recent events and the registration."""
        subscriber = Subscriber(workspace, self.queue_size)
        catch_up: tuple[int, int] | None = None
        replay: list[LiveEvent] = []
        if resume_after is not None and resume_after < self.position:
            in_memory = max(self._covered_from, self._ring[0].position if self._ring else 0)
            replay = [e for e in self._ring if e.position > resume_after]
            if resume_after + 1 < in_memory:
                if in_memory - 1 - resume_after > self.max_catch_up:
                    raise ResumeFailed(
                        f"position {resume_after} is {self.position - resume_after} events "
                        f"behind; more than {self.max_catch_up} to read back"
                    )
                catch_up = (resume_after + 1, in_memory - 1)
        elif resume_after is not None and resume_after > self.position:
            raise ResumeFailed(
                f"position {resume_after} is ahead of the stream (at {self.position})"
            )
        self._subscribers.setdefault(workspace, set()).add(subscriber)
        return Attachment(subscriber, catch_up, replay)

    def detach(self, subscriber: Subscriber) -> None:
        subscribers = self._subscribers.get(subscriber.workspace)
        if subscribers is not None:
            subscribers.discard(subscriber)
            if not subscribers:
                del self._subscribers[subscriber.workspace]

    async def read_back(self, first: int, last: int) -> AsyncIterator[LiveEvent]:
        """The stream's events `first`..`last` (a resume older than what memory holds)."""
        if self._js is None:
            raise ResumeFailed(f"position {first - 1} is older than the events held")
        info = await self._js.stream_info(self.stream.name)
        if info.state.first_seq > first:
            raise ResumeFailed(
                f"events from {first} are gone from the stream (it starts at "
                f"{info.state.first_seq}); subscribe again and reload"
            )
        subscription = await self._js.subscribe(
            self.stream.subjects[0],
            stream=self.stream.name,
            ordered_consumer=True,
            config=ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=first
            ),
        )
        try:
            while True:
                try:
                    msg = await subscription.next_msg(timeout=CATCH_UP_TIMEOUT)
                except TimeoutError:
                    raise ResumeFailed(f"reading back from {first} stalled") from None
                position = msg.metadata.sequence.stream
                if position > last:
                    return
                event = LiveEvent.parse(position, msg.data, msg.headers)
                if event is not None:
                    yield event
                if position >= last:
                    return
        finally:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()


class LiveSession:
    """One subscription being served: its caller, its hub, where it resumes from, and how
    far it has got (the position its client may resume after)."""

    def __init__(
        self, hub: LiveHub, caller: RequestContext, resume_after: int | None = None
    ) -> None:
        self.hub = hub
        self.caller = caller
        self.resume_after = resume_after
        # Set once the subscriber is registered: from then on no event is missed.
        self.attached = asyncio.Event()
        self.position = resume_after  # every event up to here has been handled
        self.current: int | None = None  # the event the subscription's latest result is of
        self._waiting = False
        self._subscriber: Subscriber | None = None
        # A fresh GraphQL context (fresh loaders), set by the transport: for what a
        # subscription reads in its own loop rather than in the fields of a result.
        self.new_context: Callable[[], Awaitable[Any]] | None = None

    async def fresh_context(self) -> Any:
        if self.new_context is None:
            raise LiveError("no GraphQL context for this subscription")
        return await self.new_context()

    def safe_position(self) -> int | None:
        """A position every earlier event of this subscription has been handled by: the
        hub's when the subscription waits on an empty queue (all its workspace's events so
        far were handled, and the other workspaces' are not its concern)."""
        subscriber = self._subscriber
        if self._waiting and subscriber is not None and subscriber.idle:
            return self.hub.position
        return self.position

    def close(self) -> None:
        """Let go of the hub (also done when `events()` is closed)."""
        if self._subscriber is not None:
            self.hub.detach(self._subscriber)

    async def events(self, types: Collection[str] | None = None) -> AsyncIterator[LiveEvent]:
        """The workspace's events of `types` (all with None), from the resume position
        or from now on. Raises a `LiveError` subclass when it cannot go on."""
        wanted = frozenset(types) if types is not None else None
        workspace = self.caller.workspace_id
        attachment = self.hub.attach(workspace, self.resume_after)
        self._subscriber = attachment.subscriber
        self.attached.set()
        if self.position is None:
            self.position = self.hub.position
        last = self.position

        def fresh(event: LiveEvent) -> bool:
            return event.position > last and event.workspace == workspace

        try:
            if attachment.catch_up is not None:
                first, final = attachment.catch_up
                async for event in self.hub.read_back(first, final):
                    if fresh(event):
                        last = event.position
                        if wanted is None or event.type in wanted:
                            self.current = last
                            yield event
                        self.position = last
            for event in attachment.replay:
                if fresh(event):
                    last = event.position
                    if wanted is None or event.type in wanted:
                        self.current = last
                        yield event
                    self.position = last
            while True:
                self._waiting = True
                try:
                    event = await attachment.subscriber.next()
                finally:
                    self._waiting = False
                if not fresh(event):
                    continue
                last = event.position
                if wanted is None or event.type in wanted:
                    self.current = last
                    yield event
                self.position = last
        finally:
            self.hub.detach(attachment.subscriber)


_session: ContextVar[LiveSession | None] = ContextVar("crm_live_session", default=None)


def bind_session(session: LiveSession | None) -> None:
    _session.set(session)


def current_session() -> LiveSession:
    session = _session.get()
    if session is None:
        raise LiveError("live events are served only to a subscription over the live transport")
    return session


def live_events(types: Collection[str] | None = None) -> AsyncIterator[LiveEvent]:
    """The events of the subscription being served (see `LiveSession.events`)."""
    return current_session().events(types)
