"""Loading a generated workspace through the platform's import API, the way `crm import`
does it (`crm_cli.imports.ImportClient`: the file uploaded to the gateway as a GraphQL
multipart request, `createImport`, `setImportMapping`, `startImport`, the job followed to
its end), one file at a time in dependency order: companies, contacts (they find their
company), deals (company and contact), interactions (contact), tasks (deal and contact).

Each file is generated just before its upload and deleted after its job, so the disk and
the bench's memory stay bounded. Prints rows/s per record type, from the upload to the job
COMPLETED, and the time the owners took afterwards to publish every event."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cpu
import httpx
from bulk import forget, load_bulk
from generate import KINDS, Workspace, chunks, mapping, write_csv
from pymongo import AsyncMongoClient

from crm_cli.imports import ENDED, JOB, SET_MAPPING, START, ImportClient
from crm_kit.auth import issue_token

JOB_TIMEOUT = 3600.0
# The owners of each record type, whose import batches carry the events of what they wrote.
OWNERS = ("contacts", "deals", "tasks")


@dataclass
class KindResult:
    rows: int = 0
    seconds: float = 0.0
    created: int = 0
    failed: int = 0
    skipped: int = 0
    warnings: int = 0
    files: int = 0
    errors: list[str] = field(default_factory=list)
    # The rows written by the bulk path after the API's (`bulk.py`), and their seconds.
    bulk_rows: int = 0
    bulk_seconds: float = 0.0
    # CPU seconds per 1,000 API rows, by process (the rates swing with the machine's load,
    # CPU per row much less).
    cpu_per_1000: dict[str, float] = field(default_factory=dict)

    @property
    def bulk_rate(self) -> float:
        return self.bulk_rows / self.bulk_seconds if self.bulk_seconds else float("nan")

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds else float("nan")


def import_file(client: ImportClient, path: Path, kind: str) -> dict[str, Any]:
    """One file through the import API; the ended job (its progress)."""
    job = client.upload(path, kind)
    variables = {"id": job["id"], "mapping": mapping(kind), "onExisting": "SKIP", "currency": "USD"}
    client.data(SET_MAPPING, variables)
    client.data(START, {"id": job["id"], "dryRun": False})
    deadline = time.monotonic() + JOB_TIMEOUT
    while True:
        found: dict[str, Any] = client.data(JOB, {"id": job["id"], "issues": 3})["importJob"]
        if found["status"] in ENDED:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"import {job['id']} still {found['status']} after {JOB_TIMEOUT} s")
        time.sleep(0.5)


def load_workspace(
    gateway_url: str,
    mongodb_uri: str,
    workspace: Workspace,
    tmp: Path,
    api_limit: dict[str, int],
    pids: dict[str, int],
    verbose: bool = True,
) -> dict[str, KindResult]:
    """Every record type of `workspace` through the import API, as its admin; of a kind
    `api_limit` names, that many rows through the API and the rest by the bulk path."""
    token = issue_token(workspace.name, "admin", ["admin"], 24 * 3600)
    results: dict[str, KindResult] = {}
    with httpx.Client(timeout=600.0, trust_env=False) as http:
        client = ImportClient(http, gateway_url, token)
        for kind in KINDS:
            result = results.setdefault(kind, KindResult())
            through_api = min(workspace.rows(kind), api_limit.get(kind, workspace.rows(kind)))
            meter = cpu.Meter(*pids.values())
            meter.__enter__()
            if through_api:
                forget(workspace.name, kind)  # the bulk path's id maps miss these rows
            for numbers in chunks(through_api):
                path = write_csv(workspace, kind, numbers, tmp / f"{workspace.name}-{kind}.csv")
                started = time.monotonic()
                job = import_file(client, path, kind)
                result.seconds += time.monotonic() - started
                path.unlink()
                progress = job["progress"]
                result.rows += len(numbers)
                result.files += 1
                result.created += progress["created"]
                result.failed += progress["failed"]
                result.skipped += progress["skipped"]
                result.warnings += progress["warnings"]
                if job["status"] != "COMPLETED":
                    result.errors.append(f"{job['status']}: {job.get('error')}")
                for edge in job["issues"]["edges"]:
                    issue = edge["node"]
                    if len(result.errors) < 5 and issue["severity"] == "error":
                        result.errors.append(
                            f"row {issue['row']} {issue['field']}: {issue['message']}"
                        )
            meter.__exit__(None, None, None)
            names = ["bench", *pids]
            result.cpu_per_1000 = {
                name: seconds * 1000 / max(result.rows, 1)
                for name, seconds in zip(names, meter.seconds, strict=True)
            }
            if through_api < workspace.rows(kind):
                rows, seconds = asyncio.run(load_bulk(mongodb_uri, workspace, kind, through_api))
                result.bulk_rows, result.bulk_seconds = rows, seconds
            if verbose:
                bulk = (
                    f"; then {result.bulk_rows:,} by the bulk path in {result.bulk_seconds:.1f} s"
                    f" = {result.bulk_rate:,.0f} rows/s"
                    if result.bulk_rows
                    else ""
                )
                print(
                    f"  {workspace.name} {kind:>12}: API {result.rows:>9,} rows in"
                    f" {result.seconds:7.1f} s"
                    f" = {result.rate:7.0f} rows/s (created {result.created:,}, failed"
                    f" {result.failed:,}, skipped {result.skipped:,}, warnings {result.warnings:,})"
                    + bulk
                    + (f" ERRORS {result.errors}" if result.errors else ""),
                    flush=True,
                )
                busy = sorted(result.cpu_per_1000.items(), key=lambda item: -item[1])
                print(
                    f"{'':>21}CPU s per 1,000 API rows: "
                    + ", ".join(f"{name} {value:.2f}" for name, value in busy if value >= 0.01)
                    + f" (total {sum(result.cpu_per_1000.values()):.2f})"
                )
    return results


async def events_settled(mongodb_uri: str, prefix: str = "crm", deadline: float = 900.0) -> float:
    """Seconds until no owner holds an import batch with unpublished events."""
    client: AsyncMongoClient[Any] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    started = time.monotonic()
    try:
        for owner in OWNERS:
            batches = client[f"{prefix}_{owner}"]["import_batches"]
            while await batches.count_documents({"_outbox_pending": True}):
                if time.monotonic() - started > deadline:
                    return float("nan")
                await asyncio.sleep(1.0)
    finally:
        await client.close()
    return time.monotonic() - started
