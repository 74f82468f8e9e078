"""The importer's row mapping on the in-memory store: stages, products, duplicates,
errors, owners, companies, idempotency, no stage_changed events."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Any

from crm_contracts import deals as contract
from crm_deals.domain.deal import Deal
from crm_deals.domain.queries import DealSelection
from crm_deals.importer import Options, import_rows, mapped_rows, shift_to_today, slug
from crm_deals.store.port import WorkspaceStore

from .conftest import FakeDeals

CSV = """opportunity_id,sales_agent,product,account,deal_stage,engage_date,close_date,close_value
A1,Darcel Schlecht,GTXPro,Isdom,Won,2017-01-01,2017-02-01,4514
A2,Moses Frase,MG Special,,Prospecting,,,
A3,Moses Frase,MG Special,,Prospecting,,,
A4,Moses Frase,GTX Basic,Codehow,Lost,2017-01-05,2017-01-20,0
A5,Moses Frase,GTX Basic,Codehow,Engaging,2017-03-01,,
A6,Moses Frase,GTX Basic,Codehow,Negotiating,2017-03-01,,
A7,Moses Frase,Mystery,Nowhere Inc,Engaging,2017-13-01,,
"""
PRICES = {"GTX Pro": "4821", "MG Special": "55", "GTX Basic": "550"}
NOW = datetime(2026, 1, 1, tzinfo=UTC)


async def _by_external_id(store: WorkspaceStore, external_id: str) -> Deal:
    (found,) = [d for d in await store.find_deals(DealSelection()) if d.external_id == external_id]
    return found


async def _resolve(names: list[str]) -> dict[str, str]:
    return {n: f"co-{slug(n)}" for n in names if n != "Nowhere Inc"}


async def test_rows_map_to_deals_and_problems_are_reported(fake: Any) -> None:
    store = fake.for_workspace("demo")
    rows = mapped_rows(csv.DictReader(io.StringIO(CSV)), {})
    options = Options(column_map={}, stage_map={}, prices=PRICES)
    report = await import_rows(rows, store, options, resolve_companies=_resolve, now=NOW)
    assert report.rows == 7 and report.inserted == 5 and report.valid == 5
    assert {e.external_id: e.kind for e in report.errors} == {"A6": "bad_stage", "A7": "bad_value"}
    assert report.duplicate_rows == 2 and report.duplicate_groups == 1
    kinds = {w.kind for w in report.warnings}
    assert {"duplicate_row", "product_normalised", "no_account"} <= kinds

    won = await _by_external_id(store, "A1")
    assert won.product == "GTX Pro" and won.amount_minor == 451400
    assert won.owner_id == "darcel-schlecht" and won.company_id == "co-isdom"
    assert won.status == "won" and won.closed_at == datetime(2017, 2, 1, tzinfo=UTC)
    assert [(h.from_stage, h.to_stage) for h in won.stage_history] == [
        (None, "engaging"),
        ("engaging", "won"),
    ]
    lost = await _by_external_id(store, "A4")
    assert lost.amount_minor == 55000 and lost.custom_fields == {"closeValue": "0"}
    assert lost.lost_reason
    prospect = await _by_external_id(store, "A2")
    assert prospect.amount_minor == 5500 and prospect.company_id is None
    assert prospect.stage_entered_at == NOW

    events = fake.events()
    assert [e.type for e in events if e.type.startswith("crm.deals.deal")] == [
        contract.DEAL_CREATED
    ] * 5

    again = await import_rows(rows, store, options, resolve_companies=_resolve, now=NOW)
    assert again.inserted == 0 and again.skipped_existing == 5


async def test_stage_and_column_maps(fake: Any) -> None:
    text = "id,who,stage\nX1,Ann Lee,Negotiating\n"
    rows = mapped_rows(csv.DictReader(io.StringIO(text)), {"id": "external_id", "who": "owner"})
    options = Options(column_map={}, stage_map={"Negotiating": "negotiation"}, prices={})
    report = await import_rows(rows, fake.for_workspace("w"), options, now=NOW)
    assert report.inserted == 1 and not report.errors
    (deal,) = await fake.for_workspace("w").find_deals(DealSelection())
    assert deal.stage_key == "negotiation" and deal.owner_id == "ann-lee"


async def test_dry_run_writes_nothing(fake: Any) -> None:
    rows = mapped_rows(csv.DictReader(io.StringIO(CSV)), {})
    report = await import_rows(
        rows,
        fake.for_workspace("demo"),
        Options(column_map={}, stage_map={}, prices=PRICES, dry_run=True),
        now=NOW,
    )
    assert report.valid == 5 and report.inserted == 0
    assert fake.events() == []
    assert not fake.collections["pipelines"]  # not even the default pipeline


async def test_spread_expected_close_dates_cover_the_coming_months_the_same_on_rerun(
    fake: FakeDeals,
) -> None:
    many = (
        "opportunity_id,sales_agent,product,account,deal_stage,engage_date,close_date,close_value\n"
    )
    many += "W1,Moses Frase,GTX Basic,Codehow,Won,2017-01-01,2017-02-01,550\n"
    many += "".join(
        f"O{i},Moses Frase,GTX Basic,Codehow,Engaging,2017-03-01,,\n" for i in range(60)
    )
    rows = mapped_rows(csv.DictReader(io.StringIO(many)), {})
    options = Options(column_map={}, stage_map={}, prices=PRICES, spread_expected_close_months=6)
    # Two separate databases: the dates come from the rows, not from what is stored.
    other = FakeDeals(fake.clock, workarounds=fake.workarounds)
    stores = [fake.for_workspace("demo"), other.for_workspace("demo")]
    for store in stores:
        await import_rows(rows, store, options, now=NOW)
    first, second = [
        {d.external_id: d for d in await store.find_deals(DealSelection())} for store in stores
    ]
    open_dates = [d.expected_close_date for key, d in first.items() if key and key.startswith("O")]
    months = {day[:7] for day in open_dates if day}
    assert len(open_dates) == 60 and months == {f"2026-0{m}" for m in range(2, 8)}
    assert all(second[key].expected_close_date == first[key].expected_close_date for key in first)
    assert first["W1"].expected_close_date is None  # closed deals keep their real dates
    stored = fake.collections["deals"][first["O1"].id]
    assert stored["close_month"] == stored["expected_close_date"][:7]


async def test_dates_shift_so_the_latest_is_today_keeping_every_interval(fake: FakeDeals) -> None:
    rows = mapped_rows(csv.DictReader(io.StringIO(CSV)), {})
    shift = shift_to_today(rows, NOW.date())
    assert shift == (NOW.date() - date(2017, 3, 1)).days  # A5/A6 engaged 2017-03-01
    options = Options(column_map={}, stage_map={}, prices=PRICES, date_shift_days=shift)
    store = fake.for_workspace("demo")
    await import_rows(rows, store, options, resolve_companies=_resolve, now=NOW)
    won = await _by_external_id(store, "A1")
    assert won.closed_at == datetime(2017, 2, 1, tzinfo=UTC) + timedelta(days=shift)
    assert won.stage_history[1].seconds_in_from_stage == 31 * 86400  # Jan 1 -> Feb 1
    engaged = await _by_external_id(store, "A5")
    assert engaged.stage_entered_at == NOW


async def test_deals_placed_past_unmet_criteria_are_imported_and_audited(fake: Any) -> None:
    """Import is a history record: never refused for criteria, every bypass recorded."""
    store = fake.for_workspace("demo")
    rows = mapped_rows(csv.DictReader(io.StringIO(CSV)), {})
    options = Options(column_map={}, stage_map={}, prices=PRICES)
    report = await import_rows(rows, store, options, resolve_companies=_resolve, now=NOW)
    prospect = await _by_external_id(store, "A2")
    assert prospect.stage_history[-1].overridden == []  # the first stage passes nothing
    engaging = await _by_external_id(store, "A5")
    assert engaging.stage_history[-1].kind == "import"
    # A company (co-codehow) was found: prospecting's criterion held; qualification's not.
    assert engaging.stage_history[-1].overridden == [
        "field:expectedCloseDate",
        "playbook:discovery_call",
        "primaryContact",
    ]
    won = await _by_external_id(store, "A1")
    assert "playbook:send_proposal" in won.stage_history[-1].overridden
    # The audit survives the store's round trip and is counted in the report.
    (stored,) = await store.get_deals([engaging.id])
    assert stored.stage_history[-1].overridden == engaging.stage_history[-1].overridden
    assert report.rows_with_unmet_criteria == 3  # A1, A4, A5 (A2/A3 at the first stage)
    assert report.as_dict()["unmetCriteria"]["playbook:discovery_call"] == 3
