"""Look-ups of companies by domain on the embedded database (the `ferretdb` profile only).

The capture service asks "which company has this domain" for every unknown address it
captures; on FerretDB's SQLite backend a filter on `domain_key` scans every company.
`company_domains` maps "<workspace>:<domain>" to the company holding it, so the question
is one `_id` look-up per domain. Every write of a company claims its domain (a write
hook); a workspace's companies written before the claims existed are claimed once, by
one scan, the first time its domains are asked (then a marker says it is done). A claim
is verified against the company it names, so a stale one is ignored; the unique index on
`domain_key` stays the guard.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from crm_kit.records import RecordSource, RecordType
from crm_kit.writer import Written

from ..config import DOMAIN_CLAIMS
from ..domain.company import Company
from .documents import COMPANY

# The marker's domain part: no real domain has no dot.
BACKFILLED = "backfilled"


@dataclass
class DomainClaim:
    id: str  # "<workspace>:<domain>"
    workspace_id: str
    company_id: str


def _to_doc(claim: DomainClaim) -> dict[str, Any]:
    return {"_id": claim.id, "workspace_id": claim.workspace_id, "company_id": claim.company_id}


def _from_doc(doc: Mapping[str, Any]) -> DomainClaim:
    return DomainClaim(doc["_id"], doc["workspace_id"], doc["company_id"])


CLAIM = RecordType(DOMAIN_CLAIMS, _to_doc, _from_doc)


class DomainClaims:
    def __init__(self, source: RecordSource) -> None:
        self.source = source
        # Companies whose claims a bulk insert writes together (`claim_many`).
        self.deferred: set[str] = set()

    async def on_write(self, written: Written) -> None:
        record = written.record
        # A record inserted with a batch is claimed with it (`claim_many`).
        if isinstance(record, Company) and record.id not in self.deferred:
            await self.claim(record)

    async def claim_many(self, workspace_id: str, companies: Sequence[Company]) -> None:
        """The claims of companies inserted together: one statement, then one write per
        domain another company claimed before (a stale claim: replaced)."""
        claims = [
            DomainClaim(f"{workspace_id}:{c.domain}", workspace_id, c.id)
            for c in companies
            if c.domain
        ]
        records = self.source.records(CLAIM, workspace_id)
        for stale in await records.insert_many(claims) if claims else []:
            await records.put(stale)

    async def claim(self, company: Company) -> None:
        if company.domain:
            claims = self.source.records(CLAIM, company.workspace_id)
            claim_id = f"{company.workspace_id}:{company.domain}"
            await claims.put(DomainClaim(claim_id, company.workspace_id, company.id))

    async def holders(self, workspace_id: str, domains: Sequence[str]) -> list[str]:
        claims = self.source.records(CLAIM, workspace_id)
        marker = f"{workspace_id}:{BACKFILLED}"
        if not await claims.get([marker]):
            for company in await self.source.records(COMPANY, workspace_id).find():
                await self.claim(company)
            await claims.put(DomainClaim(marker, workspace_id, ""))
        found = await claims.get([f"{workspace_id}:{d}" for d in dict.fromkeys(domains)])
        return list(dict.fromkeys(claim.company_id for claim in found))
