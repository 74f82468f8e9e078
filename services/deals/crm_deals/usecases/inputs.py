"""Typed inputs of the use cases. An optional field of a change defaults to `UNSET` ("not
given": keep), as distinct from `None` ("clear it"). GraphQL maps its inputs to these;
errors name the client's fields (`input.<camelCase name>`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from crm_kit.unset import UNSET, Unset

from ..domain.pipeline import Stage


@dataclass(frozen=True)
class DealInput:
    """A new deal. Without a pipeline: the workspace's default; without a stage: its
    first; without an owner: the caller."""

    title: str
    amount: str
    currency: str | None = "USD"
    pipeline_id: str | None = None
    stage_key: str | None = None
    company_id: str | None = None
    primary_contact_id: str | None = None
    contact_ids: list[str] | None = None
    owner_id: str | None = None
    expected_close_date: date | str | None = None
    next_step: str | None = None
    next_step_date: date | str | None = None
    source: str | None = None
    product: str | None = None
    probability_override: int | None = None
    # A JSON object (checked by `rules.custom_fields`: clients send any JSON).
    custom_fields: object = None


@dataclass(frozen=True)
class DealChanges:
    """Only the given fields change; None clears an optional one."""

    title: str | Unset | None = UNSET
    amount: str | Unset | None = UNSET
    currency: str | Unset | None = UNSET
    company_id: str | Unset | None = UNSET
    primary_contact_id: str | Unset | None = UNSET
    contact_ids: list[str] | Unset | None = UNSET
    owner_id: str | Unset | None = UNSET
    expected_close_date: date | str | Unset | None = UNSET
    next_step: str | Unset | None = UNSET
    next_step_date: date | str | Unset | None = UNSET
    source: str | Unset | None = UNSET
    product: str | Unset | None = UNSET
    probability_override: int | Unset | None = UNSET
    model_probability: int | Unset | None = UNSET
    custom_fields: object = UNSET  # a JSON object (checked by `rules.custom_fields`)


@dataclass(frozen=True)
class DealFilter:
    """What a client asks a deal list for (validated into a `DealSelection`)."""

    pipeline_id: str | None = None
    stage_keys: list[str] | None = None
    owner_id: str | None = None
    company_id: str | None = None
    contact_id: str | None = None
    status: str | None = None  # open | won | lost
    stale: bool | None = None
    currency: str | None = None
    amount_min: str | None = None
    amount_max: str | None = None
    close_date_from: date | str | None = None
    close_date_to: date | str | None = None
    text: str | None = None  # in the title, in any case


@dataclass(frozen=True)
class PipelineInput:
    name: str
    stages: list[Stage]
    currency: str = "USD"


@dataclass(frozen=True)
class RateInput:
    currency: str
    quote_currency: str
    day: date
    rate: str


@dataclass(frozen=True)
class SubmissionInput:
    period: str
    scope: str  # OWNER | TEAM
    scope_id: str
    commit: str
    best_case: str
    pipeline_id: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class QuotaInput:
    period: str
    scope: str
    scope_id: str
    amount: str
    currency: str
