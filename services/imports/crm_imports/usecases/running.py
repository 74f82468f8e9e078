"""One run of a job, batch after batch, from its checkpoint: read and map a batch (in a
thread: the readers are synchronous), send its rows to the owner, keep the batch's issues,
then move the checkpoint with the batch's counts in one conditional write of the job.
Companies and deals keep a few batches in flight (`RunSettings.batches_in_flight`): the
next batch is read and sent while the owner writes the one before; the checkpoint still
moves batch by batch in file order, past a batch only once it and all before it are
acknowledged. A runner that stops anywhere (a crash, a lost lease) leaves the checkpoint
at the last batch the owner acknowledged in order; the next runner sends the following
batches again (the owner answers a row it has seen with the same record and outcome).

Before each batch is sent the runner re-reads the job: a cancel request ends the run there
(after checkpointing the batches in flight); a job changed by another runner (its run or
status moved on) ends this runner's work; and `holds()` (the runner's lease) must still be
true."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Generator
from typing import Any

from crm_contracts.import_batches import ImportBatchReply, ImportBatchRequest, ImportRow
from crm_kit.context import RequestContext
from crm_tabular import DuplicateFinder, Mapping, Rules, TabularError

from ..domain.issues import Issue, IssueBatch, issue_batch_id
from ..domain.job import (
    CANCELLED,
    COMPLETED,
    FAILED,
    MAX_STORED_ISSUES,
    RUNNING,
    Counts,
    ImportJob,
)
from ..domain.reading import Batch, bounded_report, read_batches
from ..store.port import SinkRefused, SinkUnavailable
from . import uploads
from .scope import Scope

log = logging.getLogger(__name__)

# Tries of one batch while its owner does not answer (about a minute in all), then the run
# fails with the reason; starting it again resumes nothing lost (the owner is idempotent).
SINK_TRIES = 6
SINK_BACKOFF_SECONDS = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0)

Holds = Callable[[], Awaitable[bool]]

# Record types whose batches may be in flight together (`RunSettings.batches_in_flight`).
PIPELINED = frozenset({"companies", "deals"})


def starter_of(job: ImportJob) -> RequestContext:
    """Who the owners' endpoints act for: the person who started the run."""
    return RequestContext(
        job.workspace_id, job.started_by or job.created_by, frozenset(job.started_roles)
    )


async def run(scope: Scope, job_id: str, holds: Holds) -> ImportJob | None:
    """Run (or resume) the job's current run to its end, a cancel, or a lost lease."""
    job = await _begin(scope, job_id)
    if job is None:
        return None
    upload = await scope.store.upload(job.upload_id)
    if upload is None:
        return await _finish(scope, job, FAILED, error="the uploaded file is gone")
    assert job.mapping is not None
    mapping = Mapping.from_json(job.mapping)
    finder = DuplicateFinder(mapping.identity)
    async with uploads.spooled(scope, upload) as path:
        batches = read_batches(
            path,
            mapping,
            rules=Rules(now=scope.now()),
            start_row=job.next_row,
            batch_rows=scope.settings.rows_for(job.record_type),
            duplicates=finder,
        )
        flight = _Flight(scope, job, mapping, _depth(scope, job))
        try:
            while True:
                batch = await asyncio.to_thread(_next, batches)
                if batch is None:
                    break
                # A row whose identity key an earlier row of the file holds must find that
                # row's record written (skipped or updated, as one batch after another
                # would): the batches before it are acknowledged first.
                room = 0 if _repeats_a_key(batch) else flight.depth - 1
                if not await flight.land(room):
                    return await flight.ended()
                if not await holds():
                    await flight.land(0)
                    return None  # another runner has the job now
                found = await _current(scope, flight.job)
                if found is None:
                    await flight.land(0)
                    return None  # changed meanwhile (another runner moved it on)
                flight.job = found
                if found.cancel_requested:
                    if not await flight.land(0):
                        return await flight.ended()
                    return await _finish(scope, flight.job, CANCELLED)
                flight.launch(batch)
                if scope.settings.batch_pause_seconds:
                    await asyncio.sleep(scope.settings.batch_pause_seconds)
            if not await flight.land(0):
                return await flight.ended()
        except TabularError as error:
            # Rows before the bad place were imported and counted: the summary says so.
            where = f" (row {error.row})" if error.row else ""
            if not await flight.land(0):
                return await flight.ended()
            return await _finish(scope, flight.job, FAILED, error=f"{error.message}{where}")
        finally:
            flight.abandon()
            batches.close()
    current = await _current(scope, flight.job)
    if current is None:
        return None
    if current.cancel_requested:
        return await _finish(scope, current, CANCELLED)
    report = bounded_report(finder.report().as_dict())
    return await _finish(scope, current, COMPLETED, duplicates=report)


