"""The outbox relay's clearing writes, grouped (`crm_kit.outbox`).

The relay publishes several documents at once; each then clears what it published with an
update by `_id`. Clears given while one statement is in flight wait and go together in the
next: one `update` statement of several updates per collection (group commit), instead of
a statement each. On FerretDB's SQLite backend each update still commits on its own, but
the command, its round trip and the relay's side of it are paid once for the group (a
statement of eight updates costs the database about three quarters of eight statements'
CPU: `bench/tasks/statements.py`).

Each caller still holds its document's lock until its clear is written, so no writer of
this process appends to a document between its publishing and its clearing, as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from .group_commit import GroupCommit

# Updates per statement at most: FerretDB v1.24 never answers an `update` of 100 or more
# (`crm_kit.writer.UPDATES_PER_STATEMENT`).
CLEARS_PER_STATEMENT = 90

# A statement's failure, handed to each of its clears (the other statements of the group
# are written all the same).
_Cleared = bool | Exception


class ClearWriter:
    def __init__(self, db: AsyncDatabase[Any]) -> None:
        self._db = db
        self._group: GroupCommit[tuple[str, UpdateOne], _Cleared] = GroupCommit(self._write)
        self.statements = 0

    async def update(
        self, collection: str, query: Mapping[str, Any], update: Mapping[str, Any]
    ) -> bool:
        """Apply `update` to the document `query` names, with whatever else is queued.
        Returns whether every update of its statement matched its document: True says this
        one did; False that one of them did not (perhaps this one: the caller makes sure
        its own way). Raises the statement's failure."""
        cleared = await self._group.submit((collection, UpdateOne(dict(query), dict(update))))
        if isinstance(cleared, Exception):
            raise cleared
        return cleared

    async def _write(self, group: list[tuple[str, UpdateOne]]) -> list[_Cleared]:
        """One statement per collection (per `CLEARS_PER_STATEMENT` updates)."""
        results: list[_Cleared] = [False] * len(group)
        by_collection: dict[str, list[int]] = {}
        for n, (collection, _) in enumerate(group):
            by_collection.setdefault(collection, []).append(n)
        for collection, positions in by_collection.items():
            for start in range(0, len(positions), CLEARS_PER_STATEMENT):
                chunk = positions[start : start + CLEARS_PER_STATEMENT]
                cleared = await self._statement(collection, [group[n][1] for n in chunk])
                for n in chunk:
                    results[n] = cleared
        return results

    async def _statement(self, collection: str, operations: list[UpdateOne]) -> _Cleared:
        self.statements += 1
        try:
            result = await self._db[collection].bulk_write(operations, ordered=False)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - each clear of the statement hears it
            return error
        return bool(result.matched_count == len(operations))
