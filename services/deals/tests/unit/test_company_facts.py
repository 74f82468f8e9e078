"""The companies' facts the win model reads, taken a burst at a time (an import's
`company.created` events through the consumer's batch handler): new ones in one write,
known ones only when newer, the newest of a company's events in the burst winning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from crm_deals.usecases import company_facts
from crm_deals.usecases.company_facts import Seen

from .conftest import FakeDeals

T0 = datetime(2026, 3, 1, tzinfo=UTC)


async def test_a_burst_of_companies_is_taken_together_newest_first(fake: FakeDeals) -> None:
    scope = fake.scope()
    assert await company_facts.company_seen(scope, "c1", "Retail", 10, T0)
    burst = [
        Seen("c1", "Energy", 20, T0 - timedelta(days=1)),  # older than kept: ignored
        Seen("c2", " Software ", 5, T0),
        Seen("c2", "Mining", 7, T0 + timedelta(hours=1)),  # the newest of c2 wins
        Seen("c3", None, -4, T0),
    ]
    assert await company_facts.companies_seen(scope, burst) == 2
    known = await company_facts.known_companies(scope)
    assert {k: (f.industry, f.size) for k, f in known.items()} == {
        "c1": ("retail", 10),
        "c2": ("mining", 7),
        "c3": (None, None),
    }
    # The same burst again (a redelivery) changes nothing.
    assert await company_facts.companies_seen(scope, burst) == 0
    newer = [Seen("c1", "Energy", 20, T0 + timedelta(days=1))]
    assert await company_facts.companies_seen(scope, newer) == 1
    assert (await company_facts.known_companies(scope))["c1"].industry == "energy"
