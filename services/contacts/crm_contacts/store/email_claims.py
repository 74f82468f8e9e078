"""Look-ups by email on the embedded database (the `ferretdb` profile only).

FerretDB's SQLite backend serves only `{_id: value}` from an index, so "which contact has
this address" would scan every contact (the duplicate checks ask it on every create and
every change of addresses). `contact_emails` is a read model that maps
"<workspace>:<address>" to the contact holding it, so the question is one `_id` look-up
per address. It is written after every write of a contact (a write hook), and verified
against the contact on every read, so a stale claim is ignored; the unique index on the
primary address (`email_key`) remains the guard. A merge interrupted between writing the
survivor and claiming its new addresses is repaired when pending merges are read.

On MongoDB (the `mongodb` profile) none of this runs: the `emails` index answers. Drop
the embedded database, and this module goes with it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from crm_kit.filters import And, Eq
from crm_kit.records import RecordSource, RecordType
from crm_kit.writer import WriteHooks, Written

from ..config import COMPANIES, CONTACTS, EMAIL_CLAIMS, INTERACTIONS
from ..domain.company import Company
from ..domain.contact import Contact
from ..domain.interaction import Interaction
from ..domain.merge import MergeRecord
from .documents import COMPANY, CONTACT, INTERACTION
from .domain_claims import DomainClaims
from .filters import LIVE
from .import_keys import ImportKeys, KeyedCollection, company_keys, contact_keys, interaction_keys
from .store import RecordStore, WorkspaceRecordStore


@dataclass
class EmailClaim:
    id: str  # "<workspace>:<address>"
    workspace_id: str
    email: str
    contact_id: str


def _to_doc(claim: EmailClaim) -> dict[str, Any]:
    return {
        "_id": claim.id,
        "workspace_id": claim.workspace_id,
        "email": claim.email,
        "contact_id": claim.contact_id,
    }


def _from_doc(doc: Mapping[str, Any]) -> EmailClaim:
    return EmailClaim(doc["_id"], doc["workspace_id"], doc["email"], doc["contact_id"])


CLAIM = RecordType(EMAIL_CLAIMS, _to_doc, _from_doc)

# Set by a task whose writes change no contact's addresses (an import batch moving last
# activities): its writes' claims are left as they are. Hooks run in that task's context.
ADDRESSES_KEPT: ContextVar[bool] = ContextVar("contacts_addresses_kept", default=False)


class EmailClaims:
    def __init__(self, source: RecordSource) -> None:
        self.source = source
        # Contacts whose claims a bulk insert writes together (`claim_many`).
        self.deferred: set[str] = set()

    async def on_write(self, written: Written) -> None:
        record = written.record
        # A record inserted with a batch is claimed with it (`claim_many`).
        if (
            isinstance(record, Contact)
            and record.id not in self.deferred
            and not ADDRESSES_KEPT.get()
        ):
            await self.claim(record)

    async def claim_many(self, workspace_id: str, contacts: Sequence[Contact]) -> None:
        """The claims of contacts inserted together: one statement, then one write per
        address some other contact claimed before (a stale claim: replaced)."""
        claims = [
            EmailClaim(f"{workspace_id}:{email}", workspace_id, email, contact.id)
            for contact in contacts
            if not contact.merged_into
            for email in contact.emails
        ]
        records = self.source.records(CLAIM, workspace_id)
        for stale in await records.insert_many(claims) if claims else []:
            await records.put(stale)

    async def claim(self, contact: Contact) -> None:
        if contact.merged_into:
            return  # its addresses belong to the survivor now
        claims = self.source.records(CLAIM, contact.workspace_id)
        for email in contact.emails:
            await claims.put(
                EmailClaim(
                    f"{contact.workspace_id}:{email}", contact.workspace_id, email, contact.id
                )
            )

    async def holders(self, workspace_id: str, emails: Sequence[str]) -> list[str]:
        claims = self.source.records(CLAIM, workspace_id)
        found = await claims.get([f"{workspace_id}:{email}" for email in dict.fromkeys(emails)])
        return list(dict.fromkeys(claim.contact_id for claim in found))


class ClaimedWorkspaceStore(WorkspaceRecordStore):
    def __init__(
        self,
        source: RecordSource,
        workspace_id: str,
        claims: EmailClaims,
        domain_claims: DomainClaims,
        import_keys: ImportKeys,
    ) -> None:
        super().__init__(source, workspace_id)
        self.claims = claims
        self.domain_claims = domain_claims
        self.import_keys = import_keys

    # imports: identity keys from the per-process read model, claims written in bulk
    async def add_companies(self, companies: Sequence[Company], batch_id: str) -> list[Company]:
        ids = {company.id for company in companies}
        self.domain_claims.deferred |= ids
        try:
            refused = await super().add_companies(companies, batch_id)
        finally:
            self.domain_claims.deferred -= ids
        taken = {company.id for company in refused}
        await self.domain_claims.claim_many(
            self.workspace_id, [c for c in companies if c.id not in taken]
        )
        return refused

    async def add_contacts(self, contacts: Sequence[Contact], batch_id: str) -> list[Contact]:
        ids = {contact.id for contact in contacts}
        self.claims.deferred |= ids
        try:
            refused = await super().add_contacts(contacts, batch_id)
        finally:
            self.claims.deferred -= ids
        taken = {contact.id for contact in refused}
        await self.claims.claim_many(self.workspace_id, [c for c in contacts if c.id not in taken])
        return refused

    async def record_activities(
        self, latest: Mapping[str, datetime], now: datetime, batch_id: str
    ) -> list[Contact]:
        # A last activity changes no address: the claims stay as they are (not one
        # rewrite per contact). Only this task's writes: a concurrent edit still claims.
        token = ADDRESSES_KEPT.set(True)
        try:
            return await super().record_activities(latest, now, batch_id)
        finally:
            ADDRESSES_KEPT.reset(token)

    async def companies_with_keys(
        self, external_ids: Sequence[str], domains: Sequence[str]
    ) -> list[Company]:
        keys = [("external_id", v) for v in external_ids] + [("domain", v) for v in domains]
        ids = await self.import_keys.ids(COMPANIES, self.workspace_id, keys)
        return [c for c in await self.get_companies(ids) if company_keys(c)]

    async def companies_with_name_keys(self, keys: Sequence[str]) -> list[Company]:
        ids = await self.import_keys.ids(COMPANIES, self.workspace_id, [("name", k) for k in keys])
        wanted = set(keys)
        found = [c for c in await self.get_companies(ids) if company_keys(c)]
        return sorted((c for c in found if c.name_key in wanted), key=lambda c: c.created_at)

    async def contacts_with_keys(
        self, external_ids: Sequence[str], emails: Sequence[str]
    ) -> list[Contact]:
        keys = [("external_id", v) for v in external_ids] + [("email", v) for v in emails]
        ids = await self.import_keys.ids(CONTACTS, self.workspace_id, keys)
        return [c for c in await self.get_contacts(ids) if contact_keys(c)]

    async def interactions_with_external_ids(
        self, external_ids: Sequence[str]
    ) -> list[Interaction]:
        keys = [("external_id", v) for v in external_ids]
        ids = await self.import_keys.ids(INTERACTIONS, self.workspace_id, keys)
        return [i for i in await self.get_interactions(ids) if interaction_keys(i)]

    async def find_companies_by_domains(self, domains: Sequence[str]) -> list[Company]:
        if not domains:
            return []
        holders = await self.get_companies(
            await self.domain_claims.holders(self.workspace_id, domains)
        )
        wanted = set(domains)
        return [company for company in holders if company.domain in wanted]

    async def find_contacts_with_emails(self, emails: Sequence[str]) -> list[Contact]:
        holders = await self.get_contacts(await self.claims.holders(self.workspace_id, emails))
        wanted = set(emails)
        found = [c for c in holders if wanted & set(c.emails) and not c.merged_into]
        return sorted(found, key=lambda contact: contact.id)

    async def find_contact_by_email_key(self, email: str) -> Contact | None:
        for contact in await self.find_contacts_with_emails([email]):
            if contact.email == email:
                return contact
        # Not claimed (a contact written before claims existed): ask the unique index.
        return await super().find_contact_by_email_key(email)


class ClaimedRecordStore(RecordStore):
    def __init__(self, source: RecordSource, hooks: WriteHooks) -> None:
        super().__init__(source)
        self.claims = EmailClaims(source)
        self.domain_claims = DomainClaims(source)
        self.import_keys = ImportKeys(
            source,
            [
                KeyedCollection(COMPANY, LIVE, company_keys),
                KeyedCollection(CONTACT, And(LIVE, Eq("merged_into", None)), contact_keys),
                KeyedCollection(INTERACTION, Eq("removed_at", None), interaction_keys),
            ],
        )
        # Look-ups by address and domain trust the claims: a claim not written fails the
        # write (retried), instead of leaving a contact no email finds.
        hooks.subscribe(self.claims.on_write, required=True)
        hooks.subscribe(self.domain_claims.on_write, required=True)
        hooks.subscribe(self.import_keys.on_write)

    def for_workspace(self, workspace_id: str) -> ClaimedWorkspaceStore:
        return ClaimedWorkspaceStore(
            self.source, workspace_id, self.claims, self.domain_claims, self.import_keys
        )

    async def pending_merges(self) -> list[MergeRecord]:
        pending = await super().pending_merges()
        for record in pending:
            survivors = await self.for_workspace(record.workspace_id).get_contacts(
                [record.survivor_id]
            )
            for survivor in survivors:
                await self.claims.claim(survivor)
        return pending
