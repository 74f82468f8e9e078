"""The win model on FerretDB + NATS: a slice of the shared dataset imported, the model
trained through GraphQL, stored, applied to the open deals (one `deal.updated` each on
JetStream), retrained without rewriting anything, used for a new deal, and trained
through the NATS endpoint the CLI calls."""

from __future__ import annotations

import argparse
import csv
import io
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client
from nats.js.api import DeliverPolicy
from pymongo.asynchronous.database import AsyncDatabase

from crm_contracts import deals as contract
from crm_contracts.envelope import CloudEvent
from crm_deals.domain.money import weighted_minor
from crm_deals.domain.win_model import WinModel
from crm_deals.importer import run as import_run
from crm_deals.win_model_cli import train_remote
from crm_kit.outbox import PENDING
from crm_kit.paths import demo_dataset_dir
from crm_kit.settings import Settings
from crm_kit.testing import eventually

pytestmark = pytest.mark.integration

DATASET = demo_dataset_dir()
TRAIN = """mutation { trainWinModel {
  pipelineId trainingDeals
  stages { key samples wins winRate estimate ageBuckets { minDays samples estimate } }
  accuracy { testDeals brierScore baselineBrierScore } } }"""
CREATE = """mutation { createDeal(input: {title: "New", amount: "10", stageKey: "engaging"}) {
  id modelProbability probability } }"""


def _slice(tmp: Path, every: int = 30) -> dict[str, int]:
    """Every `every`-th row of the dataset (all four stages), with the price list."""
    with (DATASET / "sales_pipeline.csv").open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        rows = [row for i, row in enumerate(reader) if i % every == 0]
        fields = reader.fieldnames or []
    with (tmp / "sales_pipeline.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    shutil.copy(DATASET / "products.csv", tmp / "products.csv")
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["deal_stage"]] = counts.get(row["deal_stage"], 0) + 1
    return counts


async def _events(js: Any, subject: str, workspace: str, quiet: float = 1.5) -> list[CloudEvent]:
    """Every message on `subject` for `workspace` in the stream, read until it is quiet."""
    sub = await js.subscribe(subject, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL)
    found: list[CloudEvent] = []
    try:
        while True:
            try:
                msg = await sub.next_msg(timeout=quiet)
            except TimeoutError:
                break
            event = CloudEvent.from_json(msg.data)
            if event.workspace == workspace:
                found.append(event)
    finally:
        await sub.unsubscribe()
    return found


async def _outbox_drained(db: AsyncDatabase, workspace: str) -> bool:
    return not await db["deals"].count_documents({"workspace_id": workspace, PENDING: True})


async def test_train_store_apply_and_events_on_ferretdb(
    settings: Settings,
    db: AsyncDatabase,
    nc: Client,
    service: dict[str, Any],
    tmp_path: Path,
    import_argv: Callable[..., list[str]],
) -> None:
    workspace = f"wm-{settings.database}"
    counts = _slice(tmp_path)
    argv = import_argv(tmp_path / "sales_pipeline.csv", workspace, "--no-companies")
    out, err = io.StringIO(), io.StringIO()
    assert await import_run(argv, out, err) == 0, out.getvalue() + err.getvalue()
    won, lost = counts["Won"], counts["Lost"]
    open_count = counts["Engaging"] + counts["Prospecting"]

    manager = service["client"](workspace, "maria", "manager")
    rep = service["client"](workspace, "rex", "rep")
    refused = await rep.execute(TRAIN)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    model = (await manager.data(TRAIN))["trainWinModel"]
    assert model["pipelineId"] == f"{workspace}:default"
    assert model["trainingDeals"] == won + lost
    stages = {s["key"]: s for s in model["stages"]}
    # Imported closed deals went engaging -> won/lost: all of them teach `engaging`.
    engaging = stages["engaging"]
    assert (engaging["samples"], engaging["wins"]) == (won + lost, won)
    assert engaging["winRate"] == pytest.approx((won + 10 * 0.4) / (won + lost + 10), abs=1e-6)
    assert stages["prospecting"]["samples"] == 0 and stages["prospecting"]["estimate"] == 10
    assert len(engaging["ageBuckets"]) > 1
    assert model["accuracy"]["testDeals"] > 0
    assert model["accuracy"]["brierScore"] < model["accuracy"]["baselineBrierScore"]

    # Stored: one document by `_id`, its event published through the outbox.
    stored = await db["win_models"].find_one({"_id": f"{workspace}:{workspace}:default"})
    assert stored is not None and stored["workspace_id"] == workspace
    assert stored["training_deals"] == won + lost
    assert await eventually(lambda: _model_published(db, stored["_id"]))
    learned = WinModel.from_doc(stored)

    # Open deals: engaging ones entered their stage in 2016-17, so they are in the oldest
    # age bucket; prospecting ones were entered at import (the default, 10 %).
    oldest = engaging["ageBuckets"][-1]["estimate"]
    docs = [d async for d in db["deals"].find({"workspace_id": workspace, "status": "open"})]
    assert len(docs) == open_count
    for doc in docs:
        expected = oldest if doc["stage_key"] == "engaging" else 10
        assert doc["probability_model"] == expected, doc["_id"]
        assert doc["probability"] == expected  # the effective probability, stored
        assert doc["weighted_minor"] == weighted_minor(doc["amount_minor"], expected)
        assert doc["updated_by"] == "win-model"
    assert learned.estimate("engaging", 40, 3000) == oldest

    # One deal.updated per open deal on JetStream, no more (and none for closed deals).
    await eventually(lambda: _outbox_drained(db, workspace), timeout=30)
    js = nc.jetstream()
    updated = [
        e
        for e in await _events(js, contract.DEAL_UPDATED, workspace)
        if e.data["changedFields"] == ["modelProbability"]
    ]
    assert sorted(e.subject for e in updated) == sorted(d["_id"] for d in docs)
    trained = await _events(js, contract.WIN_MODEL_TRAINED, workspace)
    assert len(trained) == 1 and trained[0].data["trainingDeals"] == won + lost

    # Retraining on unchanged data rewrites no deal.
    await manager.data(TRAIN)
    await eventually(lambda: _outbox_drained(db, workspace), timeout=30)
    again = await _events(js, contract.DEAL_UPDATED, workspace)
    assert len([e for e in again if e.data["changedFields"] == ["modelProbability"]]) == len(
        updated
    )

    # A deal created now gets the engaging estimate for age 0 from the stored model.
    created = (await manager.data(CREATE))["createDeal"]
    assert created["modelProbability"] == engaging["estimate"]
    assert created["probability"] == engaging["estimate"]

    # The NATS endpoint `crm demo` uses (through the CLI's client): trains, writes nothing new.
    out = io.StringIO()
    args = argparse.Namespace(workspace=workspace, pipeline=None, nats_url=settings.nats_url)
    assert await train_remote(args, out) == 0, out.getvalue()
    assert f"win model trained on {won + lost} closed deals" in out.getvalue()
    assert "; 0 open deals updated" in out.getvalue()


async def _model_published(db: AsyncDatabase, model_id: str) -> bool:
    doc = await db["win_models"].find_one({"_id": model_id})
    return doc is not None and not doc.get(PENDING)
