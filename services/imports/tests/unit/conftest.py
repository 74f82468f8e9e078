"""Unit tests run the use cases and the GraphQL schema on the in-memory store, with the
owners' import endpoints faked as the contract describes them (`import_batches`):
idempotent per row (ids derived from the job and row), dry runs answering what the real
run would, undo removing what a job created."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from crm_contracts.import_batches import (
    ImportBatchReply,
    ImportBatchRequest,
    ImportRowResult,
    RowIssueOut,
)
from crm_contracts.imports import UploadManifest
from crm_imports.config import RunSettings
from crm_imports.events.publish import encode
from crm_imports.graphql.context import GraphQLContext
from crm_imports.graphql.schema import schema
from crm_imports.store.memory import memory_store
from crm_imports.store.port import ImportsStore, SinkUnavailable
from crm_imports.usecases import uploads
from crm_imports.usecases.scope import Scope, Scopes, scopes
from crm_kit.context import RequestContext
from crm_kit.memory_db import MemoryDatabase
from crm_kit.testing import GraphQLClient

ADMIN = RequestContext("w1", "ann", frozenset({"admin"}))


@dataclass
class FakeSinks:
    """The record owners: `records` by id, with the job and the row's values."""

    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    existing_keys: set[str] = field(default_factory=set)  # external ids already there
    batches: list[ImportBatchRequest] = field(default_factory=list)
    callers: list[RequestContext] = field(default_factory=list)
    unavailable: int = 0  # the next N calls fail as if the owner were down
    broken: int = 0  # the next N calls fail as a bug would (not an owner down)

    async def write(
        self, caller: RequestContext, record_type: str, batch: ImportBatchRequest
    ) -> ImportBatchReply:
        if self.unavailable:
            self.unavailable -= 1
            raise SinkUnavailable("down")
        if self.broken:
            self.broken -= 1
            raise RuntimeError("a bug")
        self.batches.append(batch)
        self.callers.append(caller)
        results = []
        for row in batch.rows:
            record_id = hashlib.sha256(f"{batch.job_id}:{row.row}".encode()).hexdigest()[:24]
            key = row.values.get("external_id")
            if str(row.values.get("name")).casefold() == "refused":
                issue = RowIssueOut(code="BAD_USER_INPUT", field="name", message="refused")
                results.append(ImportRowResult(row=row.row, outcome="failed", issues=[issue]))
            elif key in self.existing_keys:
                outcome = "updated" if batch.on_existing == "update" else "skipped"
                results.append(ImportRowResult(row=row.row, outcome=outcome))
            else:
                if not batch.dry_run:
                    self.records[record_id] = {"job": batch.job_id, **row.values}
                results.append(ImportRowResult(row=row.row, outcome="created", id=record_id))
        return ImportBatchReply(results=results)

    async def undo(self, caller: RequestContext, service: str, job_id: str) -> int:
        mine = [k for k, v in self.records.items() if v["job"] == job_id]
        for key in mine:
            del self.records[key]
        return len(mine)


@dataclass
class World:
    db: MemoryDatabase
    store: ImportsStore
    sinks: FakeSinks
    scopes: Scopes

    def scope(self, caller: RequestContext = ADMIN) -> Scope:
        return self.scopes(caller)

    def client(self, roles: str = "admin", subject: str = "ann") -> GraphQLClient:
        return GraphQLClient.in_process(
            schema,
            lambda caller: GraphQLContext(scope=self.scopes(caller)),
            "w1",
            subject,
            roles,
        )

    async def upload(
        self, data: bytes, name: str = "file.csv", caller: RequestContext = ADMIN
    ) -> str:
        manifest = UploadManifest(
            file_name=name, size=len(data), sha256=hashlib.sha256(data).hexdigest()
        )
        stored = await uploads.receive(self.scopes(caller), manifest, _parts(data))
        return stored.id


async def _parts(data: bytes) -> AsyncIterator[bytes]:
    for part in uploads.chunks_of(data, 7):
        yield part


@pytest.fixture
def world() -> World:
    db = MemoryDatabase(encode=encode)
    store = memory_store(db)
    sinks = FakeSinks()
    run = RunSettings(batch_rows=2, lease_seconds=60.0, poll_seconds=0.05)
    return World(db, store, sinks, scopes(store, sinks, run))
