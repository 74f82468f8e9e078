"""The Relay `PageInfo` every subgraph's connections share.

One definition, marked @shareable, so the supergraph has a single `PageInfo` type and a
client reads pages the same way whichever service a connection comes from.
"""

from __future__ import annotations

import strawberry


@strawberry.federation.type(shareable=True)
class PageInfo:
    has_next_page: bool
    has_previous_page: bool = False
    start_cursor: str | None = None
    end_cursor: str | None = None
