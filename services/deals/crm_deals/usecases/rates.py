"""Exchange rates of a workspace: entered (or imported in batches) by managers and admins,
read by every report that converts (board, forecast, analytics, scorecards, roll-ups).

One record per (currency, quote currency, day): entering the same day again replaces it.
A report reads the workspace's rates once per request into a `RateTable`.
"""

from __future__ import annotations

from crm_kit.errors import BadUserInput

from ..domain.money import validate_currency
from ..domain.pipeline import Pipeline
from ..domain.rates import Converter, Rate, RateTable
from ..domain.records import EnteredRate
from .inputs import RateInput
from .scope import Scope

MAX_BATCH = 500
MAX_LISTED = 1000


async def set_rates(scope: Scope, rates: list[RateInput]) -> list[Rate]:
    """Managers and admins; at most MAX_BATCH rates per call, all checked before any is
    written."""
    scope.require_manager("only managers and admins enter exchange rates")
    if not 1 <= len(rates) <= MAX_BATCH:
        raise BadUserInput(f"give 1 to {MAX_BATCH} rates per call", field="rates")
    checked = [
        Rate.checked(r.currency, r.quote_currency, r.day, r.rate, f"rates.{i}")
        for i, r in enumerate(rates)
    ]
    now = scope.now()
    for rate in checked:
        await scope.store.put_rate(EnteredRate(scope.workspace_id, rate, scope.subject, now))
    scope.memo.rates = None
    return checked


async def list_rates(
    scope: Scope, currency: str | None = None, quote_currency: str | None = None
) -> list[Rate]:
    wanted_currency = currency.strip().upper() if currency else None
    wanted_quote = quote_currency.strip().upper() if quote_currency else None
    rates = [
        entered.rate
        for entered in await scope.store.rates()
        if (wanted_currency is None or entered.rate.currency == wanted_currency)
        and (wanted_quote is None or entered.rate.quote == wanted_quote)
    ]
    rates.sort(key=lambda r: (r.currency, r.quote, r.day))
    return rates[-MAX_LISTED:]


async def table(scope: Scope) -> RateTable:
    if scope.memo.rates is None:
        scope.memo.rates = RateTable(entered.rate for entered in await scope.store.rates())
    return scope.memo.rates


async def converter(scope: Scope, target: str) -> Converter:
    return Converter(target, await table(scope), scope.now().date())


async def converter_for(scope: Scope, pipeline: Pipeline, currency: str | None) -> Converter:
    """Into `currency`, or the pipeline's (reporting) currency when none is asked for."""
    code = pipeline.currency if currency is None else validate_currency(currency, "currency")
    return await converter(scope, code)
