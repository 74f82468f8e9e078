"""The audit log: every change to a record (who, when, through which path, each changed
field before → after), captured once for all services by the kit's write path.

What a service audits is its `AuditPolicy`: the collections holding records and, per
collection, the record type and the document fields left out of the diffs (derived or
bookkeeping fields). `crm_kit.writer.DocumentWriter` (and `crm_kit.memory_db`, the unit
tests' fake) asks `entry(...)` for each write to such a collection and stores the entry

- inside the record's own write (`_audit`, beside the outbox's pending events: one
  single-document write, so the entry exists exactly when the change does), from where the
  outbox relay moves it to the `audit` collection (an insert keyed by the entry's id, then
  the pull: a crash in between re-inserts the same id, which the unique `_id` refuses);
- for a hard delete, which leaves no document to carry it: as an intent in
  `_audit_intents` before the delete, moved to `audit` after it; the relay's sweep settles
  intents a crash left (the document gone: the delete happened, the entry is kept; the
  document still there: it did not, the intent is dropped);
- for a bulk insert (an import's batch of thousands): all its entries in one intent
  before the insert, moved to `audit` in one statement after it (those of the records a
  unique index refused left out); a crash in between is settled by the records that exist.

Within a keyed operation (`crm_kit.operation`) an entry's id derives from the write (the
update's marker, or the insert's collection and id), and a write an earlier run made is
not made again: a retry with the same idempotency key adds no entry.

Who and how come from the request context (`crm_kit.context`) and the channel the entry
point binds here (`via` / `bind_channel`): `graphql` (party `gateway`), `nats`
(request/reply; the calling party), `automation` (an event consumer, a scheduler: the
service acting as the system), `import`, `cli`. A use case adds what the diff cannot show
with `annotate` (an admin's override of exit criteria).

Values are stored as JSON text (`before`, `after`): record fields may hold user-defined
keys (custom fields) that MongoDB forbids as field names, and one shape per change keeps
the field-level filtering of a reader simple (drop the changes of fields it hides).
"""

from __future__ import annotations

import contextlib
import hashlib
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from .clock import to_millis, utcnow
from .context import current_request
from .group_commit import GroupCommit
from .operation import OPS_FIELD, current_operation
from .update_operators import apply_update

AUDIT = "audit"
# Entries waiting in their record's document for the relay to move them.
PENDING_FIELD = "_audit"
INTENTS = "_audit_intents"
DUPLICATE_KEY = 11000
PATHS = ("graphql", "nats", "import", "automation", "cli")
DEFAULT_RETENTION_DAYS = 365.0
# Fields no diff shows: identity, placement and the kit's own bookkeeping.
_ALWAYS_IGNORED = frozenset(
    {"_id", "workspace_id", OPS_FIELD, PENDING_FIELD, "_outbox", "_outbox_pending", "_outbox_at"}
)


@dataclass(frozen=True)
class Audited:
    """One audited collection: the record type entries name (`deal`, `contact`...), the
    document fields diffs leave out, and the field whose setting is a (soft) delete."""

    record_type: str
    ignore: frozenset[str] = frozenset()
    deleted_field: str | None = "deleted_at"


@dataclass(frozen=True)
class AuditPolicy:
    service: str
    collections: Mapping[str, Audited] = field(default_factory=dict)

    def of(self, collection: str) -> Audited | None:
        return self.collections.get(collection)


# -- the channel a change comes through --------------------------------------------------


@dataclass(frozen=True)
class Channel:
    path: str
    party: str = ""


_channel: ContextVar[Channel | None] = ContextVar("crm_audit_channel", default=None)
_notes: ContextVar[dict[str, Any] | None] = ContextVar("crm_audit_notes", default=None)


def bind_channel(path: str | None, party: str = "") -> None:
    """Set (None: clear) the path of the changes this task makes from here on."""
    if path is not None and path not in PATHS:
        raise ValueError(f"unknown audit path {path!r}")
    _channel.set(Channel(path, party) if path else None)
    _notes.set(None)


