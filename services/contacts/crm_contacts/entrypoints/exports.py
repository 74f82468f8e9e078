"""The names other owners' export rows refer to (`rpc.contacts.export.names`: one request
per page of deals or tasks), answered for the caller: a company the caller may not see,
or an address the caller's role may not read, is not named. (This service's own export
pages are `graphql/export_pages.py`.)"""

from __future__ import annotations

from typing import Any

from crm_contracts.export_pages import RPC_EXPORT_NAMES, ExportNamesRequest
from crm_kit.context import RequestContext
from crm_kit.rpc import READ, Endpoint, RpcError

from ..usecases import exports
from ..usecases.scope import Scopes


def export_endpoints(scopes: Scopes) -> list[Endpoint]:
    async def names(caller: RequestContext, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            request = ExportNamesRequest.model_validate(payload)
        except ValueError as error:
            raise RpcError("BAD_REQUEST", str(error).splitlines()[0]) from None
        found = await exports.names(scopes(caller), request.company_ids, request.contact_ids)
        return found.wire()

    return [
        Endpoint(
            "export-names",
            RPC_EXPORT_NAMES,
            names,
            "Names of up to 500 companies and addresses of up to 500 contacts the caller "
            "sees: ExportNamesRequest -> ExportNames",
            roles=READ,
        )
    ]
