"""FerretDB's own count of the commands it served, by command (its `/debug/metrics`
counter `ferretdb_client_requests_total`, every client): where a bench phase's database
statements go when the writers are other processes (no pymongo listener sees them).

Set `CRM_FERRETDB_DEBUG_ADDR=127.0.0.1:<port>` before the devstack starts FerretDB, then
`await requests(url)` before and after a phase and `report(before, after, rows)`.
"""

from __future__ import annotations

import re
from collections import Counter

import httpx

METRIC = "ferretdb_client_requests_total"
_COMMAND = re.compile(r'command="([^"]*)"')


async def requests(url: str) -> Counter[str]:
    """The counter by command (summed over its other labels)."""
    async with httpx.AsyncClient(timeout=10, trust_env=False) as http:
        text = (await http.get(url)).text
    counts: Counter[str] = Counter()
    for line in text.splitlines():
        if not line.startswith(METRIC + "{"):
            continue
        labels, value = line.rsplit(" ", 1)
        found = _COMMAND.search(labels)
        counts[found.group(1) if found else "?"] += int(float(value))
    return counts


def report(before: Counter[str], after: Counter[str], rows: int) -> str:
    """Commands per 1,000 rows, the most frequent first."""
    delta = after - before
    per = {name: count * 1000 / max(rows, 1) for name, count in delta.items()}
    ranked = sorted(per, key=lambda name: -per[name])
    return "FerretDB commands per 1,000 rows: " + ", ".join(
        f"{name} {per[name]:.1f}" for name in ranked if per[name] >= 0.05
    )
