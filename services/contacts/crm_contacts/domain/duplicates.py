"""Which contacts are probably the same person: same email, same phone, or a similar name
at the same company."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from .contact import Contact
from .rules import fold


class DuplicateReason(StrEnum):
    SAME_EMAIL = "same_email"
    SAME_PHONE = "same_phone"
    SIMILAR_NAME = "similar_name"


@dataclass
class DuplicateCandidate:
    contact: Contact
    reasons: list[DuplicateReason] = field(default_factory=list)


def edit_distance(a: str, b: str, limit: int) -> int:
    """Levenshtein distance, giving up (returning limit + 1) once it exceeds `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b))
            )
        if min(current) > limit:
            return limit + 1
        previous = current
    return previous[-1]


def similar_names(a: Contact, b: Contact) -> bool:
    """Equal once folded (case, accents, punctuation), or a typo apart: at most one edit
    for short names, two for names of ten letters or more."""
    name_a, name_b = fold(a.full_name), fold(b.full_name)
    if not name_a or not name_b:
        return False
    if name_a == name_b:
        return True
    limit = 2 if min(len(name_a), len(name_b)) >= 10 else 1
    return edit_distance(name_a, name_b, limit) <= limit


def duplicate_reasons(target: Contact, other: Contact) -> list[DuplicateReason]:
    reasons: list[DuplicateReason] = []
    if set(target.emails) & set(other.emails):
        reasons.append(DuplicateReason.SAME_EMAIL)
    if set(target.phones) & set(other.phones):
        reasons.append(DuplicateReason.SAME_PHONE)
    if target.company_id and target.company_id == other.company_id and similar_names(target, other):
        reasons.append(DuplicateReason.SIMILAR_NAME)
    return reasons


def rank(target: Contact, others: list[Contact]) -> list[DuplicateCandidate]:
    """Candidates with at least one reason, strongest first (more reasons, then email)."""
    found: list[DuplicateCandidate] = []
    for other in others:
        if other.id == target.id or other.deleted:
            continue
        reasons = duplicate_reasons(target, other)
        if reasons:
            found.append(DuplicateCandidate(other, reasons))
    found.sort(
        key=lambda c: (-len(c.reasons), DuplicateReason.SAME_EMAIL not in c.reasons, c.contact.id)
    )
    return found
