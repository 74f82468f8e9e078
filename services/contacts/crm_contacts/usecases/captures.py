"""Interactions the capture service recorded: written, revised and removed as its events
say, idempotently.

Each captured interaction has an id the capture service derived from what it captured
(an email's Message-ID, a meeting occurrence, a web session), so a repeated event finds
the interaction it made; `revision` orders the versions of one interaction, so an older or
repeated one changes nothing, and a cancellation that arrives first leaves a removed
record (a tombstone) that the late original cannot bring back. A person's interaction is
never changed by a capture. Contacts that were merged meanwhile are followed to their
survivor; deleted ones are left out.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from crm_kit.clock import to_millis

from ..domain import rules
from ..domain.contact import Contact
from ..domain.interaction import Interaction, InteractionKind
from .inputs import CapturedInteractionInput
from .interactions import touch_contacts
from .lookups import companies_by_ids, contacts_by_ids
from .scope import Scope

log = logging.getLogger(__name__)

SOURCE = "capture"
# A contact merged into one merged into another...: how far a captured id is followed.
MERGE_HOPS = 3


async def _live_contacts(scope: Scope, ids: Sequence[str]) -> list[Contact]:
    """The live contacts `ids` name, merged ones replaced by their survivors."""
    found: dict[str, Contact] = {}
    wanted = list(dict.fromkeys(ids))
    for _ in range(MERGE_HOPS):
        by_id = await contacts_by_ids(scope, wanted)
        survivors = []
        for contact_id in wanted:
            contact = by_id.get(contact_id)
            if contact is None:
                continue
            if contact.merged_into:
                survivors.append(contact.merged_into)
            elif not contact.deleted:
                found.setdefault(contact.id, contact)
        if not survivors:
            break
        wanted = list(dict.fromkeys(survivors))
    return list(found.values())


async def record_captured(scope: Scope, data: CapturedInteractionInput) -> Interaction | None:
    """Write or revise the captured interaction; None when it concerns nobody live (its
    contacts and company are gone)."""
    rules.require_id(data.interaction_id, "interactionId")
    contacts = await _live_contacts(scope, data.contact_ids)
    company_id = None
    if data.company_id:
        company = (await companies_by_ids(scope, [data.company_id])).get(data.company_id)
        company_id = company.id if company and not company.deleted else None
    company_id = company_id or next((c.company_id for c in contacts if c.company_id), None)
    if not contacts and not company_id:
        log.info("captured interaction %s concerns nobody live", data.interaction_id)
        return None
    captured = Interaction(
        id=data.interaction_id,
        workspace_id=scope.workspace_id,
        kind=data.kind,
        occurred_at=to_millis(data.occurred_at),
        direction=data.direction,
        subject=_clip(data.subject, 500),
        summary=_clip(data.summary, rules.MAX_TEXT),
        participants=[p for p in (_clip(x, 200) for x in data.participants) if p][:50],
        duration_seconds=data.duration_seconds,
        contact_ids=[c.id for c in contacts],
        company_id=company_id,
        deal_id=data.deal_id,
        logged_by=data.logged_by or scope.subject,
        created_at=scope.now(),
        source=SOURCE,
        revision=data.revision,
    )

    async def revise(existing: Interaction) -> bool:
        return existing.source == SOURCE and existing.revise(captured)

    if await scope.store.add_interaction(captured.logged()):
        result: Interaction | None = captured
    else:
        result = await scope.store.change_interaction(captured.id, revise)
    if result is not None and not result.removed:
        await touch_contacts(scope, result.contact_ids, result.occurred_at)
    return result


async def remove_captured(
    scope: Scope, interaction_id: str, revision: int, kind: InteractionKind, occurred_at: datetime
) -> bool:
    """Take the captured interaction off the timeline (a cancelled meeting); True when it
    was on it."""
    rules.require_id(interaction_id, "interactionId")
    removed = False

    async def remove(existing: Interaction) -> bool:
        nonlocal removed
        removed = existing.source == SOURCE and existing.remove(revision, scope.now())
        return removed

    for _ in range(2):
        if await scope.store.change_interaction(interaction_id, remove) is not None:
            return removed
        # Cancelled before it was recorded: a tombstone keeps the late original out.
        tombstone = Interaction(
            id=interaction_id,
            workspace_id=scope.workspace_id,
            kind=kind,
            occurred_at=to_millis(occurred_at),
            created_at=scope.now(),
            source=SOURCE,
            revision=revision,
            removed_at=scope.now(),
        )
        if await scope.store.add_interaction(tombstone):
            return False
    return removed


def _clip(text: str | None, limit: int) -> str | None:
    """Captured text is the capture service's to bound; here it is only kept in bounds."""
    if text is None:
        return None
    cleaned = text.strip()
    return cleaned[:limit] or None
