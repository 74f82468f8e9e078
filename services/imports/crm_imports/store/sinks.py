"""The owners' import endpoints over NATS request/reply (`crm_contracts.import_batches`).
Each request is signed as the imports party for the user who started the run, so the
owner applies that user's rights to every row."""

from __future__ import annotations

from collections.abc import Callable

from nats.aio.client import Client
from nats.errors import Error as NatsError

from crm_contracts.import_batches import (
    ImportBatchReply,
    ImportBatchRequest,
    ImportUndoReply,
    ImportUndoRequest,
    undo_subject,
    write_subject,
)
from crm_kit.assertions import KeyRing
from crm_kit.context import RequestContext
from crm_kit.rpc import RpcError, rpc_call

from .port import SinkRefused, SinkUnavailable

# Failures that are the request's (or the caller's) fault: sending it again cannot help.
REFUSALS = ("FORBIDDEN", "BAD_REQUEST", "UNAUTHENTICATED", "NOT_FOUND")


class NatsSinks:
    def __init__(
        self, nc: Callable[[], Client], keys: Callable[[], KeyRing], timeout: float
    ) -> None:
        self._nc = nc
        self._keys = keys
        self._timeout = timeout

    async def _call(self, subject: str, caller: RequestContext, body: dict[str, object]) -> object:
        try:
            return await rpc_call(
                self._nc(), subject, caller, body, keys=self._keys(), timeout=self._timeout
            )
        except RpcError as error:
            if error.code in REFUSALS:
                raise SinkRefused(error.code, error.message) from None
            raise SinkUnavailable(f"{subject}: {error.code} {error.message}") from None
        except (NatsError, TimeoutError) as error:
            raise SinkUnavailable(f"{subject}: {type(error).__name__}") from None

    async def write(
        self, caller: RequestContext, record_type: str, batch: ImportBatchRequest
    ) -> ImportBatchReply:
        data = await self._call(write_subject(record_type), caller, batch.wire())
        return ImportBatchReply.model_validate(data)

    async def undo(self, caller: RequestContext, service: str, job_id: str) -> int:
        request = ImportUndoRequest(job_id=job_id)
        data = await self._call(undo_subject(service), caller, request.wire())
        return ImportUndoReply.model_validate(data).removed
