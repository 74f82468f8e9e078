"""The win model and the forecasting parts on FerretDB + NATS: a slice of the shared
dataset imported (companies resolved by a stand-in contacts service, their industry and
size arriving as contacts events), the model trained as a background job through
GraphQL, stored per version, applied to the open deals (one `deal.updated` each on
JetStream), retrained without rewriting anything, trained through the NATS endpoint the
CLI calls; exchange rates converting the board; submissions versioned by unique inserts."""

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

from crm_contracts import contacts
from crm_contracts import deals as contract
from crm_contracts.envelope import CloudEvent, new_event
from crm_contracts.streams import stream_for
from crm_deals.importer import run as import_run
from crm_deals.importer import slug
from crm_deals.store.model_documents import win_model_from_doc
from crm_deals.win_model_cli import train_remote
from crm_kit.nats_io import ensure_stream
from crm_kit.outbox import PENDING
from crm_kit.paths import demo_dataset_dir
from crm_kit.settings import Settings
from crm_kit.testing import eventually

pytestmark = pytest.mark.integration

DATASET = demo_dataset_dir()
TRAIN = "mutation { trainWinModel { id status } }"
JOB = "query($id: ID!) { winModelTrainingJob(id: $id) { status modelVersion dealsUpdated error } }"
MODEL = """{ winModel { status version training { closedDeals datedClosedDeals }
  featureImportances { feature } evaluation { model { predictions brierScore }
  stageDefaults { brierScore } } } }"""
EXPLAIN = """query($id: ID!) { deal(id: $id) { winExplanation { source probability
  factors { feature logOdds } } } }"""
BOARD = """{ pipelineBoard { columns { stage { key } totalAmount unconvertedCount
  totalsByCurrency { currency amount } } } }"""
RATES = """mutation($rates: [ExchangeRateInput!]!) { setExchangeRates(rates: $rates) { rate } }"""
SUBMIT = """mutation($commit: String!) { submitForecast(input: {period: "2026-Q1", scope: OWNER,
  scopeId: "maria", commit: $commit, bestCase: "500"}) { version commit } }"""


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


async def _job_done(client: Any, job_id: str) -> dict | None:
    job = (await client.data(JOB, {"id": job_id}))["winModelTrainingJob"]
    return job if job["status"] in ("SUCCEEDED", "FAILED") else None


async def _publish_companies(nc: Client, workspace: str, names: list[str]) -> None:
    """What the contacts service publishes for imported accounts (here: made up)."""
    js = nc.jetstream()
    await ensure_stream(js, stream_for("contacts"))
    for i, name in enumerate(names):
        company = contacts.CompanySnapshot(
            id=f"co-{slug(name)}",
            name=name,
            industry=["Software", "retail", "Medical"][i % 3],
            size=10 ** (1 + i % 4),
            updated_at="2026-01-01T00:00:00Z",
        )
        event = new_event(
            event_type=contacts.COMPANY_CREATED,
            source="crm/contacts",
            workspace=workspace,
            subject=company.id,
            data=contacts.CompanyCreated(company=company).wire(),
        )
        await js.publish(event.type, event.to_json(), headers={"Nats-Msg-Id": event.id})


