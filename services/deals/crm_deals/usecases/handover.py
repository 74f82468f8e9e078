"""Owner handover: a manager moves every open deal of one owner to another in one step.

The deals are found through the store's `find_deals` (the read index in the service: no
scan) and each one is changed through the ordinary deal update (`DealService.update`: the
deal's lock, optimistic revision, `deal.updated` with `ownerId` and an `owner_changes`
entry in the same write), on the condition that it is still open and still the old
owner's. Then one summary event, `crm.deals.deals.handed_over.v1`, is written in a small
outbox document keyed by the handover id, for the tasks service to follow.

A repeat finds no open deal of the old owner any more: it moves nothing, writes nothing
and reports 0.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from crm_kit.errors import BadUserInput, Conflict, Forbidden, NotFound, PreconditionFailed

from ..domain.deal import OPEN
from ..events import publish
from ..store.protocol import HANDOVERS
from .deals import DealService
from .queries import DealFilter, deal_query

MAX_NOTE = 500
CONFLICT_RETRIES = 3


@dataclass
class Handover:
    from_owner_id: str
    to_owner_id: str
    handed_over_at: datetime
    deal_ids: list[str] = field(default_factory=list)
    handover_id: str | None = None  # None when nothing moved (no record, no event)

    @property
    def moved(self) -> int:
        return len(self.deal_ids)


def handover_id(
    workspace: str,
    from_owner: str,
    to_owner: str,
    pipeline_id: str | None,
    deals: list[tuple[str, int]],
) -> str:
    """Deterministic: the same request over the same deals in the same state (id and
    revision) is the same handover, while handing the same deals A -> B -> A -> B again
    is a new one (their revisions moved on), so its summary is not taken for a repeat."""
    found = [f"{deal_id}@{rev}" for deal_id, rev in sorted(deals)]
    key = "\n".join([workspace, from_owner, to_owner, pipeline_id or "", *found])
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def _owner(value: str | None, field: str) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise BadUserInput("must not be blank", field=field)
    return text


class HandoverService:
    def __init__(self, deals: DealService) -> None:
        self.deals = deals
        self.actor = deals.actor
        self.store = deals.store

    async def hand_over(
        self,
        from_owner_id: str,
        to_owner_id: str,
        pipeline_id: str | None = None,
        note: str | None = None,
    ) -> Handover:
        if not self.actor.request.has_role("admin", "manager"):
            raise Forbidden("only managers and admins hand deals over")
        source = _owner(from_owner_id, "input.fromOwnerId")
        target = _owner(to_owner_id, "input.toOwnerId")
        if source == target:
            raise BadUserInput("must differ from fromOwnerId", field="input.toOwnerId")
        note = note.strip() or None if note else None
        if note and len(note) > MAX_NOTE:
            raise BadUserInput(f"longer than {MAX_NOTE} characters", field="input.note")
        if pipeline_id is not None:
            if not pipeline_id.strip():
                raise BadUserInput(
                    "must not be blank (omit it for every pipeline)", field="input.pipelineId"
                )
            pipeline_id = (
                await self.deals.pipelines.get(pipeline_id.strip(), field="input.pipelineId")
            ).id
        now = self.actor.clock()
        query = deal_query(DealFilter(pipeline_id=pipeline_id, owner_id=source, status=OPEN), now)
        docs = await self.store.find_deals(query, [("_id", 1)], None)
        result = Handover(source, target, now)
        if not docs:
            return result
        hid = handover_id(
            self.store.workspace_id,
            source,
            target,
            pipeline_id,
            [(doc["_id"], int(doc.get("rev") or 0)) for doc in docs],
        )
        expect = {"owner_id": source, "status": OPEN}
        for deal_id in [doc["_id"] for doc in docs]:
            if await self._move(deal_id, target, expect, hid, note):
                result.deal_ids.append(deal_id)
        if not result.deal_ids:
            return result
        result.handover_id = hid
        event = publish.deals_handed_over(
            handover_id=hid,
            workspace=self.store.workspace_id,
            from_owner_id=source,
            to_owner_id=target,
            deal_ids=result.deal_ids,
            pipeline_id=pipeline_id,
            note=note,
            by=self.actor.subject,
            at=now,
        )
        doc = {
            "_id": hid,
            "from_owner_id": source,
            "to_owner_id": target,
            "pipeline_id": pipeline_id,
            "deal_ids": result.deal_ids,
            "note": note,
            "by": self.actor.subject,
            "at": now,
        }
        if await self.store.insert_handover(doc, [event]):
            self.actor.notify(HANDOVERS, hid)
        return result

    async def _move(
        self, deal_id: str, target: str, expect: dict, hid: str, note: str | None
    ) -> bool:
        """True when this call changed the owner; False when the deal is gone, closed or
        someone else's by now (never an error: the handover takes what is still there)."""
        for _ in range(CONFLICT_RETRIES):
            try:
                # `expect` held on the deal read and the write is conditional on its
                # revision, so a return means the owner went from source to target here.
                await self.deals.update(
                    deal_id, {"ownerId": target}, expect=expect, handover_id=hid, note=note
                )
            except Conflict:
                continue  # changed between read and write: read again
            except (NotFound, PreconditionFailed):
                return False
            return True
        return False
