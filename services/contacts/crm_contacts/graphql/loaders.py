"""DataLoaders: every `load(id)` in one tick becomes one `$in` query."""

from __future__ import annotations

from strawberry.dataloader import DataLoader

from crm_kit.ids import is_id

from ..domain.model import Company, Contact
from ..store.protocol import WorkspaceStore


def contact_loader(store: WorkspaceStore) -> DataLoader[str, Contact | None]:
    async def load(ids: list[str]) -> list[Contact | None]:
        valid = [i for i in dict.fromkeys(ids) if isinstance(i, str) and is_id(i)]
        found = {c.id: c for c in await store.get_contacts(valid)} if valid else {}
        return [found.get(i) for i in ids]

    return DataLoader(load_fn=load)


def company_loader(store: WorkspaceStore) -> DataLoader[str, Company | None]:
    async def load(ids: list[str]) -> list[Company | None]:
        valid = [i for i in dict.fromkeys(ids) if isinstance(i, str) and is_id(i)]
        found = {c.id: c for c in await store.get_companies(valid)} if valid else {}
        return [found.get(i) for i in ids]

    return DataLoader(load_fn=load)
