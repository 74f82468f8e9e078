"""The import batch endpoints of companies, contacts and interactions
(`crm_contracts.import_batches`), and the look-up of what other owners' rows refer to
(`rpc.contacts.import.references`: one request per batch, not one per row)."""

from __future__ import annotations

from typing import Any

from crm_contracts import contacts as contract
from crm_contracts.import_batches import ImportBatchRequest
from crm_kit.context import RequestContext
from crm_kit.errors import BadUserInput
from crm_kit.imports import ImportSink, batch_endpoint, undo_endpoint
from crm_kit.rpc import READ, Endpoint, RpcError

from ..config import import_batches_at_once
from ..usecases import imports, lookups
from ..usecases.scope import Scopes


def import_endpoints(scopes: Scopes) -> list[Endpoint]:
    def companies(caller: RequestContext, request: ImportBatchRequest) -> ImportSink[Any]:
        scope = scopes(caller)
        scope.require_write()
        return imports.CompanySink(scope, request.job_id, by_name=request.match_by_name)

    def contacts(caller: RequestContext, request: ImportBatchRequest) -> ImportSink[Any]:
        scope = scopes(caller)
        scope.require_write()
        return imports.ContactSink(scope, request.job_id, dry_run=request.dry_run)

    def interactions(caller: RequestContext, request: ImportBatchRequest) -> ImportSink[Any]:
        scope = scopes(caller)
        scope.require_write()
        return imports.InteractionSink(scope, request.job_id)

    async def undo(caller: RequestContext, job_id: str) -> int:
        return await imports.undo_import(scopes(caller), job_id)

    async def references(caller: RequestContext, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            request = contract.ContactImportReferencesRequest.model_validate(payload)
        except ValueError as error:
            raise RpcError("BAD_REQUEST", str(error).splitlines()[0]) from None
        try:
            found = await lookups.import_references(
                scopes(caller), request.company_names, request.company_domains, request.emails
            )
        except BadUserInput as error:
            raise RpcError("BAD_REQUEST", f"{error.field}: {error.message}") from None
        return contract.ContactImportReferences(
            company_names=found.company_names,
            company_domains=found.company_domains,
            emails=found.emails,
        ).wire()

    return [
        batch_endpoint("companies", companies, concurrency=import_batches_at_once()),
        batch_endpoint("contacts", contacts),
        batch_endpoint("interactions", interactions),
        undo_endpoint("contacts", undo),
        Endpoint(
            "import-references",
            contract.RPC_IMPORT_REFERENCES,
            references,
            "Ids of up to 1,000 company names, domains and contact emails each: "
            "ContactImportReferencesRequest -> ImportReferences",
            roles=READ,
        ),
    ]
