"""Who a capture concerns. Participants are sorted into the workspace's own people (reps:
its internal domains and the addresses users registered), the parties it never captures,
and the external ones; the external ones are matched to contacts by address (the contacts
service answers), the unknown ones to companies by domain (free-mail domains excluded)
and made suggestions (never contacts); an open deal is linked when the thread was linked
to one, when the subject names one, or when the parties have exactly one."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..domain.addresses import Participant
from ..domain.matching import DealLink, Match
from ..domain.settings import CaptureSettings
from ..domain.suggestion import Suggestion, SuggestionSource, SuggestionStatus, suggestion_id
from ..store.port import DirectoryUnavailable
from .scope import Scope

log = logging.getLogger(__name__)

# External parties one capture matches (a message to thousands is a mailing, not a
# conversation: its first parties are what a timeline can show).
MAX_PARTIES = 50


@dataclass
class Parties:
    reps: list[Participant] = field(default_factory=list)
    external: list[Participant] = field(default_factory=list)
    excluded: list[Participant] = field(default_factory=list)


def sort_parties(
    settings: CaptureSettings, participants: Sequence[Participant], internal: Sequence[str] = ()
) -> Parties:
    """`internal`: addresses known to be the workspace's for this capture (the SMTP
    envelope sender, the polled mailbox) even where no internal domain says so."""
    parties = Parties()
    for person in participants:
        if settings.is_internal(person.email) or person.email in internal:
            parties.reps.append(person)
        elif settings.excludes(person.email):
            parties.excluded.append(person)
        elif len(parties.external) < MAX_PARTIES:
            parties.external.append(person)
    return parties


async def suggest(
    scope: Scope,
    person: Participant,
    source: SuggestionSource,
    company_id: str | None,
    *,
    email_id: str | None = None,
    meeting_id: str | None = None,
    visitor_id: str | None = None,
) -> Suggestion | None:
    """The (pending) suggestion for an unknown address, made or seen again; None when the
    address was rejected before."""
    at = scope.now()
    refs = {"email_id": email_id, "meeting_id": meeting_id, "visitor_id": visitor_id}
    fresh = Suggestion.new(
        scope.workspace_id,
        person.email,
        source,
        at,
        name=person.name,
        company_id=company_id,
        **refs,
    )
    if await scope.store.add_suggestion(fresh):
        return fresh

    async def seen(suggestion: Suggestion) -> bool:
        rejected = suggestion.status == SuggestionStatus.REJECTED
        return not rejected and suggestion.seen(at, name=person.name, **refs)

    found = await scope.store.change_suggestion(
        suggestion_id(scope.workspace_id, person.email), seen
    )
    return found if found is not None and found.status != SuggestionStatus.REJECTED else None


def _choose_deal(deals: list[DealLink], subject: str | None) -> DealLink | None:
    """The deal the subject names (its title, case-insensitively; the longest title wins
    when several are named), else the only one."""
    lowered = (subject or "").lower()
    named = [d for d in deals if d.title and d.title.lower() in lowered]
    if named:
        return max(named, key=lambda d: len(d.title or ""))
    return deals[0] if len(deals) == 1 else None


async def match(
    scope: Scope,
    external: Sequence[Participant],
    source: SuggestionSource,
    *,
    subject: str | None = None,
    thread_deal: DealLink | None = None,
    email_id: str | None = None,
    meeting_id: str | None = None,
) -> Match:
    """Contacts, company, deal and suggestions for the external parties. Raises
    DirectoryUnavailable when the contacts service does not answer (the capture is then
    refused, to be tried again: nothing is half-matched)."""
    caller = scope.caller if scope.acts_for_user else scope.service_caller
    emails = [p.email for p in external]
    known = await scope.directory.contacts_by_emails(caller, emails) if emails else {}
    unknown = [p for p in external if p.email not in known]
    domains = sorted({p.domain for p in unknown if not p.free_mail})
    companies = await scope.directory.companies_by_domains(caller, domains) if domains else {}
    found = Match(contact_ids=list(dict.fromkeys(c.id for c in known.values())))
    company_ids = [c.company_id for c in known.values() if c.company_id]
    company_ids += [companies[p.domain].id for p in unknown if p.domain in companies]
    found.company_id = company_ids[0] if company_ids else None
    for person in unknown:
        company = companies.get(person.domain)
        made = await suggest(
            scope,
            person,
            source,
            company.id if company else None,
            email_id=email_id,
            meeting_id=meeting_id,
        )
        if made is not None:
            found.suggestion_ids.append(made.id)
    if thread_deal is not None:
        found.deal = thread_deal
    elif found.anyone:
        try:
            deals = await scope.directory.open_deals(caller, found.contact_ids, found.company_id)
        except DirectoryUnavailable:
            log.info("deals did not answer: no deal link for this capture")
            deals = []
        found.deal = _choose_deal(deals, subject)
    return found
