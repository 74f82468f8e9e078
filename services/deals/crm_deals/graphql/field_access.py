"""Field permissions in GraphQL (`crm_kit.sharing`): a money field of a deal that the
caller's role may not read resolves to null with a FORBIDDEN error naming the field, at
the field's path (the rest of the result stands)."""

from __future__ import annotations

from strawberry.types import Info

from crm_kit.errors import Forbidden

from ..usecases.visibility import reads_amounts


async def require_amounts(info: Info, field: str) -> None:
    if not await reads_amounts(info.context.scope):
        raise Forbidden("your role may not read deal amounts", field=field)
