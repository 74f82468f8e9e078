"""Undoing an import in the contacts service."""

from __future__ import annotations

from ...domain.company import Company
from ...domain.contact import Contact
from ...domain.interaction import Interaction
from ..scope import Scope


async def undo_import(scope: Scope, job_id: str) -> int:
    """Remove what import `job_id` created and nobody changed since (version 1), with the
    events (deleted, removed) through the outbox; answers how many."""
    scope.require_write()
    store = scope.store
    now, by = scope.now(), scope.subject
    removed = 0

    async def take_off(interaction: Interaction) -> bool:
        nonlocal removed
        done = interaction.remove(interaction.revision + 1, now)
        removed += done
        return done

    async def delete_unchanged(record: Company | Contact) -> bool:
        nonlocal removed
        done = record.version == 1 and record.delete(at=now, by=by)
        removed += done
        return done

    # Timeline entries first, companies last: nothing left points at a removed record.
    for interaction_id in await store.imported_ids("interactions", job_id):
        await store.change_interaction(interaction_id, take_off)
    for contact_id in await store.imported_ids("contacts", job_id):
        await store.change_contact(contact_id, delete_unchanged)
    for company_id in await store.imported_ids("companies", job_id):
        await store.change_company(company_id, delete_unchanged)
    return removed
