"""The import batch endpoints of deals (`crm_contracts.import_batches`)."""

from __future__ import annotations

from typing import Any

from crm_contracts import deals as contract
from crm_contracts.import_batches import ImportBatchRequest
from crm_kit.context import RequestContext
from crm_kit.imports import ImportSink, batch_endpoint, undo_endpoint
from crm_kit.rpc import READ, Endpoint, RpcError

from ..usecases import imports
from ..usecases.scope import Scopes


def import_endpoints(
    scopes: Scopes, directory: imports.ContactsDirectory | None, *, batches_at_once: int = 1
) -> list[Endpoint]:
    def deals(caller: RequestContext, request: ImportBatchRequest) -> ImportSink[Any]:
        scope = scopes(caller)
        scope.require_write()
        return imports.DealSink(
            scope,
            request.job_id,
            directory,
            default_currency=request.default_currency,
            dry_run=request.dry_run,
        )

    async def undo(caller: RequestContext, job_id: str) -> int:
        return await imports.undo_import(scopes(caller), job_id)

    async def references(caller: RequestContext, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            request = contract.DealImportReferencesRequest.model_validate(payload)
        except ValueError as error:
            raise RpcError("BAD_REQUEST", str(error).splitlines()[0]) from None
        found = await imports.deal_ids_by_external_ids(scopes(caller), request.external_ids)
        return contract.DealImportReferences(external_ids=found).wire()

    return [
        batch_endpoint("deals", deals, concurrency=batches_at_once),
        undo_endpoint("deals", undo),
        Endpoint(
            "import-references",
            contract.RPC_IMPORT_REFERENCES,
            references,
            "Ids of up to 1,000 deal external ids: DealImportReferencesRequest -> ImportReferences",
            roles=READ,
        ),
    ]
