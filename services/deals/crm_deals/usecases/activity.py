"""Reactions to other services' events: activity, completed playbook tasks, references.

Each is a read-modify-write of the deal (`change_deal`) that writes only what changes, so
a duplicate event writes nothing even if the kit's processed-event record is lost; the
stale threshold is computed from the stage the deal is in at that write.
"""

from __future__ import annotations

import logging
from datetime import datetime

from ..domain.deal import INTERACTION, OPEN, TASK, Deal
from ..domain.queries import DealSelection
from .pipelines import find_pipeline
from .scope import Scope

log = logging.getLogger(__name__)


async def _touch(
    scope: Scope, deal_id: str, at: datetime | None, playbook_key: str | None, kind: str
) -> bool:
    async def change(deal: Deal) -> bool:
        pipeline = await find_pipeline(scope, deal.pipeline_id)
        stage = pipeline.stage_at(deal.pipeline_version, deal.stage_key) if pipeline else None
        return deal.record_activity(at, kind, playbook_key, stage)

    if await scope.store.change_deal(deal_id, change) is None:
        log.info("activity for unknown deal %s ignored", deal_id)
        return False
    return True


async def task_completed(
    scope: Scope, deal_id: str, template_key: str | None, at: datetime
) -> bool:
    """A completed task of the deal: its playbook key (if any) and last activity."""
    return await _touch(scope, deal_id, at, template_key, TASK)


async def interaction_logged(
    scope: Scope, deal_id: str | None, contact_ids: list[str], at: datetime
) -> int:
    """An interaction on a deal, or else on any open deal of its contacts."""
    if deal_id:
        return int(await _touch(scope, deal_id, at, None, INTERACTION))
    found: dict[str, Deal] = {}
    for contact_id in dict.fromkeys(contact_ids):
        selection = DealSelection(contact_id=contact_id, status=OPEN)
        found.update((deal.id, deal) for deal in await scope.store.find_deals(selection))
    touched = 0
    for deal_id_of_contact in sorted(found):
        touched += int(await _touch(scope, deal_id_of_contact, at, None, INTERACTION))
    return touched


async def _deal_ids(scope: Scope, *selections: DealSelection) -> list[str]:
    ids: set[str] = set()
    for selection in selections:
        ids.update(deal.id for deal in await scope.store.find_deals(selection))
    return sorted(ids)


async def contact_merged(scope: Scope, merged_id: str, survivor_id: str) -> int:
    """Re-point every reference to the merged contact at the survivor."""

    repointed: set[str] = set()

    async def repoint(deal: Deal) -> bool:
        if not deal.repoint_contact(merged_id, survivor_id):
            return False
        repointed.add(deal.id)
        return True

    ids = await _deal_ids(
        scope, DealSelection(contact_id=merged_id), DealSelection(primary_contact_id=merged_id)
    )
    for deal_id in ids:
        await scope.store.change_deal(deal_id, repoint)
    return len(repointed)


async def contact_deleted(scope: Scope, contact_id: str) -> int:
    async def mark(deal: Deal) -> bool:
        return deal.contact_deleted(contact_id)

    ids = await _deal_ids(scope, DealSelection(contact_id=contact_id))
    for deal_id in ids:
        await scope.store.change_deal(deal_id, mark)
    return len(ids)


async def company_deleted(scope: Scope, company_id: str) -> int:
    async def mark(deal: Deal) -> bool:
        return deal.company_was_deleted()

    ids = await _deal_ids(scope, DealSelection(company_id=company_id))
    for deal_id in ids:
        await scope.store.change_deal(deal_id, mark)
    return len(ids)
