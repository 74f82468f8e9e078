"""A tiny record owner on the real NATS, answering the import contract
(`crm_contracts.import_batches`) as the owners do: one outcome per row, idempotent per
(job, row), dry runs answering without writing, undo removing what a job created. It stands
in for contacts' endpoints in the import service's own integration tests; the end-to-end
tests run against the real owners."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import orjson
from nats.aio.client import Client
from nats.aio.msg import Msg

from crm_contracts.import_batches import (
    ImportBatchReply,
    ImportBatchRequest,
    ImportRowResult,
    ImportUndoReply,
    ImportUndoRequest,
    undo_subject,
    write_subject,
)
from crm_contracts.streams import RPC_HEADER_ASSERTION


@dataclass
class TinySink:
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    rows_received: int = 0
    unsigned: int = 0  # requests without the caller's assertion (must stay 0)

    async def start(self, nc: Client) -> None:
        await nc.subscribe(write_subject("companies"), cb=self._write)
        await nc.subscribe(undo_subject("contacts"), cb=self._undo)
        await nc.flush()

    def _check(self, msg: Msg) -> None:
        if not (msg.headers or {}).get(RPC_HEADER_ASSERTION):
            self.unsigned += 1

    async def _write(self, msg: Msg) -> None:
        self._check(msg)
        batch = ImportBatchRequest.model_validate_json(msg.data)
        results = []
        for row in batch.rows:
            self.rows_received += 1
            record_id = hashlib.sha256(f"{batch.job_id}:{row.row}".encode()).hexdigest()[:24]
            if not batch.dry_run:
                self.records[record_id] = {"job": batch.job_id, "row": row.row, **row.values}
            results.append(ImportRowResult(row=row.row, outcome="created", id=record_id))
        await msg.respond(orjson.dumps({"data": ImportBatchReply(results=results).wire()}))

    async def _undo(self, msg: Msg) -> None:
        self._check(msg)
        request = ImportUndoRequest.model_validate_json(msg.data)
        mine = [k for k, v in self.records.items() if v["job"] == request.job_id]
        for key in mine:
            del self.records[key]
        await msg.respond(orjson.dumps({"data": ImportUndoReply(removed=len(mine)).wire()}))

    def rows_of(self, job_id: str) -> list[int]:
        return sorted(v["row"] for v in self.records.values() if v["job"] == job_id)
