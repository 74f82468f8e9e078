"""Idempotency keys: a mutation sent again with the same `Idempotency-Key` is answered with
the first one's result, never applied twice.

Per service, a record per (workspace, caller, key) holds the request's fingerprint and,
once it finished, its response. It is claimed by a unique insert (`_id`: the one write
FerretDB enforces across replicas), so exactly one request runs a key at a time:

- the first request of a key inserts the record and runs (attempt 1);
- a repeat of a finished one gets the stored response;
- a repeat with another request (fingerprint) is refused: `KeyReused` (CONFLICT);
- a repeat while the key runs waits for it (polling, up to `wait_seconds`), then gets
  `KeyInUse` (retryable);
- an attempt that stopped without a result (its process was killed, or the mutation failed
  for a reason that is not the client's) is taken over by the next request of the key: it
  claims attempt n+1 by a unique insert of `<record>:<n+1>` and runs the mutation again,
  inside the same `crm_kit.operation.Operation` (same ids, same "now", same markers), so
  its writes land on what the earlier attempt wrote. A running attempt proves it is alive
  by a heartbeat every `stale_seconds / 3`; one silent for `stale_seconds` is taken over.

Records are bookkeeping: the janitor deletes them after `keep_hours` (24), as the runtime
arranges (`ServiceRuntime.retain`). Design and limits: docs/developing-a-service.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import orjson
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from crm_contracts.base import as_utc

from .clock import wall_clock
from .context import RequestContext
from .operation import Operation
from .settings import from_env

log = logging.getLogger(__name__)

HEADER = "idempotency-key"
# The gateway's number for the second and later mutation fetches one client operation makes
# to the same subgraph (each a request of its own, with a result of its own).
STEP_HEADER = "crm-idempotency-step"
COLLECTION = "_idempotency"
TIME_FIELD = "created_at"
# Letters, digits and `-_.:~+/=` (UUIDs, ULIDs, base64), 1 to 255 of them.
KEY_PATTERN = re.compile(r"[A-Za-z0-9._:~+/=-]{1,255}")
STEP_PATTERN = re.compile(r"[0-9]{1,4}")

RUNNING, OPEN, DONE = "running", "open", "done"


@dataclass(frozen=True)
class IdempotencySettings:
    # How long a repeat waits for the request running its key before `KeyInUse` (below the
    # gateway's subgraph timeout, 10 s, so the client gets this answer, not a timeout).
    wait_seconds: float = 5.0
    # A running attempt silent this long (no heartbeat) is presumed dead and taken over.
    stale_seconds: float = 10.0
    # Records are deleted by the janitor this long after their first request.
    keep_hours: float = 24.0

    @classmethod
    def from_env(cls) -> IdempotencySettings:
        return from_env(
            cls,
            {
                "wait_seconds": "IDEMPOTENCY_WAIT_SECONDS",
                "stale_seconds": "IDEMPOTENCY_STALE_SECONDS",
                "keep_hours": "IDEMPOTENCY_KEEP_HOURS",
            },
        )

    @property
    def heartbeat_seconds(self) -> float:
        return self.stale_seconds / 3


class KeyRefused(Exception):
    """A key (or step) out of bounds: BAD_USER_INPUT naming the header."""


class KeyReused(Exception):
    """The key was used for another request: CONFLICT."""


class KeyInUse(Exception):
    """A request with the key is still running: retry after a moment."""


def checked_key(raw: str) -> str:
    if not KEY_PATTERN.fullmatch(raw):
        raise KeyRefused(
            "Idempotency-Key must be 1 to 255 characters: letters, digits and - _ . : ~ + / ="
        )
    return raw


def checked_step(raw: str | None) -> int:
    if raw is None:
        return 1
    if not STEP_PATTERN.fullmatch(raw) or int(raw) < 1:
        raise KeyRefused(f"{STEP_HEADER} must be a positive number")
    return int(raw)


def request_fingerprint(
    query: str | None, operation_name: str | None, variables: dict[str, Any] | None
) -> str:
    """What makes two requests the same: the document, the operation and the variables
    (whatever order a client serialised them in)."""
    canonical = orjson.dumps(
        [query or "", operation_name or "", variables or {}], option=orjson.OPT_SORT_KEYS
    )
    return hashlib.sha256(canonical).hexdigest()


@dataclass(frozen=True)
class StoredResponse:
    status: int
    content_type: str
    body: bytes


@dataclass(frozen=True)
class Attempt:
    """One run of a key's request, by this process."""

    record_id: str
    number: int
    operation: Operation
    key: str

    @property
    def heartbeat_id(self) -> str:
        return self.record_id if self.number == 1 else lease_id(self.record_id, self.number)


