"""Field permissions in GraphQL (`crm_kit.sharing`): a money field of a deal that the
caller's role may not read resolves to null with a FORBIDDEN error naming the field, at
the field's path (the rest of the result stands)."""

from __future__ import annotations

from collections.abc import Awaitable

from strawberry.types import Info

from crm_kit.errors import Forbidden

from ..domain.money import format_amount
from ..usecases.visibility import AMOUNT, reads_amounts

# A resolver's answer: the value, or (before the caller's access is read) an awaitable of it.
MaybeAmount = str | None | Awaitable[str | None]


async def require_amounts(info: Info, field: str) -> None:
    if not await reads_amounts(info.context.scope):
        raise Forbidden("your role may not read deal amounts", field=field)


def amount_of(info: Info, field: str, minor: int, currency: str) -> MaybeAmount:
    """A deal's money field, answered at once when the request has read the caller's
    access (a list or the board has, to filter its rows). A page's rows each ask it: an
    async resolver per row made every row of the page a task of its own (graphql-core
    gathers a list whose items are awaitable), the largest cost of a board's cards."""
    access = info.context.scope.known_access()
    if access is None:
        return _amount_once_read(info, field, minor, currency)
    if not access.reads(AMOUNT):
        raise Forbidden("your role may not read deal amounts", field=field)
    return format_amount(minor, currency)


async def _amount_once_read(info: Info, field: str, minor: int, currency: str) -> str | None:
    await require_amounts(info, field)
    return format_amount(minor, currency)
