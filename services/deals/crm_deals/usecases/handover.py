"""Owner handover: a manager moves every open deal of one owner to another in one step.

The deals are found through the store (the read index on the embedded database: no
scan) and each one is changed through the ordinary deal update (`deals.update_deal`: the
deal's revision, `deal.updated` with `ownerId` and an `owner_changes` entry in the same
write), on the condition that it is still open and still the old owner's. Then one
summary event, `crm.deals.deals.handed_over.v1`, is written with a small handover record
keyed by the handover id, for the tasks service to follow.

A repeat finds no open deal of the old owner any more: it moves nothing, writes nothing
and reports 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from crm_kit import bounds
from crm_kit.errors import BadUserInput, Conflict, NotFound, PreconditionFailed

from ..domain.deal import OPEN
from ..domain.handover import Handover, handover_id
from ..domain.queries import DealSelection
from .deals import update_deal
from .inputs import DealChanges
from .pipelines import get_pipeline
from .scope import Scope

MAX_NOTE = 500
CONFLICT_RETRIES = 3


@dataclass
class HandoverResult:
    from_owner_id: str
    to_owner_id: str
    handed_over_at: datetime
    deal_ids: list[str] = field(default_factory=list)
    handover_id: str | None = None  # None when nothing moved (no record, no event)

    @property
    def moved(self) -> int:
        return len(self.deal_ids)


def _owner(value: str | None, field: str) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise BadUserInput("must not be blank", field=field)
    bounds.text(text, bounds.MAX_ID, field)
    return text


async def hand_over(
    scope: Scope,
    from_owner_id: str,
    to_owner_id: str,
    pipeline_id: str | None = None,
    note: str | None = None,
) -> HandoverResult:
    scope.require_manager("only managers and admins hand deals over")
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
        pipeline_id = (await get_pipeline(scope, pipeline_id.strip(), "input.pipelineId")).id
    now = scope.now()
    selection = DealSelection(pipeline_id=pipeline_id, owner_id=source, status=OPEN)
    found = await scope.store.find_deals(selection)
    result = HandoverResult(source, target, now)
    if not found:
        return result
    hid = handover_id(
        scope.workspace_id, source, target, pipeline_id, [(d.id, d.rev) for d in found]
    )
    expect = {"owner_id": source, "status": OPEN}
    for deal in found:
        if await _move(scope, deal.id, target, expect, hid, note):
            result.deal_ids.append(deal.id)
    if not result.deal_ids:
        return result
    result.handover_id = hid
    record = Handover(
        id=hid,
        workspace_id=scope.workspace_id,
        from_owner_id=source,
        to_owner_id=target,
        pipeline_id=pipeline_id,
        note=note,
        by=scope.subject,
        at=now,
        deal_ids=list(result.deal_ids),
    )
    await scope.store.add_handover(record.done())
    return result


async def _move(
    scope: Scope, deal_id: str, target: str, expect: dict[str, str], hid: str, note: str | None
) -> bool:
    """True when this call changed the owner; False when the deal is gone, closed or
    someone else's by now (never an error: the handover takes what is still there)."""
    for _ in range(CONFLICT_RETRIES):
        try:
            # `expect` is checked on the deal as read for the write, so a return means the
            # owner went from source to target here.
            await update_deal(
                scope,
                deal_id,
                DealChanges(owner_id=target),
                expect=expect,
                handover_id=hid,
                note=note,
            )
        except Conflict:
            continue  # other replicas kept writing it: try again
        except (NotFound, PreconditionFailed):
            return False
        return True
    return False