def record_id(caller: RequestContext, key: str, step: int) -> str:
    parts = "\x00".join((caller.workspace_id, caller.subject, key, str(step)))
    return hashlib.sha256(parts.encode()).hexdigest()


def lease_id(record: str, number: int) -> str:
    return f"{record}:{number}"


def operation_of(record: dict[str, Any]) -> Operation:
    """The operation every attempt of a record runs in: its token covers the record (the
    workspace, caller, key and step) and its first start, so a key reused after its record
    expired is a new operation."""
    started = as_utc(record[TIME_FIELD])
    millis = int(started.timestamp() * 1000)
    token = hashlib.sha256(f"{record['_id']}:{millis}".encode()).hexdigest()[:32]
    return Operation(token=token, started_at=started)


class KeyRecords(Protocol):
    """Where key records live: a collection of the service's database, or memory."""

    async def insert(self, doc: dict[str, Any]) -> bool:
        """False when a document with its `_id` exists."""

    async def get(self, doc_id: str) -> dict[str, Any] | None: ...

    async def set(self, doc_id: str, fields: dict[str, Any]) -> None: ...


class MongoKeyRecords:
    def __init__(self, collection: AsyncCollection[Any]) -> None:
        self.collection = collection

    async def insert(self, doc: dict[str, Any]) -> bool:
        try:
            await self.collection.insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    async def get(self, doc_id: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = await self.collection.find_one({"_id": doc_id})
        return found

    async def set(self, doc_id: str, fields: dict[str, Any]) -> None:
        await self.collection.update_one({"_id": doc_id}, {"$set": fields})


class MemoryKeyRecords:
    """For unit tests and an app without a database (a service running on its fakes)."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}

    async def insert(self, doc: dict[str, Any]) -> bool:
        if doc["_id"] in self.docs:
            return False
        self.docs[doc["_id"]] = dict(doc)
        return True

    async def get(self, doc_id: str) -> dict[str, Any] | None:
        found = self.docs.get(doc_id)
        return dict(found) if found is not None else None

    async def set(self, doc_id: str, fields: dict[str, Any]) -> None:
        if doc_id in self.docs:
            self.docs[doc_id].update(fields)


# How often a waiting repeat looks again: quickly at first, then every quarter second.
_FIRST_POLL, _LAST_POLL = 0.02, 0.25


class IdempotencyKeys:
    def __init__(
        self,
        records: KeyRecords,
        settings: IdempotencySettings | None = None,
        *,
        clock: Callable[[], datetime] = wall_clock,
    ) -> None:
        self.records = records
        self.settings = settings or IdempotencySettings()
        # The wall clock, never a keyed operation's pinned "now" (`crm_kit.clock`).
        self.clock = clock
        self.holder = f"{socket.gethostname()}:{os.getpid()}"

    async def begin(
        self, caller: RequestContext, key: str, step: int, fingerprint: str
    ) -> Attempt | StoredResponse:
        """Run the request (an `Attempt`) or answer with the stored response; raises
        `KeyReused` or `KeyInUse`."""
        rid = record_id(caller, key, step)
        now = self.clock()
        fresh = {
            "_id": rid,
            "workspace_id": caller.workspace_id,
            "caller": caller.subject,
            "key": key,
            "step": step,
            "fingerprint": fingerprint,
            TIME_FIELD: now,
            "state": RUNNING,
            "attempt": 1,
            "alive_at": now,
            "holder": self.holder,
        }
        if await self.records.insert(fresh):
            return Attempt(rid, 1, operation_of(fresh), key)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.wait_seconds
        poll = _FIRST_POLL
        while True:
            record = await self.records.get(rid)
            if record is None:  # deleted by the janitor meanwhile: a new first request
                fresh[TIME_FIELD] = fresh["alive_at"] = self.clock()
                if await self.records.insert(fresh):
                    return Attempt(rid, 1, operation_of(fresh), key)
                continue
            if record["fingerprint"] != fingerprint:
                raise KeyReused(
                    "This Idempotency-Key was used for a different request; "
                    "send a new key for a new request."
                )
            if record["state"] == DONE:
                stored = record["response"]
                return StoredResponse(stored["status"], stored["content_type"], stored["body"])
            number, alive_at = await self._current_attempt(record)
            released = record["state"] == OPEN and number == record["attempt"]
            silent = self.clock() - as_utc(alive_at) > timedelta(
                seconds=self.settings.stale_seconds
            )
            if released or silent:
                taken = await self._take_over(record, number + 1)
                if taken is not None:
                    return taken
                continue  # another request took it: look again at once
            if loop.time() >= deadline:
                raise KeyInUse(
                    "A request with this Idempotency-Key is still running; "
                    "repeat it in a moment to get its result."
                )
            await asyncio.sleep(poll)
            poll = min(poll * 2, _LAST_POLL)

    async def _current_attempt(self, record: dict[str, Any]) -> tuple[int, datetime]:
        """The latest attempt and its last sign of life. The record's `attempt` is a hint:
        a taker that died before updating it left its lease, found here."""
        number = int(record["attempt"])
        alive_at: datetime = record["alive_at"]
        if number > 1:
            lease = await self.records.get(lease_id(record["_id"], number))
            if lease is not None:
                alive_at = lease["alive_at"]
        while (later := await self.records.get(lease_id(record["_id"], number + 1))) is not None:
            number, alive_at = number + 1, later["alive_at"]
        return number, alive_at

    async def _take_over(self, record: dict[str, Any], number: int) -> Attempt | None:
        now = self.clock()
        lease = {
            "_id": lease_id(record["_id"], number),
            "record": record["_id"],
            TIME_FIELD: now,
            "alive_at": now,
            "holder": self.holder,
        }
        if not await self.records.insert(lease):
            return None
        log.warning(
            "idempotency key taken over",
            extra={"fields": {"record": record["_id"], "attempt": number}},
        )
        await self.records.set(record["_id"], {"attempt": number, "state": RUNNING})
        return Attempt(record["_id"], number, operation_of(record), record["key"])

    async def finish(self, attempt: Attempt, response: StoredResponse) -> None:
        """Store the response: every repeat gets it from now on."""
        await self.records.set(
            attempt.record_id,
            {
                "state": DONE,
                "response": {
                    "status": response.status,
                    "content_type": response.content_type,
                    "body": response.body,
                },
                "done_at": self.clock(),
                "attempt": attempt.number,
            },
        )

    async def release(self, attempt: Attempt) -> None:
        """The attempt ended without a result to keep (the mutation failed for a reason
        that is not the client's): the next request of the key runs it again."""
        await self.records.set(attempt.record_id, {"state": OPEN, "attempt": attempt.number})

    @contextlib.asynccontextmanager
    async def heartbeat(self, attempt: Attempt) -> AsyncIterator[None]:
        """Keep the attempt alive in the record while the block runs. A beat under way
        when the block ends is finished, not cancelled: FerretDB does not isolate
        concurrent updates of one document, so a beat landing after the result is stored
        could write the record back without it."""
        stopped = asyncio.Event()

        async def beat() -> None:
            while True:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.settings.heartbeat_seconds):
                        await stopped.wait()
                if stopped.is_set():
                    return
                try:
                    await self.records.set(attempt.heartbeat_id, {"alive_at": self.clock()})
                except Exception:  # the database may be away: the next beat tries again
                    log.debug("idempotency heartbeat not written", exc_info=True)

        task = asyncio.ensure_future(beat())
        try:
            yield
        finally:
            stopped.set()
            await task
