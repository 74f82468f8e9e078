"""Holding several documents' locks (`crm_kit.locks.DocLocks`) at once, re-entrantly.

A use case holds a document's lock across its whole read-modify-write (see
`MongoWorkspaceStore.lock_contacts`); the store's write inside it asks for the same lock
again. `asyncio.Lock` is not re-entrant, so the keys a task holds are remembered here and
not taken twice."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from contextvars import ContextVar
from typing import Any

from crm_kit.locks import DocLocks

# The lock keys the current task holds through `hold_locks`, so that a store method called
# inside a use case that already holds a document's lock does not wait for itself
# (asyncio.Lock is not re-entrant). Tagged with the task: a task started meanwhile
# inherits the context but not the locks.
_HELD: ContextVar[tuple[asyncio.Task[Any] | None, frozenset[str]]] = ContextVar(
    "contacts_held_locks", default=(None, frozenset())
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
