"""The request/reply contract between the import service and the services that own the
records it imports (issue 17): one batch of mapped rows in, one outcome per row out.

The import service reads the file (crm_tabular), applies the person's mapping and sends the
rows in batches to the owner of the record type:

| record type | owner | write subject | undo subject |
|---|---|---|---|
| companies | contacts | `rpc.contacts.import_companies.write` | `rpc.contacts.import.undo` |
| contacts | contacts | `rpc.contacts.import_contacts.write` | `rpc.contacts.import.undo` |
| interactions | contacts | `rpc.contacts.import_interactions.write` | `rpc.contacts.import.undo` |
| deals | deals | `rpc.deals.import_deals.write` | `rpc.deals.import.undo` |
| tasks | tasks | `rpc.tasks.import_tasks.write` | `rpc.tasks.import.undo` |

Why the owners write and not the import service: each record's rules (validation, exit
criteria, ownership, events through the outbox) live in one place, its service.

Guarantees a sink gives:
- **Idempotent per row**: the record a row creates has an id derived from (workspace, job,
  row), so a batch sent again after a timeout or a restart of either side creates nothing
  twice and answers the same outcomes.
- **Dry run = real run**: `dryRun: true` runs the same validation and de-duplication and
  answers the outcomes the real run would (`created`, `updated`, ...) without writing, so
  the counts of the two agree.
- **References resolved by the owner** from what a file holds (a company by name or
  domain, a contact by email, a deal by external id): the `values` keys are crm_tabular's
  target field names (`crm_tabular.targets`), e.g. `company`, `company_domain`,
  `contact_email`, `deal_external_id`.
- **Undo**: every record a job created carries the job id; `import.undo` removes them (with
  their events) and answers how many; records a job only updated are left as they are.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from .base import Payload
from .streams import rpc_subject

RecordType = Literal["companies", "contacts", "interactions", "deals", "tasks"]
RowOutcome = Literal["created", "updated", "unchanged", "skipped", "failed"]
# What to do with a row whose identity key (external id, email, domain) names a record that
# exists: leave it (`skip`) or change the fields the file holds (`update`).
OnExisting = Literal["skip", "update"]

# The most rows one batch may carry: large enough to amortise a round trip and a bulk
# write, small enough that a batch answers well within the request timeout.
MAX_BATCH_ROWS = 1000

OWNER_OF: dict[str, str] = {
    "companies": "contacts",
    "contacts": "contacts",
    "interactions": "contacts",
    "deals": "deals",
    "tasks": "tasks",
}


def write_subject(record_type: str) -> str:
    """The subject that writes a batch of `record_type` rows at its owner."""
    return rpc_subject(OWNER_OF[record_type], f"import_{record_type}", "write")


def undo_subject(service: str) -> str:
    """The subject that removes what an import job created in `service`."""
    return rpc_subject(service, "import", "undo")


class ImportRow(Payload):
    # The row's number in the file as a spreadsheet counts it (crm_tabular's numbering).
    row: int = Field(ge=1)
    # Mapped, typed values by target field name, in their JSON form: decimals and amounts
    # as strings ("1200.50"), dates and datetimes as ISO 8601, lists as arrays.
    values: dict[str, Any]


class ImportBatchRequest(Payload):
    job_id: str = Field(min_length=1, max_length=64)
    dry_run: bool = False
    on_existing: OnExisting = "skip"
    # Currency of amounts the file gives without one.
    default_currency: str | None = Field(default=None, min_length=3, max_length=3)
    # Companies: a company's normalised name identifies it too (beside its external id and
    # domain), so a file without domains imported again finds the companies it made.
    match_by_name: bool = False
    rows: list[ImportRow] = Field(max_length=MAX_BATCH_ROWS)


class RowIssueOut(Payload):
    code: str  # crm_tabular issue codes, or the owner's error code (BAD_USER_INPUT, ...)
    field: str | None = None
    message: str
    severity: Literal["error", "warning"] = "error"


class ImportRowResult(Payload):
    row: int
    outcome: RowOutcome
    # The record created or updated (also for a dry run: the id the real run will use).
    id: str | None = None
    issues: list[RowIssueOut] = []


class ImportBatchReply(Payload):
    results: list[ImportRowResult]


class ImportUndoRequest(Payload):
    job_id: str = Field(min_length=1, max_length=64)


class ImportUndoReply(Payload):
    removed: int
