"""Exchange rates of a workspace: entered (or imported in batches) by managers and admins,
read by every report that converts (board, forecast, analytics, scorecards, roll-ups).

One document per (currency, quote currency, day) in `exchange_rates`
(`<workspace>:<CUR>:<QUOTE>:<YYYY-MM-DD>`): entering the same day again replaces it. A
report reads the workspace's rates once per request (a scan of that small collection)
into a `RateTable`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from crm_kit.errors import BadUserInput, Forbidden

from ..domain.rates import Converter, Rate, RateTable
from ..store.documents import EXCHANGE_RATES, DocumentStores
from .context import Actor

MAX_BATCH = 500
MAX_LISTED = 1000


@dataclass(frozen=True)
class RateInput:
    currency: str
    quote_currency: str
    day: date
    rate: str


def _doc(rate: Rate, actor: Actor) -> dict[str, Any]:
    return {
        "currency": rate.currency,
        "quote_currency": rate.quote,
        "day": rate.day.isoformat(),
        "rate": str(rate.rate),
        "entered_by": actor.subject,
        "entered_at": actor.clock(),
    }


def _rate(doc: dict[str, Any]) -> Rate:
    return Rate(
        doc["currency"], doc["quote_currency"], date.fromisoformat(doc["day"]), Decimal(doc["rate"])
    )


class RatesService:
    def __init__(self, documents: DocumentStores | None, actor: Actor) -> None:
        self.documents = documents
        self.actor = actor
        self._table: RateTable | None = None

    def _collection(self) -> Any:
        if self.documents is None:
            raise BadUserInput("exchange rates are not available here", field="rates")
        return self.documents.collection(EXCHANGE_RATES, self.actor.request.workspace_id)

    async def set_rates(self, rates: list[RateInput]) -> list[Rate]:
        """Managers and admins; at most MAX_BATCH rates per call, all checked before any
        is written."""
        if not self.actor.request.has_role("admin", "manager"):
            raise Forbidden("only managers and admins enter exchange rates")
        if not 1 <= len(rates) <= MAX_BATCH:
            raise BadUserInput(f"give 1 to {MAX_BATCH} rates per call", field="rates")
        checked = [
            Rate.checked(r.currency, r.quote_currency, r.day, r.rate, f"rates.{i}")
            for i, r in enumerate(rates)
        ]
        collection = self._collection()
        for rate in checked:
            key = f"{rate.currency}:{rate.quote}:{rate.day.isoformat()}"
            await collection.put(key, _doc(rate, self.actor))
        self._table = None
        return checked

    async def list_rates(
        self, currency: str | None = None, quote_currency: str | None = None
    ) -> list[Rate]:
        query: dict[str, Any] = {}
        if currency:
            query["currency"] = currency.strip().upper()
        if quote_currency:
            query["quote_currency"] = quote_currency.strip().upper()
        docs = await self._collection().scan(query) if self.documents is not None else []
        rates = sorted((_rate(d) for d in docs), key=lambda r: (r.currency, r.quote, r.day))
        return rates[-MAX_LISTED:]

    async def table(self) -> RateTable:
        if self._table is None:
            if self.documents is None:
                self._table = RateTable()
            else:
                self._table = RateTable(_rate(d) for d in await self._collection().scan())
        return self._table

    async def converter(self, target: str) -> Converter:
        return Converter(target, await self.table(), self.actor.clock().date())
