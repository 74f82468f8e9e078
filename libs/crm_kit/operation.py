"""A keyed operation: what one request carrying an `Idempotency-Key` asks of every write it
makes, so that running it again after a crash changes nothing twice.

FerretDB v1 has no multi-document transactions: a mutation's writes and the stored result
of its key cannot commit together. So a repeat that finds no stored result runs the
mutation again (`crm_kit.idempotency` decides when), and the second run must land on what
the first one wrote. While an operation is bound (a context variable, set by the subgraph
gate for the mutation's execution):

- `crm_kit.ids.new_id()` derives its ids from the operation's token and a counter, so the
  n-th id a run asks for is the same on every run; an insert of such an id that exists
  already is the earlier run's insert (`minted`), which the writer takes as applied;
- `crm_kit.clock.utcnow()` answers the operation's start (the first run's), so what a run
  computes from "now" is what the first one did;
- the k-th update of a document carries the marker `<token>:<k>` in the document's
  `_ops` list, in the same write, and a write finding its marker there is skipped as
  applied (`update_marker`; a read-modify-write reserves its position before it reads,
  `reserve_update`, so a run that finds nothing left to change keeps the count in step);
- event ids derive from the write that stores them (`event_id`), so an event written twice
  is one JetStream drops (`Nats-Msg-Id`);
- a read-modify-write whose update an earlier run made answers with the stored record
  (`met`, `crm_kit.records`), not with what this run computed on top of it.

The token covers (workspace, caller, key, the first run's start): a key reused after its
record expired is a new operation with new ids. No imports from the rest of the kit: the
clock and the ids read this module.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections import Counter
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bson import ObjectId

# The field of a document that holds the markers of the keyed updates applied to it, and
# how many it keeps (the oldest go first: see the limits in docs/developing-a-service.md).
OPS_FIELD = "_ops"
KEPT_MARKERS = 32


def _digest(*parts: object) -> bytes:
    return hashlib.sha256("\x00".join(str(part) for part in parts).encode()).digest()


@dataclass
class Operation:
    token: str
    started_at: datetime
    # Ids this operation handed out (an existing document with one of them is its own).
    minted: set[str] = field(default_factory=set)
    # Documents whose write this run found made by an earlier run (collection, id).
    met: set[tuple[str, str]] = field(default_factory=set)
    _ids: int = 0
    _updates: Counter[tuple[str, str]] = field(default_factory=Counter)
    _reserved: dict[tuple[str, str], str] = field(default_factory=dict)

    def new_id(self) -> str:
        """A 24-hex ObjectId: the operation's start (seconds) then 8 bytes of the token
        and the counter, so ids stay time-ordered and the n-th is the same on every run."""
        self._ids += 1
        seconds = int(self.started_at.timestamp()).to_bytes(4, "big")
        made = str(ObjectId(seconds + _digest(self.token, "id", self._ids)[:8]))
        self.minted.add(made)
        return made

    def update_marker(self, collection: str, doc_id: Any) -> str:
        """The marker of this update of the document: a reserved one (a read-modify-write
        in progress) or the next position."""
        place = (collection, str(doc_id))
        reserved = self._reserved.get(place)
        return reserved if reserved is not None else self._next_marker(place)

    def _next_marker(self, place: tuple[str, str]) -> str:
        self._updates[place] += 1
        return f"{self.token}:{self._updates[place]}"

    @contextlib.contextmanager
    def reserving(self, collection: str, doc_ids: tuple[Any, ...]) -> Iterator[None]:
        places = [(collection, str(doc_id)) for doc_id in doc_ids]
        fresh = [place for place in places if place not in self._reserved]
        for place in fresh:
            self._reserved[place] = self._next_marker(place)
        try:
            yield
        finally:
            for place in fresh:
                del self._reserved[place]

    def meet(self, collection: str, doc_id: Any) -> None:
        self.met.add((collection, str(doc_id)))

    def has_met(self, collection: str, doc_id: Any) -> bool:
        return (collection, str(doc_id)) in self.met

    def event_id(self, write: str, n: int) -> str:
        """The id of the n-th event of a write (`write` names it: a marker, or the
        collection and id of an insert); 32 hex, as the envelope's own."""
        return _digest(self.token, "event", write, n).hex()[:32]


_operation: ContextVar[Operation | None] = ContextVar("crm_operation", default=None)


def current_operation() -> Operation | None:
    return _operation.get()


@contextlib.contextmanager
def operation_bound(operation: Operation | None) -> Iterator[None]:
    """Run the block (and the tasks it starts) inside `operation`."""
    token = _operation.set(operation)
    try:
        yield
    finally:
        _operation.reset(token)


@contextlib.contextmanager
def reserve_update(collection: str, *doc_ids: Any) -> Iterator[None]:
    """Within an operation, fix the marker positions of these documents' next update
    before reading them, so a run whose change turns out empty (the first run made it)
    still counts it. Without an operation, nothing."""
    operation = current_operation()
    if operation is None:
        yield
        return
    with operation.reserving(collection, doc_ids):
        yield


def keep_markers(markers: list[str] | None, marker: str) -> list[str]:
    """The markers a document keeps after `marker` is added (the newest `KEPT_MARKERS`)."""
    return [*(markers or [])[-(KEPT_MARKERS - 1) :], marker]
