"""A company (account) contacts work at, and the events its changes raise."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from crm_kit.clock import utcnow
from crm_kit.entity import Entity

from .lifecycle import Stamped
from .rules import name_key

# Attributes clients may change, with the names they know them by.
FIELD_NAMES = {
    "name": "name",
    "domain": "domain",
    "industry": "industry",
    "size": "size",
    "address": "address",
    "website": "website",
    "owner_id": "ownerId",
    "tags": "tags",
    "custom_fields": "customFields",
}


@dataclass
class Address:
    street: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None

    def is_empty(self) -> bool:
        return not any((self.street, self.city, self.region, self.postal_code, self.country))


@dataclass
class Company(Stamped, Entity):
    FIELD_NAMES: ClassVar[Mapping[str, str]] = FIELD_NAMES

    id: str
    workspace_id: str
    name: str
    domain: str | None = None
    industry: str | None = None
    size: int | None = None
    address: Address = field(default_factory=Address)
    website: str | None = None
    owner_id: str | None = None
    tags: list[str] = field(default_factory=list)
    custom_fields: dict[str, Any] = field(default_factory=dict)
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)
    created_by: str | None = None
    updated_by: str | None = None
    deleted_at: datetime | None = None
    version: int = 1
    # The company's id in the system a file came from (an import's identity key).
    external_id: str | None = None
    # The import job that created it (`crm_contracts.import_batches`: its undo removes it).
    import_job: str | None = None

    @property
    def name_key(self) -> str:
        """Exact, case-insensitive name: company look-up by name and its sort order."""
        return name_key(self.name)

    @property
    def search_text(self) -> str:
        """What the text filter searches."""
        return " ".join(filter(None, [self.name_key, self.domain]))

    @classmethod
    def create(
        cls, company_id: str, workspace_id: str, values: Mapping[str, Any], *, at: datetime, by: str
    ) -> Company:
        """A new company with validated `values` (attribute -> value)."""
        company = cls(
            id=company_id,
            workspace_id=workspace_id,
            name="",
            created_at=at,
            updated_at=at,
            created_by=by,
            updated_by=by,
        )
        for name, value in values.items():
            setattr(company, name, value)
        company.raise_event(CompanyCreated(company))
        return company

    def change(self, values: Mapping[str, Any], *, at: datetime, by: str) -> list[str]:
        """Apply validated `values`; returns the changed fields (client names), empty when
        nothing changed (then nothing is raised or stamped)."""
        changed = self._apply(values, at=at, by=by)
        if changed:
            self.raise_event(CompanyUpdated(self, changed))
        return changed

    def delete(self, *, at: datetime, by: str) -> bool:
        if not self._delete(at=at, by=by):
            return False
        self.raise_event(CompanyDeleted(self))
        return True

    def restore(self, *, at: datetime, by: str) -> bool:
        if not self._restore(at=at, by=by):
            return False
        self.raise_event(CompanyRestored(self))
        return True


@dataclass(frozen=True)
class CompanyCreated:
    company: Company


@dataclass(frozen=True)
class CompanyUpdated:
    company: Company
    changed: list[str]


@dataclass(frozen=True)
class CompanyDeleted:
    company: Company


@dataclass(frozen=True)
class CompanyRestored:
    company: Company
