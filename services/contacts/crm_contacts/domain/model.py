"""The records this service owns. Plain dataclasses; storage and GraphQL map to them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class LifecycleStage(StrEnum):
    LEAD = "lead"
    PROSPECT = "prospect"
    CUSTOMER = "customer"
    CHURNED = "churned"


class InteractionKind(StrEnum):
    EMAIL = "email"
    CALL = "call"
    MEETING = "meeting"
    NOTE = "note"
    WEB_VISIT = "web_visit"


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


def utcnow() -> datetime:
    """Now, truncated to milliseconds: what MongoDB stores, so a value read back equals it."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def to_millis(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


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
class Company:
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

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None


@dataclass
class Contact:
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
    version: int = 1

    @property
    def email(self) -> str | None:
        return self.emails[0] if self.emails else None

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


@dataclass
class Interaction:
    id: str
    workspace_id: str
    kind: InteractionKind
    occurred_at: datetime
    direction: Direction | None = None
    subject: str | None = None
    summary: str | None = None
    participants: list[str] = field(default_factory=list)
    duration_seconds: int | None = None
    contact_ids: list[str] = field(default_factory=list)
    company_id: str | None = None
    deal_id: str | None = None
    logged_by: str | None = None
    created_at: datetime = field(default_factory=utcnow)


@dataclass
class MergeRecord:
    """Written before a merge changes anything, so an interrupted merge can be resumed."""

    duplicate_id: str
    workspace_id: str
    survivor_id: str
    moved_interactions: int
    changed_fields: list[str]
    status: str = "started"  # started | done
    started_at: datetime = field(default_factory=utcnow)
    finished_at: datetime | None = None


@dataclass
class Page(Generic[T]):
    items: list[T]
    total: int
    has_next: bool
