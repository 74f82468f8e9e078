"""Deciding suggestions: accepting one asks the contacts service to create the contact (as
the accepting user: capture never writes contacts' data) and then attaches what was
captured with that address; rejecting one is remembered. A contact created any other way
resolves the suggestions for its addresses the same way (`contact_created`)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from crm_kit.errors import BadUserInput, Conflict, NotFound
from crm_kit.pagination import Page

from ..domain import rules
from ..domain.queries import SuggestionQuery
from ..domain.suggestion import Suggestion, SuggestionStatus, suggestion_id
from ..store.port import ContactExists, DirectoryUnavailable
from . import emails, meetings, visits
from .inputs import AcceptInput
from .scope import Scope

log = logging.getLogger(__name__)


async def list_suggestions(scope: Scope, query: SuggestionQuery) -> Page[Suggestion]:
    return await scope.store.list_suggestions(query)


async def _suggestion(scope: Scope, suggestion_id_: str) -> Suggestion:
    found = await scope.store.get_suggestions([suggestion_id_])
    if not found:
        raise NotFound(f"no suggestion {suggestion_id_}", field="id")
    return found[0]


def _names(suggestion: Suggestion, data: AcceptInput) -> tuple[str, str | None]:
    if data.first_name is not None:
        first = rules.clean_text(data.first_name, "input.firstName", required=True)
        last = rules.clean_text(data.last_name, "input.lastName") or None
        return first, last
    if suggestion.name:
        first, _, last = suggestion.name.partition(" ")
        return first, last or None
    local = suggestion.email.split("@")[0]
    parts = [p for p in local.replace("_", ".").replace("-", ".").split(".") if p]
    return (parts[0].capitalize() if parts else local), (
        " ".join(p.capitalize() for p in parts[1:]) or None
    )


async def accept(scope: Scope, suggestion_id_: str, data: AcceptInput) -> Suggestion:
    scope.require_write()
    suggestion = await _suggestion(scope, suggestion_id_)
    if suggestion.status == SuggestionStatus.ACCEPTED and suggestion.contact_id:
        return suggestion
    first, last = _names(suggestion, data)
    try:
        contact = await scope.directory.create_contact(
            scope.caller,
            email=suggestion.email,
            first_name=first,
            last_name=last,
            company_id=suggestion.company_id,
        )
    except ContactExists:
        # Someone created it meanwhile: that contact is the one.
        known = await scope.directory.contacts_by_emails(scope.caller, [suggestion.email])
        if suggestion.email not in known:
            raise Conflict(
                f"{suggestion.email} is taken by a deleted contact", field="id"
            ) from None
        contact = known[suggestion.email]
    except DirectoryUnavailable:
        raise Conflict("the contacts service did not answer; try again") from None
    return await resolve(scope, suggestion.id, contact.id, contact.company_id)


async def reject(scope: Scope, suggestion_id_: str) -> Suggestion:
    scope.require_write()
    await _suggestion(scope, suggestion_id_)
    at = scope.now()

    async def decide(suggestion: Suggestion) -> bool:
        if suggestion.status == SuggestionStatus.ACCEPTED:
            raise BadUserInput("an accepted suggestion cannot be rejected", field="id")
        return suggestion.reject(scope.subject, at)

    changed = await scope.store.change_suggestion(suggestion_id_, decide)
    assert changed is not None
    return changed


async def resolve(
    scope: Scope, suggestion_id_: str, contact_id: str, company_id: str | None
) -> Suggestion:
    """The suggestion's address is contact `contact_id` now: what was captured with it
    joins that contact's timeline."""
    at = scope.now()

    async def decide(suggestion: Suggestion) -> bool:
        return suggestion.accept(contact_id, scope.subject, at)

    changed = await scope.store.change_suggestion(suggestion_id_, decide)
    if changed is None:
        raise NotFound(f"no suggestion {suggestion_id_}", field="id")
    for email_id in changed.email_ids:
        await emails.rematch(scope, email_id)
    for meeting_id in changed.meeting_ids:
        await meetings.rematch(scope, meeting_id)
    for visitor_id in changed.visitor_ids:
        await visits.identified(scope, visitor_id, changed.email, contact_id, company_id)
    return changed


async def contact_created(
    scope: Scope, contact_id: str, company_id: str | None, addresses: Sequence[str]
) -> int:
    """A contact was created (by anyone): pending suggestions for its addresses resolve to
    it. Returns how many did."""
    resolved = 0
    ids = [suggestion_id(scope.workspace_id, email.lower()) for email in addresses]
    for suggestion in await scope.store.get_suggestions(ids):
        if suggestion.status == SuggestionStatus.PENDING:
            await resolve(scope, suggestion.id, contact_id, company_id)
            resolved += 1
    return resolved
