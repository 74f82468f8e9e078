"""The shared dataset imports completely, with the expected counts, idempotently."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from nats.aio.client import Client
from pymongo.asynchronous.database import AsyncDatabase

from crm_contracts.streams import stream_for
from crm_deals.importer import run
from crm_kit.paths import demo_dataset_dir
from crm_kit.settings import Settings

pytestmark = pytest.mark.integration

DATASET = demo_dataset_dir() / "sales_pipeline.csv"


async def test_shared_dataset_imports_completely_and_only_once(
    settings: Settings,
    db: AsyncDatabase,
    nc: Client,
    fake_contacts: dict[str, Any],
    import_argv: Callable[..., list[str]],
) -> None:
    workspace = f"imp-{settings.database}"
    fake_contacts["unknown"] = {"Cancity"}
    out, err = io.StringIO(), io.StringIO()
    code = await run(import_argv(DATASET, workspace), out, err)
    assert code == 0, out.getvalue() + err.getvalue()
    deals = db["deals"]
    scope = {"workspace_id": workspace}
    assert await deals.count_documents(scope) == 8800
    by_stage = Counter()
    async for doc in deals.find(scope, {"stage_key": 1}):
        by_stage[doc["stage_key"]] += 1
    assert by_stage == {"won": 4238, "lost": 2473, "engaging": 1589, "prospecting": 500}
    assert await deals.count_documents({**scope, "status": "won"}) == 4238
    assert await deals.count_documents({**scope, "status": "lost"}) == 2473
    assert await deals.count_documents({**scope, "status": "open"}) == 2089

    # Won deals carry the source's close value and date; lost ones the list price.
    with DATASET.open(newline="", encoding="utf-8-sig") as handle:
        rows = {r["opportunity_id"]: r for r in csv.DictReader(handle)}
    won_total = sum(int(r["close_value"]) for r in rows.values() if r["deal_stage"] == "Won")
    total = sum([d["amount_minor"] async for d in deals.find({**scope, "status": "won"})])
    assert total == won_total * 100
    won = await deals.find_one({**scope, "external_id": "1C1I7A6R"})
    assert won["closed_at"].date().isoformat() == "2017-03-01"
    assert won["amount_minor"] == 105400 and won["owner_id"] == "moses-frase"
    # "Cancity" is unknown to contacts: reported (imported deals store no null fields).
    assert "company_id" not in won
    assert [(h.get("from_stage"), h["to_stage"]) for h in won["stage_history"]] == [
        (None, "engaging"),
        ("engaging", "won"),
    ]
    assert won["stage_history"][1]["seconds_in_from_stage"] == 132 * 86400
    pro = await deals.find_one({**scope, "external_id": "Z063OYW0"})
    assert pro["product"] == "GTX Pro" and pro["company_id"] == "co-isdom"
    assert await deals.count_documents({**scope, "product": "GTXPro"}) == 0
    assert await deals.count_documents({**scope, "product": "GTX Pro"}) == 1480
    # Open deals without an account (1,425 in the source) have no company.
    assert await deals.count_documents({**scope, "status": "open", "company_id": None}) >= 1425
    prospect = await deals.find_one({**scope, "stage_key": "prospecting"})
    assert prospect["amount_minor"] > 0 and "closed_at" not in prospect

    report = out.getvalue()
    assert "duplicate rows (same values apart from the id, imported): 461 in 109 groups" in report
    assert "no_account" in report and "product_normalised" in report
    assert "[" in err.getvalue() and "8800/8800" in err.getvalue()  # the progress bar

    # Events: one deal.created per deal, no stage_changed (imports start no playbooks).
    js = nc.jetstream()
    info = await js.stream_info(stream_for("deals").name)
    assert info.state.messages >= 8800
    assert await deals.count_documents({**scope, "_outbox_pending": True}) == 0

    # A second run adds nothing.
    out2 = io.StringIO()
    assert await run(import_argv(DATASET, workspace), out2, io.StringIO()) == 0
    assert await deals.count_documents(scope) == 8800
    assert "already imported 8800" in out2.getvalue()


async def test_dry_run_writes_nothing(
    settings: Settings,
    db: AsyncDatabase,
    fake_contacts: dict[str, Any],
    import_argv: Callable[..., list[str]],
) -> None:
    workspace = f"dry-{settings.database}"
    out = io.StringIO()
    assert await run(import_argv(DATASET, workspace, "--dry-run"), out, io.StringIO()) == 0
    assert "would insert 8800" in out.getvalue()
    assert await db["deals"].count_documents({}) == 0
    assert await db["pipelines"].count_documents({}) == 0
