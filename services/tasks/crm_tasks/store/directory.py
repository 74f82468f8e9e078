"""The directory port over NATS request/reply: the deals service answers for deals by
external id, the contacts service for contacts by email and companies by name; one
request each per import batch, signed as the tasks party for the caller it is given
(`crm_kit.rpc`). Tasks never reads those services' databases."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from nats.aio.client import Client
from nats.errors import Error as NatsError

from crm_contracts import contacts, deals
from crm_kit.assertions import KeyRing
from crm_kit.context import RequestContext
from crm_kit.rpc import RpcError, rpc_call

from .port import DirectoryUnavailable, NamedReferences


class NatsDirectory:
    def __init__(
        self, nc: Callable[[], Client | None], keys: Callable[[], KeyRing], timeout: float = 30.0
    ) -> None:
        self._nc = nc
        self._keys = keys
        self._timeout = timeout

    async def _call(self, subject: str, caller: RequestContext, body: dict[str, Any]) -> Any:
        nc = self._nc()
        if nc is None:
            raise DirectoryUnavailable("not connected to NATS")
        try:
            return await rpc_call(
                nc, subject, caller, body, keys=self._keys(), timeout=self._timeout
            )
        except (RpcError, NatsError, TimeoutError) as error:
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
