"""GraphQL object types. Each wraps a domain record and exposes it."""

from __future__ import annotations

from collections.abc import Awaitable, Iterable, Sequence
from datetime import datetime
from typing import TypeVar

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField, Selection

from crm_kit.audit_graphql import record_trail_field
from crm_kit.errors import Forbidden
from crm_kit.graphql_rows import row_value
from crm_kit.pagination import Page
from crm_kit.relay_types import Connection, connection

from ..domain import company as companies
from ..domain import contact as contacts
from ..domain import interaction as interactions
from ..domain.contact import wire_field
from ..domain.merge import FieldChange as DomainFieldChange
from ..domain.queries import ContactQuery, InteractionQuery
from ..usecases import audit, lookups, visibility
from ..usecases.visibility import EMAIL, PHONE
from .context import GraphQLContext
from .enums import Direction, DuplicateReason, InteractionKind, LifecycleStage
from .paging import cursor_of, parse_after, parse_first

HIDDEN = " Null, with a FORBIDDEN error, for a role the workspace does not let read it."


async def require_field(info: ContextInfo, sensitive_field: str, field: str) -> None:
    if not await visibility.reads(info.context.scope, sensitive_field):
        name = sensitive_field.split(".", 1)[1]
        raise Forbidden(f"your role may not read contacts' {name}", field=field)


ContextInfo = Info[GraphQLContext, None]
V = TypeVar("V")
# A row's field: the value, or (when the request has not read what it needs yet) an
# awaitable of it, which graphql-core awaits (the row then leaves the one-pass completion).
MaybeStr = str | None | Awaitable[str | None]
MaybeStrings = list[str] | None | Awaitable[list[str] | None]


def _sensitive(info: ContextInfo, sensitive_field: str, field: str, value: V) -> V | Awaitable[V]:
    """A contact's address or number, answered at once when the request has read the
    caller's access (a list has, to narrow its rows): an async resolver per row made each
    row of a page a task of its own and left it to graphql-core field by field (the
    largest part of a 25-row search's CPU in the contacts service)."""
    access = info.context.scope.known_access()
    if access is None:
        return _sensitive_once_read(info, sensitive_field, field, value)
    if not access.reads(sensitive_field):
        name = sensitive_field.split(".", 1)[1]
        raise Forbidden(f"your role may not read contacts' {name}", field=field)
    return value


async def _sensitive_once_read(info: ContextInfo, sensitive_field: str, field: str, value: V) -> V:
    await require_field(info, sensitive_field, field)
    return value


def _selects(selections: Iterable[Selection], path: Sequence[str]) -> bool:
    """Whether `path` (field names, fragments looked through) is selected."""
    for selection in selections:
        if isinstance(selection, InlineFragment | FragmentSpread):
            if _selects(selection.selections, path):
                return True
        elif (
            isinstance(selection, SelectedField)
            and selection.name == path[0]
            and (len(path) == 1 or _selects(selection.selections, path[1:]))
        ):
            return True
    return False


async def read_companies_of(info: ContextInfo, rows: Iterable[contacts.Contact]) -> None:
    """Read the companies of a list's rows in one batch when the document selects them
    (`edges { node { company } }`), before the rows are completed: each row's `company`
    then answers at once (`Contact.company`) and the page completes in one pass."""
    if not any(_selects(f.selections, ("edges", "node", "company")) for f in info.selected_fields):
        return
    ids = list(dict.fromkeys(c.company_id for c in rows if c.company_id))
    if not ids:
        return
    found = await info.context.companies.load_many(ids)
    info.context.companies_read.update(zip(ids, found, strict=True))


@strawberry.type
class Address:
    street: str | None
    city: str | None
    region: str | None
    postal_code: str | None
    country: str | None

    @classmethod
    def of(cls, address: companies.Address) -> Address:
        return cls(
            street=address.street,
            city=address.city,
            region=address.region,
            postal_code=address.postal_code,
            country=address.country,
        )


async def _timeline(
    info: ContextInfo, first: int | None, after: str | None, **scope: str
) -> Connection[Interaction]:
    query = InteractionQuery(
        first=parse_first(first), after=parse_after(after, "occurred_at"), **scope
    )
    page = await lookups.timeline(info.context.scope, query)
    return connection(page, Interaction.of, lambda i: cursor_of(i, "occurred_at"))


