"""The records a deal references (its company and contacts) live in the contacts service:
whether ids a user names exist there is asked over NATS request/reply
(`rpc.contacts.records.check`), signed for the user the deal is written for, so the
answer is the user's workspace's. Deals never reads the contacts database.

When contacts does not answer (down, timed out, refusing the service's own credentials),
the write is refused as SERVICE_UNAVAILABLE, retryable: accepting the ids blindly would
let a reference to nothing in, and a deal's references are rarely so urgent that a retry
is worse."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from crm_contracts import contacts
from crm_kit.context import RequestContext
from crm_kit.errors import ServiceUnavailable
from crm_kit.rpc import RpcError
from crm_kit.rpc_client import PeerUnavailable, RpcClient

from .port import Missing


def _unavailable(why: str) -> ServiceUnavailable:
    return ServiceUnavailable(
        f"the contacts service did not answer ({why}): the deal's contacts and company "
        "cannot be checked; nothing was written, try again",
        retryable=True,
    )


class NatsReferences:
    def __init__(self, rpc: RpcClient) -> None:
        self._rpc = rpc

    async def missing(
        self, caller: RequestContext, contact_ids: Sequence[str], company_ids: Sequence[str]
    ) -> Missing:
        if not contact_ids and not company_ids:
            return Missing()
        body = {"contactIds": list(contact_ids), "companyIds": list(company_ids)}
        try:
            data = await self._rpc.call(contacts.RPC_RECORDS_CHECK, caller, body)
        except RpcError as error:
            raise _unavailable(error.code) from None
        except PeerUnavailable as error:
            raise _unavailable(error.why) from None
        reply = contacts.RecordsCheckReply.model_validate(data)
        return Missing(tuple(reply.missing_contact_ids), tuple(reply.missing_company_ids))


@dataclass
class KnownReferences:
    """The in-memory fake: the ids it knows exist (None: every id does); `down` answers as
    an unreachable contacts service does."""

    contact_ids: set[str] | None = None
    company_ids: set[str] | None = None
    down: bool = False
    asked: list[tuple[tuple[str, ...], tuple[str, ...]]] = field(default_factory=list)

    async def missing(
        self, caller: RequestContext, contact_ids: Sequence[str], company_ids: Sequence[str]
    ) -> Missing:
        del caller
        self.asked.append((tuple(contact_ids), tuple(company_ids)))
        if self.down:
            raise _unavailable("fake: down")
        return Missing(
            tuple(
                i for i in contact_ids if self.contact_ids is not None and i not in self.contact_ids
            ),
            tuple(
                i for i in company_ids if self.company_ids is not None and i not in self.company_ids
            ),
        )
