"""Write resolvers: thin, they translate inputs and call the use cases."""

from __future__ import annotations

import strawberry

from ..usecases import companies, contacts, interactions, merging
from .inputs import (
    CreateCompanyInput,
    CreateContactInput,
    LogInteractionInput,
    UpdateCompanyInput,
    UpdateContactInput,
    company_input,
    contact_input,
    interaction_input,
)
from .types import Company, Contact, ContextInfo, FieldChange, Interaction, MergeResult


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def create_company(self, info: ContextInfo, input: CreateCompanyInput) -> Company:
        scope = info.context.scope
        return Company.of(await companies.create_company(scope, company_input(input)))

    @strawberry.mutation
    async def update_company(
        self, info: ContextInfo, id: strawberry.ID, input: UpdateCompanyInput
    ) -> Company:
        scope = info.context.scope
        return Company.of(await companies.update_company(scope, str(id), company_input(input)))

    @strawberry.mutation(description="Soft delete: hidden from queries, restorable.")
    async def delete_company(self, info: ContextInfo, id: strawberry.ID) -> Company:
        return Company.of(await companies.delete_company(info.context.scope, str(id)))

    @strawberry.mutation
    async def restore_company(self, info: ContextInfo, id: strawberry.ID) -> Company:
        return Company.of(await companies.restore_company(info.context.scope, str(id)))

    @strawberry.mutation(
        description="CONFLICT (extensions.existingId) if a contact already has the email."
    )
    async def create_contact(self, info: ContextInfo, input: CreateContactInput) -> Contact:
        scope = info.context.scope
        return Contact.of(await contacts.create_contact(scope, contact_input(input)))

    @strawberry.mutation
    async def update_contact(
        self, info: ContextInfo, id: strawberry.ID, input: UpdateContactInput
    ) -> Contact:
        scope = info.context.scope
        return Contact.of(await contacts.update_contact(scope, str(id), contact_input(input)))

    @strawberry.mutation(description="Soft delete: hidden from queries, restorable.")
    async def delete_contact(self, info: ContextInfo, id: strawberry.ID) -> Contact:
        return Contact.of(await contacts.delete_contact(info.context.scope, str(id)))

    @strawberry.mutation
    async def restore_contact(self, info: ContextInfo, id: strawberry.ID) -> Contact:
        return Contact.of(await contacts.restore_contact(info.context.scope, str(id)))

    @strawberry.mutation
    async def log_interaction(self, info: ContextInfo, input: LogInteractionInput) -> Interaction:
        scope = info.context.scope
        return Interaction.of(await interactions.log_interaction(scope, interaction_input(input)))

    @strawberry.mutation(
        description="Merge `duplicateId` into `survivorId`: fill the survivor's empty fields, "
        "union emails, phones and tags, move the interactions, soft-delete the duplicate. "
        "With dryRun nothing changes and the result shows the plan. Repeating a merge (or "
        "resuming an interrupted one) is safe."
    )
    async def merge_contacts(
        self,
        info: ContextInfo,
        survivor_id: strawberry.ID,
        duplicate_id: strawberry.ID,
        dry_run: bool = False,
    ) -> MergeResult:
        outcome = await merging.merge_contacts(
            info.context.scope, str(survivor_id), str(duplicate_id), dry_run
        )
        return MergeResult(
            dry_run=outcome.dry_run,
            survivor=Contact.of(outcome.survivor),
            merged_id=strawberry.ID(outcome.duplicate_id),
            changes=[FieldChange.of(c) for c in outcome.changes],
            moved_interactions=outcome.moved_interactions,
            interaction_ids=[strawberry.ID(i) for i in outcome.interaction_ids],
            already_merged=outcome.already_merged,
        )
