"""Per-document write serialisation inside one process.

FerretDB v1 applies an update as read, modify, write back, with no isolation between
connections: two concurrent updates of one document can lose one of them (observed here:
the outbox relay's `$pullAll` undid a state change written meanwhile). MongoDB applies
each update atomically. Every writer of a document in a process (API, consumers, the
outbox relay) takes that document's lock, so within a process no update is lost on either
database. Across replicas on FerretDB the relay's sweep keeps clear of fresh writes (see
`OutboxRelay`); several replicas writing the very same document at the same moment need
MongoDB.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any


class DocLocks:
    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}

    @staticmethod
    def key(collection: str, doc_id: Any) -> str:
        return f"{collection}:{doc_id}"

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
