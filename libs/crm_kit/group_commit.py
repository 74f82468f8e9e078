"""Group commit: items submitted while a write is in flight wait and go together in the
next one, so concurrent writers pay one write statement between them instead of one
each (on a single-writer database the statements, not the bytes, set the pace).

Used by the change logs' slot inserts (`crm_kit.change_log`), the audit log's entries
(`crm_kit.audit.EntryWriter`) and the outbox relay's clears (`crm_kit.outbox_clears`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class GroupCommit(Generic[T, R]):
    """`write(items)` returns one result per item, in order. Each submitter gets its
    item's result, or the failure of the write its item was in (the next group is written
    all the same). The writes run in a task of their own, so a submitter cancelled while
    waiting stops no one else's; cancelling that task (a shutdown) cancels every waiter.
    `most`: items per write at most (the rest go in the next)."""

    def __init__(
        self, write: Callable[[list[T]], Awaitable[Sequence[R]]], *, most: int | None = None
    ) -> None:
        self._write = write
        self._most = most
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._writing: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        done: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, done))
        if self._writing is None:
            self._writing = asyncio.ensure_future(self._drain())
        return await done

    async def submit_many(self, items: Sequence[T]) -> list[R]:
        """`submit` of each item, in order, without a task per item: their results in
        order, or the first failure of a write they were in."""
        loop = asyncio.get_running_loop()
        dones: list[asyncio.Future[R]] = [loop.create_future() for _ in items]
        self._queue.extend(zip(items, dones, strict=True))
        if self._writing is None and dones:
            self._writing = asyncio.ensure_future(self._drain())
        return list(await asyncio.gather(*dones))

    async def close(self) -> None:
        """Stop writing (a shutdown): whoever still waits is cancelled."""
        writing = self._writing
        if writing is not None:
            writing.cancel()
            with contextlib.suppress(BaseException):
                await writing

    async def _drain(self) -> None:
        try:
            while self._queue:
                cut = len(self._queue) if self._most is None else self._most
                group, self._queue = self._queue[:cut], self._queue[cut:]
                try:
                    results = await self._write([item for item, _ in group])
                except asyncio.CancelledError:
                    for _, done in [*group, *self._queue]:
                        done.cancel()
                    self._queue = []
                    raise
                except Exception as error:  # noqa: BLE001 - each submitter that waited hears it
                    for _, done in group:
                        if not done.done():
                            done.set_exception(error)
                    continue
                for (_, done), result in zip(group, results, strict=True):
                    if not done.done():
                        done.set_result(result)
        finally:
            self._writing = None
