"""The in-memory store serialises a use case's updates of one contact, like Mongo."""

from __future__ import annotations

import asyncio

from crm_contacts.store.memory import MemoryContactsStore


async def test_memory_store_serialises_updates_of_one_contact() -> None:
    store = MemoryContactsStore().for_workspace("w1")
    order: list[str] = []

    async def update(name: str) -> None:
        async with store.lock_contacts(["c1"]):
            order.append(f"{name}-start")
            await asyncio.sleep(0.01)
            order.append(f"{name}-end")

    await asyncio.gather(update("x"), update("y"))
    assert order == ["x-start", "x-end", "y-start", "y-end"]
