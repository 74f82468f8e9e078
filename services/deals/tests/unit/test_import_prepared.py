"""An import batch's deals made ahead of their write turn (`MongoBackend.prepare_import`):
their documents made once, for the writer's parts made ahead (`prepare_batch`) and for the
insert of exactly those deal objects; an insert of other deals (some rows found stored, a
batch built again by another request) makes its documents afresh; a few batches kept at
most. The writer is a fake recording what it is given (the writer's own use of its parts
is tested on FerretDB in `libs/tests/integration/test_audit.py`)."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from crm_deals.config import DEALS, IMPORT_BATCHES
from crm_deals.domain.deal import Deal
from crm_deals.domain.default_pipeline import default_pipeline
from crm_deals.store.documents import slim_deal_doc
from crm_deals.store.mongo import PREPARED_HELD, MongoBackend
from crm_deals.usecases.deal_rows import ImportReport, Options, RowMapper
from crm_deals.usecases.imports import _mapper_values

NOW = datetime(2024, 6, 1, tzinfo=UTC)


class Writer:
    """What `MongoBackend` asks of the writer for an import batch, recorded."""

    def __init__(self) -> None:
        self.db: dict[str, Any] = {}
        self.profile = SimpleNamespace(workarounds=False)
        self.prepared: list[tuple[str, list[dict[str, Any]], str]] = []
        self.inserted: list[tuple[list[Mapping[str, Any]], str]] = []

    def prepare_batch(
        self,
        collection: str,
        docs: Sequence[dict[str, Any]],
        events: Sequence[Sequence[object]],
        *,
        batch_collection: str,
        batch_id: str,
    ) -> None:
        assert batch_collection == IMPORT_BATCHES
        self.prepared.append((collection, list(docs), batch_id))
        self.events = [[type(e).__name__ for e in es] for es in events]

    async def insert_batch(
        self,
        collection: str,
        docs: Sequence[Mapping[str, Any]],
        events: Sequence[Sequence[object]],
        *,
        batch_collection: str,
        batch_id: str,
        records: Sequence[Any] | None = None,
    ) -> set[Any]:
        assert collection == DEALS and batch_collection == IMPORT_BATCHES
        self.inserted.append((list(docs), batch_id))
        return set()


def _deals(n: int, prefix: str = "D") -> list[Deal]:
    mapper = RowMapper(
        Options({}, {}, {}, currency="USD", dry_run=False), default_pipeline("ws", NOW), "ws", NOW
    )
    made = []
    for row in range(n):
        values = {"external_id": f"{prefix}{row}", "stage": "prospecting", "amount": "10"}
        deal = mapper.map_row(
            _mapper_values(values), row, ImportReport(), {}, deal_id=f"{prefix}{row}"
        )
        assert deal is not None
        made.append(deal)
    return made


def _backend() -> tuple[MongoBackend, Writer]:
    writer = Writer()
    return MongoBackend(writer), writer  # type: ignore[arg-type]


async def test_the_documents_made_ahead_are_the_ones_inserted() -> None:
    backend, writer = _backend()
    deals = _deals(3)
    backend.prepare_import("ws", "ws:j:2", deals)
    [(collection, ahead, batch_id)] = writer.prepared
    assert collection == DEALS and batch_id == "ws:j:2"
    assert ahead == [slim_deal_doc(deal, "ws") for deal in deals]
    assert writer.events == [["DealCreated"]] * 3  # each deal's own, made ahead too
    assert await backend.import_deals("ws", "ws:j:2", deals) == []
    [(inserted, _)] = writer.inserted
    # The very documents made ahead (made once), given to the writer whose parts match.
    assert all(a is b for a, b in zip(inserted, ahead, strict=True)) and len(inserted) == 3
    assert backend._prepared == {}


async def test_an_insert_of_other_deals_makes_its_documents_afresh() -> None:
    backend, writer = _backend()
    deals = _deals(3)
    backend.prepare_import("ws", "ws:j:2", deals)
    ahead = writer.prepared[0][1]
    # Some rows found stored: fewer deals inserted than made ahead.
    await backend.import_deals("ws", "ws:j:2", deals[:2])
    fewer = writer.inserted[-1][0]
    assert fewer == [slim_deal_doc(deal, "ws") for deal in deals[:2]]
    assert not any(doc is made for doc in fewer for made in ahead)
    # The same deals built again (another request of the batch): equal, not the same.
    deals = _deals(3)
    backend.prepare_import("ws", "ws:j:2", deals)
    again = [copy.deepcopy(deal) for deal in deals]
    again[1].title = "changed since"
    await backend.import_deals("ws", "ws:j:2", again)
    inserted = writer.inserted[-1][0]
    assert inserted == [slim_deal_doc(deal, "ws") for deal in again]
    assert inserted[1]["title"] == "changed since"
    # Another batch's parts are not taken for this one.
    backend.prepare_import("ws", "ws:j:3", deals)
    await backend.import_deals("ws", "ws:j:4", deals)
    assert not any(doc is made for doc in writer.inserted[-1][0] for made in writer.prepared[-1][1])


async def test_batches_made_ahead_and_never_inserted_are_not_kept() -> None:
    backend, _ = _backend()
    for n in range(PREPARED_HELD + 3):
        backend.prepare_import("ws", f"ws:x:{n}", _deals(1, f"X{n}-"))
    assert len(backend._prepared) == PREPARED_HELD
    assert list(backend._prepared) == [f"ws:x:{n}" for n in range(3, PREPARED_HELD + 3)]
    backend.prepare_import("ws", "ws:none", [])  # nothing to make
    assert "ws:none" not in backend._prepared
