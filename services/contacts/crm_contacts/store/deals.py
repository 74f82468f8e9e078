"""The deal an interaction names lives in the deals service: whether it exists, and is
visible to the user logging the interaction, is asked over NATS request/reply
(`rpc.deals.deal.get`), signed for that user, so the answer is the user's workspace's
under the user's sharing rules. Contacts never reads the deals database.

When deals does not answer, the write is refused as SERVICE_UNAVAILABLE, retryable (as the
deals and tasks services do for their references): accepting the id blindly would let a
link to nothing, or to a deal the user may not see, into the timeline."""

from __future__ import annotations

from dataclasses import dataclass, field

from crm_contracts import deals
from crm_kit.context import RequestContext
from crm_kit.errors import ServiceUnavailable
from crm_kit.rpc import RpcError
from crm_kit.rpc_client import PeerUnavailable, RpcClient


def _unavailable(why: str) -> ServiceUnavailable:
    return ServiceUnavailable(
        f"the deals service did not answer ({why}): the interaction's deal cannot be "
        "checked; nothing was written, try again",
        retryable=True,
    )


class NatsDeals:
    def __init__(self, rpc: RpcClient) -> None:
        self._rpc = rpc

    async def visible(self, caller: RequestContext, deal_id: str) -> bool:
        try:
            await self._rpc.call(deals.RPC_DEAL_GET, caller, {"id": deal_id})
        except RpcError as error:
            if error.code == "NOT_FOUND":
                return False
            raise _unavailable(error.code) from None
        except PeerUnavailable as error:
            raise _unavailable(error.why) from None
        return True


@dataclass
class KnownDeals:
    """The in-memory fake: the deal ids it knows (None: every id is a visible deal);
    `down` answers as an unreachable deals service does."""

    ids: set[str] | None = None
    down: bool = False
    asked: list[str] = field(default_factory=list)

    async def visible(self, caller: RequestContext, deal_id: str) -> bool:
        del caller
        self.asked.append(deal_id)
        if self.down:
            raise _unavailable("fake: down")
        return self.ids is None or deal_id in self.ids
