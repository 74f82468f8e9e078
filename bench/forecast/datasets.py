"""Generated deal histories for the win model: one with a known signal, and the
degenerate histories a careful model must refuse or survive.

Every dataset is a list of stored-deal-shaped documents (the fields
`crm_deals.store.documents.history_from_doc` reads) plus company facts, generated from a
seeded RNG, so a test or a benchmark gets the same deals every time. Used by
`bench/forecast/run.py` and the deals service's unit tests.

Known signal (`signal`): each deal's eventual outcome is drawn from
`sigmoid(logit)` where the logit adds fixed effects of industry, company size, product,
owner, source, a typed custom field (`champion`, boolean), the amount and recent activity;
lost deals drop out at a random stage, a share of the deals that would be lost are never
closed (they stall open), and deals opened shortly before `now` are still open. A model
that recovers the effects beats the constant base rate by a wide margin.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any

STAGES = ("prospecting", "qualification", "engaging", "proposal", "negotiation")
DEFAULTS = {
    "prospecting": 10,
    "qualification": 25,
    "engaging": 40,
    "proposal": 60,
    "negotiation": 80,
}
INDUSTRIES = {"retail": -0.6, "software": 0.7, "finance": 0.2, "medical": 0.0, "energy": -0.3}
PRODUCTS = {"basic": 0.5, "pro": 0.0, "enterprise": -0.7}
SOURCES = {"referral": 0.9, "web": 0.0, "event": 0.2, "cold": -0.8}
OWNERS = {f"rep-{i}": (i - 4.5) * 0.18 for i in range(10)}
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-z))


def _entry(stage: str, at: datetime) -> dict[str, Any]:
    return {"to_stage": stage, "at": at}


def _deal(
    i: int,
    *,
    status: str,
    stage: str,
    history: list[dict[str, Any]],
    closed_at: datetime | None,
    created_at: datetime,
    **fields: Any,
) -> dict[str, Any]:
    return {
        "_id": f"d{i:06d}",
        "status": status,
        "stage_key": stage,
        "stage_probability": DEFAULTS.get(stage, 100 if status == "won" else 0),
        "created_at": created_at,
        "closed_at": closed_at,
        "stage_history": history,
        "currency": "USD",
        **fields,
    }


def signal(
    n: int = 3000, seed: int = 7, now: datetime = NOW, days: int = 720
) -> tuple[list[dict[str, Any]], dict[str, tuple[str, int]]]:
    """Deals opened over `days` before `now` with a known signal; company facts by id."""
    rng = random.Random(seed)
    companies = {
        f"c{j:04d}": (rng.choice(list(INDUSTRIES)), int(10 ** rng.uniform(1, 4.5)))
        for j in range(300)
    }
    docs = []
    for i in range(n):
        opened = now - timedelta(days=rng.uniform(0, days))
        company = rng.choice(list(companies))
        industry, size = companies[company]
        product = rng.choice(list(PRODUCTS))
        owner = rng.choice(list(OWNERS))
        source = rng.choice(list(SOURCES))
        champion = rng.random() < 0.35
        amount = int(math.exp(rng.gauss(9.0, 0.8))) * 100
        engaged = rng.random()  # latent buyer engagement: drives activity and outcome
        logit = (
            -0.4
            + INDUSTRIES[industry]
            + 0.35 * (math.log10(size) - 2.5)
            + PRODUCTS[product]
            + OWNERS[owner]
            + SOURCES[source]
            + (0.8 if champion else 0.0)
            - 0.5 * (math.log(amount / 100) - 9.0)
            + 1.6 * (engaged - 0.5)
        )
        won = rng.random() < _sigmoid(logit)
        # Lost deals drop out at a random stage; winners go through every stage.
        last = len(STAGES) - 1 if won else rng.randrange(len(STAGES))
        at = opened
        history = []
        for k in range(last + 1):
            history.append(_entry(STAGES[k], at))
            at = at + timedelta(days=rng.expovariate(1 / (6 + 3 * k)))
        close_at = at
        activity = []
        rate = 0.05 + 0.35 * engaged  # interactions per day while open
        t = opened
        end = min(close_at, now)
        while True:
            t = t + timedelta(days=rng.expovariate(rate))
            if t >= end:
                break
            activity.append({"at": t, "kind": "interaction" if rng.random() < 0.7 else "task"})
        fields = {
            "owner_id": owner,
            "company_id": company,
            "product": product,
            "source": source,
            "amount_minor": amount,
            "custom_fields": {"champion": champion},
            "activity_log": activity,
        }
        stalls = not won and rng.random() < 0.25  # never closed: sits open
        if close_at > now or stalls:
            history = [h for h in history if h["at"] <= now]
            stage = history[-1]["to_stage"]
            docs.append(
                _deal(
                    i,
                    status="open",
                    stage=stage,
                    history=history,
                    closed_at=None,
                    created_at=opened,
                    **fields,
                )
            )
            continue
        outcome = "won" if won else "lost"
        history.append(_entry(outcome, close_at))
        docs.append(
            _deal(
                i,
                status=outcome,
                stage=outcome,
                history=history,
                closed_at=close_at,
                created_at=opened,
                **fields,
            )
        )
    return docs, companies


def funnel(
    n: int = 4000, seed: int = 11, now: datetime = NOW, days: int = 540, recent: bool = False
) -> list[dict[str, Any]]:
    """A marketing funnel: every closed deal was won (converted leads); the 90 % that never
    convert stay open forever. `recent=True` opens every lead within the last 20 days (no
    lead is old enough to count as stalled: a single outcome class)."""
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        opened = now - timedelta(days=rng.uniform(0, 20 if recent else days))
        source = rng.choice(list(SOURCES))
        converts = rng.random() < _sigmoid(-2.2 + SOURCES[source])
        history = [_entry("prospecting", opened)]
        fields = {"owner_id": rng.choice(list(OWNERS)), "source": source, "amount_minor": 50000}
        won_at = opened + timedelta(days=rng.expovariate(1 / 12))
        if converts and won_at <= now:
            history.append(_entry("won", won_at))
            docs.append(
                _deal(
                    i,
                    status="won",
                    stage="won",
                    history=history,
                    closed_at=won_at,
                    created_at=opened,
                    **fields,
                )
            )
        else:
            docs.append(
                _deal(
                    i,
                    status="open",
                    stage="prospecting",
                    history=history,
                    closed_at=None,
                    created_at=opened,
                    **fields,
                )
            )
    return docs


def undated(n: int = 448, seed: int = 5, now: datetime = NOW) -> list[dict[str, Any]]:
    """Closed deals imported without engage dates: one history entry, the close, and
    created at import time (after the close)."""
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        closed = now - timedelta(days=rng.uniform(30, 400))
        outcome = "won" if rng.random() < 0.4 else "lost"
        docs.append(
            _deal(
                i,
                status=outcome,
                stage=outcome,
                history=[_entry(outcome, closed)],
                closed_at=closed,
                created_at=now,
                owner_id=rng.choice(list(OWNERS)),
                custom_fields={"segment": rng.choice(["a", "b", "c"])},
            )
        )
    return docs


def single_class(n: int = 200, seed: int = 3, now: datetime = NOW) -> list[dict[str, Any]]:
    """Every closed deal lost (and nothing open)."""
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        opened = now - timedelta(days=rng.uniform(60, 400))
        closed = opened + timedelta(days=rng.uniform(1, 50))
        docs.append(
            _deal(
                i,
                status="lost",
                stage="lost",
                history=[_entry("qualification", opened), _entry("lost", closed)],
                closed_at=closed,
                created_at=opened,
                owner_id="rep-1",
            )
        )
    return docs


def too_few(n: int = 12, seed: int = 2, now: datetime = NOW) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        opened = now - timedelta(days=rng.uniform(60, 400))
        closed = opened + timedelta(days=rng.uniform(1, 50))
        outcome = "won" if i % 2 else "lost"
        docs.append(
            _deal(
                i,
                status=outcome,
                stage=outcome,
                history=[_entry("qualification", opened), _entry(outcome, closed)],
                closed_at=closed,
                created_at=opened,
                owner_id="rep-1",
            )
        )
    return docs
