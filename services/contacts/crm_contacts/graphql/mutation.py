"""Write resolvers: thin, they translate inputs and call the use cases."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from .inputs import (
    CreateCompanyInput,
    CreateContactInput,
    LogInteractionInput,
    UpdateCompanyInput,
    UpdateContactInput,
    provided,
)
from .types import Company, Contact, FieldChange, Interaction, MergeResult


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def create_company(self, info: Info, input: CreateCompanyInput) -> Company:
        return Company.of(await info.context.service.create_company(provided(input)))

    @strawberry.mutation
    async def update_company(
        self, info: Info, id: strawberry.ID, input: UpdateCompanyInput
    ) -> Company:
        return Company.of(await info.context.service.update_company(str(id), provided(input)))

    @strawberry.mutation(description="Soft delete: hidden from queries, restorable.")
    async def delete_company(self, info: Info, id: strawberry.ID) -> Company:
        return Company.of(await info.context.service.delete_company(str(id)))

    @strawberry.mutation
    async def restore_company(self, info: Info, id: strawberry.ID) -> Company:
        return Company.of(await info.context.service.restore_company(str(id)))

    @strawberry.mutation(
        description="CONFLICT (extensions.existingId) if a contact already has the email."
    )
    async def create_contact(self, info: Info, input: CreateContactInput) -> Contact:
        return Contact.of(await info.context.service.create_contact(provided(input)))

    @strawberry.mutation
    async def update_contact(
        self, info: Info, id: strawberry.ID, input: UpdateContactInput
    ) -> Contact:
        return Contact.of(await info.context.service.update_contact(str(id), provided(input)))

    @strawberry.mutation(description="Soft delete: hidden from queries, restorable.")
    async def delete_contact(self, info: Info, id: strawberry.ID) -> Contact:
        return Contact.of(await info.context.service.delete_contact(str(id)))

    @strawberry.mutation
    async def restore_contact(self, info: Info, id: strawberry.ID) -> Contact:
        return Contact.of(await info.context.service.restore_contact(str(id)))

    @strawberry.mutation
    async def log_interaction(self, info: Info, input: LogInteractionInput) -> Interaction:
        return Interaction.of(await info.context.service.log_interaction(provided(input)))

    @strawberry.mutation(
        description="Merge `duplicateId` into `survivorId`: fill the survivor's empty fields, "
        "union emails, phones and tags, move the interactions, soft-delete the duplicate. "
        "With dryRun nothing changes and the result shows the plan. Repeating a merge (or "
        "resuming an interrupted one) is safe."
    )
    async def merge_contacts(
        self,
        info: Info,
        survivor_id: strawberry.ID,
        duplicate_id: strawberry.ID,
        dry_run: bool = False,
    ) -> MergeResult:
        outcome = await info.context.service.merge_contacts(
            str(survivor_id), str(duplicate_id), dry_run
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
