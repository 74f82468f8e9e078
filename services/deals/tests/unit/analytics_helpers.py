"""Deals with a chosen stage history, written straight into the in-memory database as the
store's codec writes them (the analytics read histories the API could only build over
weeks of clock time). Written before the first query, so the read index loads them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from crm_deals.domain.deal import Deal, StageChange, seconds_between
from crm_deals.domain.default_pipeline import default_pipeline
from crm_deals.domain.pipeline import LOST, WON
from crm_deals.store.documents import deal_to_doc
from crm_kit.memory_db import MemoryDatabase


def at(text: str) -> datetime:
    """'2025-10-01' or '2025-10-01T12:00' as a UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def put_deal(
    target: MemoryDatabase | Any,
    deal_id: str,
    path: list[tuple[str, str | datetime]],
    *,
    amount_minor: int = 100000,
    currency: str = "USD",
    owner: str | None = "ann",
    expected: str | None = None,
    next_step: str | None = None,
    created: str | datetime | None = None,
    workspace: str = "w1",
) -> Deal:
    """A deal that went through `path` [(stage, when), ...]; its state is the last step."""
    pipeline = default_pipeline(workspace, at("2020-01-01"))
    times = [t if isinstance(t, datetime) else at(t) for _, t in path]
    history: list[StageChange] = []
    previous: tuple[str, datetime] | None = None
    for i, ((stage_key, _), when) in enumerate(zip(path, times, strict=True)):
        kind = "create" if previous is None else "move"
        if stage_key in (WON, LOST):
            kind = stage_key
        elif previous is not None and previous[0] in (WON, LOST):
            kind = "reopen"
        history.append(
            StageChange(
                id=f"{deal_id}-{i}",
                from_stage=previous[0] if previous else None,
                to_stage=stage_key,
                at=when,
                by="test",
                seconds_in_from_stage=seconds_between(previous[1], when) if previous else None,
                pipeline_id=pipeline.id,
                pipeline_version=1,
                kind=kind,
            )
        )
        previous = (stage_key, when)
    assert previous is not None
    final = pipeline.stage(previous[0])
    assert final is not None
    status = final.key if final.terminal else "open"
    created_at = created if isinstance(created, datetime) else at(created) if created else times[0]
    deal = Deal(
        id=deal_id,
        workspace_id=workspace,
        title=f"Deal {deal_id}",
        amount_minor=amount_minor,
        currency=currency,
        pipeline_id=pipeline.id,
        pipeline_version=1,
        stage_key=final.key,
        stage_probability=final.probability,
        forecast_category=final.forecast_category,
        status=status,
        owner_id=owner,
        expected_close_date=expected,
        next_step=next_step,
        closed_at=previous[1] if final.terminal else None,
        stage_entered_at=previous[1],
        created_at=created_at,
        updated_at=previous[1],
        stage_history=history,
        lost_reason="price" if status == LOST else None,
    )
    deal.stale_at = deal.compute_stale_at(final)
    db: MemoryDatabase = getattr(target, "db", target)
    db.collections["deals"][deal_id] = deal_to_doc(deal)
    return deal
