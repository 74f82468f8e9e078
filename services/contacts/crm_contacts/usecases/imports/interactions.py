"""Interactions imported onto timelines: the contact by address (the row's contact and its
participants), the company by domain or name; a row matching neither is refused. An entry
is never rewritten by a later import (it records what happened)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from crm_contracts.import_batches import ImportRow
from crm_kit.clock import to_millis
from crm_kit.errors import BadUserInput, CRMError
from crm_kit.imports import Built, Key, ignored, warning

from ...domain import rules
from ...domain.contact import Contact
from ...domain.interaction import Direction, Interaction, InteractionKind
from ..interactions import touch_contacts_of_batch
from ..scope import Scope
from .companies import CompanyResolver, company_ref
from .rows import PREFIX, integer, moment, text, texts

INTERACTION_FIELDS = {
    "kind", "occurred_at", "subject", "summary", "direction", "duration_seconds",
    "contact_email", "participants", "company", "company_domain", "deal_external_id",
    "external_id",
}  # fmt: skip


class InteractionSink:
    kind = "interaction"

    def __init__(self, scope: Scope, job_id: str) -> None:
        self.scope = scope
        self.job_id = job_id
        self.contacts: dict[str, Contact] = {}
        self.companies = CompanyResolver(scope, job_id)

    def id_of(self, record: Interaction) -> str:
        return record.id

    async def prepare(self, rows: Sequence[ImportRow]) -> None:
        emails: set[str] = set()
        pairs = []
        for row in rows:
            try:
                for name in ("contact_email",):
                    email = text(row.values, name)
                    if email:
                        emails.add(rules.normalise_email(email, name))
                for email in texts(row.values, "participants") or []:
                    emails.add(rules.normalise_email(email, "participants"))
                pairs.append(company_ref(row.values))
            except CRMError:
                continue  # the row's own build reports it
        found = await self.scope.store.contacts_with_keys([], sorted(emails))
        for contact in found:
            for email in contact.emails:
                self.contacts.setdefault(email, contact)
        await self.companies.prepare(pairs)

    async def build(self, row: ImportRow, record_id: str) -> Built[Interaction]:
        values = row.values
        issues = ignored(values, INTERACTION_FIELDS, "interactions", custom=False)
        kind_text = text(values, "kind")
        try:
            kind = InteractionKind((kind_text or "").lower())
        except ValueError:
            choices = ", ".join(k.value for k in InteractionKind)
            raise BadUserInput(
                f"{kind_text!r} is not one of {choices}", field=f"{PREFIX}.kind"
            ) from None
        direction_text = text(values, "direction")
        try:
            direction = Direction(direction_text.lower()) if direction_text else None
        except ValueError:
            raise BadUserInput(
                f"{direction_text!r} is not inbound or outbound", field=f"{PREFIX}.direction"
            ) from None
        contact_ids: list[str] = []
        email = text(values, "contact_email")
        if email:
            address = rules.normalise_email(email, f"{PREFIX}.contact_email")
            if address in self.contacts:
                contact_ids.append(self.contacts[address].id)
            else:
                issues.append(
                    warning("unknown_contact", f"no contact has {address}", "contact_email")
                )
        participants = []
        for other in texts(values, "participants") or []:
            address = rules.normalise_email(other, f"{PREFIX}.participants")
            participants.append(address)
            holder = self.contacts.get(address)
            if holder is not None and holder.id not in contact_ids:
                contact_ids.append(holder.id)
        name, domain = company_ref(values)
        company_id = None
        if name or domain:
            company = self.companies.find(name, domain)
            if company is None:
                issues.append(
                    warning("unknown_company", f"no company {name or domain!r}", "company")
                )
            else:
                company_id = company.id
        if company_id is None and contact_ids:
            company_id = next(
                (
                    c.company_id
                    for c in self.contacts.values()
                    if c.id in contact_ids and c.company_id
                ),
                None,
            )
        if not contact_ids and not company_id:
            raise BadUserInput(
                "no contact or company of the workspace matches this row",
                field=f"{PREFIX}.contact_email",
            )
        duration = integer(values, "duration_seconds")
        if duration is not None and duration < 0:
            raise BadUserInput("must not be negative", field=f"{PREFIX}.duration_seconds")
        deal = text(values, "deal_external_id")
        if deal:
            issues.append(
                warning(
                    "deal_not_linked",
                    "deals are linked from the deal's side: not linked",
                    "deal_external_id",
                )
            )
        now = self.scope.now()
        interaction = Interaction(
            id=record_id,
            workspace_id=self.scope.workspace_id,
            kind=kind,
            occurred_at=moment(values, "occurred_at") or to_millis(now),
            direction=direction,
            subject=rules.clean_text(text(values, "subject"), f"{PREFIX}.subject", limit=500),
            summary=rules.clean_text(text(values, "summary"), f"{PREFIX}.summary", limit=10_000),
            participants=participants,
            duration_seconds=duration,
            contact_ids=contact_ids,
            company_id=company_id,
            logged_by=self.scope.subject,
            created_at=now,
            source="import",
            external_id=text(values, "external_id"),
            import_job=self.job_id,
        ).logged()
        keys = [("external_id", interaction.external_id)] if interaction.external_id else []
        return Built(interaction, keys, issues)

    async def existing(self, keys: Sequence[Key]) -> dict[Key, Interaction]:
        found = await self.scope.store.interactions_with_external_ids([v for _, v in keys])
        return {("external_id", i.external_id): i for i in found if i.external_id}

    async def update(
        self, existing: Interaction, built: Interaction, row: ImportRow, *, dry_run: bool
    ) -> bool:
        return False  # a timeline entry is a record of what happened: not rewritten

    async def insert(self, records: Sequence[Interaction], batch_id: str) -> list[Interaction]:
        refused = await self.scope.store.add_interactions(records, batch_id)
        # Each contact's last activity moves once per batch, to its latest entry, in one
        # write. The refused count too: their ids are this job's rows', so a refusal is the
        # same entry written by an earlier try of the batch (which may have stopped before
        # this step); moving to it again changes nothing.
        latest: dict[str, datetime] = {}
        for interaction in records:
            for contact_id in interaction.contact_ids:
                held = latest.get(contact_id)
                if held is None or interaction.occurred_at > held:
                    latest[contact_id] = interaction.occurred_at
        await touch_contacts_of_batch(self.scope, latest, batch_id)
        return refused

    async def get(self, ids: Sequence[str]) -> list[Interaction]:
        return await self.scope.store.get_interactions(ids)
