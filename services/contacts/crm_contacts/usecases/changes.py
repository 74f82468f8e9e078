"""Read-modify-write of one record through the store's `change_*`, with the errors a
client sees: NOT_FOUND for a missing record, CONFLICT for a unique value taken or a
change that kept losing to other replicas."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from crm_kit.errors import Conflict, NotFound

from ..domain import rules
from ..store.port import Change, ChangedMeanwhile

T = TypeVar("T")


async def change_one(
    change: Callable[[str, Change[T]], Awaitable[T | None]],
    record_id: str,
    apply: Change[T],
    *,
    kind: str,
    taken: type[Exception],
    conflict: Callable[[Any, T], Awaitable[Conflict]],
) -> T:
    """`change` is the store's `change_<kind>`; a `taken` error (a unique value) becomes
    `conflict(error, the record as the change left it)`."""
    rules.require_id(record_id, "id")
    attempted: list[T] = []

    async def tracked(record: T) -> bool:
        attempted[:] = [record]
        return await apply(record)

    try:
        changed = await change(record_id, tracked)
    except taken as error:
        raise await conflict(error, attempted[0]) from None
    except ChangedMeanwhile:
        raise Conflict(f"the {kind} changed meanwhile; read it again and retry") from None
    if changed is None:
        raise NotFound(f"no {kind} {record_id}", field="id")
    return changed
