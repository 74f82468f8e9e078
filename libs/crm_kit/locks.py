"""Per-document write serialisation inside one process.

FerretDB v1 applies an update as read, modify, write back, with no isolation between
connections: two concurrent updates of one document can lose one of them (observed here:
the outbox relay's `$pullAll` undid a state change written meanwhile). MongoDB applies
each update atomically. Every writer of a document in a process (API, consumers, the
outbox relay) takes that document's lock, so within a process no update is lost on either
database. Across replicas on FerretDB the relay's sweep keeps clear of fresh writes (see
`OutboxRelay`); several replicas writing the very same document at the same moment need
MongoDB.

`hold_locks` takes several documents' locks at once: in sorted order (no deadlock between
overlapping sets) and re-entrantly within a task (a use case holding a document's lock
across its read-modify-write may call a store write that asks for it again).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from contextvars import ContextVar
from typing import Any


class DocLocks:
    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}

    @staticmethod
    def key(collection: str, doc_id: Any) -> str:
        return f"{collection}:{doc_id}"

    def busy(self, key: str) -> bool:
        """Whether a task holds or waits for `key`'s lock."""
        return key in self._users

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with lock:
                yield
        finally:
            # Forget idle locks so the registry stays as small as the set of busy documents.
            self._users[key] -= 1
            if not self._users[key]:
                del self._users[key]
                del self._locks[key]


# The lock keys the current task holds through `hold_locks`, so that a store method called
# inside a use case that already holds a document's lock does not wait for itself
# (asyncio.Lock is not re-entrant). Tagged with the task: a task started meanwhile
# inherits the context but not the locks.
_HELD: ContextVar[tuple[asyncio.Task[Any] | None, frozenset[str]]] = ContextVar(
    "crm_held_doc_locks", default=(None, frozenset())
)


@contextlib.asynccontextmanager
async def hold_locks(locks: DocLocks, keys: Iterable[str]) -> AsyncIterator[None]:
    """Hold the locks of `keys`, taken in sorted order (a fixed order: two tasks wanting
    overlapping sets cannot deadlock), skipping those this task holds already."""
    task = asyncio.current_task()
    owner, held = _HELD.get()
    if owner is not task:
        held = frozenset()
    wanted = sorted(set(keys) - held)
    if not wanted:
        yield
        return
    async with contextlib.AsyncExitStack() as stack:
        for key in wanted:
            await stack.enter_async_context(locks.hold(key))
        token = _HELD.set((task, held | set(wanted)))
        try:
            yield
        finally:
            _HELD.reset(token)
