"""What each list selects, written once (`crm_kit.filters`: compiled to MongoDB queries and
evaluated in memory with the same semantics). Fields are the stored documents'."""

from __future__ import annotations

from crm_kit.filters import And, Eq, Filter

from ..domain.queries import EmailQuery, SuggestionQuery


def suggestions_matching(query: SuggestionQuery) -> Filter:
    return And(Eq("status", query.status.value) if query.status else None)


def emails_matching(query: EmailQuery) -> Filter:
    return And(Eq("status", query.status.value) if query.status else None)


def imap_accounts_of(user_id: str | None) -> Filter:
    return And(Eq("enabled", True), Eq("user_id", user_id) if user_id else None)


ENABLED = Eq("enabled", True)
