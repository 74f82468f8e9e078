"""The deals service's copy of the companies' attributes the win model reads.

Why a copy kept from events rather than a request to the contacts service at training
time: training and every estimate then need no other service up (a deal's estimate is
computed when it is created or moved), and a new durable consumer replays the contacts
stream from its start, so existing companies arrive too. One small record per company:
industry (trimmed, lower case: `Technolgy` and `technolgy` are one level), size
(employees), the version time it came from, and a deletion mark. An event older than what
is stored changes nothing, so redeliveries and reordering are harmless.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from ..domain.records import CompanyFacts
from ..domain.win_features import CompanyFact
from .scope import Scope


def _industry(value: str | None) -> str | None:
    text = " ".join((value or "").split()).lower()
    return text[:80] or None


async def _newer(scope: Scope, company_id: str, version: datetime) -> CompanyFacts | bool | None:
    """The stored facts (None: none yet), or False when `version` is not newer."""
    stored = await scope.store.get_company_facts(company_id)
    if stored is not None and stored.version >= version:
        return False
    return stored


async def company_seen(
    scope: Scope, company_id: str, industry: str | None, size: int | None, version: datetime
) -> bool:
    if await _newer(scope, company_id, version) is False:
        return False
    facts = CompanyFacts(
        workspace_id=scope.workspace_id,
        company_id=company_id,
        industry=_industry(industry),
        size=_size(size),
        version=version,
    )
    await scope.store.put_company_facts(facts)
    return True


@dataclass(frozen=True)
class Seen:
    """A company as an event showed it."""

    company_id: str
    industry: str | None
    size: int | None
    version: datetime


async def companies_seen(scope: Scope, seen: Sequence[Seen]) -> int:
    """Many companies of the workspace at once (a burst of events, e.g. an import's): the
    facts of companies not yet known in one write (no read first: in a burst nearly all
    are new), those the write refuses (known) one by one as `company_seen` does, newer
    versions only. Returns how many were taken."""
    newest: dict[str, Seen] = {}
    for company in seen:
        held = newest.get(company.company_id)
        if held is None or company.version > held.version:
            newest[company.company_id] = company
    fresh = [
        CompanyFacts(
            workspace_id=scope.workspace_id,
            company_id=company.company_id,
            industry=_industry(company.industry),
            size=_size(company.size),
            version=company.version,
        )
        for company in newest.values()
    ]
    known = {f.company_id for f in await scope.store.add_company_facts(fresh)}
    taken = len(fresh) - len(known)
    for company_id in known:
        company = newest[company_id]
        taken += await company_seen(
            scope, company.company_id, company.industry, company.size, company.version
        )
    return taken


def _size(size: int | None) -> int | None:
    return size if isinstance(size, int) and size >= 0 else None


async def company_gone(scope: Scope, company_id: str, version: datetime) -> bool:
    stored = await _newer(scope, company_id, version)
    if stored is False:
        return False
    if isinstance(stored, CompanyFacts):
        facts = replace(stored, version=version, deleted=True)
    else:
        facts = CompanyFacts(scope.workspace_id, company_id, None, None, version, deleted=True)
    await scope.store.put_company_facts(facts)
    return True


async def known_companies(scope: Scope) -> dict[str, CompanyFact]:
    """What training reads: every live company's facts."""
    return {
        f.company_id: CompanyFact(f.industry, f.size)
        for f in await scope.store.all_company_facts()
        if not f.deleted
    }
