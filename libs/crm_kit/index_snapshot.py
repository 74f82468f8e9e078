"""Persisted snapshots of a read index (`crm_kit.read_index`): a process starts from the
newest one and the change log since it, instead of scanning the collection.

Why: on FerretDB's SQLite backend a scan costs ~100 to 480 µs of FerretDB CPU a document
(it decodes each stored JSON document whole, projection or not), so warming the indexes
from scans at 100,000 deals (625,000 documents) took 258 s and 302 s of FerretDB CPU. A
snapshot is the same entries as a few large documents (compressed), read by `_id`: the
database decodes a handful of documents instead of hundreds of thousands.

What a snapshot is: every loaded workspace's entries (each packed to a tuple of plain
values by the index's `SnapshotCodec`) and the change-log slot they are current to: every
change journalled at or below it is in the entries. Pickled (protocol 5: the many repeated
strings of a chunk are written once), zlib-compressed, cut into chunks of up to
`CHUNK_ENTRIES` entries (each document well under the 16 MB limit), in `index_snapshots`:

- chunk documents `<index>#<snapshot id>#<n>` hold `z` (the compressed bytes);
- the head `<index>` names the snapshot (id, chunk count, each chunk's SHA-256), the slot,
  the snapshot format (`FORMAT`), the codec's key (what an entry holds: it changes with
  the entry's fields or meaning) and the workspaces.

A writer puts the chunks first, then replaces the head, then deletes the chunks of the
head it replaced: a reader reading the head then the chunks sees a whole snapshot, or a
missing chunk (a newer one replaced it meanwhile) and reads the head again. Any replica
may write the head: every snapshot is valid at its slot, and replaying the shared log from
there gives the current state.

Unpickling runs only the constructors of `ALLOWED` (dates, arrays, ObjectId): a snapshot
is data, never code, whoever wrote the document. The entries are rebuilt by the codec.

Load refuses (None, and the index scans instead) a head of another format or key, a chunk
missing twice or failing its digest, or one that does not decode.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import pickle
import time
import uuid
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any, Generic, Protocol, TypeVar

from bson.binary import Binary

log = logging.getLogger(__name__)

COLLECTION = "index_snapshots"
# The snapshot layout itself (head fields, chunk encoding); any change of it bumps this.
FORMAT = 1
# Entries a chunk holds at most: ~1 KB an entry packed, ~3 to 6 MB compressed.
CHUNK_ENTRIES = 20_000
# A chunk compressed beyond this is cut in two (the document limit is 16 MB).
CHUNK_BYTES = 12 * 1024 * 1024
# Reads of the head when a chunk went missing under the reader (replaced meanwhile).
LOAD_ATTEMPTS = 2
# The globals an unpickled chunk may name: value types of stored fields, nothing else.
ALLOWED = frozenset(
    {
        ("datetime", "datetime"),
        ("datetime", "date"),
        ("datetime", "time"),
        ("datetime", "timedelta"),
        ("datetime", "timezone"),
        ("bson.tz_util", "FixedOffset"),
        ("bson.objectid", "ObjectId"),
        ("array", "array"),
        ("array", "_array_reconstructor"),
        ("decimal", "Decimal"),
    }
)

E = TypeVar("E")
Packed = tuple[Any, ...]


@dataclass(frozen=True)
class SnapshotCodec(Generic[E]):
    """How an index's entries go into a snapshot and back. `key` names what an entry
    holds and means: a snapshot written under another key is not used (change it, e.g.
    its version, whenever `entry_of` derives an entry differently)."""

    key: str
    pack: Callable[[E], Packed]
    unpack: Callable[[Packed], E]


def dataclass_codec(cls: type[E], version: int = 1, read: str = "") -> SnapshotCodec[E]:
    """The codec of a dataclass entry: its fields' values in order (`attrgetter`, no
    per-field Python code), back through its constructor. `read`: what the entries are
    made from when it can vary (e.g. a scan's projection), part of the key."""
    names = tuple(f.name for f in fields(cls))  # type: ignore[arg-type]
    getter = attrgetter(*names)
    key = f"{cls.__module__}.{cls.__qualname__}({','.join(names)})v{version}:{read}"
    return SnapshotCodec(key=key, pack=getter, unpack=lambda values: cls(*values))


class SnapshotCollection(Protocol):
    """The part of PyMongo's async collection the snapshots use (`_id` look-ups only)."""

    async def find_one(self, filter: Mapping[str, Any]) -> Mapping[str, Any] | None: ...

    async def insert_one(self, document: dict[str, Any]) -> Any: ...

    async def replace_one(
        self, filter: Mapping[str, Any], replacement: Mapping[str, Any], upsert: bool = False
    ) -> Any: ...

    async def delete_one(self, filter: Mapping[str, Any]) -> Any: ...


@dataclass(frozen=True)
class Loaded(Generic[E]):
    """A snapshot read back: the slot it is current to, and each workspace's entries."""

    cursor: int
    workspaces: dict[str, list[E]]
    snapshot_id: str
    seconds: float


@dataclass(frozen=True)
class Saved:
    snapshot_id: str
    cursor: int
    entries: int
    chunks: int
    bytes: int
    seconds: float


class _Restricted(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED:
            raise pickle.UnpicklingError(f"an index snapshot may not name {module}.{name}")
        return super().find_class(module, name)


def _encode(part: list[tuple[str, list[Packed]]]) -> bytes:
    return zlib.compress(pickle.dumps(part, protocol=5), 1)


def _decode(data: bytes) -> list[tuple[str, list[Packed]]]:
    part = _Restricted(io.BytesIO(zlib.decompress(data))).load()
    if not isinstance(part, list):
        raise ValueError("an index snapshot chunk is not a list")
    return part


class Unusable(Exception):
    """The snapshot cannot be used (the caller scans instead)."""


def index_snapshots(db: Any) -> IndexSnapshots:
    """The snapshots kept in `db` (a PyMongo async database)."""
    return IndexSnapshots(db[COLLECTION])


class IndexSnapshots:
    """The snapshots of a database's read indexes, one head per index name."""

    def __init__(self, collection: SnapshotCollection) -> None:
        self._docs = collection

    async def save(
        self,
        name: str,
        codec: SnapshotCodec[E],
        cursor: int,
        workspaces: Mapping[str, Sequence[E]],
    ) -> Saved:
        """Write these entries as the index's newest snapshot, current to `cursor`."""
        started = time.perf_counter()
        snapshot_id = uuid.uuid4().hex
        digests: list[str] = []
        size = 0
        total = 0
        for part in _parts(codec, workspaces):
            total += sum(len(packed) for _, packed in part)
            # zlib releases the GIL: the event loop keeps serving while a chunk compresses.
            for data in await asyncio.to_thread(_fitted, part):
                chunk_id = f"{name}#{snapshot_id}#{len(digests)}"
                await self._docs.insert_one({"_id": chunk_id, "z": Binary(data)})
                digests.append(hashlib.sha256(data).hexdigest())
                size += len(data)
            await asyncio.sleep(0)  # pickling holds the loop: let requests in between
        previous = await self._docs.find_one({"_id": name})
        await self._docs.replace_one(
            {"_id": name},
            {
                "_id": name,
                "format": FORMAT,
                "key": codec.key,
                "snapshot": snapshot_id,
                "digests": digests,
                "cursor": cursor,
                "workspaces": sorted(workspaces),
                "entries": total,
                "written_at": datetime.now(UTC),
            },
            upsert=True,
        )
        if previous is not None and previous.get("snapshot") != snapshot_id:
            await self._drop_chunks(name, previous)
        return Saved(snapshot_id, cursor, total, len(digests), size, time.perf_counter() - started)

    async def load(self, name: str, codec: SnapshotCodec[E]) -> Loaded[E] | None:
        """The index's newest snapshot, None when there is none or it cannot be used (the
        reason is logged): the caller then scans."""
        started = time.perf_counter()
        for _ in range(LOAD_ATTEMPTS):
            head = await self._docs.find_one({"_id": name})
            if head is None:
                return None
            try:
                return await self._read(name, codec, head, started)
            except _Replaced:
                continue  # a newer snapshot replaced this one while it was read
            except Exception as error:  # noqa: BLE001 - any unreadable snapshot: scan
                log.warning("the %s snapshot is not used: %s", name, error)
                return None
        log.warning("the %s snapshot kept changing while it was read", name)
        return None

    async def _read(
        self, name: str, codec: SnapshotCodec[E], head: Mapping[str, Any], started: float
    ) -> Loaded[E]:
        if head.get("format") != FORMAT:
            raise Unusable(f"format {head.get('format')!r}, not {FORMAT}")
        if head.get("key") != codec.key:
            raise Unusable(f"written for entries {head.get('key')!r}, not {codec.key!r}")
        snapshot_id = str(head["snapshot"])
        workspaces: dict[str, list[E]] = {str(ws): [] for ws in head.get("workspaces") or ()}
        unpack = codec.unpack
        for n, digest in enumerate(head["digests"]):
            chunk = await self._docs.find_one({"_id": f"{name}#{snapshot_id}#{n}"})
            if chunk is None:
                raise _Replaced
            data = bytes(chunk["z"])
            if hashlib.sha256(data).hexdigest() != digest:
                raise Unusable(f"chunk {n} does not match its digest")
            for workspace, packed in await asyncio.to_thread(_decode, data):
                held = workspaces.get(workspace)
                if held is None:
                    raise Unusable(f"chunk {n} names workspace {workspace!r}, not in the head")
                held.extend(map(unpack, packed))
            await asyncio.sleep(0)
        return Loaded(int(head["cursor"]), workspaces, snapshot_id, time.perf_counter() - started)

    async def drop(self, names: Iterable[str]) -> None:
        """Remove these indexes' snapshots (a writer that bypassed the change log, e.g. a
        bulk load, calls it: the next start scans)."""
        for name in names:
            head = await self._docs.find_one({"_id": name})
            if head is not None:
                await self._docs.delete_one({"_id": name})
                await self._drop_chunks(name, head)

    async def _drop_chunks(self, name: str, head: Mapping[str, Any]) -> None:
        snapshot_id = head.get("snapshot")
        for n in range(len(head.get("digests") or ())):
            await self._docs.delete_one({"_id": f"{name}#{snapshot_id}#{n}"})


class _Replaced(Exception):
    pass


def _parts(
    codec: SnapshotCodec[E], workspaces: Mapping[str, Sequence[E]]
) -> Iterable[list[tuple[str, list[Packed]]]]:
    """The entries packed, `CHUNK_ENTRIES` at most a part (a part may span workspaces)."""
    part: list[tuple[str, list[Packed]]] = []
    room = CHUNK_ENTRIES
    pack = codec.pack
    for workspace, entries in workspaces.items():
        at = 0
        while at < len(entries):
            taken = entries[at : at + room]
            part.append((workspace, [pack(entry) for entry in taken]))
            at += len(taken)
            room -= len(taken)
            if room == 0:
                yield part
                part, room = [], CHUNK_ENTRIES
    if part:
        yield part


def _fitted(part: list[tuple[str, list[Packed]]]) -> list[bytes]:
    """The part encoded, cut in halves until each is under `CHUNK_BYTES`."""
    data = _encode(part)
    if len(data) <= CHUNK_BYTES:
        return [data]
    rows = [(ws, [p]) for ws, packed in part for p in packed]
    if len(rows) <= 1:
        raise ValueError("an index entry does not fit in a snapshot chunk")
    half = len(rows) // 2
    return _fitted(_regroup(rows[:half])) + _fitted(_regroup(rows[half:]))


def _regroup(rows: list[tuple[str, list[Packed]]]) -> list[tuple[str, list[Packed]]]:
    grouped: list[tuple[str, list[Packed]]] = []
    for workspace, packed in rows:
        if grouped and grouped[-1][0] == workspace:
            grouped[-1][1].extend(packed)
        else:
            grouped.append((workspace, list(packed)))
    return grouped
