"""Record sharing and field permissions on the contact and company reads
(`crm_kit.sharing`, record type `contact`, which covers companies): a record the caller
may not see is left out of every list and is NOT_FOUND by id (a reference names nothing),
as if it did not exist. A contact or a company is held by its owner. A caller who may not
read email addresses or phone numbers does not find records by them either."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol, TypeVar

from ..domain.queries import CompanyQuery, ContactQuery
from .scope import Scope

EMAIL = "contact.email"
PHONE = "contact.phone"


class Held(Protocol):
    @property
    def owner_id(self) -> str | None: ...


R = TypeVar("R", bound=Held)
Q = TypeVar("Q", ContactQuery, CompanyQuery)


async def narrowed(scope: Scope, query: Q) -> Q:
    """`query`, narrowed to the records the caller sees (pushed down to the store)."""
    seen = (await scope.access()).of("contact")
    return query if seen.everything else replace(query, visible_to=seen.holders)


async def narrowed_contacts(scope: Scope, query: ContactQuery) -> ContactQuery:
    """`narrowed`, and the text searched in names only for a caller who may not read the
    addresses (they are in the searched text)."""
    query = await narrowed(scope, query)
    if query.text and not await reads(scope, EMAIL):
        query = replace(query, names_only=True)
    return query


async def visible(scope: Scope, records: Sequence[R]) -> list[R]:
    seen = (await scope.access()).of("contact")
    return [record for record in records if seen.sees((record.owner_id,))]


async def reads(scope: Scope, sensitive_field: str) -> bool:
    return (await scope.access()).reads(sensitive_field)