def _depth(scope: Scope, job: ImportJob) -> int:
    """Batches of the job in flight at once. Contacts and interactions make the companies
    their rows name on the fly, found by the next batch once written: those batches go one
    at a time (the records would be the same, their ids being derived, but a second batch
    would warn `company_created` again)."""
    if job.record_type not in PIPELINED:
        return 1
    return max(1, scope.settings.batches_in_flight)


def _repeats_a_key(batch: Batch) -> bool:
    return any(issue.code == "duplicate_key" for issue in batch.issues)


class _Flight:
    """The batches sent and not yet checkpointed, oldest first. Each is checkpointed only
    once it and every batch before it are acknowledged, in file order: the checkpoint never
    passes a batch the owner has not answered, so a runner that stops anywhere leaves it
    where the next runner re-sends from (the owner answers a row it has seen with the same
    record and outcome, so a batch that was in flight is not doubled)."""

    def __init__(self, scope: Scope, job: ImportJob, mapping: Mapping, depth: int) -> None:
        self.scope = scope
        self.job = job
        self.mapping = mapping
        self.depth = depth
        self.sent: deque[tuple[Batch, asyncio.Task[ImportBatchReply | str]]] = deque()
        self.failure: str | None = None  # why a batch could not be written
        self.lost = False  # the job was changed by another runner

    def launch(self, batch: Batch) -> None:
        task = asyncio.create_task(_send(self.scope, self.job, batch, self.mapping))
        self.sent.append((batch, task))

    async def land(self, room: int) -> bool:
        """Checkpoint the oldest batches until at most `room` are in flight; False when the
        run must end (`ended()` says how)."""
        while len(self.sent) > room:
            batch, task = self.sent.popleft()
            outcome = await task
            if isinstance(outcome, str):
                self.failure = outcome
                return False
            saved = await _checkpoint(self.scope, self.job, batch, outcome)
            if saved is None:
                self.lost = True
                return False
            self.job = saved
        return True

    async def ended(self) -> ImportJob | None:
        self.abandon()
        if self.lost or self.failure is None:
            return None
        return await _finish(self.scope, self.job, FAILED, error=self.failure)

    def abandon(self) -> None:
        """Stop the sends not checkpointed: the next runner sends them again."""
        for _, task in self.sent:
            task.cancel()
        self.sent.clear()


async def crashed(scope: Scope, job: ImportJob, error: BaseException) -> ImportJob | None:
    """A runner of the job's run ended on an unexpected error: counted on the job, which
    fails after `max_attempts` of them (naming the error's kind, not its details: those
    are in the service's log)."""
    run = job.run

    async def count(found: ImportJob) -> bool:
        if found.run != run or found.status != RUNNING:
            return False
        found.crashed(type(error).__name__, scope.settings.max_attempts, scope.now())
        return True

    return await scope.store.change_job(job.id, count)


def _next(batches: Generator[Batch, None, None]) -> Batch | None:
    return next(batches, None)


