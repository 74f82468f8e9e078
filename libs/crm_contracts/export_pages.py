"""The request/reply contract for exports (issue 17.6): the export job asks the owner of a
record type for its records page by page, as the person who asked for the export, and
writes them to a CSV or XLSX file (`crm_tabular.write`).

| record type | owner | page subject |
|---|---|---|
| companies | contacts | `rpc.contacts.export_companies.page` |
| contacts | contacts | `rpc.contacts.export_contacts.page` |
| interactions | contacts | `rpc.contacts.export_interactions.page` |
| deals | deals | `rpc.deals.export_deals.page` |
| tasks | tasks | `rpc.tasks.export_tasks.page` |

Why the owners answer and not a copy of their data: a page is read through the owner's
own read path, so the caller's record sharing and field permissions apply exactly as they
do in the GraphQL API (a hidden record is not in the file, a hidden field is empty).

A row's keys are `id` (the record's id) and the import target's field names
(`crm_tabular.targets`), references written the way an import reads them (a deal's
company by name, a task's contact by email), so an exported file imports into another
workspace with the suggested mapping and reproduces the records.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from .base import Payload
from .import_batches import OWNER_OF
from .streams import rpc_subject

# Rows per page: a page answers well within the request timeout and its reply stays far
# below the NATS payload limit (1 MiB by default) for records of ordinary size.
MAX_PAGE_ROWS = 500


def page_subject(record_type: str) -> str:
    """The subject that answers one page of `record_type` for an export."""
    return rpc_subject(OWNER_OF[record_type], f"export_{record_type}", "page")


class ExportPageRequest(Payload):
    # The list's filter as the GraphQL API takes it for this record type (camelCase keys,
    # e.g. `{"pipelineId": ..., "status": "open"}` for deals); errors name `filter.<key>`.
    filter: dict[str, Any] = {}
    # The `after` of the previous page's reply; None for the first page.
    after: str | None = Field(default=None, max_length=512)
    limit: int = Field(default=MAX_PAGE_ROWS, ge=1, le=MAX_PAGE_ROWS)


class ExportPageReply(Payload):
    # The columns of every row of this record type, in file order.
    columns: list[str]
    rows: list[dict[str, Any]]
    # Where the next page starts; None after the last page.
    after: str | None = None
    # Rows the filter selects in all (for progress), when the owner knows it cheaply.
    total: int | None = None


# What a deal's or a task's row names in the contacts service (a company by name, a person
# by email): one request per page, answered for the same caller, so a company the caller
# may not see and an address a role may not read stay empty in the file.
RPC_EXPORT_NAMES = rpc_subject("contacts", "export", "names")


class ExportNamesRequest(Payload):
    company_ids: list[str] = Field(default=[], max_length=MAX_PAGE_ROWS)
    contact_ids: list[str] = Field(default=[], max_length=MAX_PAGE_ROWS)


class ExportNames(Payload):
    # Id -> name of each visible company asked for.
    companies: dict[str, str] = {}
    # Id -> primary email of each visible contact asked for (none without CONTACT_EMAIL).
    emails: dict[str, str] = {}
