"""Per-request GraphQL context: the use cases' scope (the caller in their workspace) and
the DataLoaders that batch entity look-ups (one store read per batch)."""

from __future__ import annotations

from dataclasses import dataclass, field

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
    # The companies of a list's rows, read before the rows are completed
    # (`types.read_companies_of`): each row's `company` then answers at once.
    companies_read: dict[str, Company | None] = field(default_factory=dict)


def context_for(scope: Scope) -> GraphQLContext:
    return GraphQLContext(
        scope=scope, contacts=contact_loader(scope), companies=company_loader(scope)
    )
