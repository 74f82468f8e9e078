"""Who a capture turned out to concern: the known contacts, the company, the deal, the
rep, and the suggestions made for the unknown."""

from __future__ import annotations

from dataclasses import dataclass, field

from crm_kit.errors import CRMError


@dataclass(frozen=True)
class DealLink:
    """An open deal a capture was linked to, as the deals service described it."""

    id: str
    title: str | None = None
    stage_key: str | None = None
    status: str | None = None
    owner_id: str | None = None
    pipeline_id: str | None = None


@dataclass(frozen=True)
class KnownContact:
    id: str
    email: str
    company_id: str | None = None
    owner_id: str | None = None


@dataclass(frozen=True)
class KnownCompany:
    id: str
    domain: str
    name: str | None = None


@dataclass
class Match:
    contact_ids: list[str] = field(default_factory=list)
    company_id: str | None = None
    deal: DealLink | None = None
    suggestion_ids: list[str] = field(default_factory=list)

    @property
    def anyone(self) -> bool:
        """A known contact or company took part: the capture goes on a timeline."""
        return bool(self.contact_ids or self.company_id)


class DirectoryUnavailable(CRMError):
    """The contacts or deals service did not answer (in time): what depends on it is
    refused, to be tried again (nothing is half-matched)."""

    code = "SERVICE_UNAVAILABLE"


class ContactExists(Exception):
    """Creating a contact was refused: a contact holds the address already."""
