"""What each list selects, written once: the kit compiles these filters to MongoDB queries
and evaluates them in memory with the same semantics (`crm_kit.filters`). Fields are the
stored documents' (`documents.py`), derived ones included."""

from __future__ import annotations

from crm_kit.filters import And, Contains, Eq, Filter, Range
from crm_kit.sharing import Visibility

from ..domain.queries import CompanyQuery, ContactQuery, InteractionQuery

LIVE = Eq("deleted_at", None)
# What a contact search looks in (the read index joins their text as it loads).
SEARCHED = ("search_text", "company_name")
# Who holds a contact or a company (record sharing).
HOLDERS = ("owner_id",)


def _optional(field: str, value: object) -> Filter | None:
    return Eq(field, value) if value is not None else None


def contacts_matching(query: ContactQuery) -> Filter:
    return And(
        None if query.include_deleted else LIVE,
        _text(query),
        _optional("owner_id", query.owner_id),
        _optional("lifecycle_stage", query.lifecycle_stage),
        _optional("tags", query.tag),
        _optional("company_id", query.company_id),
        _created(query),
        Visibility(query.visible_to).filter(HOLDERS),
    )


def _created(query: ContactQuery) -> Filter | None:
    # Left out without a bound (it selects everything): a search runs the rest of the
    # filter over every contact it finds.
    if query.created_after is None and query.created_before is None:
        return None
    return Range("created_at", gte=query.created_after, lt=query.created_before)


def _text(query: ContactQuery) -> Filter | None:
    if not query.text:
        return None
    if query.names_only:
        # Not the addresses (in `search_text`): a caller who may not read them must not
        # learn them by searching. The names as typed, matched in any case.
        return Contains(("first_name", "last_name", "company_name"), query.text, ignore_case=True)
    return Contains(SEARCHED, query.text)


def companies_matching(query: CompanyQuery) -> Filter:
    return And(
        None if query.include_deleted else LIVE,
        Contains("search_text", query.text) if query.text else None,
        _optional("owner_id", query.owner_id),
        _optional("tags", query.tag),
        _optional("industry", query.industry),
        Visibility(query.visible_to).filter(HOLDERS),
    )


def timeline_of(query: InteractionQuery) -> Filter:
    return And(
        _optional("contact_ids", query.contact_id),
        _optional("company_id", query.company_id),
        # Cancelled captured meetings stay stored (their revision guards against a late
        # repeat of the invitation) but leave the timeline.
        Eq("removed_at", None),
    )
