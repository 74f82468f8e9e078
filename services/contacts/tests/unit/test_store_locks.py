"""The in-memory store serialises read-modify-writes of one contact, like the database
one (the kit's records hold the document's lock from the read to the write)."""

from __future__ import annotations

import asyncio

from crm_contacts.domain.contact import Contact

from .conftest import FakeStore


async def test_changes_of_one_contact_run_one_after_another(store: FakeStore) -> None:
    scoped = store.for_workspace("w1")
    await scoped.add_contact(Contact("a" * 24, "w1", "Ada", "L"))
    order: list[str] = []

    def change(name: str):  # type: ignore[no-untyped-def]
        async def apply(contact: Contact) -> bool:
            order.append(f"{name}-start")
            await asyncio.sleep(0.01)
            contact.title = name
            order.append(f"{name}-end")
            return True

        return apply

    await asyncio.gather(
        scoped.change_contact("a" * 24, change("x")), scoped.change_contact("a" * 24, change("y"))
    )
    assert order == ["x-start", "x-end", "y-start", "y-end"]
    (stored,) = await scoped.get_contacts(["a" * 24])
    assert (stored.title, stored.version) == ("y", 3)