def contact_connection(page: Page[contacts.Contact], field: str) -> Connection[Contact]:
    return connection(page, Contact.of, lambda c: cursor_of(c, field))


# Deleted records resolve to null through references (`_entities`, `Contact.company`,
# `Interaction.contacts`); `contact(id, includeDeleted: true)` shows them to admins.


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
    audit_trail = record_trail_field(audit.readable, "company")

    @classmethod
    def of(cls, company: companies.Company) -> Company:
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
            custom_fields=JSON(company.custom_fields),
            created_at=company.created_at,
            updated_at=company.updated_at,
            created_by=company.created_by,
            updated_by=company.updated_by,
            deleted_at=company.deleted_at,
        )

    @classmethod
    async def resolve_reference(cls, info: ContextInfo, id: strawberry.ID) -> Company | None:
        company = await info.context.companies.load(str(id))
        return cls.of(company) if company and not company.deleted else None

    @classmethod
    async def resolve_references(
        cls, info: ContextInfo, ids: list[strawberry.ID]
    ) -> list[Company | None]:
        """A fetch's references at once (`crm_kit.graphql_schema`): one loader call."""
        found = await info.context.companies.load_many([str(i) for i in ids])
        return [cls.of(c) if c and not c.deleted else None for c in found]

    @strawberry.field(description="People at this company, newest first.")
    async def contacts(
        self, info: ContextInfo, first: int | None = None, after: str | None = None
    ) -> Connection[Contact]:
        query = ContactQuery(
            first=parse_first(first),
            after=parse_after(after, "created_at"),
            company_id=str(self.id),
        )
        page = await lookups.list_contacts(info.context.scope, query)
        return contact_connection(page, "created_at")

    @strawberry.field(description="The company's timeline, newest first.")
    async def interactions(
        self, info: ContextInfo, first: int | None = None, after: str | None = None
    ) -> Connection[Interaction]:
        return await _timeline(info, first, after, company_id=str(self.id))


@strawberry.federation.type(keys=["id"], description="A person the workspace deals with.")
class Contact:
    id: strawberry.ID
    first_name: str
    last_name: str
    name: str
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
    last_activity_at: datetime | None = strawberry.field(
        description="When the latest interaction with this contact happened (logged or "
        "captured; interactions still to come do not count)."
    )
    _contact: strawberry.Private[contacts.Contact]
    audit_trail = record_trail_field(audit.readable, "contact")

    @classmethod
    def of(cls, contact: contacts.Contact) -> Contact:
        return cls(
            id=strawberry.ID(contact.id),
            first_name=contact.first_name,
            last_name=contact.last_name,
            name=contact.full_name,
            title=contact.title,
            company_id=strawberry.ID(contact.company_id) if contact.company_id else None,
            owner_id=contact.owner_id,
            lifecycle_stage=contact.lifecycle_stage,
            tags=list(contact.tags),
            source=contact.source,
            custom_fields=JSON(contact.custom_fields),
            created_at=contact.created_at,
            updated_at=contact.updated_at,
            created_by=contact.created_by,
            updated_by=contact.updated_by,
            deleted_at=contact.deleted_at,
            merged_into_id=strawberry.ID(contact.merged_into) if contact.merged_into else None,
            last_activity_at=contact.last_activity_at,
            _contact=contact,
        )

    # Addresses and numbers: null, with a FORBIDDEN error naming the field, for a role the
    # workspace does not let read them (crm_kit.sharing).
    # Sync resolvers that may answer an awaitable (`_sensitive`): the schema's type is
    # given. `row_value`: values of the contact and the request's access, so a list's rows
    # complete in one pass (`crm_kit.graphql_rows`); a role that may not read them gets
    # graphql-core's path and its FORBIDDEN errors.
    @strawberry.field(description="Primary email address." + HIDDEN, graphql_type=str | None)
    @row_value
    def email(self, info: ContextInfo) -> MaybeStr:
        return _sensitive(info, EMAIL, "email", self._contact.email)

    @strawberry.field(
        description="All addresses, the primary first." + HIDDEN, graphql_type=list[str] | None
    )
    @row_value
    def emails(self, info: ContextInfo) -> MaybeStrings:
        return _sensitive(info, EMAIL, "emails", list(self._contact.emails))

    @strawberry.field(description="E.164 phone numbers." + HIDDEN, graphql_type=list[str] | None)
    @row_value
    def phones(self, info: ContextInfo) -> MaybeStrings:
        return _sensitive(info, PHONE, "phones", list(self._contact.phones))

    @classmethod
    async def resolve_reference(cls, info: ContextInfo, id: strawberry.ID) -> Contact | None:
        contact = await info.context.contacts.load(str(id))
        return cls.of(contact) if contact and not contact.deleted else None

    @classmethod
    async def resolve_references(
        cls, info: ContextInfo, ids: list[strawberry.ID]
    ) -> list[Contact | None]:
        """A fetch's references at once (`crm_kit.graphql_schema`): one loader call."""
        found = await info.context.contacts.load_many([str(i) for i in ids])
        return [cls.of(c) if c and not c.deleted else None for c in found]

    @strawberry.field(graphql_type=Company | None)
    @row_value
    def company(self, info: ContextInfo) -> Company | Awaitable[Company | None] | None:
        """At once when the list read its rows' companies (`read_companies_of`), else
        through the loader (one batch per tick)."""
        if self.company_id is None:
            return None
        company_id = str(self.company_id)
        read = info.context.companies_read
        if company_id not in read:
            return self._company_loaded(info, company_id)
        company = read[company_id]
        return Company.of(company) if company and not company.deleted else None

    @staticmethod
    async def _company_loaded(info: ContextInfo, company_id: str) -> Company | None:
        company = await info.context.companies.load(company_id)
        return Company.of(company) if company and not company.deleted else None

    @strawberry.field(description="The contact's timeline, newest first.")
    async def interactions(
        self, info: ContextInfo, first: int | None = None, after: str | None = None
    ) -> Connection[Interaction]:
        return await _timeline(info, first, after, contact_id=str(self.id))


