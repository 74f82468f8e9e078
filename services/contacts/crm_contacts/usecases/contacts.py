"""Creating, changing, deleting and restoring contacts. An address belongs to one live
contact of a workspace: the unique index guards primary addresses, `_check_emails_free`
the further ones."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from crm_kit.access import require_change_visible
from crm_kit.errors import Conflict, NotFound
from crm_kit.ids import new_id
from crm_kit.unset import Unset

from ..domain import rules
from ..domain.contact import Contact, LifecycleStage
from ..store.port import Change, EmailTaken
from .changes import change_one
from .inputs import ContactInput
from .lookups import live_company, seen_id
from .scope import Scope
from .validation import custom_fields, owner


async def contact_values(
    scope: Scope, data: ContactInput, prefix: str, contact: Contact
) -> dict[str, Any]:
    """The validated attributes `data` gives `contact` (attribute -> value)."""
    values: dict[str, Any] = {}
    if not isinstance(data.first_name, Unset):
        first = rules.clean_text(data.first_name, f"{prefix}.firstName", required=True)
        values["first_name"] = first or ""
    if not isinstance(data.last_name, Unset):
        values["last_name"] = rules.clean_text(data.last_name, f"{prefix}.lastName") or ""
    if not isinstance(data.email, Unset) or not isinstance(data.emails, Unset):
        values["emails"] = _emails(data, prefix, contact.emails)
    if not isinstance(data.phones, Unset):
        values["phones"] = rules.normalise_phones(
            data.phones or [], scope.phone_region, f"{prefix}.phones"
        )
    if not isinstance(data.title, Unset):
        values["title"] = rules.clean_text(data.title, f"{prefix}.title")
    if not isinstance(data.company_id, Unset):
        if data.company_id:
            company = await live_company(scope, data.company_id, f"{prefix}.companyId")
            values["company_id"], values["company_name"] = company.id, company.name_key
        else:
            values["company_id"] = values["company_name"] = None
    if not isinstance(data.owner_id, Unset):
        values["owner_id"] = owner(data.owner_id, f"{prefix}.ownerId")
    if not isinstance(data.lifecycle_stage, Unset):
        values["lifecycle_stage"] = data.lifecycle_stage or LifecycleStage.LEAD
    if not isinstance(data.tags, Unset):
        values["tags"] = rules.normalise_tags(data.tags or [], f"{prefix}.tags")
    if not isinstance(data.source, Unset):
        values["source"] = rules.clean_text(data.source, f"{prefix}.source")
    if not isinstance(data.custom_fields, Unset):
        values["custom_fields"] = custom_fields(data.custom_fields, f"{prefix}.customFields")
    return values


def _emails(data: ContactInput, prefix: str, current: list[str]) -> list[str]:
    """`email` replaces the primary address, `emails` the further ones."""
    primary = current[:1]
    if not isinstance(data.email, Unset):
        primary = [rules.normalise_email(data.email, f"{prefix}.email")] if data.email else []
    others = current[1:]
    if not isinstance(data.emails, Unset):
        others = rules.normalise_emails(data.emails or [], f"{prefix}.emails")
    if not primary and others:
        primary, others = others[:1], others[1:]
    return list(dict.fromkeys(primary + others))


async def _check_emails_free(scope: Scope, contact: Contact, prefix: str) -> None:
    """The index guards primary emails; further ones are checked here."""
    if not contact.emails:
        return
    for other in await scope.store.find_contacts_with_emails(contact.emails):
        if other.id == contact.id or other.merged_into:
            continue
        shared = sorted(set(other.emails) & set(contact.emails))
        field = f"{prefix}.email" if shared[0] == contact.email else f"{prefix}.emails"
        if await seen_id(scope, "contact", other.id) is None:
            raise _taken_by_hidden(shared[0], field)
        raise Conflict(
            f"{shared[0]} already belongs to contact {other.id}",
            field=field,
            existingId=other.id,
            existingDeleted=other.deleted,
        )


async def _email_taken(scope: Scope, taken: EmailTaken, contact: Contact, prefix: str) -> Conflict:
    field = f"{prefix}.email"
    existing_id = await seen_id(scope, "contact", taken.existing_id)
    if existing_id is None:
        return _taken_by_hidden(contact.email, field)
    return Conflict(
        f"{contact.email} already belongs to contact {existing_id}",
        field=field,
        existingId=existing_id,
    )


def _taken_by_hidden(email: str | None, field: str) -> Conflict:
    """The address is taken by a contact the caller may not see: said, not who has it."""
    return Conflict(f"{email} already belongs to another contact", field=field)


async def create_contact(scope: Scope, data: ContactInput, prefix: str = "input") -> Contact:
    scope.require_write()
    named = replace(
        data,
        first_name=None if isinstance(data.first_name, Unset) else data.first_name,
        last_name=None if isinstance(data.last_name, Unset) else data.last_name,
    )
    blank = Contact(id=new_id(), workspace_id=scope.workspace_id, first_name="", last_name="")
    values = await contact_values(scope, named, prefix, blank)
    contact = Contact.create(blank.id, scope.workspace_id, values, at=scope.now(), by=scope.subject)
    await _check_emails_free(scope, contact, prefix)
    try:
        await scope.store.add_contact(contact)
    except EmailTaken as taken:
        raise await _email_taken(scope, taken, contact, prefix) from None
    return contact


async def _change(
    scope: Scope, contact_id: str, change: Change[Contact], prefix: str = "input"
) -> Contact:
    seen = (await scope.access()).of("contact")

    async def held(contact: Contact) -> bool:
        # A contact the caller cannot see is NOT_FOUND, as one that does not exist.
        not_found = NotFound(f"no contact {contact_id}", field="id")
        require_change_visible(
            scope.caller, seen, [contact.owner_id], kind="contact", not_found=not_found
        )
        return await change(contact)

    return await change_one(
        scope.store.change_contact,
        contact_id,
        held,
        kind="contact",
        taken=EmailTaken,
        conflict=lambda taken, contact: _email_taken(scope, taken, contact, prefix),
    )


async def update_contact(
    scope: Scope, contact_id: str, data: ContactInput, prefix: str = "input"
) -> Contact:
    scope.require_write()

    async def update(contact: Contact) -> bool:
        if contact.deleted:
            raise NotFound(f"contact {contact_id} is deleted", field="id", deleted=True)
        emails = list(contact.emails)
        values = await contact_values(scope, data, prefix, contact)
        if not contact.change(values, at=scope.now(), by=scope.subject):
            return False
        if contact.emails != emails:
            await _check_emails_free(scope, contact, prefix)
        return True

    return await _change(scope, contact_id, update, prefix)


async def delete_contact(scope: Scope, contact_id: str) -> Contact:
    scope.require_write()

    async def delete(contact: Contact) -> bool:
        return contact.delete(at=scope.now(), by=scope.subject)

    return await _change(scope, contact_id, delete)


async def restore_contact(scope: Scope, contact_id: str) -> Contact:
    scope.require_write()

    async def restore(contact: Contact) -> bool:
        if contact.merged_into:
            into = await seen_id(scope, "contact", contact.merged_into)
            raise Conflict(
                f"contact {contact_id} was merged into {into or 'another contact'}; it cannot "
                "be restored",
                field="id",
                **({"existingId": into} if into else {}),
            )
        if not contact.restore(at=scope.now(), by=scope.subject):
            return False
        await _check_emails_free(scope, contact, "input")
        return True

    return await _change(scope, contact_id, restore)
