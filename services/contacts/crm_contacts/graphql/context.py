"""Per-request GraphQL context: the caller, the use cases scoped to the caller's workspace,
and the DataLoaders that batch entity look-ups (one database query per batch)."""

from __future__ import annotations

from dataclasses import dataclass

from strawberry.dataloader import DataLoader

from crm_kit.context import RequestContext

from ..domain.model import Company, Contact
from ..service import ContactsService
from ..store.protocol import ContactsStore
from .loaders import company_loader, contact_loader


@dataclass
class GraphQLContext:
    request: RequestContext
    service: ContactsService
    contacts: DataLoader[str, Contact | None]
    companies: DataLoader[str, Company | None]


def build_context(
    store: ContactsStore,
    request: RequestContext,
    phone_region: str | None = None,
) -> GraphQLContext:
    scoped = store.for_workspace(request.workspace_id)
    return GraphQLContext(
        request=request,
        service=ContactsService(scoped, request, phone_region),
        contacts=contact_loader(scoped),
        companies=company_loader(scoped),
    )