@contextlib.contextmanager
def via(path: str, party: str = "") -> Iterator[None]:
    """Run the block's changes as coming through `path` (an importer: `import`; an
    operator's command: `cli`)."""
    if path not in PATHS:
        raise ValueError(f"unknown audit path {path!r}")
    token = _channel.set(Channel(path, party))
    notes = _notes.set(None)
    try:
        yield
    finally:
        _channel.reset(token)
        _notes.reset(notes)


def annotate(**detail: Any) -> None:
    """Attach `detail` (JSON-able) to the entries of the next changes this task writes (an
    admin's override: `annotate(override=[criteria])`)."""
    _notes.set({**(_notes.get() or {}), **detail})


def notes_waiting() -> bool:
    """Whether `annotate` left a detail for the next change this task writes."""
    return bool(_notes.get())


def current_channel() -> Channel:
    """The bound channel; without one the service acts on its own (a scheduler, a start-up
    repair): `automation`."""
    return _channel.get() or Channel("automation")


# -- entries -----------------------------------------------------------------------------


def _json(value: Any) -> str | None:
    if value is None:
        return None
    return orjson.dumps(value, default=str, option=orjson.OPT_SORT_KEYS).decode()


def packed_changes(entry: dict[str, Any]) -> dict[str, Any]:
    """The entry with its changes as one JSON text: what a bulk insert stores (an import's
    thousand entries a batch insert ~8x faster on FerretDB's SQLite backend than with a
    nested document per field). `stored_changes` reads either form."""
    return {**entry, "changes": _json(entry.get("changes") or [])}


def stored_changes(entry: Mapping[str, Any]) -> list[dict[str, Any]]:
    """An entry's changes as stored: a list, or (packed) its JSON text."""
    found = entry.get("changes") or []
    return list(orjson.loads(found)) if isinstance(found, str) else list(found)


def changes(
    before: Mapping[str, Any] | None, after: Mapping[str, Any] | None, audited: Audited
) -> list[dict[str, Any]]:
    """The top-level fields whose value differs, each `{field, before, after}` (JSON text;
    None where the field is absent or null)."""
    skipped = _ALWAYS_IGNORED | audited.ignore
    if not before:
        # A creation (an import's thousand a batch): every field set is a change.
        after = after or {}
        # `_json` inlined: ~25 fields a record, a thousand records a batch.
        dumps, sort = orjson.dumps, orjson.OPT_SORT_KEYS
        return [
            {
                "field": name,
                "before": None,
                "after": dumps(value, default=str, option=sort).decode(),
            }
            for name in sorted(after.keys() - skipped)
            if (value := after[name]) is not None
        ]
    after = after or {}
    names = sorted((set(before) | set(after)) - skipped)
    return [
        {"field": name, "before": _json(before.get(name)), "after": _json(after.get(name))}
        for name in names
        if before.get(name) != after.get(name)
    ]


