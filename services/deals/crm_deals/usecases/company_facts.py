"""The deals service's copy of the companies' attributes the win model reads.

Why a copy kept from events rather than a request to the contacts service at training
time: training and every estimate then need no other service up (a deal's estimate is
computed when it is created or moved), and a new durable consumer replays the contacts
stream from its start, so existing companies arrive too. One small document per company
(`company_facts/<workspace>:<companyId>`): industry (trimmed, lower case: `Technolgy` and
`technolgy` are one level), size (employees), the version time it came from, and a
deletion mark. An event older than what is stored changes nothing, so redeliveries and
reordering are harmless.
"""

from __future__ import annotations

from typing import Any

from ..store.documents import Documents


def _industry(value: str | None) -> str | None:
    text = " ".join((value or "").split()).lower()
    return text[:80] or None


class CompanyFactsService:
    def __init__(self, documents: Documents) -> None:
        self.documents = documents

    async def _newer(self, company_id: str, version: str) -> dict[str, Any] | None:
        """The stored facts, or None when `version` is not newer than them."""
        stored = await self.documents.get(company_id) or {}
        if stored.get("version") and stored["version"] >= version:
            return None
        return stored

    async def upsert(
        self, company_id: str, industry: str | None, size: int | None, version: str
    ) -> bool:
        stored = await self._newer(company_id, version)
        if stored is None:
            return False
        await self.documents.put(
            company_id,
            {
                "company_id": company_id,
                "industry": _industry(industry),
                "size": size if isinstance(size, int) and size >= 0 else None,
                "version": version,
                "deleted": False,
            },
        )
        return True

    async def deleted(self, company_id: str, version: str) -> bool:
        stored = await self._newer(company_id, version)
        if stored is None:
            return False
        await self.documents.put(
            company_id, {**stored, "company_id": company_id, "version": version, "deleted": True}
        )
        return True
