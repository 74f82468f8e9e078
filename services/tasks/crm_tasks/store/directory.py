"""The directory port over NATS request/reply: the deals service answers for deals by
external id, the contacts service for contacts by email and companies by name; one
request each per import batch, signed as the tasks party for the caller it is given
(`crm_kit.rpc`). Tasks never reads those services' databases."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from crm_contracts import contacts, deals
from crm_kit.context import RequestContext
from crm_kit.rpc import RpcError
from crm_kit.rpc_client import PeerUnavailable, RpcClient

from .port import DirectoryUnavailable, NamedReferences

# An import batch's look-up covers the whole batch: longer than a single record's check.
TIMEOUT = 30.0


class NatsDirectory:
    def __init__(self, rpc: RpcClient) -> None:
        self._rpc = rpc

    async def _call(self, subject: str, caller: RequestContext, body: dict[str, Any]) -> Any:
        try:
            return await self._rpc.call(subject, caller, body, timeout=TIMEOUT)
        except (RpcError, PeerUnavailable) as error:
            raise DirectoryUnavailable(f"{subject} did not answer ({error})") from None

    async def references(
        self,
        caller: RequestContext,
        deal_external_ids: Sequence[str],
        emails: Sequence[str],
        company_names: Sequence[str],
    ) -> NamedReferences:
        found = NamedReferences()
        if deal_external_ids:
            body = {"externalIds": list(deal_external_ids)}
            data = await self._call(deals.RPC_IMPORT_REFERENCES, caller, body)
            found.deals.update(data.get("externalIds") or {})
        if emails or company_names:
            body = {"emails": list(emails), "companyNames": list(company_names)}
            data = await self._call(contacts.RPC_IMPORT_REFERENCES, caller, body)
            found.contacts.update(data.get("emails") or {})
            found.companies.update(data.get("companyNames") or {})
        return found
