"""The records a task references live in other services: its deal in deals, its contact
and company in contacts. Whether ids a user names exist is asked over NATS request/reply
(`rpc.deals.deal.get`, `rpc.contacts.records.check`), signed for that user, so the answer
is the user's workspace's. A service that does not answer refuses the write as
SERVICE_UNAVAILABLE, retryable (see the deals service's `store/references.py`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from crm_contracts import contacts, deals
from crm_kit.context import RequestContext
from crm_kit.errors import ServiceUnavailable
from crm_kit.rpc import RpcError
from crm_kit.rpc_client import PeerUnavailable, RpcClient

from .port import Named


def _unavailable(service: str, why: str) -> ServiceUnavailable:
    return ServiceUnavailable(
        f"the {service} service did not answer ({why}): the task's references cannot be "
        "checked; nothing was written, try again",
        retryable=True,
    )


class NatsReferences:
    def __init__(self, rpc: RpcClient) -> None:
        self._rpc = rpc

    async def _ask(self, subject: str, caller: RequestContext, body: dict[str, Any]) -> Any:
        try:
            return await self._rpc.call(subject, caller, body)
        except PeerUnavailable as error:
            raise _unavailable(error.service, error.why) from None

    async def missing(self, caller: RequestContext, named: Named) -> list[str]:
        absent: list[str] = []
        if named.deal_id is not None:
            try:
                await self._ask(deals.RPC_DEAL_GET, caller, {"id": named.deal_id})
            except RpcError as error:
                if error.code != "NOT_FOUND":
                    raise _unavailable("deals", error.code) from None
                absent.append("deal_id")
        if named.contact_id is not None or named.company_id is not None:
            body = {
                "contactIds": [named.contact_id] if named.contact_id else [],
                "companyIds": [named.company_id] if named.company_id else [],
            }
            try:
                data = await self._ask(contacts.RPC_RECORDS_CHECK, caller, body)
            except RpcError as error:
                raise _unavailable("contacts", error.code) from None
            reply = contacts.RecordsCheckReply.model_validate(data)
            absent += ["contact_id"] if reply.missing_contact_ids else []
            absent += ["company_id"] if reply.missing_company_ids else []
        return absent


@dataclass
class KnownReferences:
    """The in-memory fake: the ids it knows exist (None: every id does); `down` answers as
    an unreachable service does."""

    ids: set[str] | None = None
    down: bool = False
    asked: list[Named] = field(default_factory=list)

    async def missing(self, caller: RequestContext, named: Named) -> list[str]:
        del caller
        self.asked.append(named)
        if self.down:
            raise _unavailable("fake", "down")
        return [
            name
            for name in ("deal_id", "contact_id", "company_id")
            if (value := getattr(named, name)) is not None
            and self.ids is not None
            and value not in self.ids
        ]
