"""The deal-moves port over NATS request/reply (`rpc.deals.deal.move`): each request is
signed as the tasks party for the caller it is given (an automation rule's identity), and
the deals service applies its own rules (exit criteria, write access) to that caller.
Each move names where the rule saw the deal (`where`, `rpc.deals.deal.get`), so a deal
that moved on meanwhile is refused (STAGE_CHANGED), never taken back. What the deals
service refuses comes back as `DealMoveRefused` with its code; a timeout, no responder or
an internal failure as `DealsUnavailable` (worth asking again)."""

from __future__ import annotations

from typing import Any

from crm_contracts import deals
from crm_kit.context import RequestContext
from crm_kit.rpc import RpcError
from crm_kit.rpc_client import PeerUnavailable, RpcClient

from .port import DealMoveRefused, DealsUnavailable, SeenStage

# Answers that asking again cannot change. CONFLICT (the deal changed meanwhile) and
# INTERNAL are worth another attempt.
REFUSALS = frozenset(
    {
        "PRECONDITION_FAILED",
        "STAGE_CHANGED",
        "NOT_FOUND",
        "BAD_REQUEST",
        "FORBIDDEN",
        "UNAUTHENTICATED",
    }
)


# A move checks exit criteria (the deal's tasks): longer than an existence check.
TIMEOUT = 5.0


class NatsDealMoves:
    def __init__(self, rpc: RpcClient) -> None:
        self._rpc = rpc

    async def where(self, caller: RequestContext, deal_id: str) -> SeenStage:
        found = await self._ask(deals.RPC_DEAL_GET, caller, {"id": deal_id})
        return SeenStage(found["stageKey"], found.get("stageSequence"))

    async def move(
        self, caller: RequestContext, deal_id: str, stage_key: str, seen: SeenStage
    ) -> None:
        body = {
            "id": deal_id,
            "stageKey": stage_key,
            "fromStageKey": seen.stage_key,
            "stageSequence": seen.sequence,
        }
        await self._ask(deals.RPC_DEAL_MOVE, caller, body)

    async def _ask(self, subject: str, caller: RequestContext, body: dict[str, Any]) -> Any:
        try:
            return await self._rpc.call(subject, caller, body, timeout=TIMEOUT)
        except RpcError as error:
            if error.code in REFUSALS:
                raise DealMoveRefused(error.code, error.message) from None
            raise DealsUnavailable(f"the deals service failed ({error.code})") from None
        except PeerUnavailable as error:
            raise DealsUnavailable(f"the deals service did not answer ({error.why})") from None
