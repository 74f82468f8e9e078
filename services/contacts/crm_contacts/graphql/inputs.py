"""GraphQL input types and their conversion to the use cases' typed inputs.

Update inputs default to UNSET so that "not given" (keep) differs from `null` (clear)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TypeVar

import strawberry
from strawberry.scalars import JSON

from crm_kit.unset import UNSET, Unset

from ..usecases import inputs
from .enums import Direction, InteractionKind, LifecycleStage, OrderDirection

T = TypeVar("T")


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


def _given(value: T) -> T | Unset:
    """Strawberry's "not sent" as the use cases' UNSET."""
    return UNSET if value is strawberry.UNSET else value


def _address(value: AddressInput | None) -> inputs.AddressInput | Unset | None:
    if value is strawberry.UNSET:
        return UNSET
    if value is None:
        return None
    return inputs.AddressInput(
        street=value.street,
        city=value.city,
        region=value.region,
        postal_code=value.postal_code,
        country=value.country,
    )


def company_input(data: CreateCompanyInput | UpdateCompanyInput) -> inputs.CompanyInput:
    return inputs.CompanyInput(
        name=_given(data.name),
        domain=_given(data.domain),
        industry=_given(data.industry),
        size=_given(data.size),
        address=_address(data.address),
        website=_given(data.website),
        owner_id=_given(data.owner_id),
        tags=_given(data.tags),
        custom_fields=_given(data.custom_fields),
    )


def contact_input(data: CreateContactInput | UpdateContactInput) -> inputs.ContactInput:
    return inputs.ContactInput(
        first_name=_given(data.first_name),
        last_name=_given(data.last_name),
        email=_given(data.email),
        emails=_given(data.emails),
        phones=_given(data.phones),
        title=_given(data.title),
        company_id=_given(data.company_id),
        owner_id=_given(data.owner_id),
        lifecycle_stage=_given(data.lifecycle_stage),
        tags=_given(data.tags),
        source=_given(data.source),
        custom_fields=_given(data.custom_fields),
    )


def interaction_input(data: LogInteractionInput) -> inputs.InteractionInput:
    return inputs.InteractionInput(
        kind=data.kind,
        contact_id=data.contact_id,
        contact_ids=[str(i) for i in data.contact_ids or []],
        company_id=data.company_id,
        deal_id=data.deal_id,
        occurred_at=data.occurred_at,
        direction=data.direction,
        subject=data.subject,
        summary=data.summary,
        participants=list(data.participants or []),
        duration_seconds=data.duration_seconds,
    )
