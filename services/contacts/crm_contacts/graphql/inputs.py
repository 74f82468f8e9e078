"""GraphQL input types and their conversion to the plain dicts the use cases take.

Update inputs default to UNSET so that "not given" (keep) differs from `null` (clear)."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from enum import Enum
from typing import Any

import strawberry
from strawberry.scalars import JSON

from .types import Direction, InteractionKind, LifecycleStage, OrderDirection


def provided(value: Any) -> dict[str, Any]:
    """The fields a client actually sent, snake_case, enums as their values."""
    out: dict[str, Any] = {}
    for item in dataclasses.fields(value):
        raw = getattr(value, item.name)
        if raw is strawberry.UNSET:
            continue
        out[item.name] = _plain(raw)
    return out


def _plain(raw: Any) -> Any:
    if isinstance(raw, Enum):
        return raw.value
    if dataclasses.is_dataclass(raw) and not isinstance(raw, type):
        return provided(raw)
    if isinstance(raw, list):
        return [_plain(v) for v in raw]
    return raw


@strawberry.input
class AddressInput:
    street: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None


@strawberry.input
class CreateCompanyInput:
    name: str
    domain: str | None = None
    industry: str | None = None
    size: int | None = None
    address: AddressInput | None = None
    website: str | None = None
    owner_id: str | None = None
    tags: list[str] | None = None
    custom_fields: JSON | None = None


@strawberry.input
class UpdateCompanyInput:
    name: str | None = strawberry.UNSET
    domain: str | None = strawberry.UNSET
    industry: str | None = strawberry.UNSET
    size: int | None = strawberry.UNSET
    address: AddressInput | None = strawberry.UNSET
    website: str | None = strawberry.UNSET
    owner_id: str | None = strawberry.UNSET
    tags: list[str] | None = strawberry.UNSET
    custom_fields: JSON | None = strawberry.UNSET


@strawberry.input
class CreateContactInput:
    first_name: str
    last_name: str | None = None
    email: str | None = strawberry.field(default=None, description="The primary address.")
    emails: list[str] | None = strawberry.field(
        default=None, description="Further addresses (the primary one need not be repeated)."
    )
    phones: list[str] | None = strawberry.field(
        default=None, description="Any common format; stored as E.164."
    )
    title: str | None = None
    company_id: strawberry.ID | None = None
    owner_id: str | None = None
    lifecycle_stage: LifecycleStage | None = None
    tags: list[str] | None = None
    source: str | None = None
    custom_fields: JSON | None = None


@strawberry.input
class UpdateContactInput:
    first_name: str | None = strawberry.UNSET
    last_name: str | None = strawberry.UNSET
    email: str | None = strawberry.field(
        default=strawberry.UNSET, description="New primary address."
    )
    emails: list[str] | None = strawberry.field(
        default=strawberry.UNSET, description="Replaces the further (non-primary) addresses."
    )
    phones: list[str] | None = strawberry.UNSET
    title: str | None = strawberry.UNSET
    company_id: strawberry.ID | None = strawberry.UNSET
    owner_id: str | None = strawberry.UNSET
    lifecycle_stage: LifecycleStage | None = strawberry.UNSET
    tags: list[str] | None = strawberry.UNSET
    source: str | None = strawberry.UNSET
    custom_fields: JSON | None = strawberry.UNSET


@strawberry.input
class LogInteractionInput:
    kind: InteractionKind
    contact_id: strawberry.ID | None = None
    contact_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Further contacts taking part."
    )
    company_id: strawberry.ID | None = strawberry.field(
        default=None, description="Defaults to the (first) contact's company."
    )
    deal_id: strawberry.ID | None = None
    occurred_at: datetime | None = strawberry.field(default=None, description="Default: now.")
    direction: Direction | None = None
    subject: str | None = None
    summary: str | None = None
    participants: list[str] | None = None
    duration_seconds: int | None = None


@strawberry.enum
class ContactOrderField(Enum):
    CREATED_AT = "created_at"
    UPDATED_AT = "updated_at"
    LAST_NAME = "last_name_key"


@strawberry.input
class ContactOrder:
    field: ContactOrderField = ContactOrderField.CREATED_AT
    direction: OrderDirection = OrderDirection.DESC


@strawberry.enum
class CompanyOrderField(Enum):
    CREATED_AT = "created_at"
    UPDATED_AT = "updated_at"
    NAME = "name_key"


@strawberry.input
class CompanyOrder:
    field: CompanyOrderField = CompanyOrderField.CREATED_AT
    direction: OrderDirection = OrderDirection.DESC


@strawberry.input
class ContactFilter:
    text: str | None = strawberry.field(
        default=None, description="Case-insensitive, within name, email or company name."
    )
    owner_id: str | None = None
    lifecycle_stage: LifecycleStage | None = None
    tag: str | None = None
    company_id: strawberry.ID | None = None
    created_after: datetime | None = strawberry.field(default=None, description="Inclusive.")
    created_before: datetime | None = strawberry.field(default=None, description="Exclusive.")
    include_deleted: bool = strawberry.field(default=False, description="Managers and admins only.")


@strawberry.input
class CompanyFilter:
    text: str | None = strawberry.field(
        default=None, description="Case-insensitive, within name or domain."
    )
    owner_id: str | None = None
    tag: str | None = None
    industry: str | None = None
    include_deleted: bool = strawberry.field(default=False, description="Managers and admins only.")
