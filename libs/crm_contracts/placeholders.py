"""`{{name}}` placeholders in playbook task titles and automation rule texts: the names a
template may use, and how a consumer renders them from a deal event's data.

The producer (deals, saving a pipeline; tasks, saving a rule) refuses a name not listed
here, so a template never renders an unknown name blank. Every value comes from the event
that triggers the render: a name whose value the event does not carry renders empty.
`company.name` and `owner.name` are not offered: no event carries them (deals and tasks
hold ids only), so they are refused like any unknown name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}")

# Name -> what it renders, from the event's `deal` snapshot (camelCase wire keys).
DEAL_PLACEHOLDERS: dict[str, str] = {
    "deal.id": "the deal's id",
    "deal.title": "the deal's title",
    "deal.amount": 'the amount with its currency, e.g. "1250.50 USD"',
    "deal.currency": "the ISO 4217 currency code",
    "deal.stage": "the key of the deal's stage",
    "deal.status": "open, won or lost",
    "deal.probability": "the effective probability (0-100)",
    "deal.expectedCloseDate": "the expected close date (YYYY-MM-DD), empty if none",
    "company.id": "the deal's company id, empty if none",
    "owner.id": "the deal owner's user id, empty if none",
}


def names_in(text: str | None) -> list[str]:
    """The placeholder names of `text`, in order (whitespace inside the braces trimmed)."""
    return [match.strip() for match in PLACEHOLDER.findall(text or "")]


def unknown_in(text: str | None, known: Iterable[str]) -> list[str]:
    allowed = set(known)
    return [name for name in names_in(text) if name not in allowed]


def deal_values(deal: Mapping[str, Any] | None) -> dict[str, str]:
    """The values of `DEAL_PLACEHOLDERS` from a deal snapshot as sent on the wire."""
    if not deal:
        return {}
    amount = deal.get("amountText")
    return {
        "deal.id": _text(deal.get("id")),
        "deal.title": _text(deal.get("title")),
        "deal.amount": f"{amount} {deal.get('currency')}" if amount else "",
        "deal.currency": _text(deal.get("currency")),
        "deal.stage": _text(deal.get("stageKey")),
        "deal.status": _text(deal.get("status")),
        "deal.probability": _text(deal.get("probability")),
        "deal.expectedCloseDate": _text(deal.get("expectedCloseDate")),
        "company.id": _text(deal.get("companyId")),
        "owner.id": _text(deal.get("ownerId")),
    }


def render(text: str, values: Mapping[str, str]) -> str:
    """`text` with each placeholder replaced by its value (empty where none is known)."""
    return PLACEHOLDER.sub(lambda match: values.get(match.group(1).strip(), ""), text)


def _text(value: Any) -> str:
    return "" if value is None or isinstance(value, dict | list) else str(value)
