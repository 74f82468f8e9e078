"""Logging interactions on contacts' and companies' timelines."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime

from crm_kit import bounds
from crm_kit.bounds import MAX_LINKED
from crm_kit.clock import to_millis
from crm_kit.errors import BadUserInput, Conflict
from crm_kit.ids import new_id

from ..domain import rules
from ..domain.contact import Contact
from ..domain.interaction import Interaction
from ..store.port import ChangedMeanwhile
from .inputs import InteractionInput
from .lookups import live_company, live_contact
from .scope import Scope

log = logging.getLogger(__name__)


async def log_interaction(
    scope: Scope, data: InteractionInput, prefix: str = "input"
) -> Interaction:
    scope.require_write()
    bounds.count(data.contact_ids, MAX_LINKED, f"{prefix}.contactIds")
    bounds.count(data.participants, MAX_LINKED, f"{prefix}.participants")
    contact_ids = [data.contact_id] if data.contact_id else []
    contact_ids += [c for c in data.contact_ids if c not in contact_ids]
    contacts: list[Contact] = []
    for contact_id in contact_ids:
        named_first = contact_id == data.contact_id
        where = f"{prefix}.contactId" if named_first else f"{prefix}.contactIds"
        contacts.append(await live_contact(scope, contact_id, where))
    if data.company_id:
        company_id: str | None = (
            await live_company(scope, data.company_id, f"{prefix}.companyId")
        ).id
    else:
        company_id = next((c.company_id for c in contacts if c.company_id), None)
    if not contacts and not company_id:
        raise BadUserInput("name a contact or a company", field=f"{prefix}.contactId")
    deal_id = rules.clean_text(data.deal_id, f"{prefix}.dealId", limit=64)
    if deal_id:
        await check_deal(scope, deal_id, f"{prefix}.dealId")
    if data.duration_seconds is not None and data.duration_seconds < 0:
        raise BadUserInput("must not be negative", field=f"{prefix}.durationSeconds")
    participants = [
        p for p in (rules.clean_text(x, f"{prefix}.participants") for x in data.participants) if p
    ]
    interaction = Interaction(
        id=data.id or new_id(),
        workspace_id=scope.workspace_id,
        kind=data.kind,
        occurred_at=to_millis(data.occurred_at or scope.now()),
        direction=data.direction,
        subject=rules.clean_text(data.subject, f"{prefix}.subject", limit=500),
        summary=rules.clean_text(data.summary, f"{prefix}.summary", limit=10_000),
        participants=participants,
        duration_seconds=data.duration_seconds,
        contact_ids=[c.id for c in contacts],
        company_id=company_id,
        deal_id=deal_id,
        logged_by=scope.subject,
        created_at=scope.now(),
    ).logged()
    if not await scope.store.add_interaction(interaction):
        raise Conflict(f"interaction {interaction.id} exists", existingId=interaction.id)
    await touch_contacts(scope, interaction.contact_ids, interaction.occurred_at)
    return interaction


async def check_deal(scope: Scope, deal_id: str, field: str) -> None:
    """The deal a user names must be a deal of the workspace the user sees: BAD_USER_INPUT
    otherwise, the same answer for one that does not exist and one hidden by sharing (so
    the answer tells nothing about hidden deals). Asked before anything is written."""
    if scope.deals is None or scope.subject.startswith("service:"):
        return  # no deals service beside this store; a service writes ids its events gave
    if not await scope.deals.visible(scope.caller, deal_id):
        raise BadUserInput(f"no deal {deal_id!r} in this workspace", field=field)


async def touch_contacts(scope: Scope, contact_ids: Sequence[str], at: datetime) -> None:
    """The contacts' last activity moves to `at` (derived data: a contact changed
    meanwhile by another replica is left for the next interaction to fix)."""
    now = scope.now()

    async def touch(contact: Contact) -> bool:
        return contact.record_activity(at, now)

    for contact_id in dict.fromkeys(contact_ids):
        try:
            await scope.store.change_contact(contact_id, touch)
        except ChangedMeanwhile:
            log.info("last activity of contact %s not updated: it kept changing", contact_id)


async def touch_contacts_of_batch(
    scope: Scope, latest: Mapping[str, datetime], batch_id: str
) -> None:
    """An import batch's entries move their contacts' last activity (`latest`: contact id
    -> its latest entry): one write for all of them (thousands of contacts a minute, where
    one `touch_contacts` each made a batch outlast its answer timeout)."""
    if not latest:
        return
    try:
        await scope.store.record_activities(latest, scope.now(), batch_id)
    except ChangedMeanwhile:
        log.info("last activity of batch %s not all updated: contacts kept changing", batch_id)