@strawberry.type(description="Something that happened with contacts: an email, a call...")
class Interaction:
    id: strawberry.ID
    kind: InteractionKind
    occurred_at: datetime
    direction: Direction | None
    subject: str | None
    summary: str | None
    duration_seconds: int | None
    contact_ids: list[strawberry.ID]
    company_id: strawberry.ID | None
    deal_id: strawberry.ID | None = strawberry.field(
        description="A deal of the deals service (plain id; that subgraph owns Deal)."
    )
    logged_by: str | None
    created_at: datetime
    source: str | None = strawberry.field(
        description="`capture` when the capture service recorded it (an email, meeting or "
        "web visit); null when a person logged it."
    )
    audit_trail = record_trail_field(audit.readable, "interaction")

    @classmethod
    def of(cls, interaction: interactions.Interaction) -> Interaction:
        return cls(
            id=strawberry.ID(interaction.id),
            kind=interaction.kind,
            occurred_at=interaction.occurred_at,
            direction=interaction.direction,
            subject=interaction.subject,
            summary=interaction.summary,
            duration_seconds=interaction.duration_seconds,
            contact_ids=[strawberry.ID(i) for i in interaction.contact_ids],
            company_id=strawberry.ID(interaction.company_id) if interaction.company_id else None,
            deal_id=strawberry.ID(interaction.deal_id) if interaction.deal_id else None,
            logged_by=interaction.logged_by,
            created_at=interaction.created_at,
            source=interaction.source,
            _participants=tuple(interaction.participants),
        )

    # The people on it are email addresses (a captured message's From/To/Cc): hidden
    # with the contacts' addresses (crm_kit.sharing, CONTACT_EMAIL).
    _participants: strawberry.Private[tuple[str, ...]] = ()

    @strawberry.field(description="Other people on it, by email address or name." + HIDDEN)
    async def participants(self, info: ContextInfo) -> list[str] | None:
        await require_field(info, EMAIL, "participants")
        return list(self._participants)

    @strawberry.field
    async def contacts(self, info: ContextInfo) -> list[Contact]:
        found = await info.context.contacts.load_many([str(i) for i in self.contact_ids])
        return [Contact.of(c) for c in found if c is not None and not c.deleted]

    @strawberry.field
    async def company(self, info: ContextInfo) -> Company | None:
        if self.company_id is None:
            return None
        company = await info.context.companies.load(str(self.company_id))
        return Company.of(company) if company and not company.deleted else None


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
        return cls(field=wire_field(change.field), before=change.before, after=change.after)


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
