"""Batching by design: the pullers of one durable in a process take turns to pull, and the
one whose turn it is holds its turn for a short window after its first event, taking what
else arrives meanwhile into the same batch.

Why: a batch handler pays its per-batch statements once per batch (`crm_kit.consumer`).
With several idle pullers each event arriving at a steady rate meets one of them and goes
alone, paying them all itself; the consumer then falls behind until a backlog makes the
batches big enough to be cheap, catches up, and the swinging backlog is the latency's
tail (`bench/tasks/README.md`, fifth pass). One pull outstanding a process (the turn) is
what lets a window gather: with four pulls waiting, the server hands the next event to
another puller's pull, not to the one gathering.

Bounds: the window adds at most its length to an event's latency, only while events come
faster than the window (`Gathering`), nothing when a pull is already full (a backlog);
it is far below the ack wait (3 s), so a gathered event is never redelivered for having
been held. The other pullers keep handling their own batches meanwhile: only the pulling
is taken in turns.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field

import orjson
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext, api

# How long past the window a gathering pull waits for the server's word that its request
# ended (the 408 at expiry) before giving up on it (NATS gone away): only then may a request
# outlive the call.
END_GRACE_SECONDS = 1.0


@dataclass(eq=False)
class Gathering:
    """Shared by the pullers of one durable in one process (`crm_kit.inbound.Subscription`
    makes one per start): `window` seconds gathered after a pull's first event, and the
    turn that makes the pulls one at a time.

    A pull gathers only while events come faster than the window: when its first event
    came within `window` of the last one taken before it. A trickle slower than that (a
    few changes a second, where a batch of one costs little in all) would make a window
    wait for nothing: each change would be `window` later and no batch bigger."""

    window: float
    turn: asyncio.Lock = field(default_factory=asyncio.Lock)
    # When the last event taken through this gathering arrived (monotonic seconds).
    last: float = field(default=-math.inf, init=False)

    def __post_init__(self) -> None:
        if not 0 < self.window < 1:
            raise ValueError(f"a gathering window of {self.window} s is not a short bound")

    async def take(
        self, subscription: JetStreamContext.PullSubscription, batch: int, timeout: float
    ) -> list[Msg]:
        """A fetch of up to `batch` events (at least one, within `timeout`: nats-py's
        `fetch`, which raises its timeout), in this process's turn, and when events come
        fast, what else arrives within the window, up to `batch`."""
        async with self.turn:
            messages = await subscription.fetch(batch, timeout=timeout)
            now = time.monotonic()
            fast = now - self.last <= self.window
            if messages:
                self.last = now
            if fast and 0 < len(messages) < batch:
                more, last = await pull_within(subscription, batch - len(messages), self.window)
                messages += more
                self.last = last or self.last
        return messages


async def pull_within(
    subscription: JetStreamContext.PullSubscription, wanted: int, window: float
) -> tuple[list[Msg], float | None]:
    """Up to `wanted` events arriving within `window` seconds, taken by one pull request the
    server holds open for the window (no `no_wait`) and ends itself (a 408 at expiry),
    unless the events fill it first. The call reads until that end, so no request of it
    outlives it: nats-py's `fetch` stops waiting at its own timeout, a hair after the
    server's expiry counted from when the server got the request; a pull still open then
    takes the next event into this puller's queue, where it waits, unreported, for the
    puller's next fetch (after its batch, and its next turn).

    Never raises once an event is taken (but on cancellation): what it took is returned,
    with when the last of it arrived (monotonic; None if nothing came).
    The pull is made with nats-py's own request fields on the subscription's inbox, as
    `fetch` makes it; nats-py has no public call for a pull that is not ended early."""
    inbox = subscription._sub
    request = {"batch": wanted, "expires": int(window * 1_000_000_000)}
    try:
        await subscription._nc.publish(
            subscription._nms, orjson.dumps(request), subscription._deliver
        )
    except NatsError:
        return [], None  # NATS gone: the events already taken go on as they are
    sent = time.monotonic()
    deadline = sent + window + END_GRACE_SECONDS
    taken: list[Msg] = []
    last: float | None = None
    while len(taken) < wanted:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            message = await inbox.next_msg(timeout=left)
        except (NatsTimeoutError, TimeoutError, NatsError):
            break  # no end from the server (NATS gone): what was taken
        status = JetStreamContext.is_status_msg(message)
        if status is None:
            taken.append(message)
            last = time.monotonic()
        elif status == api.StatusCode.CONTROL_MESSAGE:
            continue  # a heartbeat
        elif status == api.StatusCode.NO_MESSAGES:
            continue  # a `no_wait` pull's end (an earlier fetch's, late): never this one's
        elif status == api.StatusCode.REQUEST_TIMEOUT and time.monotonic() - sent < window:
            continue  # an earlier pull's expiry: this one cannot have expired yet
        else:
            break  # this request's end: expired, or ended by the server (409)
    return taken, last