def after_update(before: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """The document an update's operators make of `before` (top-level fields). Shallow:
    the operators replace values, never change them in place, and the result is only read
    (deep copies of whole deals cost more than the rest of the entry)."""
    after = dict(before)
    apply_update(after, update, inserting=not before, copy_values=False)
    return after


def shown(names: set[str], audited: Audited) -> set[str]:
    """Those of the fields `names` a diff of `audited` shows (the others are left out)."""
    return names - _ALWAYS_IGNORED - audited.ignore


def touched(update: Mapping[str, Any]) -> set[str]:
    """The top-level fields an update's operators name."""
    return {name.split(".")[0] for fields in update.values() for name in fields}


def _action(
    before: Mapping[str, Any] | None, after: Mapping[str, Any] | None, audited: Audited
) -> str:
    if before is None:
        return "create"
    if after is None:
        return "delete"
    flag = audited.deleted_field
    if flag is not None and flag in after:
        if before.get(flag) is None and after.get(flag) is not None:
            return "delete"
        if before.get(flag) is not None and after.get(flag) is None:
            return "restore"
    return "update"


def entry_id(place: str, *, derived: bool = False) -> str:
    """Within a keyed operation, derived from the write (`place`: its marker, or the
    collection and id of an insert), so a run made again names the same entry; else new,
    unless `derived` (an insert's entry another write carries: `held_entry_id`).
    A 24-hex ObjectId either way: time-ordered by the operation's start."""
    operation = current_operation()
    if operation is None and derived:
        return held_entry_id(place)
    if operation is None:
        return str(ObjectId())
    seconds = int(operation.started_at.timestamp()).to_bytes(4, "big")
    digest = hashlib.sha256(f"{operation.token}\x00audit\x00{place}".encode()).digest()
    return str(ObjectId(seconds + digest[:8]))


def held_entry_id(place: str) -> str:
    """The id of an insert's entry that a later write carries (`Records.insert_many` with
    `hold_audit`): derived from the insert alone (`place`: collection and id), so a handler
    run again after a crash between the two writes carries the same entry, which the audit
    collection's unique `_id` keeps once. Only one insert of an id ever succeeds."""
    digest = hashlib.sha256(f"held\x00audit\x00{place}".encode()).digest()
    return str(ObjectId(digest[:12]))


def entry(
    policy: AuditPolicy,
    collection: str,
    record_id: Any,
    workspace_id: str | None,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    *,
    place: str,
    derived: bool = False,
) -> dict[str, Any] | None:
    """The entry of one write (None: the collection is not audited, or nothing it shows
    changed); `derived`: its id derives from `place` (`entry_id`)."""
    audited = policy.of(collection)
    if audited is None:
        return None
    diff = changes(before, after, audited)
    action = _action(before, after, audited)
    if not diff and action == "update":
        return None
    request = current_request()
    channel = current_channel()
    workspace = (
        workspace_id
        or (after or before or {}).get("workspace_id")
        or (request.workspace_id if request else "")
    )
    made: dict[str, Any] = {
        "_id": entry_id(place, derived=derived),
        "workspace_id": workspace,
        "service": policy.service,
        "record_type": audited.record_type,
        "record_id": str(record_id),
        "action": action,
        "at": to_millis(utcnow()),
        # Who: the subject, its roles, and the party that carried the call.
        "actor": request.subject if request else f"service:{policy.service}",
        "roles": sorted(request.roles) if request else [],
        "party": channel.party or (policy.service if channel.path == "automation" else ""),
        "path": channel.path,
        "changes": diff,
    }
    notes = _notes.get()
    if notes:
        made["detail"] = _json(notes)
        _notes.set(None)  # said once, on the change it explains
    return made


def creation_entries(
    policy: AuditPolicy, collection: str, docs: Sequence[Mapping[str, Any]]
) -> list[tuple[Any, dict[str, Any]]]:
    """The entries of inserting `docs` (a bulk insert's: an import batch), each with its
    document's `_id` and its changes packed (`packed_changes`): what `entry` makes of
    each insert, the part they share (who, when, through what) made once for the batch
    instead of once per record. Empty when the collection is not audited."""
    audited = policy.of(collection)
    if audited is None:
        return []
    request = current_request()
    channel = current_channel()
    roles = sorted(request.roles) if request else []
    shared: dict[str, Any] = {
        "service": policy.service,
        "record_type": audited.record_type,
        "action": "create",
        "at": to_millis(utcnow()),
        "actor": request.subject if request else f"service:{policy.service}",
        "party": channel.party or (policy.service if channel.path == "automation" else ""),
        "path": channel.path,
    }
    default_workspace = request.workspace_id if request else ""
    notes = _notes.get()
    made: list[tuple[Any, dict[str, Any]]] = []
    skipped = _ALWAYS_IGNORED | audited.ignore
    pieces: dict[tuple[Any, ...], str] = {}
    for doc in docs:
        doc_id = doc["_id"]
        entry = {
            "_id": entry_id(f"{collection}/{doc_id}/insert"),
            "workspace_id": doc.get("workspace_id") or default_workspace,
            **shared,
            "record_id": str(doc_id),
            "roles": list(roles),
            "changes": _creation_changes(doc, skipped, pieces),
        }
        if notes:
            entry["detail"] = _json(notes)  # said once, on the first change it explains
            notes = None
            _notes.set(None)
        made.append((doc_id, entry))
    return made


def _creation_changes(
    doc: Mapping[str, Any], skipped: frozenset[str], pieces: dict[tuple[Any, ...], str]
) -> str:
    """`_json(changes(None, doc, audited))`, the same text, made from pieces that the
    documents of one bulk insert share: a batch's records repeat most of their values
    (workspace, pipeline, stage, currency, who, when), and each change was two JSON
    encodings (the value, then the change). orjson's output is compact, so a list's text is
    its items' texts joined. A piece is reused only for a value of the same type that is
    equal and prints the same (`_piece_key`)."""
    dumps, sort = orjson.dumps, orjson.OPT_SORT_KEYS
    parts: list[str] = []
    for name in sorted(doc.keys() - skipped):
        value = doc[name]
        if value is None:
            continue
        key = _piece_key(name, value)
        piece = pieces.get(key) if key is not None else None
        if piece is None:
            # `dumps({"after": ..., "before": None, "field": name}, option=sort)` written
            # out: the keys in that (sorted) order, compact; the name's tail made once.
            tail = pieces.get((name,))
            if tail is None:
                tail = pieces[(name,)] = ',"before":null,"field":' + dumps(name).decode() + "}"
            after = dumps(value, default=str, option=sort).decode()
            piece = '{"after":' + dumps(after).decode() + tail
            if key is not None:
                pieces[key] = piece
        parts.append(piece)
    return "[" + ",".join(parts) + "]"


def _piece_key(name: str, value: Any) -> tuple[Any, ...] | None:
    """What a change's text is fixed by, for values whose equality means the same text:
    texts, whole numbers and booleans by type (`True == 1`), datetimes with their zone
    (equal instants in other zones print apart); None for any other value."""
    kind = type(value)
    if kind is str or kind is int or kind is bool:
        return (name, kind, value)
    if kind is datetime:
        return (name, kind, value, value.tzinfo)
    return None


# -- a bulk write's entries, packed ------------------------------------------------------
#
# An import batch's thousand entries differ only in their record and its changes: stored
# one document each, they were as many documents as the batch wrote records, about their
# size again (the created values), and FerretDB's SQLite backend pays per document and per
# byte. They are stored as ONE document per batch (a pack): the header they share, `at`
# (the latest of theirs), `record_id` the list of their records (an equality filter on a
# record id matches a member: a record's trail finds the pack, through the `trail` index's
# multikey entries on MongoDB) and the per-record part compressed. `unpacked` gives the
# entries back; `crm_kit.audit_read` pages over them as over single entries.

PACKED = "packed"
PACK_SIZE = "entries"
# Entries per pack at most (an import batch's rows at most: one pack per batch).
PACK_MAX = 1000
# Entries sharing these are one pack's (in the order given).
_HEADER = ("workspace_id", "service", "record_type", "action", "actor", "roles", "party",
           "path", "detail")  # fmt: skip
_PACK_LEVEL = 1  # zlib's fastest: most of the gain (the entries repeat names and values)


def _packable(entry: Mapping[str, Any]) -> bool:
    """Only a bulk write's entries (their changes already one JSON text: `packed_changes`),
    which the relay moves from a sealed batch, the same list each time it moves them: a
    record's own pending entries can be stored ahead of the relay by its trail
    (`audit_read`) and after it by the relay, as different lists."""
    return isinstance(entry.get("changes"), str) and not isinstance(entry.get("record_id"), list)


def _header(entry: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(
        tuple(value) if isinstance(value := entry.get(name), list) else value for name in _HEADER
    )


def packed_entries(entries: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The entries as stored: each run of bulk-written entries sharing a header (two or
    more, up to `PACK_MAX`) as one pack, the others as they are. A pack's `_id` is its
    first entry's, so the same entries stored again (a crash before the relay cleared
    them) are refused as the same document."""
    stored: list[dict[str, Any]] = []
    run: list[Mapping[str, Any]] = []
    run_header: tuple[Any, ...] = ()  # the run's first entry's, made once per run

    def close() -> None:
        if len(run) == 1:
            stored.append(dict(run[0]))
        elif run:
            stored.append(_pack(run))
        run.clear()

    for entry in entries:
        if not _packable(entry):
            close()
            stored.append(dict(entry))
            continue
        header = _header(entry)
        if run and (header != run_header or len(run) == PACK_MAX):
            close()
        if not run:
            run_header = header
        run.append(entry)
    close()
    return stored


def _pack(entries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    first = entries[0]
    pack = {name: first[name] for name in _HEADER if name in first}
    parts = [[str(e["_id"]), e["record_id"], e["changes"]] for e in entries]
    pack.update(
        {
            "_id": first["_id"],
            "at": max(e["at"] for e in entries),
            "record_id": [e["record_id"] for e in entries],
            PACK_SIZE: len(entries),
            PACKED: zlib.compress(orjson.dumps(parts), _PACK_LEVEL),
        }
    )
    return pack


def is_pack(doc: Mapping[str, Any]) -> bool:
    return PACKED in doc


def pack_cursor_id(pack_id: str, position: int) -> str:
    """The id a pack's entry at `position` sorts by: after the pack's own `_id` and before
    any other (ids are hex, `/` sorts below every hex digit), in the pack's order."""
    return f"{pack_id}/{position:04d}"


def unpacked(pack: Mapping[str, Any], record_id: str | None = None) -> list[dict[str, Any]]:
    """A pack's entries (only `record_id`'s, when given), newest first, each with its own
    `_id` and `record_id`, the pack's `at`, and `cursor_id` (`pack_cursor_id`)."""
    header = {name: pack[name] for name in _HEADER if name in pack}
    parts = orjson.loads(zlib.decompress(pack[PACKED]))
    return [
        {
            **header,
            "_id": entry_id,
            "record_id": owner,
            "at": pack["at"],
            "changes": changed,
            "cursor_id": pack_cursor_id(str(pack["_id"]), position),
        }
        for position, (entry_id, owner, changed) in reversed(list(enumerate(parts)))
        if record_id is None or owner == record_id
    ]


# -- moving entries to the audit collection ----------------------------------------------


async def store_entries(db: AsyncDatabase[Any], entries: Sequence[Mapping[str, Any]]) -> None:
    """Insert entries into `audit` (a bulk write's packed: `packed_entries`); one already
    there (an earlier move) is left as is."""
    if not entries:
        return
    await _insert_entries(db, packed_entries(entries))


async def _insert_entries(db: AsyncDatabase[Any], docs: list[dict[str, Any]]) -> None:
    try:
        await db[AUDIT].insert_many(docs, ordered=False)
    except BulkWriteError as error:
        failures = error.details.get("writeErrors", [])
        if any(failure.get("code") != DUPLICATE_KEY for failure in failures):
            raise


class EntryWriter:
    """`store_entries` for concurrent callers (the relay publishing several documents at
    once): entries given while an insert is in flight wait and go together in the next
    one (group commit), so a pass over several documents costs one write statement for
    their entries, not one each. Each caller returns once its entries are stored (it may
    then pull them from their document), or gets the insert's failure."""

    def __init__(self, db: AsyncDatabase[Any]) -> None:
        self._db = db
        self._group: GroupCommit[list[dict[str, Any]], None] = GroupCommit(self._insert)
        self.inserts = 0

    async def store(self, entries: Sequence[Mapping[str, Any]], *, pack: bool = True) -> None:
        """`pack`: a sealed batch's entries, stored packed (`packed_entries`). A record's
        own outbox (`pack=False`) may hold entries whose changes are one JSON text (those
        an insert held: `DocumentWriter.insert_many(held_audit=...)`), but the entries it
        holds when the relay moves them may differ from one move to the next (a redelivery
        adds the same entries again after a clear): each is stored as one document under
        its own id, so a repeat is refused entry by entry, never packed differently."""
        if not entries:
            return
        # Packed per caller (one batch document's entries), never across callers: the
        # packs a crash makes the relay store again are then the same documents.
        await self._group.submit(packed_entries(entries) if pack else [dict(e) for e in entries])

    async def _insert(self, group: list[list[dict[str, Any]]]) -> list[None]:
        self.inserts += 1
        await _insert_entries(self._db, [entry for entries in group for entry in entries])
        return [None] * len(group)


async def begin_delete(
    db: AsyncDatabase[Any], collection: str, doc_id: Any, entries: Sequence[Mapping[str, Any]]
) -> str:
    """Record the intent of a hard delete (its entry and the entries its document still
    held) before the delete; returns the intent's id."""
    intent_id = f"{collection}/{doc_id}/{entries[-1]['_id']}"
    with contextlib.suppress(DuplicateKeyError):  # a retry's own intent
        await db[INTENTS].insert_one(
            {
                "_id": intent_id,
                "collection": collection,
                "doc_id": doc_id,
                "entries": list(entries),
                "at": datetime.now(UTC),
            }
        )
    return intent_id


async def end_delete(db: AsyncDatabase[Any], intent_id: str, *, deleted: bool) -> None:
    """After the delete: keep its entries (it happened) or not; the intent goes."""
    if deleted:
        intent = await db[INTENTS].find_one({"_id": intent_id})
        if intent is not None:
            await store_entries(db, intent.get("entries") or [])
    await db[INTENTS].delete_one({"_id": intent_id})


async def begin_inserts(
    db: AsyncDatabase[Any], collection: str, entries: Sequence[Mapping[str, Any]]
) -> str:
    """Record the entries of a bulk insert (an import's batch) before it, in one document:
    the records then carry none (no entry to move out of each of thousands of documents
    afterwards); returns the intent's id."""
    intent_id = f"{collection}/insert/{entries[0]['_id']}"
    with contextlib.suppress(DuplicateKeyError):  # a retry's own intent
        await db[INTENTS].insert_one(
            {
                "_id": intent_id,
                "collection": collection,
                "kind": "insert",
                "entries": list(entries),
                "at": datetime.now(UTC),
            }
        )
    return intent_id


async def end_inserts(
    db: AsyncDatabase[Any], intent_id: str, entries: Sequence[Mapping[str, Any]]
) -> None:
    """After the bulk insert: keep the entries of the records it wrote; the intent goes."""
    await store_entries(db, entries)
    await db[INTENTS].delete_one({"_id": intent_id})


async def settle_intents(db: AsyncDatabase[Any], grace_seconds: float = 0.0) -> int:
    """Finish the hard deletes and bulk inserts a crash interrupted (intents older than
    `grace_seconds`, which a live writer finishes itself): a delete's entries are kept if
    the document is gone, an insert's for the records that exist (`_id` look-ups). Returns
    how many were settled."""
    cutoff = datetime.now(UTC) - timedelta(seconds=grace_seconds)
    settled = 0
    async for intent in db[INTENTS].find({}):
        at = intent.get("at")
        if isinstance(at, datetime) and (at if at.tzinfo else at.replace(tzinfo=UTC)) > cutoff:
            continue
        records = db[intent["collection"]]
        if intent.get("kind") == "insert":
            entries = intent.get("entries") or []
            kept = [
                e for e in entries if await records.find_one({"_id": e["record_id"]}, {"_id": 1})
            ]
            await end_inserts(db, intent["_id"], kept)
        else:
            gone = await records.find_one({"_id": intent["doc_id"]}, {"_id": 1})
            await end_delete(db, intent["_id"], deleted=gone is None)
        settled += 1
    return settled


def pending_update(entries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Update operators that put entries in their record's document (merged with the
    change's own and the outbox's: the relay's flag is set by either)."""
    if not entries:
        return {}
    return {"$push": {PENDING_FIELD: {"$each": list(entries)}}}


async def ensure_indexes(db: AsyncDatabase[Any]) -> None:
    """The audit log's reads: a record's trail and a workspace's log, newest first (on
    MongoDB; FerretDB's SQLite backend serves only `_id` from an index)."""
    await db[AUDIT].create_index(
        [("workspace_id", 1), ("record_id", 1), ("at", -1), ("_id", -1)], name="trail"
    )
    await db[AUDIT].create_index([("workspace_id", 1), ("at", -1), ("_id", -1)], name="log")
