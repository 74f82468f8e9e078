"""Finding contacts that are probably the same person as one."""

from __future__ import annotations

from ..domain.contact import Contact
from ..domain.duplicates import DuplicateCandidate, rank
from .lookups import live_contact
from .scope import Scope
from .visibility import EMAIL, PHONE, visible

# Contacts of the same company compared by name.
COMPANY_CANDIDATES = 500


async def find_duplicates(scope: Scope, contact_id: str) -> list[DuplicateCandidate]:
    """Among the contacts the caller sees; matching by address and number tells them, so
    refused (FORBIDDEN) to a role that may not read both."""
    access = await scope.access()
    access.require_field(EMAIL, "contactId")
    access.require_field(PHONE, "contactId")
    target = await live_contact(scope, contact_id, "contactId")
    pool: dict[str, Contact] = {}
    for group in (
        await scope.store.find_contacts_with_emails(target.emails),
        await scope.store.find_contacts_with_phones(target.phones),
        await scope.store.contacts_of_company(target.company_id, COMPANY_CANDIDATES)
        if target.company_id
        else [],
    ):
        pool.update({c.id: c for c in await visible(scope, group)})
    return rank(target, list(pool.values()))
