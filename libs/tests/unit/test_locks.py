"""`hold_locks`: per-document, re-entrant within a task, deadlock-free across tasks."""

from __future__ import annotations

import asyncio

from crm_kit.locks import DocLocks, hold_locks


async def test_a_task_may_ask_again_for_locks_it_holds() -> None:
    locks = DocLocks()
    async with (
        asyncio.timeout(2),
        hold_locks(locks, ["contacts:a", "contacts:b"]),
        hold_locks(locks, ["contacts:b"]),
        hold_locks(locks, ["contacts:a", "claims:x"]),
    ):
        pass
    assert locks._locks == {}  # all released and forgotten


async def test_other_documents_are_not_held_up() -> None:
    locks = DocLocks()
    async with hold_locks(locks, ["contacts:a"]):
        async with asyncio.timeout(2), hold_locks(locks, ["contacts:b"]):
            pass
        # Another task wanting the held document waits, even though it was started by
        # (and inherits the context of) the holder.
        waiting = asyncio.ensure_future(_hold_briefly(locks, ["contacts:a"]))
        await asyncio.sleep(0.05)
        assert not waiting.done()
    await asyncio.wait_for(waiting, 2)


async def _hold_briefly(locks: DocLocks, keys: list[str]) -> None:
    async with hold_locks(locks, keys):
        await asyncio.sleep(0.01)


async def test_overlapping_sets_in_any_order_do_not_deadlock() -> None:
    locks = DocLocks()
    pairs = [["contacts:a", "contacts:b"], ["contacts:b", "contacts:a"]] * 10
    await asyncio.wait_for(asyncio.gather(*(_hold_briefly(locks, p) for p in pairs)), 5)
