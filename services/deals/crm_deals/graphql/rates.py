"""GraphQL shape of the exchange rates (`exchangeRates`, `setExchangeRates`)."""

from __future__ import annotations

from datetime import date

import strawberry

from ..domain.rates import Rate
from ..usecases.inputs import RateInput


@strawberry.type(description="On `date`, one `currency` is worth `rate` `quoteCurrency`.")
class ExchangeRate:
    currency: str
    quote_currency: str
    date: date
    rate: str = strawberry.field(description='Exact decimal string, e.g. "1.0842".')

    @classmethod
    def of(cls, r: Rate) -> ExchangeRate:
        return cls(currency=r.currency, quote_currency=r.quote, date=r.day, rate=str(r.rate))


@strawberry.input
class ExchangeRateInput:
    currency: str
    quote_currency: str
    date: date
    rate: str = strawberry.field(
        description="Positive decimal string, at most 12 digits before and after the point."
    )

    def to_domain(self) -> RateInput:
        return RateInput(self.currency, self.quote_currency, self.date, self.rate)
