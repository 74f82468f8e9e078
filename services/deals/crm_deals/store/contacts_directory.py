"""The contacts directory port over NATS request/reply: one `rpc.contacts.import.references`
request per import batch, signed as the deals party for the caller it is given
(`crm_kit.rpc`). Deals never reads the contacts database."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from nats.aio.client import Client
from nats.errors import Error as NatsError

from crm_contracts import contacts
from crm_kit.assertions import KeyRing
from crm_kit.context import RequestContext
from crm_kit.rpc import RpcError, rpc_call

from .port import ContactsUnavailable, NamedReferences

# The endpoint takes up to this many of each per request.
CHUNK = 1000


class NatsContactsDirectory:
    def __init__(
        self, nc: Callable[[], Client | None], keys: Callable[[], KeyRing], timeout: float = 30.0
    ) -> None:
        self._nc = nc
        self._keys = keys
        self._timeout = timeout

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
            nc = self._nc()
            if nc is None:
                raise ContactsUnavailable("not connected to NATS")
            try:
                data = await rpc_call(
                    nc,
                    contacts.RPC_IMPORT_REFERENCES,
                    caller,
                    body,
                    keys=self._keys(),
                    timeout=self._timeout,
                )
            except (RpcError, NatsError, TimeoutError) as error:
                raise ContactsUnavailable(f"contacts did not answer ({error})") from None
            found.company_names.update(data.get("companyNames") or {})
            found.company_domains.update(data.get("companyDomains") or {})
            found.emails.update(data.get("emails") or {})
        return found
