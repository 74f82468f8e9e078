"""Live fields: the service's own deal and pipeline events as they happen (`crm_kit.live`:
one JetStream consumer per process, never a poll of the database). A subscriber sees only
its workspace's events; what it reads per event (the deal, a board) is read once per event
and shared by every subscriber of the workspace (`LiveEvent.shared`)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncGenerator
from datetime import datetime
from enum import Enum
from typing import Any

import strawberry
from strawberry.types import Info

from crm_contracts import deals as contract
from crm_kit.clock import parse_iso
from crm_kit.live import LiveEvent, current_session, live_events

from ..domain import pipeline as p
from ..usecases import pipelines, queries, rates
from .board import BoardColumn
from .context import DealsContext
from .entities import Deal
from .types import Stage

# Deal events, in the order one change publishes them (a move into `won` is a
# stage_changed then a won with the same stage change id).
DEAL_TYPES = (
    contract.DEAL_CREATED,
    contract.DEAL_UPDATED,
    contract.DEAL_STAGE_CHANGED,
    contract.DEAL_WON,
    contract.DEAL_LOST,
    contract.DEAL_REOPENED,
    contract.DEAL_DELETED,
)
BOARD_TYPES = (*DEAL_TYPES, contract.PIPELINE_UPDATED)
TERMINAL = frozenset({p.WON, p.LOST})
# Stage changes remembered until the won/lost/reopened event of the same change arrives.
REMEMBERED_MOVES = 256


@strawberry.enum
class DealChangeKind(Enum):
    CREATED = "created"
    UPDATED = "updated"
    MOVED = "moved"
    WON = "won"
    LOST = "lost"
    REOPENED = "reopened"
    DELETED = "deleted"


@strawberry.type(description="One change of a deal, as it happened.")
class DealChange:
    kind: DealChangeKind
    deal_id: strawberry.ID
    changed_fields: list[str] = strawberry.field(
        description="UPDATED: the fields that changed (API names); empty otherwise."
    )
    occurred_at: datetime | None
    _event: strawberry.Private[LiveEvent]
    # Who holds the deal (its owner): whether a subscriber may see the change at all.
    _owner: strawberry.Private[str | None]
    _pipeline: strawberry.Private[tuple[str, int] | None]  # (id, version)
    _from: strawberry.Private[str | None]
    _to: strawberry.Private[str | None]

    @strawberry.field(description="The deal now; null once deleted.")
    async def deal(self, info: Info[DealsContext, None]) -> Deal | None:
        if self.kind is DealChangeKind.DELETED:
            return None
        deal_id = str(self.deal_id)
        deals = info.context.deals
        # Shared only among subscribers who see the same deals (record sharing).
        seen = (await info.context.scope.access()).of("deal").holders
        found = await self._event.shared(("deal", deal_id, seen), lambda: deals.load(deal_id))
        return Deal.of(found) if found is not None else None

    @strawberry.field(description="MOVED, WON, LOST, REOPENED: the stage it left.")
    async def from_stage(self, info: Info[DealsContext, None]) -> Stage | None:
        return await self._stage(info, self._from)

    @strawberry.field(description="MOVED, WON, LOST, REOPENED: the stage it entered.")
    async def to_stage(self, info: Info[DealsContext, None]) -> Stage | None:
        return await self._stage(info, self._to)

    async def _stage(self, info: Info[DealsContext, None], key: str | None) -> Stage | None:
        if key is None or self._pipeline is None:
            return None
        pipeline_id, version = self._pipeline
        loader = info.context.pipelines
        found = await self._event.shared(
            ("pipeline", pipeline_id), lambda: loader.load(pipeline_id)
        )
        stage = found.stage_at(version, key) if found is not None else None
        return Stage.of(stage) if stage is not None else None


@strawberry.type(description="Board columns whose figures changed, and the change that did it.")
class BoardChange:
    pipeline_id: strawberry.ID
    columns: list[BoardColumn] = strawberry.field(
        description="The columns whose figures changed since the last BoardChange of this "
        "subscription; the first one (and the first after a resume) has every column."
    )
    change: DealChange | None = strawberry.field(
        description="The deal change behind it (null for a pipeline's new version)."
    )


class _Changes:
    """Turns the deal events of one subscription into DealChanges (None: nothing to say)."""

    def __init__(self) -> None:
        self._moves: OrderedDict[str, tuple[str | None, str]] = OrderedDict()

    def of(self, event: LiveEvent) -> DealChange | None:
        kind = event.type
        if kind == contract.DEAL_DELETED:
            deleted = event.payload(contract.DealDeleted)
            change = _change(event, DealChangeKind.DELETED, deleted.id, None)
            change._owner = deleted.owner_id
            return change
        if kind == contract.DEAL_CREATED:
            created = event.payload(contract.DealCreated)
            return _change(event, DealChangeKind.CREATED, created.deal.id, created.deal)
        if kind == contract.DEAL_UPDATED:
            updated = event.payload(contract.DealUpdated)
            change = _change(event, DealChangeKind.UPDATED, updated.deal.id, updated.deal)
            change.changed_fields = list(updated.changed_fields)
            return change
        if kind == contract.DEAL_STAGE_CHANGED:
            moved = event.payload(contract.DealStageChanged)
            self._remember(moved.stage_change_id, moved.from_stage, moved.to_stage)
            if moved.from_stage is None or moved.deal.status != "open":
                return None  # the deal's creation, or a close: CREATED / WON / LOST say it
            if moved.from_stage in TERMINAL:
                return None  # a reopen: REOPENED says it
            return _change(event, DealChangeKind.MOVED, moved.deal_id, moved.deal, moved.from_stage)
        if kind in (contract.DEAL_WON, contract.DEAL_LOST, contract.DEAL_REOPENED):
            model = contract.DealReopened if kind == contract.DEAL_REOPENED else contract.DealClosed
            closed: Any = event.payload(model)
            before, _ = self._moves.pop(closed.stage_change_id, (None, ""))
            label = DealChangeKind(kind.split(".")[3])
            return _change(event, label, closed.deal.id, closed.deal, before)
        return None

    def _remember(self, change_id: str, before: str | None, after: str) -> None:
        self._moves[change_id] = (before, after)
        while len(self._moves) > REMEMBERED_MOVES:
            self._moves.popitem(last=False)


def _change(
    event: LiveEvent,
    kind: DealChangeKind,
    deal_id: str,
    deal: contract.DealSnapshot | None,
    before: str | None = None,
) -> DealChange:
    moved = kind not in (DealChangeKind.CREATED, DealChangeKind.UPDATED, DealChangeKind.DELETED)
    return DealChange(
        kind=kind,
        deal_id=strawberry.ID(deal_id),
        changed_fields=[],
        occurred_at=parse_iso(event.time) if event.time else None,
        _event=event,
        _owner=deal.owner_id if deal is not None else None,
        _pipeline=(deal.pipeline_id, deal.pipeline_version) if deal is not None else None,
        _from=before if moved else None,
        _to=deal.stage_key if moved and deal is not None else None,
    )


def _pipeline_of(change: DealChange | None) -> str | None:
    return change._pipeline[0] if change is not None and change._pipeline else None


async def _board(pipeline_id: str) -> list[queries.Column]:
    """The board's columns as `pipelineBoard` computes them, in a fresh context (the
    subscription's own caches pipelines and rates for its whole life): of the deals the
    subscriber sees."""
    ctx: DealsContext = await current_session().fresh_context()
    pipeline = await pipelines.get_pipeline(ctx.scope, pipeline_id, field="pipelineId")
    converter = await rates.converter(ctx.scope, pipeline.currency)
    return await queries.board(ctx.scope, pipeline, converter)


def _figures(column: queries.Column) -> tuple[Any, ...]:
    return (
        column.stage.name,
        column.count,
        column.amount_minor,
        column.weighted_minor,
        column.pipeline.currency,
        column.unconverted,
        tuple((t.currency, t.count, t.amount_minor, t.weighted_minor) for t in column.by_currency),
    )


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Every change of a deal from now on (of one pipeline with pipelineId; "
        "deletions name no pipeline and reach every subscriber of the workspace); only of deals "
        "the subscriber sees (record sharing, as it stood when the subscription started)."
    )
    async def deal_changed(
        self, info: Info[DealsContext, None], pipeline_id: strawberry.ID | None = None
    ) -> AsyncGenerator[DealChange, None]:
        changes = _Changes()
        # What the subscriber sees, as it stood when the subscription started.
        seen = (await info.context.scope.access()).of("deal")
        async for event in live_events(DEAL_TYPES):
            change = changes.of(event)
            if change is None or not seen.sees((change._owner,)):
                continue
            if pipeline_id is not None and _pipeline_of(change) not in (None, str(pipeline_id)):
                continue
            yield change

    @strawberry.subscription(
        description="The pipeline board's columns whose figures changed (count, totals), "
        "after each deal change in the pipeline or a new version of it."
    )
    async def board_changed(
        self, info: Info[DealsContext, None], pipeline_id: strawberry.ID
    ) -> AsyncGenerator[BoardChange, None]:
        wanted = str(pipeline_id)
        # NOT_FOUND before the stream starts.
        await pipelines.get_pipeline(info.context.scope, wanted, field="pipelineId")
        changes = _Changes()
        sent: dict[str, tuple[Any, ...]] = {}
        # What the subscriber sees, as it stood when the subscription started: the board
        # is shared only among subscribers who see the same deals and amounts.
        access = await info.context.scope.access()
        seen = access.of("deal")
        key = ("board", wanted, seen.holders, access.reads("deal.amount"))
        async for event in live_events(BOARD_TYPES):
            if event.type == contract.PIPELINE_UPDATED:
                updated = event.payload(contract.PipelineUpdated)
                change, touches = None, updated.pipeline.id == wanted
            else:
                change = changes.of(event)
                touches = (
                    change is not None
                    and _pipeline_of(change) in (None, wanted)
                    and seen.sees((change._owner,))
                )
            if not touches:
                continue
            columns = await event.shared(key, lambda: _board(wanted))
            changed = []
            for column in columns:
                figures = _figures(column)
                if sent.get(column.stage.key) != figures:
                    sent[column.stage.key] = figures
                    changed.append(BoardColumn.of(column))
            if changed:
                yield BoardChange(pipeline_id=strawberry.ID(wanted), columns=changed, change=change)
