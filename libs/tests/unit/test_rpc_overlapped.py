"""An endpoint's requests side by side (`Endpoint.concurrency`): the subscription hands
over the next request while earlier ones run, at most `concurrency` at once, started in
the order they came."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from crm_kit.rpc import _overlapped, settle_requests


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(1_000):  # a bounded number of turns of the loop, not a time
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition not met")


class Handler:
    """Records the requests started; each runs until its gate is opened."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.finished: list[str] = []
        self.gates: dict[str, asyncio.Event] = {}

    async def __call__(self, request: Any) -> None:
        self.started.append(request)
        gate = self.gates.setdefault(request, asyncio.Event())
        await gate.wait()
        self.finished.append(request)

    def open(self, request: str) -> None:
        self.gates.setdefault(request, asyncio.Event()).set()


async def test_at_most_the_limit_at_once_in_arrival_order() -> None:
    handler = Handler()
    dispatch = _overlapped(handler, 2)

    async def subscription() -> None:
        # As nats-py's subscription does: the callback awaited message after message.
        for request in ("a", "b", "c"):
            await dispatch(request)

    feeding = asyncio.create_task(subscription())
    await until(lambda: handler.started == ["a", "b"])
    for _ in range(50):
        await asyncio.sleep(0)
    assert handler.started == ["a", "b"]  # the third waits for a free slot
    assert not feeding.done()
    handler.open("b")
    await until(lambda: handler.started == ["a", "b", "c"])
    await feeding
    handler.open("a")
    handler.open("c")
    await until(lambda: sorted(handler.finished) == ["a", "b", "c"])


async def test_one_at_a_time_is_the_handler_itself() -> None:
    handler = Handler()
    assert _overlapped(handler, 1) is handler


async def test_a_shutdown_waits_for_the_requests_running() -> None:
    """The requests' tasks are kept in the caller's set until they end; `settle_requests`
    waits for them (bounded), so a stop does not cut a batch's writes."""
    handler = Handler()
    running: set[asyncio.Task[None]] = set()
    dispatch = _overlapped(handler, 2, running)
    await dispatch("a")
    await until(lambda: handler.started == ["a"])
    assert len(running) == 1

    async def finish_later() -> None:
        await asyncio.sleep(0)
        handler.open("a")

    opener = asyncio.create_task(finish_later())
    await settle_requests(running, timeout=30)
    await opener
    assert handler.finished == ["a"] and not running
    await settle_requests(running)  # nothing running: returns at once
