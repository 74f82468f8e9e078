"""Per-request GraphQL context: the use cases' scope (the caller in their workspace) and
the DataLoaders that batch entity look-ups (one store read per batch)."""

from __future__ import annotations

from dataclasses import dataclass

from strawberry.dataloader import DataLoader

from ..domain.company import Company
from ..domain.contact import Contact
from ..usecases.scope import Scope
from .loaders import company_loader, contact_loader


@dataclass
class GraphQLContext:
    scope: Scope
    contacts: DataLoader[str, Contact | None]
    companies: DataLoader[str, Company | None]


def context_for(scope: Scope) -> GraphQLContext:
    return GraphQLContext(
        scope=scope, contacts=contact_loader(scope), companies=company_loader(scope)
    )
