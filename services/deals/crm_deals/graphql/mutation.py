"""Mutation resolvers: convert input, call a use case, shape the result."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from ..domain.rates import Rate
from ..usecases import analytics, deals, forecasting, pipelines, rates
from ..usecases.handover import hand_over
from ..usecases.inputs import PipelineInput, RateInput
from .analytics import ForecastSnapshot
from .entities import Deal
from .forecasting import ForecastSubmission, Quota, SetQuotaInput, SubmitForecastInput
from .inputs import (
    CreateDealInput,
    CreatePipelineInput,
    HandOverDealsInput,
    UpdateDealInput,
    UpdatePipelineInput,
)
from .rates import ExchangeRate, ExchangeRateInput
from .types import DealHandover, Pipeline
from .win_model import WinModelTrainingJob, train_win_model


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def create_deal(self, info: Info, input: CreateDealInput) -> Deal:
        return Deal.of(
            await deals.create_deal(info.context.scope, input.to_domain(), override=input.override)
        )

    @strawberry.mutation
    async def update_deal(self, info: Info, id: strawberry.ID, input: UpdateDealInput) -> Deal:
        return Deal.of(await deals.update_deal(info.context.scope, str(id), input.to_domain()))

    @strawberry.mutation(description="Soft delete; emits crm.deals.deal.deleted.v1.")
    async def delete_deal(self, info: Info, id: strawberry.ID) -> strawberry.ID:
        deal = await deals.delete_deal(info.context.scope, str(id))
        return strawberry.ID(deal.id)

    @strawberry.mutation(
        description="Moving forward checks the exit criteria of the stage left; "
        "PRECONDITION_FAILED with extensions.unmet lists every unmet one. "
        "`override: true` (admins only, else FORBIDDEN) passes them, recorded on the history "
        "entry and in the event."
    )
    async def move_deal(
        self, info: Info, id: strawberry.ID, stage_key: str, override: bool = False
    ) -> Deal:
        return Deal.of(
            await deals.move_deal(info.context.scope, str(id), stage_key, override=override)
        )

    @strawberry.mutation
    async def close_deal_won(self, info: Info, id: strawberry.ID) -> Deal:
        return Deal.of(await deals.close_won(info.context.scope, str(id)))

    @strawberry.mutation(description="A reason is required (BAD_USER_INPUT on `reason`).")
    async def close_deal_lost(
        self, info: Info, id: strawberry.ID, reason: str | None = None
    ) -> Deal:
        return Deal.of(await deals.close_lost(info.context.scope, str(id), reason or ""))

    @strawberry.mutation(
        description="Back to an open stage (the first one by default). Into a later stage, "
        "the exit criteria of every stage before it must hold (PRECONDITION_FAILED), unless "
        "an admin passes `override: true`."
    )
    async def reopen_deal(
        self, info: Info, id: strawberry.ID, stage_key: str | None = None, override: bool = False
    ) -> Deal:
        return Deal.of(
            await deals.reopen_deal(info.context.scope, str(id), stage_key, override=override)
        )

    @strawberry.mutation(
        description="Managers and admins only. Moves every OPEN deal of fromOwnerId (of one "
        "pipeline if given) to toOwnerId, each with deal.updated (ownerId), then one "
        "crm.deals.deals.handed_over.v1; the tasks service moves their active tasks. A "
        "repeat moves 0."
    )
    async def hand_over_deals(self, info: Info, input: HandOverDealsInput) -> DealHandover:
        done = await hand_over(
            info.context.scope,
            input.from_owner_id,
            input.to_owner_id,
            None if input.pipeline_id is None else str(input.pipeline_id),
            input.note,
        )
        return DealHandover(
            from_owner_id=done.from_owner_id,
            to_owner_id=done.to_owner_id,
            moved=done.moved,
            deal_ids=[strawberry.ID(i) for i in done.deal_ids],
            handed_over_at=done.handed_over_at,
            handover_id=done.handover_id,
        )

    @strawberry.mutation(description="Managers and admins only.")
    async def create_pipeline(self, info: Info, input: CreatePipelineInput) -> Pipeline:
        values = PipelineInput(input.name, [s.to_domain() for s in input.stages], input.currency)
        return Pipeline.of(await pipelines.create_pipeline(info.context.scope, values))

    @strawberry.mutation(description="Managers and admins only; a change is a new version.")
    async def update_pipeline(
        self, info: Info, id: strawberry.ID, input: UpdatePipelineInput
    ) -> Pipeline:
        stages = [s.to_domain() for s in input.stages] if input.stages is not None else None
        updated = await pipelines.update_pipeline(info.context.scope, str(id), input.name, stages)
        return Pipeline.of(updated)

    @strawberry.mutation(
        description="Managers and admins only. Starts training the pipeline's win model in the "
        "background and returns the job at once (poll winModelTrainingJob or "
        "winModel.latestJob); a training already running for the pipeline is returned "
        "instead of a new one. When done, each open deal's changed modelProbability is "
        "written (deal.updated)."
    )
    async def train_win_model(
        self, info: Info, pipeline_id: strawberry.ID | None = None
    ) -> WinModelTrainingJob:
        return await train_win_model(info, pipeline_id)

    @strawberry.mutation(
        description="Managers and admins only. Stores today's snapshot of the pipeline's "
        "forecast for the current and next month (replacing an earlier one of the day); "
        "the daily job takes it otherwise."
    )
    async def snapshot_forecast(
        self, info: Info, pipeline_id: strawberry.ID | None = None
    ) -> ForecastSnapshot:
        snapshot = await analytics.take_snapshot(
            info.context.scope, None if pipeline_id is None else str(pipeline_id)
        )
        return ForecastSnapshot.of(snapshot)

    @strawberry.mutation(
        description="Managers and admins only. Enters (or replaces) exchange rates: each says "
        "that on `date` one `currency` is worth `rate` `quoteCurrency`; 1 to 500 per call, "
        "all checked before any is written (BAD_USER_INPUT with field `rates.<i>.<name>`)."
    )
    async def set_exchange_rates(
        self, info: Info, rates: list[ExchangeRateInput]
    ) -> list[ExchangeRate]:
        entered = await rates_of(info, [r.to_domain() for r in rates])
        return [ExchangeRate.of(r) for r in entered]

    @strawberry.mutation(
        description="A new version of a forecast call for a period. Reps: scope OWNER with "
        "their own id; managers and admins: any owner, and TEAM (the adjusted call)."
    )
    async def submit_forecast(self, info: Info, input: SubmitForecastInput) -> ForecastSubmission:
        submitted = await forecasting.submit(info.context.scope, input.to_domain())
        return ForecastSubmission.of(submitted)

    @strawberry.mutation(description="Managers and admins: a rep's or team's quota for a period.")
    async def set_quota(self, info: Info, input: SetQuotaInput) -> Quota:
        quota = await forecasting.set_quota(info.context.scope, input.to_domain())
        return Quota.of(quota)


async def rates_of(info: Info, entered: list[RateInput]) -> list[Rate]:
    return await rates.set_rates(info.context.scope, entered)