async def _begin(scope: Scope, job_id: str) -> ImportJob | None:
    async def begin(found: ImportJob) -> bool:
        if not found.active:
            return False
        found.begin(scope.now())
        return True

    job = await scope.store.change_job(job_id, begin)
    return job if job is not None and job.status == RUNNING else None


async def _current(scope: Scope, job: ImportJob) -> ImportJob | None:
    """The job as stored, if this run is still the one running."""
    found = await scope.store.job(job.id)
    if found is None or found.run != job.run or found.status != RUNNING:
        return None
    if found.next_row != job.next_row:
        return None  # another runner moved the checkpoint: it holds the job now
    return found


async def _send(
    scope: Scope, job: ImportJob, batch: Batch, mapping: Mapping
) -> ImportBatchReply | str:
    """The owner's reply for the batch's rows, or why the run must stop."""
    if not batch.rows:
        return ImportBatchReply(results=[])
    request = ImportBatchRequest(
        job_id=job.id,
        dry_run=job.dry_run,
        on_existing=job.on_existing,  # type: ignore[arg-type]
        default_currency=job.default_currency,
        match_by_name=mapping.companies_by_name,
        rows=[ImportRow(row=r["row"], values=r["values"]) for r in batch.rows],
    )
    caller = starter_of(job)
    for attempt in range(SINK_TRIES):
        try:
            return await scope.sinks.write(caller, job.record_type, request)
        except SinkRefused as refused:
            return f"the {job.record_type} service refused the rows: {refused.message}"
        except SinkUnavailable as error:
            log.warning("import %s: batch not acknowledged (%s)", job.id, error)
            if attempt + 1 < SINK_TRIES:
                await asyncio.sleep(SINK_BACKOFF_SECONDS[attempt])
    return f"the {job.record_type} service did not answer; start the import again to resume"


def _tally(batch: Batch, reply: ImportBatchReply) -> tuple[Counts, list[Issue]]:
    counts = Counts(rows_read=batch.counts.rows_read, failed=batch.counts.failed)
    issues = list(batch.issues)
    warned = set(batch.warned_rows)
    for result in reply.results:
        if result.outcome == "failed":
            counts.failed += 1
        else:
            setattr(counts, result.outcome, getattr(counts, result.outcome) + 1)
        for found in result.issues:
            issues.append(
                Issue(result.row, found.code, found.severity, found.message, field=found.field)
            )
            if found.severity == "warning":
                warned.add(result.row)
    counts.warnings = len(warned)
    issues.sort(key=lambda i: i.row)
    return counts, issues


async def _checkpoint(
    scope: Scope, job: ImportJob, batch: Batch, reply: ImportBatchReply
) -> ImportJob | None:
    counts, issues = _tally(batch, reply)
    room = max(0, MAX_STORED_ISSUES - job.stored_issues)
    kept = issues[:room]
    if kept:
        batch_id = issue_batch_id(job.id, job.run, job.batches)
        await scope.store.put_issues(IssueBatch(batch_id, job.workspace_id, job.id, kept))
    run, next_row = job.run, job.next_row

    async def advance(found: ImportJob) -> bool:
        if found.run != run or found.status != RUNNING or found.next_row != next_row:
            return False
        found.checkpoint(counts, batch.last_row + 1, batch.fraction, len(kept), scope.now())
        return True

    saved = await scope.store.change_job(job.id, advance)
    if saved is None or saved.next_row != batch.last_row + 1 or saved.run != run:
        return None
    return saved


async def _finish(
    scope: Scope,
    job: ImportJob,
    status: str,
    *,
    error: str | None = None,
    duplicates: dict[str, Any] | None = None,
) -> ImportJob | None:
    run = job.run

    async def end(found: ImportJob) -> bool:
        if found.run != run or not found.active:
            return False
        found.finish(status, scope.now(), error=error, duplicates=duplicates)
        return True

    return await scope.store.change_job(job.id, end)
