"""The store port. One instance serves one workspace: it adds `workspace_id` to every
filter and every document it writes, so no caller can forget it.

Filters, sorts and updates are MongoDB-shaped dicts (built in `store/filters.py`); the
in-memory fake evaluates the same subset, so unit tests exercise the real query shapes.
Writes that change state take the events they cause and store them in the same
single-document write (the outbox).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

from crm_contracts.envelope import CloudEvent

Doc = dict[str, Any]

PIPELINES = "pipelines"
DEALS = "deals"
# One outbox document per import batch (see `insert_deals`).
IMPORT_BATCHES = "import_batches"
# One learned win model per (workspace, pipeline); see store/win_models.py.
WIN_MODELS = "win_models"
# One small outbox document per owner handover, `_id` = the handover id (deterministic):
# it carries the `deals.handed_over` summary event; bookkeeping once published.
HANDOVERS = "deal_handovers"
OUTBOX_COLLECTIONS = (DEALS, PIPELINES, IMPORT_BATCHES, WIN_MODELS, HANDOVERS)


class DealStore(Protocol):
    workspace_id: str

    async def get_pipeline(self, pipeline_id: str) -> Doc | None: ...

    async def list_pipelines(self) -> list[Doc]: ...

    async def insert_pipeline(self, doc: Doc, events: list[CloudEvent]) -> bool:
        """Insert-or-ignore: False when a pipeline with this `_id` already exists."""
        ...

    async def update_pipeline(
        self, pipeline_id: str, expected_version: int, fields: Doc, events: list[CloudEvent]
    ) -> bool:
        """Set `fields` if the stored version is still `expected_version`."""
        ...

    async def get_deal(self, deal_id: str) -> Doc | None: ...

    async def get_deals(self, deal_ids: list[str]) -> list[Doc]: ...

    async def insert_deal(self, doc: Doc, events: list[CloudEvent]) -> None: ...

    async def insert_deals(self, batch_id: str, items: list[tuple[Doc, list[CloudEvent]]]) -> int:
        """Bulk insert for imports; rows whose `external_id` exists are skipped. Returns
        the number inserted.

        The events of the whole batch live in ONE outbox document (`import_batches`),
        written first and disarmed; the deals follow in one `insert_many`; then the batch
        is armed for the relay, holding only the events of deals that were inserted. One
        outbox document instead of 500 keeps the relay's per-document clean-up writes
        off a bulk import. A crash before arming is repaired by `repair_import_batches`.
        """
        ...

    async def repair_import_batches(self) -> int:
        """Arm batches a crashed import left disarmed, keeping only the events of deals
        that exist. Returns the number repaired."""
        ...

    async def existing_external_ids(self, external_ids: list[str]) -> set[str]: ...

    async def update_deal(
        self, deal_id: str, expected: Doc, update: Doc, events: list[CloudEvent]
    ) -> bool:
        """Apply `update` if the deal still matches `expected` (optimistic concurrency)."""
        ...

    async def find_deals(
        self, query: Doc, sort: list[tuple[str, int]], limit: int | None
    ) -> list[Doc]: ...

    async def insert_handover(self, doc: Doc, events: list[CloudEvent]) -> bool:
        """Insert-or-ignore a handover record with its events: False when a record with
        this `_id` exists already (a repeat)."""
        ...

    async def count_deals(self, query: Doc) -> int: ...

    def scan_deals(self, projection: dict[str, int]) -> AsyncIterator[Doc]:
        """Every live deal of the workspace with only the projected fields, in one scan
        (the read index's load; `indexed.deal_index`)."""
        ...

    async def stage_totals(self, pipeline_id: str) -> list[Doc]:
        """Per (stage_key, currency): count, amount_minor and weighted_minor sums."""
        ...

    async def board(
        self, pipeline_id: str, stage_keys: list[str], per_stage: int, where: Doc | None = None
    ) -> tuple[list[Doc], dict[str, list[Doc]]]:
        """`stage_totals` plus each stage's first `per_stage` deals (amount desc, _id desc),
        over the pipeline's deals that also match `where` (the board's owner/text filter)."""
        ...


class StoreFactory(Protocol):
    def for_workspace(self, workspace_id: str) -> DealStore: ...
