"""The contacts directory port over NATS request/reply: one `rpc.contacts.import.references`
request per import batch, signed as the deals party for the caller it is given
(`crm_kit.rpc`). Deals never reads the contacts database."""

from __future__ import annotations

from collections.abc import Sequence

from crm_contracts import contacts
from crm_kit.context import RequestContext
from crm_kit.rpc import RpcError
from crm_kit.rpc_client import PeerUnavailable, RpcClient

from .port import ContactsUnavailable, NamedReferences

# The endpoint takes up to this many of each per request.
CHUNK = 1000


# A batch's look-up reads up to CHUNK of each: longer than a single record's check.
TIMEOUT = 30.0


class NatsContactsDirectory:
    def __init__(self, rpc: RpcClient) -> None:
        self._rpc = rpc

    async def references(
        self,
        caller: RequestContext,
        names: Sequence[str],
        domains: Sequence[str],
        emails: Sequence[str],
    ) -> NamedReferences:
        found = NamedReferences()
        lists = [list(dict.fromkeys(x)) for x in (names, domains, emails)]
        for start in range(0, max(map(len, lists)), CHUNK):
            body = {
                "companyNames": lists[0][start : start + CHUNK],
                "companyDomains": lists[1][start : start + CHUNK],
                "emails": lists[2][start : start + CHUNK],
            }
            try:
                data = await self._rpc.call(
                    contacts.RPC_IMPORT_REFERENCES, caller, body, timeout=TIMEOUT
                )
            except (RpcError, PeerUnavailable) as error:
                raise ContactsUnavailable(f"contacts did not answer ({error})") from None
            found.company_names.update(data.get("companyNames") or {})
            found.company_domains.update(data.get("companyDomains") or {})
            found.emails.update(data.get("emails") or {})
        return found
