"""Read resolvers: thin, they translate arguments and call the use cases."""

from __future__ import annotations

import strawberry

from crm_kit.audit_graphql import log_field, trail_field
from crm_kit.errors import NotFound
from crm_kit.relay_types import Connection, connection

from ..usecases import audit, duplicates, lookups
from .inputs import CompanyFilter, CompanyOrder, ContactFilter, ContactOrder
from .listing import company_query, contact_query
from .paging import cursor_of, parse_first
from .types import (
    Company,
    Contact,
    ContextInfo,
    DuplicateCandidate,
    contact_connection,
    read_companies_of,
)


@strawberry.type
class Query:
    contacts_audit_trail = trail_field(audit.readable, "contact, company or interaction")
    contacts_audit_log = log_field("contacts, companies and interactions")

    @strawberry.field(description="A contact by id; null if there is none (or it is deleted).")
    async def contact(
        self, info: ContextInfo, id: strawberry.ID, include_deleted: bool = False
    ) -> Contact | None:
        scope = info.context.scope
        scope.require_deleted_read(include_deleted)
        try:
            contact = await lookups.contact(scope, str(id))
        except NotFound:
            return None
        if contact.deleted and not include_deleted:
            return None
        return Contact.of(contact)

    @strawberry.field(description="Contacts matching a filter, in a keyset-paged order.")
    async def contacts(
        self,
        info: ContextInfo,
        filter: ContactFilter | None = None,
        order_by: ContactOrder | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Contact]:
        order = order_by or ContactOrder()
        query = contact_query(filter or ContactFilter(), order, parse_first(first), after)
        page = await lookups.list_contacts(info.context.scope, query)
        await read_companies_of(info, page.items)
        return contact_connection(page, order.field.value)

    @strawberry.field(description="A company by id; null if there is none (or it is deleted).")
    async def company(
        self, info: ContextInfo, id: strawberry.ID, include_deleted: bool = False
    ) -> Company | None:
        scope = info.context.scope
        scope.require_deleted_read(include_deleted)
        try:
            company = await lookups.company(scope, str(id))
        except NotFound:
            return None
        if company.deleted and not include_deleted:
            return None
        return Company.of(company)

    @strawberry.field
    async def companies(
        self,
        info: ContextInfo,
        filter: CompanyFilter | None = None,
        order_by: CompanyOrder | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Company]:
        order = order_by or CompanyOrder()
        query = company_query(filter or CompanyFilter(), order, parse_first(first), after)
        page = await lookups.list_companies(info.context.scope, query)
        field = order.field.value
        return connection(page, Company.of, lambda c: cursor_of(c, field))

    @strawberry.field(
        description="Contacts that are probably the same person as this one: same email, "
        "same phone, or a similar name at the same company. Strongest first."
    )
    async def find_duplicates(
        self, info: ContextInfo, contact_id: strawberry.ID
    ) -> list[DuplicateCandidate]:
        found = await duplicates.find_duplicates(info.context.scope, str(contact_id))
        return [
            DuplicateCandidate(contact=Contact.of(c.contact), reasons=list(c.reasons))
            for c in found
        ]
