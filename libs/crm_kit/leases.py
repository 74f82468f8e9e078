"""One replica does a periodic job per period: it claims (job, period) by inserting a lease
whose `_id` names both; the other replicas' inserts are refused (unique `_id`: enforced by
FerretDB v1 too, unlike conditional updates). A lease is bookkeeping once taken: retain it
with `Retention(collection, LEASE_TIME_FIELD)` (crm_kit.retention)."""

from __future__ import annotations

import os
import socket
from datetime import datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

LEASE_TIME_FIELD = "taken_at"


def lease_doc(lease_id: str, now: datetime, **fields: Any) -> dict[str, Any]:
    return {
        "_id": lease_id,
        **fields,
        LEASE_TIME_FIELD: now,
        "holder": f"{socket.gethostname()}:{os.getpid()}",  # who ran it, for an operator
    }


async def take_lease(
    collection: AsyncCollection[Any], lease_id: str, now: datetime, **fields: Any
) -> bool:
    """True for exactly one caller per `lease_id`."""
    try:
        await collection.insert_one(lease_doc(lease_id, now, **fields))
    except DuplicateKeyError:
        return False
    return True


def take_lease_in(leases: dict[str, Any], lease_id: str, now: datetime, **fields: Any) -> bool:
    """`take_lease` over an in-memory collection (the stores' fakes)."""
    if lease_id in leases:
        return False
    leases[lease_id] = lease_doc(lease_id, now, **fields)
    return True
