"""DataLoaders: every `load(id)` in one tick becomes one batch read."""

from __future__ import annotations

from strawberry.dataloader import DataLoader

from ..domain.company import Company
from ..domain.contact import Contact
from ..usecases import lookups
from ..usecases.scope import Scope


def contact_loader(scope: Scope) -> DataLoader[str, Contact | None]:
    async def load(ids: list[str]) -> list[Contact | None]:
        found = await lookups.contacts_by_ids(scope, ids)
        return [found.get(i) for i in ids]

    return DataLoader(load_fn=load)


def company_loader(scope: Scope) -> DataLoader[str, Company | None]:
    async def load(ids: list[str]) -> list[Company | None]:
        found = await lookups.companies_by_ids(scope, ids)
        return [found.get(i) for i in ids]

    return DataLoader(load_fn=load)
