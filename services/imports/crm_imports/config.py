"""Service constants and settings."""

from __future__ import annotations

import os
from dataclasses import dataclass

from crm_contracts.import_batches import MAX_BATCH_ROWS
from crm_kit.settings import Settings

SERVICE = "imports"
SOURCE = "crm/imports"
VERSION = "1.0.0"

JOBS = "jobs"
# Per job and batch: the rows' issues (errors and warnings), one document per batch.
ISSUES = "job_issues"
UPLOADS = "uploads"
# An upload's bytes, one document per chunk, `_id` = `<upload id>:<chunk number>`: read back
# by `_id` alone (the only look-up FerretDB's SQLite backend serves from an index).
UPLOAD_CHUNKS = "upload_chunks"
TEMPLATES = "mapping_templates"
# A job's runner holds a lease per period (crm_kit.leases): `<job id>:<period>`.
LEASES = "job_leases"
# Export jobs, and their files' bytes in chunks (`<file id>:<chunk number>`, with the time
# they were written: the janitor removes a file's chunks once the export expired).
EXPORT_JOBS = "export_jobs"
EXPORT_CHUNKS = "export_chunks"
OUTBOX_COLLECTIONS = (JOBS, EXPORT_JOBS)

# Chunks of 255 KiB keep every chunk document well below MongoDB's 16 MiB limit and a
# stored file's memory per read to one chunk.
CHUNK_BYTES = 255 * 1024


# Rows per batch unless IMPORT_BATCH_ROWS says. A companies or deals batch of 1,000
# makes half the statements per row of two of 500 (the batch's own, about ten: its outbox
# document written and cleared, the audit pack, the change log's slot, the checkpoint;
# bench/import/jobs.py, docs/imports.md "Ninth pass" and "Tenth pass"); their rows are
# small (~600 and ~1,100 bytes stored). The others keep 500.
DEFAULT_BATCH_ROWS = 500
BATCH_ROWS = {"companies": MAX_BATCH_ROWS, "deals": MAX_BATCH_ROWS}


@dataclass(frozen=True)
class RunSettings:
    """How jobs run. Environment: IMPORT_LEASE_SECONDS, IMPORT_POLL_SECONDS,
    IMPORT_BATCH_ROWS, IMPORT_BATCHES_IN_FLIGHT, IMPORT_SINK_TIMEOUT_SECONDS,
    IMPORT_BATCH_PAUSE_SECONDS, IMPORT_MAX_ATTEMPTS."""

    # A runner holds its job for a period and takes the next before it starts; a runner
    # that died loses the job within two periods (then another replica, or the same
    # service restarted, resumes it from its checkpoint).
    lease_seconds: float = 10.0
    # How often a replica looks for queued jobs and jobs whose runner died.
    poll_seconds: float = 1.0
    # Rows per batch sent to the owner (at most import_batches.MAX_BATCH_ROWS); None: the
    # record type's own (`rows_for`).
    batch_rows: int | None = None
    # Batches of a run sent and not yet acknowledged at once (companies and deals; 1: one
    # after another): the owner writes one while the next is read, mapped and sent.
    batches_in_flight: int = 3
    # One batch's round trip, the owner's bulk write included.
    sink_timeout_seconds: float = 60.0
    # A pause between batches (0 in production): lets tests stop a service mid-job.
    batch_pause_seconds: float = 0.0
    # Runners of one run that may end on an unexpected error (a bug, not an owner down or
    # a bad file, which fail the run at once): the last one fails the job, naming the
    # error, instead of the job being taken up again at every lapse of its lease forever.
    max_attempts: int = 3

    @classmethod
    def from_env(cls) -> RunSettings:
        env = os.environ
        return cls(
            lease_seconds=float(env.get("IMPORT_LEASE_SECONDS") or 10.0),
            poll_seconds=float(env.get("IMPORT_POLL_SECONDS") or 1.0),
            batch_rows=_batch_rows(env.get("IMPORT_BATCH_ROWS")),
            batches_in_flight=max(1, int(env.get("IMPORT_BATCHES_IN_FLIGHT") or 3)),
            sink_timeout_seconds=float(env.get("IMPORT_SINK_TIMEOUT_SECONDS") or 60.0),
            batch_pause_seconds=float(env.get("IMPORT_BATCH_PAUSE_SECONDS") or 0.0),
            max_attempts=max(1, int(env.get("IMPORT_MAX_ATTEMPTS") or 3)),
        )

    def rows_for(self, record_type: str) -> int:
        """Rows per batch of a record type: IMPORT_BATCH_ROWS when set, else its own."""
        if self.batch_rows is not None:
            return max(1, self.batch_rows)
        return BATCH_ROWS.get(record_type, DEFAULT_BATCH_ROWS)


def _batch_rows(raw: str | None) -> int | None:
    """IMPORT_BATCH_ROWS within what a batch request may carry: refused at start, not
    found out by every job failing on its first batch."""
    if not raw:
        return None
    rows = int(raw)
    if not 1 <= rows <= MAX_BATCH_ROWS:
        raise ValueError(f"IMPORT_BATCH_ROWS must be between 1 and {MAX_BATCH_ROWS}, not {rows}")
    return rows


@dataclass(frozen=True)
class ExportSettings:
    """How exports run. Environment: EXPORT_PAGE_ROWS, EXPORT_KEEP_HOURS,
    EXPORT_PAGE_PAUSE_SECONDS (the lease and poll periods are the imports')."""

    # Rows asked of the owner per page (at most export_pages.MAX_PAGE_ROWS).
    page_rows: int = 200
    # How long a finished export's file can be downloaded; the janitor removes it after.
    keep_hours: float = 24.0 * 7
    # One page's round trip to the owner.
    page_timeout_seconds: float = 30.0
    # A pause between pages (0 in production): lets tests stop a service mid-export.
    page_pause_seconds: float = 0.0

    @classmethod
    def from_env(cls) -> ExportSettings:
        env = os.environ
        return cls(
            page_rows=int(env.get("EXPORT_PAGE_ROWS") or 200),
            keep_hours=float(env.get("EXPORT_KEEP_HOURS") or 24.0 * 7),
            page_pause_seconds=float(env.get("EXPORT_PAGE_PAUSE_SECONDS") or 0.0),
        )


def load_settings() -> Settings:
    return Settings.from_env(SERVICE)
