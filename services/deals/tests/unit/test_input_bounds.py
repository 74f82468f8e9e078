"""Input bounds of deals and pipelines (README "Limits"): the maximum is accepted, one more
is BAD_USER_INPUT naming the input path."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from crm_deals.domain import rules
from crm_deals.domain.money import parse_amount
from crm_deals.domain.pipeline import Stage, TaskTemplate, build_stages
from crm_deals.domain.records import OWNER
from crm_deals.usecases import forecasting, handover
from crm_deals.usecases.inputs import QuotaInput
from crm_kit import bounds
from crm_kit.errors import BadUserInput
from crm_kit.testing import Clock

from .conftest import FakeDeals


def _refused(field: str) -> Any:
    """Expects BadUserInput naming `field`."""
    return pytest.raises(BadUserInput, check=lambda error: error.field == field)


def test_amounts_take_ascii_digits_only() -> None:
    assert parse_amount("1250.50", "USD") == 125050
    # Arabic-Indic and full-width digits, which `\d` and `int()` would take.
    for foreign in ("\u0661\u0662\u0663", "\uff11\uff12\uff13", "1.\u0665"):
        with _refused("input.amount"):
            parse_amount(foreign, "USD")


def test_amount_size_and_precision_are_bounded() -> None:
    assert parse_amount("9999999999999", "USD") == 999999999999900  # below MAX_MINOR
    assert parse_amount("1.500000", "USD") == 150  # trailing zeros up to six places
    for text in ("1" * 1_000_000, "1." + "0" * 7, "1" * 17):
        with _refused("input.amount"):
            parse_amount(text, "USD")


def test_contacts_on_a_deal_are_bounded() -> None:
    ids = [f"c{i}" for i in range(bounds.MAX_CONTACTS_PER_DEAL)]
    assert len(rules.contact_ids(None, ids)) == bounds.MAX_CONTACTS_PER_DEAL
    with _refused("input.contactIds"):
        rules.contact_ids(None, [*ids, "one-more"])
    with _refused("input.contactIds.0"):
        rules.contact_ids(None, ["x" * (bounds.MAX_ID + 1)])


def test_deal_texts_and_custom_fields_are_bounded() -> None:
    assert rules.optional_text("s" * bounds.MAX_SHORT, "input.nextStep")
    with _refused("input.nextStep"):
        rules.optional_text("s" * (bounds.MAX_SHORT + 1), "input.nextStep")
    many = {f"k{i}": i for i in range(bounds.MAX_CUSTOM_FIELDS)}
    assert rules.custom_fields(many) == many
    with _refused("input.customFields"):
        rules.custom_fields({**many, "extra": 1})
    with _refused("input.customFields"):
        rules.custom_fields({"notes": "x" * bounds.MAX_CUSTOM_FIELDS_BYTES})


def _stage(**changes: object) -> Stage:
    values: dict[str, object] = {
        "key": "s1",
        "name": "Stage",
        "probability": 50,
        "forecast_category": "pipeline",
    }
    values.update(changes)
    return Stage(**values)  # type: ignore[arg-type]


def test_rotting_days_and_due_offsets_are_bounded() -> None:
    build_stages([_stage(rotting_days=bounds.MAX_ROTTING_DAYS)])
    with _refused("input.stages.0.rottingDays"):
        build_stages([_stage(rotting_days=bounds.MAX_ROTTING_DAYS + 1)])
    far = TaskTemplate("call", "Call", due_offset_days=bounds.MAX_DAY_OFFSET)
    build_stages([_stage(playbook=(far,))])
    too_far = TaskTemplate("call", "Call", due_offset_days=bounds.MAX_DAY_OFFSET + 1)
    with _refused("input.stages.0.playbook.0.dueOffsetDays"):
        build_stages([_stage(playbook=(too_far,))])


def test_playbooks_and_stages_are_bounded() -> None:
    full = tuple(TaskTemplate(f"t{i}", "Do") for i in range(bounds.MAX_PLAYBOOK))
    build_stages([_stage(playbook=full)])
    with _refused("input.stages.0.playbook"):
        build_stages([_stage(playbook=(*full, TaskTemplate("extra", "Do")))])
    stages = [_stage(key=f"s{i}") for i in range(bounds.MAX_STAGES + 1)]
    build_stages(stages[:-1])
    with _refused("input.stages"):
        build_stages(stages)
    with _refused("input.stages.0.name"):
        build_stages([_stage(name="n" * (bounds.MAX_NAME + 1))])


async def test_handover_quota_and_period_ids_are_bounded() -> None:
    fake = FakeDeals(Clock())
    too_long = "u" * (bounds.MAX_ID + 1)
    with _refused("input.fromOwnerId"):
        await handover.hand_over(fake.scope(), too_long, "b")
    with _refused("input.toOwnerId"):
        await handover.hand_over(fake.scope(), "a", too_long)
    quota = QuotaInput(period="2026-Q1", scope=OWNER, scope_id=too_long, amount="1", currency="USD")
    with _refused("input.scopeId"):
        await forecasting.set_quota(fake.scope(), quota)
    with _refused("input.period"):
        await forecasting.set_quota(fake.scope(), replace(quota, scope_id="a", period="2" * 10_000))
    assert fake.collections["quotas"] == {}
