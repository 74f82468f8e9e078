"""GraphQL object types. Each wraps a domain record (kept private) and exposes it."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from crm_kit.relay_types import PageInfo

from ..domain import model
from ..domain.duplicates import DuplicateReason as DomainDuplicateReason
from ..domain.merge import FieldChange as DomainFieldChange
from ..service import wire_field
from ..store.protocol import ContactQuery, InteractionQuery
from .paging import cursor_of, parse_after, parse_first

LifecycleStage = strawberry.enum(model.LifecycleStage, name="LifecycleStage")
InteractionKind = strawberry.enum(model.InteractionKind, name="InteractionKind")
Direction = strawberry.enum(model.Direction, name="Direction")
DuplicateReason = strawberry.enum(DomainDuplicateReason, name="DuplicateReason")


@strawberry.enum
class OrderDirection(Enum):
    ASC = "asc"
    DESC = "desc"


@strawberry.type
class Address:
    street: str | None
    city: str | None
    region: str | None
    postal_code: str | None
    country: str | None

    @classmethod
    def of(cls, address: model.Address) -> Address:
        return cls(
            street=address.street,
            city=address.city,
            region=address.region,
            postal_code=address.postal_code,
            country=address.country,
        )


def _visible(record: Any, info: Info) -> bool:
    """Deleted records resolve to null through references (`_entities`, `Contact.company`,
    `Interaction.contacts`); `contact(id, includeDeleted: true)` shows them to admins."""
    return not record.deleted


async def _timeline(
    info: Info, first: int | None, after: str | None, **scope: str
) -> InteractionConnection:
    page = await info.context.service.timeline(
        InteractionQuery(first=parse_first(first), after=parse_after(after, "occurred_at"), **scope)
    )
    return InteractionConnection.of(page)


@strawberry.federation.type(keys=["id"], description="A company (account) contacts work at.")
class Company:
    id: strawberry.ID
    name: str
    domain: str | None
    industry: str | None
    size: int | None = strawberry.field(description="Number of employees.")
    address: Address | None
    website: str | None
    owner_id: str | None
    tags: list[str]
    custom_fields: JSON
    created_at: datetime
    updated_at: datetime
    created_by: str | None
    updated_by: str | None
    deleted_at: datetime | None

    @classmethod
    def of(cls, company: model.Company) -> Company:
        return cls(
            id=strawberry.ID(company.id),
            name=company.name,
            domain=company.domain,
            industry=company.industry,
            size=company.size,
            address=None if company.address.is_empty() else Address.of(company.address),
            website=company.website,
            owner_id=company.owner_id,
            tags=list(company.tags),
            custom_fields=company.custom_fields,
            created_at=company.created_at,
            updated_at=company.updated_at,
            created_by=company.created_by,
            updated_by=company.updated_by,
            deleted_at=company.deleted_at,
        )

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> Company | None:
        company = await info.context.companies.load(str(id))
        return cls.of(company) if company and _visible(company, info) else None

    @strawberry.field(description="People at this company, newest first.")
    async def contacts(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> ContactConnection:
        query = ContactQuery(
            first=parse_first(first),
            after=parse_after(after, "created_at"),
            company_id=str(self.id),
        )
        page = await info.context.service.list_contacts(query)
        return ContactConnection.of(page, "created_at")

    @strawberry.field(description="The company's timeline, newest first.")
    async def interactions(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> InteractionConnection:
        return await _timeline(info, first, after, company_id=str(self.id))


@strawberry.federation.type(keys=["id"], description="A person the workspace deals with.")
class Contact:
    id: strawberry.ID
    first_name: str
    last_name: str
    name: str
    email: str | None = strawberry.field(description="Primary email address.")
    emails: list[str] = strawberry.field(description="All addresses, the primary first.")
    phones: list[str] = strawberry.field(description="E.164 phone numbers.")
    title: str | None
    company_id: strawberry.ID | None
    owner_id: str | None
    lifecycle_stage: LifecycleStage
    tags: list[str]
    source: str | None
    custom_fields: JSON
    created_at: datetime
    updated_at: datetime
    created_by: str | None
    updated_by: str | None
    deleted_at: datetime | None
    merged_into_id: strawberry.ID | None

    @classmethod
    def of(cls, contact: model.Contact) -> Contact:
        return cls(
            id=strawberry.ID(contact.id),
            first_name=contact.first_name,
            last_name=contact.last_name,
            name=contact.full_name,
            email=contact.email,
            emails=list(contact.emails),
            phones=list(contact.phones),
            title=contact.title,
            company_id=strawberry.ID(contact.company_id) if contact.company_id else None,
            owner_id=contact.owner_id,
            lifecycle_stage=contact.lifecycle_stage,
            tags=list(contact.tags),
            source=contact.source,
            custom_fields=contact.custom_fields,
            created_at=contact.created_at,
            updated_at=contact.updated_at,
            created_by=contact.created_by,
            updated_by=contact.updated_by,
            deleted_at=contact.deleted_at,
            merged_into_id=strawberry.ID(contact.merged_into) if contact.merged_into else None,
        )

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> Contact | None:
        contact = await info.context.contacts.load(str(id))
        return cls.of(contact) if contact and _visible(contact, info) else None

    @strawberry.field
    async def company(self, info: Info) -> Company | None:
        if self.company_id is None:
            return None
        company = await info.context.companies.load(str(self.company_id))
        return Company.of(company) if company and _visible(company, info) else None

    @strawberry.field(description="The contact's timeline, newest first.")
    async def interactions(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> InteractionConnection:
        return await _timeline(info, first, after, contact_id=str(self.id))


@strawberry.type(description="Something that happened with contacts: an email, a call...")
class Interaction:
    id: strawberry.ID
    kind: InteractionKind
    occurred_at: datetime
    direction: Direction | None
    subject: str | None
    summary: str | None
    participants: list[str]
    duration_seconds: int | None
    contact_ids: list[strawberry.ID]
    company_id: strawberry.ID | None
    deal_id: strawberry.ID | None = strawberry.field(
        description="A deal of the deals service (plain id; that subgraph owns Deal)."
    )
    logged_by: str | None
    created_at: datetime

    @classmethod
    def of(cls, interaction: model.Interaction) -> Interaction:
        return cls(
            id=strawberry.ID(interaction.id),
            kind=interaction.kind,
            occurred_at=interaction.occurred_at,
            direction=interaction.direction,
            subject=interaction.subject,
            summary=interaction.summary,
            participants=list(interaction.participants),
            duration_seconds=interaction.duration_seconds,
            contact_ids=[strawberry.ID(i) for i in interaction.contact_ids],
            company_id=strawberry.ID(interaction.company_id) if interaction.company_id else None,
            deal_id=strawberry.ID(interaction.deal_id) if interaction.deal_id else None,
            logged_by=interaction.logged_by,
            created_at=interaction.created_at,
        )

    @strawberry.field
    async def contacts(self, info: Info) -> list[Contact]:
        found = await info.context.contacts.load_many([str(i) for i in self.contact_ids])
        return [Contact.of(c) for c in found if c is not None and _visible(c, info)]

    @strawberry.field
    async def company(self, info: Info) -> Company | None:
        if self.company_id is None:
            return None
        company = await info.context.companies.load(str(self.company_id))
        return Company.of(company) if company and _visible(company, info) else None


@strawberry.type
class ContactEdge:
    node: Contact
    cursor: str


@strawberry.type
class ContactConnection:
    edges: list[ContactEdge]
    page_info: PageInfo
    total_count: int

    @classmethod
    def of(cls, page: model.Page[model.Contact], field: str) -> ContactConnection:
        edges = [ContactEdge(node=Contact.of(c), cursor=cursor_of(c, field)) for c in page.items]
        return cls(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next, end_cursor=edges[-1].cursor if edges else None
            ),
            total_count=page.total,
        )


@strawberry.type
class CompanyEdge:
    node: Company
    cursor: str


@strawberry.type
class CompanyConnection:
    edges: list[CompanyEdge]
    page_info: PageInfo
    total_count: int

    @classmethod
    def of(cls, page: model.Page[model.Company], field: str) -> CompanyConnection:
        edges = [CompanyEdge(node=Company.of(c), cursor=cursor_of(c, field)) for c in page.items]
        return cls(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next, end_cursor=edges[-1].cursor if edges else None
            ),
            total_count=page.total,
        )


@strawberry.type
class InteractionEdge:
    node: Interaction
    cursor: str


@strawberry.type
class InteractionConnection:
    edges: list[InteractionEdge]
    page_info: PageInfo
    total_count: int

    @classmethod
    def of(cls, page: model.Page[model.Interaction]) -> InteractionConnection:
        edges = [
            InteractionEdge(node=Interaction.of(i), cursor=cursor_of(i, "occurred_at"))
            for i in page.items
        ]
        return cls(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next, end_cursor=edges[-1].cursor if edges else None
            ),
            total_count=page.total,
        )


@strawberry.type
class DuplicateCandidate:
    contact: Contact
    reasons: list[DuplicateReason]


@strawberry.type(description="One field of the survivor a merge changes.")
class FieldChange:
    field: str
    before: JSON | None
    after: JSON | None

    @classmethod
    def of(cls, change: DomainFieldChange) -> FieldChange:
        return cls(
            field=wire_field(change.field),
            before=change.before,
            after=change.after,
        )


@strawberry.type(description="What a merge changes (dry run) or changed.")
class MergeResult:
    dry_run: bool
    survivor: Contact
    merged_id: strawberry.ID
    changes: list[FieldChange]
    moved_interactions: int = strawberry.field(
        description="Interactions that move (dry run) or moved from the duplicate."
    )
    interaction_ids: list[strawberry.ID] = strawberry.field(
        description="Ids of the interactions that move (at most 100)."
    )
    already_merged: bool
