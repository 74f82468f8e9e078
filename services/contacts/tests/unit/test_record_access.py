"""Record-level write access on contacts and companies (crm_kit.access): role x operation.

Admins and managers change every record of the workspace; a rep the contacts and companies
they own (and may pass one on) and those nobody owns; a viewer none. Contacts and companies
have no field only the system may set. A refusal is FORBIDDEN naming the field, and the
record and the outbox stay as they were."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from crm_contacts.domain.company import Company
from crm_contacts.domain.contact import Contact
from crm_contacts.usecases import companies, contacts, merging
from crm_contacts.usecases.inputs import CompanyInput, ContactInput
from crm_contacts.usecases.scope import Scope
from crm_kit.context import RequestContext
from crm_kit.errors import Forbidden

from .conftest import FakeStore

OWNER = "rita"
CALLERS = {
    "admin": ("ada", "admin"),
    "manager": ("max", "manager"),
    "rep-owner": (OWNER, "rep"),
    "rep-other": ("otto", "rep"),
    "viewer": ("vic", "viewer"),
}

Operation = Callable[[Scope, str], Awaitable[object]]
Read = Callable[[Scope, str], Awaitable[object]]
CONTACT_OPERATIONS: dict[str, Operation] = {
    "update": lambda s, c: contacts.update_contact(s, c, ContactInput(title="CFO")),
    "reassign": lambda s, c: contacts.update_contact(s, c, ContactInput(owner_id="zoe")),
    "delete": lambda s, c: contacts.delete_contact(s, c),
}
COMPANY_OPERATIONS: dict[str, Operation] = {
    "update": lambda s, c: companies.update_company(s, c, CompanyInput(industry="Retail")),
    "reassign": lambda s, c: companies.update_company(s, c, CompanyInput(owner_id="zoe")),
    "delete": lambda s, c: companies.delete_company(s, c),
}
MAY_CHANGE = {"admin": True, "manager": True, "rep-owner": True, "rep-other": False}


def scope_of(store: FakeStore, subject: str = "ada", roles: str = "admin") -> Scope:
    caller = RequestContext("w1", subject, frozenset(roles.split(",")))
    return Scope(store.for_workspace("w1"), caller, phone_region="US")


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


async def _contact(store: FakeStore, owner: str | None = OWNER, name: str = "Ann") -> str:
    data = ContactInput(first_name=name, last_name="Lee", owner_id=owner)
    return (await contacts.create_contact(scope_of(store), data)).id


async def _company(store: FakeStore) -> str:
    data = CompanyInput(name="Acme", owner_id=OWNER)
    return (await companies.create_company(scope_of(store), data)).id


async def _check(
    store: FakeStore, role: str, operation: Operation, record_id: str, read: Read
) -> None:
    subject, roles = CALLERS[role]
    before = await read(scope_of(store), record_id)
    written = len(store.outbox)
    if MAY_CHANGE.get(role, False):
        await operation(scope_of(store, subject, roles), record_id)
        assert len(store.outbox) > written
        return
    with pytest.raises(Forbidden) as refused:
        await operation(scope_of(store, subject, roles), record_id)
    assert refused.value.field == (None if role == "viewer" else "id")
    assert await read(scope_of(store), record_id) == before
    assert len(store.outbox) == written


async def _read_contact(scope: Scope, contact_id: str) -> Contact:
    return (await scope.store.get_contacts([contact_id]))[0]


async def _read_company(scope: Scope, company_id: str) -> Company:
    return (await scope.store.get_companies([company_id]))[0]


@pytest.mark.parametrize("operation", list(CONTACT_OPERATIONS))
@pytest.mark.parametrize("role", list(CALLERS))
async def test_who_may_change_a_contact(store: FakeStore, role: str, operation: str) -> None:
    contact_id = await _contact(store)
    await _check(store, role, CONTACT_OPERATIONS[operation], contact_id, _read_contact)


@pytest.mark.parametrize("operation", list(COMPANY_OPERATIONS))
@pytest.mark.parametrize("role", list(CALLERS))
async def test_who_may_change_a_company(store: FakeStore, role: str, operation: str) -> None:
    company_id = await _company(store)
    await _check(store, role, COMPANY_OPERATIONS[operation], company_id, _read_company)


async def test_a_contact_nobody_owns_is_open_to_every_writer(store: FakeStore) -> None:
    contact_id = await _contact(store, owner=None)
    changed = await contacts.update_contact(
        scope_of(store, "otto", "rep"), contact_id, ContactInput(title="CTO")
    )
    assert changed.title == "CTO"


async def test_a_rep_merges_only_contacts_they_may_change(store: FakeStore) -> None:
    mine = await _contact(store, owner="otto", name="Ann")
    ritas = await _contact(store, owner=OWNER, name="Anne")
    otto = scope_of(store, "otto", "rep")
    written = len(store.outbox)
    with pytest.raises(Forbidden) as refused:
        await merging.merge_contacts(otto, mine, ritas)
    assert refused.value.field == "duplicateId"
    assert len(store.outbox) == written
    assert not (await _read_contact(scope_of(store), ritas)).deleted