async def test_train_store_apply_and_events_on_ferretdb(
    settings: Settings,
    db: AsyncDatabase,
    nc: Client,
    service: dict[str, Any],
    fake_contacts: dict[str, Any],
    tmp_path: Path,
    import_argv: Callable[..., list[str]],
) -> None:
    workspace = f"wm-{settings.database}"
    counts = _slice(tmp_path)
    with (tmp_path / "sales_pipeline.csv").open(newline="") as handle:
        accounts = sorted({r["account"] for r in csv.DictReader(handle) if r["account"]})
    await _publish_companies(nc, workspace, accounts)
    argv = import_argv(tmp_path / "sales_pipeline.csv", workspace)
    out, err = io.StringIO(), io.StringIO()
    assert await import_run(argv, out, err) == 0, out.getvalue() + err.getvalue()
    won, lost = counts["Won"], counts["Lost"]
    open_count = counts["Engaging"] + counts["Prospecting"]

    # The company facts consumer keeps each company's industry and size.
    async def facts_arrived() -> bool:
        return await db["company_facts"].count_documents({"workspace_id": workspace}) == len(
            accounts
        )

    assert await eventually(facts_arrived, timeout=30)
    fact = await db["company_facts"].find_one({"_id": f"{workspace}:co-{slug(accounts[0])}"})
    assert fact is not None and fact["industry"] == "software" and fact["size"] == 10

    manager = service["client"](workspace, "maria", "manager")
    rep = service["client"](workspace, "rex", "rep")
    refused = await rep.execute(TRAIN)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    job = (await manager.data(TRAIN))["trainWinModel"]
    assert job["status"] in ("QUEUED", "RUNNING")  # returned before the work is done
    done = await eventually(lambda: _job_done(manager, job["id"]), timeout=120)
    assert done["status"] == "SUCCEEDED" and done["modelVersion"] == 1, done
    model = (await manager.data(MODEL))["winModel"]
    assert model["status"] == "MODEL" and model["version"] == 1
    assert model["training"]["closedDeals"] == won + lost
    assert model["training"]["datedClosedDeals"] == won + lost
    features = {f["feature"] for f in model["featureImportances"]}
    assert {"industry", "companySize", "owner"} <= features
    evaluation = model["evaluation"]
    assert evaluation is not None and evaluation["model"]["predictions"] > 0
    assert evaluation["model"]["brierScore"] < evaluation["stageDefaults"]["brierScore"]

    # Stored: the model by `_id` and a copy per version; its event published.
    stored = await db["win_models"].find_one({"_id": f"{workspace}:{workspace}:default"})
    assert stored is not None and stored["workspace_id"] == workspace and stored["version"] == 1
    assert await eventually(lambda: _model_published(db, stored["_id"]))
    assert await db["win_model_versions"].count_documents({"workspace_id": workspace}) == 1

    # Open deals: engaging ones get the model's estimate (1..99); prospecting ones were
    # entered at import, a stage with no training history: their stage default.
    docs = [d async for d in db["deals"].find({"workspace_id": workspace, "status": "open"})]
    assert len(docs) == open_count
    modelled = [d for d in docs if d["stage_key"] == "engaging"]
    assert modelled and all(1 <= d["probability_model"] <= 99 for d in modelled)
    assert all(d["probability"] == d["probability_model"] for d in modelled)
    assert all(d["updated_by"] == "win-model" for d in modelled)
    assert all(d.get("probability_model") is None for d in docs if d["stage_key"] == "prospecting")
    learned = win_model_from_doc(stored)
    assert learned.usable and "engaging" in learned.known_stages

    # One deal.updated per changed open deal on JetStream (none for closed deals).
    await eventually(lambda: _outbox_drained(db, workspace), timeout=30)
    js = nc.jetstream()
    updated = [
        e
        for e in await _events(js, contract.DEAL_UPDATED, workspace)
        if e.data["changedFields"] == ["modelProbability"]
    ]
    assert sorted(e.subject for e in updated) == sorted(d["_id"] for d in modelled)
    trained = await _events(js, contract.WIN_MODEL_TRAINED, workspace)
    assert len(trained) == 1 and trained[0].data["version"] == 1

    # Retraining on unchanged data: version 2, no deal rewritten.
    job = (await manager.data(TRAIN))["trainWinModel"]
    done = await eventually(lambda: _job_done(manager, job["id"]), timeout=120)
    assert done["modelVersion"] == 2 and done["dealsUpdated"] == 0

    # The explanation of an open engaging deal, from the stored model.
    explained = (await manager.data(EXPLAIN, {"id": modelled[0]["_id"]}))["deal"]
    assert explained["winExplanation"]["source"] == "MODEL"
    assert explained["winExplanation"]["probability"] == modelled[0]["probability_model"]
    assert explained["winExplanation"]["factors"]

    # The NATS endpoint `crm demo` uses (through the CLI's client): version 3, nothing new.
    out = io.StringIO()
    args = argparse.Namespace(workspace=workspace, pipeline=None, nats_url=settings.nats_url)
    assert await train_remote(args, out) == 0, out.getvalue()
    assert "win model v3 (MODEL)" in out.getvalue()
    assert "; 0 open deals updated" in out.getvalue()


async def test_rates_convert_the_board_and_submissions_are_versioned_on_ferretdb(
    settings: Settings, service: dict[str, Any]
) -> None:
    workspace = f"fx-{settings.database}"
    manager = service["client"](workspace, "maria", "manager")
    admin = service["client"](workspace, "ann", "admin")
    await admin.data(  # placed at a later stage: an admin's override
        'mutation { createDeal(input: {title: "EU", amount: "1000.00", currency: "EUR", '
        'stageKey: "engaging", ownerId: "maria", override: true}) { id } }'
    )
    board = (await manager.data(BOARD))["pipelineBoard"]["columns"]
    engaging = next(c for c in board if c["stage"]["key"] == "engaging")
    assert engaging["totalAmount"] == "0.00" and engaging["unconvertedCount"] == 1
    await manager.data(
        RATES,
        {
            "rates": [
                {"currency": "EUR", "quoteCurrency": "USD", "date": "2020-01-01", "rate": "1.10"}
            ]
        },
    )
    board = (await manager.data(BOARD))["pipelineBoard"]["columns"]
    engaging = next(c for c in board if c["stage"]["key"] == "engaging")
    assert engaging["totalAmount"] == "1100.00" and engaging["unconvertedCount"] == 0
    assert engaging["totalsByCurrency"] == [{"currency": "EUR", "amount": "1000.00"}]

    versions = []
    for commit in ("100", "150"):
        found = (await manager.data(SUBMIT, {"commit": commit}))["submitForecast"]
        versions.append((found["version"], found["commit"]))
    assert versions == [(1, "100.00"), (2, "150.00")]


async def _model_published(db: AsyncDatabase, model_id: str) -> bool:
    doc = await db["win_models"].find_one({"_id": model_id})
    return doc is not None and not doc.get(PENDING)
