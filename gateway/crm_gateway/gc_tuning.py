"""The garbage collector, tuned for a process whose requests build large acyclic trees.

Measured on the board query (`bench/gateway/run.py --fake-subgraphs`): with CPython's
defaults a quarter of the gateway's CPU went to the cyclic collector. Each response tree
(thousands of dicts and lists from the subgraphs' JSON) trips the young generation's
threshold (700 net allocations) several times a request, and every tenth young collection
promotes survivors until a full collection walks the whole heap: the supergraph, the API
schema, cached documents and plans — 50-60 ms each, over a dozen a minute under load.

Request data is freed by reference counting the moment a response is sent (it holds no
cycles), so the collector finds next to nothing (a few objects a request). Hence:
- `gc.freeze()` once the app is built: what exists then (schema, supergraph, modules) lives
  as long as the process and is left out of every later collection;
- a higher young-generation threshold, so collections run every few requests rather than
  several times in each. Memory stays bounded: a collection still runs after
  `YOUNG_THRESHOLD` net container allocations.
"""

from __future__ import annotations

from crm_kit.serve import tune_gc

# Net container allocations between young collections (CPython's default: 700). A board
# response allocates ~5,000; 50,000 is a few requests' worth, ~5 MB at most.
YOUNG_THRESHOLD = 50_000
# Young collections per middle one, middle per full one (defaults 10, 10).
OLDER_THRESHOLDS = (20, 20)


def tune_for_serving() -> None:
    """Call once start-up has built what lives as long as the process."""
    tune_gc(YOUNG_THRESHOLD, OLDER_THRESHOLDS)
