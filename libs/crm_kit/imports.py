"""The owning side of an import batch (`crm_contracts.import_batches`): what every record
owner does the same way, with no domain types.

A service describes one record type as an `ImportSink` (build a record from a mapped row,
say its identity keys, find existing records by those keys, update one, insert many) and
`write_batch` runs the contract's guarantees around it:

- the record a row creates gets `import_record_id(workspace, job, kind, row)`, so a batch
  sent again finds its own records (by identity key, or its insert refused for the id)
  and answers `created` with the same ids, writing nothing twice;
- a row that fails becomes that row's `failed` outcome with issues naming the field
  (`BAD_USER_INPUT`...), never a failed batch;
- identity keys (external id, email, domain) are judged against the database and within
  the batch: a later row repeating a key is `skipped` with a `duplicate_key` warning
  naming the first row; an existing record is `skipped` (`on_existing: skip`) or updated
  (`updated` / `unchanged`);
- a dry run runs all of it but the writes and answers the same outcomes and ids.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from pydantic import ValidationError

from crm_contracts.base import constructed
from crm_contracts.import_batches import (
    MAX_BATCH_ROWS,
    ImportBatchReply,
    ImportBatchRequest,
    ImportRow,
    ImportRowResult,
    ImportUndoReply,
    ImportUndoRequest,
    RowIssueOut,
    undo_subject,
    write_subject,
)

from . import custom_fields as custom_field_rule
from .clock import parse_iso, to_millis
from .context import RequestContext
from .errors import BadUserInput, CRMError, Forbidden
from .import_gc import fewer_collections
from .rpc import WRITE, Endpoint, RpcError

R = TypeVar("R")
R_contra = TypeVar("R_contra", contravariant=True)
# An identity key: (field, normalised value), e.g. ("external_id", "D-17"), ("domain", "acme.com").
Key = tuple[str, str]


def import_record_id(workspace_id: str, job_id: str, kind: str, row: int) -> str:
    """The id of the record row `row` of import job `job_id` creates: the same on every
    run of the batch, 24 hex digits like every other id (an ObjectId's shape)."""
    digest = hashlib.sha256(f"import\x00{workspace_id}\x00{job_id}\x00{kind}\x00{row}".encode())
    return digest.hexdigest()[:24]


_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")


def field_name(client_field: str | None, prefix: str = "row") -> str | None:
    """A use case's field (`row.ownerId`) as the mapped field's name (`owner_id`): the
    import's fields are crm_tabular's target names, in snake_case."""
    if client_field is None:
        return None
    name = client_field.removeprefix(f"{prefix}.")
    head, dot, key = name.partition(".")
    if head == "customFields":  # a custom field's key is the column's own spelling
        return f"custom.{key}" if dot else "custom"
    return _CAMEL.sub(r"_\1", name).lower()


def issue_of(error: CRMError, prefix: str = "row") -> RowIssueOut:
    """A use case's error as a row issue: its code and the field it names."""
    return RowIssueOut(
        code=error.code, field=field_name(error.field, prefix), message=error.message
    )


def warning(code: str, message: str, field: str | None = None) -> RowIssueOut:
    # Built without validation (a few per row of every batch: ~2 % of an owner's CPU on
    # an import); every argument is typed, and the reply is validated by its reader.
    return constructed(
        RowIssueOut, {"code": code, "field": field, "message": message, "severity": "warning"}
    )


@dataclass
class Built(Generic[R]):
    """A row made into a record (not stored): its identity keys, most specific first, and
    warnings about the row (a reference not found, a value normalised)."""

    record: R
    keys: list[Key] = field(default_factory=list)
    issues: list[RowIssueOut] = field(default_factory=list)


class ImportSink(Protocol[R]):
    """One record type at its owner: what `write_batch` asks of it."""

    # The record type's singular name: part of the ids, and of the messages.
    kind: str

    def id_of(self, record: R) -> str: ...

    async def prepare(self, rows: Sequence[ImportRow]) -> None:
        """Look up what the batch's rows refer to, once for the batch (references to
        other records: companies by name, contacts by email...)."""

    async def build(self, row: ImportRow, record_id: str) -> Built[R]:
        """The record the row makes. Raises `CRMError` naming the field."""

    async def existing(self, keys: Sequence[Key]) -> dict[Key, R]:
        """The stored records holding any of these keys, by key."""

    async def update(self, existing: R, built: R, row: ImportRow, *, dry_run: bool) -> bool:
        """Give `existing` the fields the row holds; whether anything changed (written
        unless `dry_run`). Raises `CRMError`."""

    async def insert(self, records: Sequence[R], batch_id: str) -> list[R]:
        """Store new records together, their events in one outbox document named
        `batch_id` (the same when the batch is sent again); returns those refused (an id
        or a unique key already taken)."""

    async def get(self, ids: Sequence[str]) -> list[R]: ...


@runtime_checkable
class PreparesInserts(Protocol[R_contra]):
    """A sink that can make ahead, without writing, what inserting these records makes
    before its first statement (`DocumentWriter.prepare_batch`): `write_batch` asks it
    while the batch before holds the write turn, for every record the batch built (the
    insert uses it when it stores exactly those)."""

    def prepare_insert(self, records: Sequence[R_contra], batch_id: str) -> None: ...


@dataclass
class _Planned(Generic[R]):
    row: ImportRow
    record_id: str
    result: ImportRowResult
    built: Built[R] | None = None


class InOrder:
    """Turns handed out in the order they were taken: batches handled side by side
    (`batch_endpoint(..., concurrency=N)`) build their rows at once and judge their keys
    one after another in the order they came, as one batch after another would: a
    batch's turn ends once its judgement has claimed, in the job's memory
    (`_job_keys`), the keys of the records it is about to create, so the next batch's
    judgement sees them (a row repeating one is `skipped` as a duplicate within the
    job, as it would be after the write) while this batch's records are written. The
    writes of batches side by side then overlap: the database writes one while the
    service makes and installs the other (the turn held through the write made the
    database and the service wait for each other, one batch at a time)."""

    def __init__(self) -> None:
        self._last: asyncio.Future[None] | None = None

    def take(self) -> Turn:
        """A turn after every turn taken before (call before the request's first await)."""
        before, self._last = self._last, asyncio.get_running_loop().create_future()
        return Turn(before, self._last)


@dataclass
class Turn:
    before: asyncio.Future[None] | None
    mine: asyncio.Future[None]

    async def wait(self) -> None:
        """Until the turn before this one is done (done or failed: never cancelled)."""
        if self.before is not None:
            await asyncio.shield(self.before)

    def done(self) -> None:
        if not self.mine.done():
            self.mine.set_result(None)


async def write_batch(
    sink: ImportSink[R],
    request: ImportBatchRequest,
    workspace_id: str,
    order: InOrder | None = None,
) -> ImportBatchReply:
    """Write one batch of mapped rows (see the module doc); one result per row, in order.
    With `order`, the rows are built at once with other batches' and the judgement (keys,
    look-ups, updates of existing records) waits for the judgements of the batches that
    came before; the new records are written after the turn (`InOrder`)."""
    turn = order.take() if order is not None else None
    try:
        plans = await _built(sink, request, workspace_id)
        if turn is not None and not request.dry_run and isinstance(sink, PreparesInserts):
            # While the batch before is judged and written: most rows of a batch are new.
            built = [plan.built.record for plan in plans if plan.built is not None]
            sink.prepare_insert(built, _batch_id(request, sink.kind))
        if turn is not None:
            await turn.wait()
        judged = await _judged(sink, request, workspace_id, plans)
        if turn is not None:
            turn.done()  # its keys are claimed: the next batch may be judged
        return await _written(sink, request, plans, judged)
    finally:
        if turn is not None:
            turn.done()


def _batch_id(request: ImportBatchRequest, kind: str) -> str:
    """The name of a batch's outbox document (the same when the batch is sent again)."""
    return f"{request.job_id}:{kind}:{request.rows[0].row}"


async def _built(
    sink: ImportSink[R], request: ImportBatchRequest, workspace_id: str
) -> list[_Planned[R]]:
    """Each row's plan: its record id, and the record built (or the row's issues)."""
    plans: list[_Planned[R]] = []
    await sink.prepare(request.rows)
    for row in request.rows:
        record_id = import_record_id(workspace_id, request.job_id, sink.kind, row.row)
        result = constructed(
            ImportRowResult, {"row": row.row, "outcome": "failed", "id": None, "issues": []}
        )
        plan: _Planned[R] = _Planned(row, record_id, result)
        try:
            plan.built = await sink.build(row, record_id)
        except CRMError as error:
            result.issues.append(issue_of(error))
        else:
            result.issues.extend(plan.built.issues)
        plans.append(plan)
    return plans


@dataclass
class _Judged(Generic[R]):
    """A batch's rows to create, and the job's memory of keys that claims theirs."""

    to_create: list[_Planned[R]]
    earlier: dict[Key, tuple[int, str]]


async def _judged(
    sink: ImportSink[R], request: ImportBatchRequest, workspace_id: str, plans: list[_Planned[R]]
) -> _Judged[R]:
    """The built rows judged by their keys (within the batch, the job, the database;
    existing records updated or skipped), and the keys of the records to create claimed
    in the job's memory: a later batch's row repeating one is a duplicate within the
    job whether or not this batch's write has ended (`_written` gives up the claims of
    rows whose record it did not create)."""
    earlier = _job_keys(workspace_id, request, sink.kind)
    keyed = _within_batch(plans, sink.kind, earlier)
    stored = await sink.existing(list(dict.fromkeys(k for p in keyed for k in _keys(p))))
    to_create: list[_Planned[R]] = []
    for plan in keyed:
        found = next((stored[k] for k in _keys(plan) if k in stored), None)
        if found is None:
            to_create.append(plan)
        elif sink.id_of(found) == plan.record_id:
            _outcome(plan, "created", plan.record_id)  # this batch, sent again
        else:
            await _existing(sink, plan, found, request)
    for plan in to_create:
        earlier.update(dict.fromkeys(_keys(plan), (plan.row.row, plan.record_id)))
    return _Judged(to_create, earlier)


async def _written(
    sink: ImportSink[R],
    request: ImportBatchRequest,
    plans: list[_Planned[R]],
    judged: _Judged[R],
) -> ImportBatchReply:
    """The judged batch's new records written (none in a dry run): the rows' results."""
    try:
        if request.dry_run:
            for plan in judged.to_create:
                _outcome(plan, "created", plan.record_id)
        else:
            await _create(sink, judged.to_create, _batch_id(request, sink.kind))
    except BaseException:
        _unclaim(judged, lambda plan: True)  # sent again, the rows are judged afresh
        raise
    _unclaim(judged, lambda plan: plan.result.outcome != "created")
    return ImportBatchReply(results=[plan.result for plan in plans])


def _unclaim(judged: _Judged[Any], which: Callable[[_Planned[Any]], bool]) -> None:
    """Give up the claims of the rows `which` picks (their record not created: another
    writer holds one of their keys, or the write failed), where they are still theirs."""
    for plan in judged.to_create:
        if which(plan):
            mine = (plan.row.row, plan.record_id)
            for key in _keys(plan):
                if judged.earlier.get(key) == mine:
                    del judged.earlier[key]


# Identity keys the rows of a job created, per process (the most recent jobs only): a row
# of a later batch repeating one is skipped as a duplicate within the job, in a dry run
# (which wrote nothing for the database to answer) as in the real run, so their outcomes
# agree. A job's batches served by another replica, or after a restart, are judged by the
# database instead (`existing_record`; the import service's duplicate finder, which sees
# the whole file, reports them too).
_JOBS_HELD = 8
_job_memory: OrderedDict[tuple[str, str, str, bool], dict[Key, tuple[int, str]]] = OrderedDict()


def _job_keys(
    workspace_id: str, request: ImportBatchRequest, kind: str
) -> dict[Key, tuple[int, str]]:
    name = (workspace_id, request.job_id, kind, request.dry_run)
    held = _job_memory.pop(name, None)
    _job_memory[name] = held = {} if held is None else held
    while len(_job_memory) > _JOBS_HELD:
        _job_memory.popitem(last=False)
    return held


def _keys(plan: _Planned[Any]) -> list[Key]:
    return plan.built.keys if plan.built is not None else []


def _outcome(plan: _Planned[Any], outcome: str, record_id: str | None) -> None:
    plan.result.outcome = outcome  # type: ignore[assignment]
    plan.result.id = record_id


def _within_batch(
    plans: list[_Planned[R]], kind: str, job: dict[Key, tuple[int, str]]
) -> list[_Planned[R]]:
    """The built rows whose identity keys no earlier row of the batch (or of the job's
    earlier batches, `job`) holds; the others are skipped with a warning naming the first
    row."""
    first: dict[Key, tuple[int, str]] = {}
    kept: list[_Planned[R]] = []
    for plan in plans:
        if plan.built is None:
            continue
        repeated = next(
            (
                (key, held)
                for key in _keys(plan)
                if (held := first.get(key) or job.get(key)) and held[0] != plan.row.row
            ),
            None,
        )
        if repeated is not None:
            (name, value), (row, record_id) = repeated
            plan.result.issues.append(
                warning(
                    "duplicate_key",
                    f"{name} {value!r} is row {row}'s too: the {kind} is imported once",
                    name,
                )
            )
            _outcome(plan, "skipped", record_id)
            continue
        for key in _keys(plan):
            first[key] = (plan.row.row, plan.record_id)
        kept.append(plan)
    return kept


async def _existing(
    sink: ImportSink[R], plan: _Planned[R], found: R, request: ImportBatchRequest
) -> None:
    assert plan.built is not None
    found_id = sink.id_of(found)
    if request.on_existing == "skip":
        name = next(k for k in _keys(plan) if k)[0]
        plan.result.issues.append(
            warning(
                "existing_record", f"a {sink.kind} with this {name} exists: left as it is", name
            )
        )
        _outcome(plan, "skipped", found_id)
        return
    try:
        changed = await sink.update(found, plan.built.record, plan.row, dry_run=request.dry_run)
    except CRMError as error:
        plan.result.issues.append(issue_of(error))
        _outcome(plan, "failed", None)
        return
    _outcome(plan, "updated" if changed else "unchanged", found_id)


async def _create(sink: ImportSink[R], plans: list[_Planned[R]], batch_id: str) -> None:
    if not plans:
        return
    records = [plan.built.record for plan in plans if plan.built is not None]
    refused = {sink.id_of(record) for record in await sink.insert(records, batch_id)}
    # Refused for its id: this row's record is stored (an earlier send of the batch).
    ours = {sink.id_of(r) for r in await sink.get(sorted(refused))} if refused else set()
    taken = [plan for plan in plans if plan.record_id in refused - ours]
    holders = await sink.existing([k for plan in taken for k in _keys(plan)]) if taken else {}
    for plan in plans:
        if plan.record_id not in refused or plan.record_id in ours:
            _outcome(plan, "created", plan.record_id)
            continue
        # Another writer stored a record with one of the row's unique keys meanwhile.
        holder = next((holders[k] for k in _keys(plan) if k in holders), None)
        plan.result.issues.append(
            warning("existing_record", f"a {sink.kind} with one of this row's keys exists")
        )
        _outcome(plan, "skipped", sink.id_of(holder) if holder is not None else None)


# -- request/reply glue ------------------------------------------------------------------


def parse_batch(payload: dict[str, Any]) -> ImportBatchRequest:
    """The request body as the contract's model; a malformed one is the caller's error."""
    try:
        return ImportBatchRequest.model_validate(payload)
    except ValidationError as error:
        raise RpcError("BAD_REQUEST", _first_problem(error)) from None


def parse_undo(payload: dict[str, Any]) -> ImportUndoRequest:
    try:
        return ImportUndoRequest.model_validate(payload)
    except ValidationError as error:
        raise RpcError("BAD_REQUEST", _first_problem(error)) from None


def _first_problem(error: ValidationError) -> str:
    problem = error.errors()[0]
    where = ".".join(str(part) for part in problem["loc"])
    return f"{where}: {problem['msg']}" if where else problem["msg"]


SinkOf = Callable[[RequestContext, ImportBatchRequest], ImportSink[Any]]
Undo = Callable[[RequestContext, str], Awaitable[int]]


def batch_endpoint(record_type: str, sink_of: SinkOf, *, concurrency: int = 1) -> Endpoint:
    """The request/reply endpoint writing batches of `record_type` rows; `concurrency`:
    batches one process takes at once (their rows built side by side, judged in the
    order they came and written side by side: `InOrder`), so that the next batch is
    built and judged while the database writes the one before."""
    order = InOrder() if concurrency > 1 else None

    async def write(caller: RequestContext, payload: dict[str, Any]) -> dict[str, Any]:
        request = parse_batch(payload)
        try:
            with fewer_collections():
                reply = await write_batch(
                    sink_of(caller, request), request, caller.workspace_id, order
                )
        except Forbidden as error:
            raise RpcError("FORBIDDEN", error.message) from None
        return reply.wire()

    return Endpoint(
        f"import-{record_type}-write",
        write_subject(record_type),
        write,
        f"Write a batch of up to {MAX_BATCH_ROWS} mapped {record_type} rows as the caller: "
        "ImportBatchRequest -> ImportBatchReply (one result per row)",
        roles=WRITE,
        concurrency=concurrency,
    )


def undo_endpoint(service: str, undo: Undo) -> Endpoint:
    """The request/reply endpoint removing what an import job created in `service`."""

    async def handle(caller: RequestContext, payload: dict[str, Any]) -> dict[str, Any]:
        request = parse_undo(payload)
        try:
            removed = await undo(caller, request.job_id)
        except Forbidden as error:
            raise RpcError("FORBIDDEN", error.message) from None
        return ImportUndoReply(removed=removed).wire()

    return Endpoint(
        f"import-undo-{service}",
        undo_subject(service),
        handle,
        "Remove what an import job created and nobody changed since: {jobId} -> {removed}",
        roles=WRITE,
    )


# -- reading a row's values (the contract's JSON forms), errors naming the field ---------


def text(values: dict[str, Any], name: str, prefix: str = "row") -> str | None:
    """A text field: trimmed, None when blank; a number given for it reads as its text."""
    value = values.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise BadUserInput("must be text", field=f"{prefix}.{name}")
    return str(value).strip() or None


def texts(values: dict[str, Any], name: str, prefix: str = "row") -> list[str] | None:
    """A list field (one text counts as a list of one); blanks dropped."""
    value = values.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadUserInput("must be a list of texts", field=f"{prefix}.{name}")
    return [v.strip() for v in value if v.strip()]


def moment(values: dict[str, Any], name: str, prefix: str = "row") -> datetime | None:
    """An ISO 8601 date-time (aware, UTC, millisecond precision as stored)."""
    given = text(values, name, prefix)
    if given is None:
        return None
    try:
        return _instant(given)
    except ValueError:
        raise BadUserInput(
            f"{given!r} is not an ISO 8601 date-time", field=f"{prefix}.{name}"
        ) from None


@lru_cache(maxsize=4096)
def _instant(text: str) -> datetime:
    # A file's dates repeat from row to row (a datetime is immutable: shared safely).
    return to_millis(parse_iso(text))


def integer(values: dict[str, Any], name: str, prefix: str = "row") -> int | None:
    value = values.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise BadUserInput("must be a whole number", field=f"{prefix}.{name}")
    try:
        return int(value)
    except ValueError:
        raise BadUserInput(f"{value!r} is not a whole number", field=f"{prefix}.{name}") from None


def custom_fields(values: dict[str, Any], prefix: str = "row") -> dict[str, Any]:
    """The row's `custom.<key>` fields by key, checked by the rule the API applies
    (`crm_kit.custom_fields`): an error names the column."""
    found = {k.removeprefix("custom."): v for k, v in values.items() if k.startswith("custom.")}
    return custom_field_rule.checked(found, f"{prefix}.customFields")


def ignored(
    values: dict[str, Any], known: set[str], record_type: str, *, custom: bool
) -> list[RowIssueOut]:
    """Warnings for the fields a record type does not have."""
    return [
        warning("ignored_field", f"{name} is not a field of {record_type}: ignored", name)
        for name in values
        if name not in known and not (custom and name.startswith("custom."))
    ]
