"""What clients give the use cases, typed. An optional field left `UNSET` is "not given"
(an update keeps the stored value); `None` is "clear it"."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crm_kit.unset import UNSET, Unset

from ..domain.contact import LifecycleStage
from ..domain.interaction import Direction, InteractionKind


@dataclass(frozen=True)
class AddressInput:
    street: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None


@dataclass(frozen=True)
class CompanyInput:
    name: str | Unset | None = UNSET
    domain: str | Unset | None = UNSET
    industry: str | Unset | None = UNSET
    size: int | Unset | None = UNSET
    address: AddressInput | Unset | None = UNSET
    website: str | Unset | None = UNSET
    owner_id: str | Unset | None = UNSET
    tags: list[str] | Unset | None = UNSET
    custom_fields: Any = UNSET  # a JSON object


@dataclass(frozen=True)
class ContactInput:
    first_name: str | Unset | None = UNSET
    last_name: str | Unset | None = UNSET
    email: str | Unset | None = UNSET  # the primary address
    emails: list[str] | Unset | None = UNSET  # the further addresses
    phones: list[str] | Unset | None = UNSET
    title: str | Unset | None = UNSET
    company_id: str | Unset | None = UNSET
    owner_id: str | Unset | None = UNSET
    lifecycle_stage: LifecycleStage | Unset | None = UNSET
    tags: list[str] | Unset | None = UNSET
    source: str | Unset | None = UNSET
    custom_fields: Any = UNSET  # a JSON object


@dataclass(frozen=True)
class InteractionInput:
    kind: InteractionKind
    contact_id: str | None = None
    contact_ids: list[str] = field(default_factory=list)
    company_id: str | None = None
    deal_id: str | None = None
    occurred_at: datetime | None = None
    direction: Direction | None = None
    subject: str | None = None
    summary: str | None = None
    participants: list[str] = field(default_factory=list)
    duration_seconds: int | None = None
    # A deterministic id (the importer's demo data: a second run finds it); else new.
    id: str | None = None


@dataclass(frozen=True)
class CapturedInteractionInput:
    """An interaction the capture service recorded (an email, a meeting occurrence, a web
    session): its id is derived from what was captured, `revision` orders its versions."""

    interaction_id: str
    revision: int
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
