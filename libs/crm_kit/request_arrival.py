"""When the request being served arrived, as a process-wide ticket: what a read index's
change-log follow (`crm_kit.read_index`, `ReadIndex.sync`) needs to know whether it must
probe again.

Why: the guarantee the change logs give is that a request sees every change whose write
returned before the request arrived, whichever replica made it, and any follow of the
log that *started* after the request arrived proves that (`crm_kit.change_log`). Without
the arrival, every read of an index in a request asked for a follow started after that
read: a request reading one index twice (a page, then its rows by id; `_entities` and the
rows' references) probed twice, and one arriving while a follow it could have shared was
starting waited for the next. With it, one follow per index per request at most, and
shared by every request that arrived before it started.

The gate (`crm_kit.graphql_http`) marks each GraphQL request; anything else (NATS
request/reply, consumers, the gateway's own calls) has no arrival and asks per read, as
before."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from contextvars import ContextVar

# Tickets in the order things happened in this process (one event loop: no two equal).
_TICKETS = itertools.count(1)
_ARRIVED: ContextVar[int | None] = ContextVar("crm_request_arrived", default=None)


def ticket() -> int:
    """A ticket later than every ticket given before."""
    return next(_TICKETS)


def arrived() -> int | None:
    """The ticket of the current request's arrival (None outside a marked request)."""
    return _ARRIVED.get()


@contextlib.contextmanager
def request_arrived() -> Iterator[None]:
    """Mark the code inside (and the tasks it starts) as one request, arrived now."""
    token = _ARRIVED.set(ticket())
    try:
        yield
    finally:
        _ARRIVED.reset(token)
