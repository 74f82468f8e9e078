"""Unit tests run the use cases on the in-memory store, with a directory of contacts,
companies and deals in memory (the contacts and deals services' answers) and a real
Fernet box."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from crm_capture.config import CaptureConfig
from crm_capture.domain.matching import DealLink, KnownCompany, KnownContact
from crm_capture.events.publish import encode
from crm_capture.store.memory import memory_store
from crm_capture.store.port import ContactExists, DirectoryUnavailable
from crm_capture.store.secrets import FernetBox
from crm_capture.usecases.scope import Scope, Scopes, scopes
from crm_kit.context import RequestContext
from crm_kit.errors import Forbidden
from crm_kit.ids import new_id
from crm_kit.memory_db import MemoryDatabase
from crm_kit.testing import Clock

CORPUS = Path(__file__).resolve().parents[1] / "corpus"


def corpus_expectations() -> dict[str, Any]:
    return json.loads((CORPUS / "expected.json").read_text())


@dataclass
class FakeDirectory:
    """The contacts and deals services as capture sees them."""

    contacts: dict[str, KnownContact] = field(default_factory=dict)  # by email
    companies: dict[str, KnownCompany] = field(default_factory=dict)  # by domain
    deals: list[tuple[DealLink, str | None, list[str]]] = field(default_factory=list)
    calls: list[tuple[str, RequestContext]] = field(default_factory=list)
    down: bool = False

    def add_company(self, domain: str, name: str) -> KnownCompany:
        company = KnownCompany(new_id(), domain, name)
        self.companies[domain] = company
        return company

    def add_contact(self, email: str, company_domain: str | None = None) -> KnownContact:
        company = self.companies.get(company_domain) if company_domain else None
        contact = KnownContact(new_id(), email, company.id if company else None)
        self.contacts[email] = contact
        return contact

    def add_deal(
        self, title: str, company_domain: str | None, contact_emails: Sequence[str] = ()
    ) -> DealLink:
        deal = DealLink(new_id(), title, "negotiation", "open", "rita", "p1")
        company = self.companies[company_domain].id if company_domain else None
        ids = [self.contacts[e].id for e in contact_emails]
        self.deals.append((deal, company, ids))
        return deal

    def _check(self, name: str, caller: RequestContext) -> None:
        self.calls.append((name, caller))
        if self.down:
            raise DirectoryUnavailable(name)

    async def contacts_by_emails(
        self, caller: RequestContext, emails: Sequence[str]
    ) -> dict[str, KnownContact]:
        self._check("contacts_by_emails", caller)
        return {e: self.contacts[e] for e in emails if e in self.contacts}

    async def companies_by_domains(
        self, caller: RequestContext, domains: Sequence[str]
    ) -> dict[str, KnownCompany]:
        self._check("companies_by_domains", caller)
        return {d: self.companies[d] for d in domains if d in self.companies}

    async def create_contact(
        self,
        caller: RequestContext,
        *,
        email: str,
        first_name: str,
        last_name: str | None,
        company_id: str | None,
    ) -> KnownContact:
        self._check("create_contact", caller)
        if not caller.can_write:
            raise Forbidden("read only")
        if email in self.contacts:
            raise ContactExists(email)
        contact = KnownContact(new_id(), email, company_id)
        self.contacts[email] = contact
        return contact

    async def open_deals(
        self, caller: RequestContext, contact_ids: Sequence[str], company_id: str | None
    ) -> list[DealLink]:
        self._check("open_deals", caller)
        return [
            deal
            for deal, company, contacts in self.deals
            if (company_id and company == company_id) or set(contacts) & set(contact_ids)
        ]


@dataclass
class World:
    db: MemoryDatabase
    directory: FakeDirectory
    clock: Clock
    scopes: Scopes
    config: CaptureConfig

    def scope(self, workspace: str = "w1", subject: str = "alice", roles: str = "admin") -> Scope:
        return self.scopes(RequestContext(workspace, subject, frozenset(roles.split(","))))

    def service(self, workspace: str = "w1") -> Scope:
        return self.scopes(RequestContext(workspace, "service:capture", frozenset({"viewer"})))

    def events(self, event_type: str) -> list[Any]:
        return self.db.events_of_type(event_type)


@pytest.fixture
def world() -> World:
    db = MemoryDatabase(encode=encode)
    directory = FakeDirectory()
    clock = Clock()
    config = CaptureConfig()
    box = FernetBox([Fernet.generate_key().decode()])
    return World(
        db, directory, clock, scopes(memory_store(db), directory, box, config, clock), config
    )
