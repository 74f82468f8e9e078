"""A person the workspace deals with, and the events their changes raise."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from crm_kit.clock import utcnow
from crm_kit.entity import Entity

from .lifecycle import Stamped
from .rules import search_text

# Attributes clients may change, with the names they know them by.
FIELD_NAMES = {
    "first_name": "firstName",
    "last_name": "lastName",
    "emails": "emails",
    "phones": "phones",
    "title": "title",
    "company_id": "companyId",
    "owner_id": "ownerId",
    "lifecycle_stage": "lifecycleStage",
    "tags": "tags",
    "source": "source",
    "custom_fields": "customFields",
}


def wire_field(name: str) -> str:
    """The client-facing (camelCase) name of a contact attribute."""
    return FIELD_NAMES.get(name, name)


class LifecycleStage(StrEnum):
    LEAD = "lead"
    PROSPECT = "prospect"
    CUSTOMER = "customer"
    CHURNED = "churned"


@dataclass
class Contact(Stamped, Entity):
    FIELD_NAMES: ClassVar[Mapping[str, str]] = FIELD_NAMES

    id: str
    workspace_id: str
    first_name: str
    last_name: str
    # Normalised (lower-case) addresses; the first one is the primary.
    emails: list[str] = field(default_factory=list)
    # E.164.
    phones: list[str] = field(default_factory=list)
    title: str | None = None
    company_id: str | None = None
    owner_id: str | None = None
    lifecycle_stage: LifecycleStage = LifecycleStage.LEAD
    tags: list[str] = field(default_factory=list)
    source: str | None = None
    custom_fields: dict[str, Any] = field(default_factory=dict)
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)
    created_by: str | None = None
    updated_by: str | None = None
    deleted_at: datetime | None = None
    merged_into: str | None = None
    # Ids of contacts merged into this one (makes a resumed merge apply its update once).
    merged_from: list[str] = field(default_factory=list)
    # Lower-cased name of the company, kept for the text filter.
    company_name: str | None = None
    # When the latest interaction with this contact happened (emails, meetings, visits,
    # calls...), not counting ones still to come. Derived: not an edit, so not stamped.
    last_activity_at: datetime | None = None
    version: int = 1
    # The contact's id in the system a file came from (an import's identity key).
    external_id: str | None = None
    # The import job that created it (`crm_contracts.import_batches`: its undo removes it).
    import_job: str | None = None

    @property
    def email(self) -> str | None:
        return self.emails[0] if self.emails else None

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def last_name_key(self) -> str:
        """The sort key of "by last name"."""
        return self.last_name.lower()

    @property
    def search_text(self) -> str:
        """What the text filter searches (with the company name)."""
        return search_text([self.first_name, self.last_name, *self.emails])

    @property
    def email_key(self) -> str:
        """The primary address, unique per workspace; a merged contact frees it for the
        survivor (it can never be restored)."""
        if self.merged_into:
            return f"merged:{self.id}"
        # Unique in FerretDB too, which has no partial indexes: "no email" is per contact.
        return self.email or f"none:{self.id}"

    @classmethod
    def create(
        cls, contact_id: str, workspace_id: str, values: Mapping[str, Any], *, at: datetime, by: str
    ) -> Contact:
        """A new contact with validated `values` (attribute -> value)."""
        contact = cls(
            id=contact_id,
            workspace_id=workspace_id,
            first_name="",
            last_name="",
            created_at=at,
            updated_at=at,
            created_by=by,
            updated_by=by,
        )
        for name, value in values.items():
            setattr(contact, name, value)
        contact.raise_event(ContactCreated(contact))
        return contact

    def change(self, values: Mapping[str, Any], *, at: datetime, by: str) -> list[str]:
        """Apply validated `values`; returns the changed fields (client names), empty when
        nothing changed (then nothing is raised or stamped)."""
        changed = self._apply(values, at=at, by=by)
        if changed:
            self.raise_event(ContactUpdated(self, changed))
        return changed

    def record_activity(self, at: datetime, now: datetime) -> bool:
        """An interaction happened `at`: the last activity moves forward to it (never back,
        never into the future: a meeting next week is not activity yet)."""
        if at > now or (self.last_activity_at is not None and at <= self.last_activity_at):
            return False
        self.last_activity_at = at
        return True

    def delete(self, *, at: datetime, by: str) -> bool:
        if not self._delete(at=at, by=by):
            return False
        self.raise_event(ContactDeleted(self))
        return True

    def restore(self, *, at: datetime, by: str) -> bool:
        """False when it is not deleted. A merged contact is never restored (the caller
        refuses: its addresses now belong to the survivor)."""
        if not self._restore(at=at, by=by):
            return False
        self.raise_event(ContactRestored(self))
        return True

    def merge_into(
        self, survivor: Contact, moved_interactions: int, *, at: datetime, by: str
    ) -> bool:
        """Become merged into `survivor`: deleted for good. False when it already is."""
        if self.merged_into is not None:
            return False
        self.merged_into = survivor.id
        self.deleted_at = self.deleted_at or at
        self.updated_at, self.updated_by = at, by
        self.raise_event(ContactMerged(survivor, self, moved_interactions))
        return True


@dataclass(frozen=True)
class ContactCreated:
    contact: Contact


@dataclass(frozen=True)
class ContactUpdated:
    contact: Contact
    changed: list[str]


@dataclass(frozen=True)
class ContactDeleted:
    contact: Contact


@dataclass(frozen=True)
class ContactRestored:
    contact: Contact


@dataclass(frozen=True)
class ContactMerged:
    survivor: Contact
    duplicate: Contact
    moved_interactions: int
