"""GraphQL object types. Each wraps a domain record (or the preview's JSON) and exposes it."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any, NewType, cast

import strawberry
from strawberry.scalars import JSON

from crm_kit.relay_types import Connection, Edge, PageInfo
from crm_tabular.targets import TARGETS

from ..domain.issues import Issue
from ..domain.job import Counts
from ..domain.job import ImportJob as Job
from ..domain.template import MappingTemplate
from ..usecases import issues as job_issues
from .context import ContextInfo

# A file's id, as the gateway passes it (the schema's `scalar_map` makes it a scalar).
Upload = NewType("Upload", str)
UPLOAD_SCALAR = strawberry.scalar(
    name="Upload",
    description="A file, sent by the GraphQL multipart request spec "
    "(https://github.com/jaydenseric/graphql-multipart-request-spec) to the gateway, which "
    "stores it with the import service and passes its id here.",
    serialize=str,
    parse_value=str,
)


@strawberry.enum
class ImportRecordType(Enum):
    COMPANIES = "companies"
    CONTACTS = "contacts"
    DEALS = "deals"
    INTERACTIONS = "interactions"
    TASKS = "tasks"


@strawberry.enum
class ImportStatus(Enum):
    DRAFT = "draft"
    READY = "ready"
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    UNDONE = "undone"


@strawberry.enum
class ImportOnExisting(Enum):
    SKIP = "skip"
    UPDATE = "update"


@strawberry.type(description="What a run did so far (or did, once it ended).")
class ImportProgress:
    rows_read: int
    created: int
    updated: int
    unchanged: int
    skipped: int
    failed: int
    warnings: int = strawberry.field(description="Rows with at least one warning.")
    fraction: float = strawberry.field(description="0 to 1: how far through the file.")

    @classmethod
    def of(cls, counts: Counts, fraction: float) -> ImportProgress:
        return cls(fraction=fraction, **counts.as_dict())


@strawberry.type(description="One problem of one row: its row, column, value and reason.")
class ImportRowIssue:
    row: int = strawberry.field(description="As a spreadsheet numbers it (the header is 1).")
    code: str
    severity: str = strawberry.field(description="error (the row was not imported) or warning")
    message: str
    column: str | None
    field: str | None
    value: str | None

    @classmethod
    def of(cls, issue: Issue | dict[str, Any]) -> ImportRowIssue:
        found = Issue.of(issue) if isinstance(issue, dict) else issue
        return cls(
            row=found.row,
            code=found.code,
            severity=found.severity,
            message=found.message,
            column=found.column,
            field=found.field,
            value=found.value,
        )


@strawberry.type
class ImportPreviewRow:
    row: int
    values: list[str]


@strawberry.type(description="What a column holds, judged on the sampled rows.")
class ImportColumn:
    name: str
    position: int
    type: str = strawberry.field(description="boolean, integer, decimal, amount, date, ...")
    filled: int
    blank: int
    date_formats: list[str] = strawberry.field(description="Every format reading all values.")
    ambiguous_dates: bool
    decimal_separator: str | None
    currencies: list[str]
    examples: list[str]


@strawberry.type(description="How the file was read and what it seems to hold.")
class ImportPreview:
    format: str
    encoding: str | None
    delimiter: str | None
    sheet: str | None
    header: list[str]
    header_row: int
    rows: list[ImportPreviewRow]
    columns: list[ImportColumn]
    sampled_rows: int
    more_rows: bool
    issues: list[ImportRowIssue]
    suggested_mapping: JSON | None
    unmapped_columns: list[str]
    notes: list[str]

    @classmethod
    def of(cls, p: dict[str, Any]) -> ImportPreview:
        return cls(
            format=p.get("format", ""),
            encoding=p.get("encoding"),
            delimiter=p.get("delimiter"),
            sheet=p.get("sheet"),
            header=list(p.get("header") or []),
            header_row=int(p.get("headerRow") or 0),
            rows=[ImportPreviewRow(row=r["row"], values=r["values"]) for r in p.get("rows", [])],
            columns=[
                ImportColumn(
                    name=c["name"],
                    position=c["position"],
                    type=c["type"],
                    filled=c["filled"],
                    blank=c["blank"],
                    date_formats=c.get("dateFormats") or [],
                    ambiguous_dates=bool(c.get("ambiguousDates")),
                    decimal_separator=c.get("decimalSeparator"),
                    currencies=c.get("currencies") or [],
                    examples=c.get("examples") or [],
                )
                for c in p.get("columns", [])
            ],
            sampled_rows=int(p.get("sampledRows") or 0),
            more_rows=bool(p.get("moreRows")),
            issues=[ImportRowIssue.of(i) for i in p.get("issues", [])],
            suggested_mapping=p.get("suggestedMapping"),
            unmapped_columns=list(p.get("unmappedColumns") or []),
            notes=list(p.get("notes") or []),
        )


@strawberry.type(description="Rows repeating an earlier one: the first, then each repeat.")
class ImportDuplicateGroup:
    rows: list[int] = strawberry.field(description="At most 100 (count says how many).")
    count: int
    key: str | None = strawberry.field(description="The identity key; null for whole rows.")
    value: str | None


@strawberry.type
class ImportDuplicates:
    total: int = strawberry.field(description="Groups found (at most 1000 listed).")
    groups: list[ImportDuplicateGroup]

    @classmethod
    def of(cls, data: dict[str, Any]) -> ImportDuplicates:
        return cls(
            total=int(data.get("total", 0)),
            groups=[
                ImportDuplicateGroup(
                    rows=g["rows"],
                    count=g.get("count", len(g["rows"])),
                    key=g.get("key"),
                    value=g.get("value"),
                )
                for g in data.get("groups", [])
            ],
        )


@strawberry.type(description="Duplicates in the file, judged two ways, reported apart.")
class ImportDuplicateReport:
    whole_rows: ImportDuplicates = strawberry.field(description="Every cell equal, once trimmed.")
    by_key: list[ImportKeyDuplicates] = strawberry.field(
        description="Equal identity keys (external id, email, domain)."
    )

    @classmethod
    def of(cls, data: dict[str, Any]) -> ImportDuplicateReport:
        return cls(
            whole_rows=ImportDuplicates.of(data.get("wholeRows") or {}),
            by_key=[
                ImportKeyDuplicates(key=key, duplicates=ImportDuplicates.of(found))
                for key, found in (data.get("byKey") or {}).items()
            ],
        )


@strawberry.type
class ImportKeyDuplicates:
    key: str
    duplicates: ImportDuplicates


@strawberry.type(description="A field a column can be mapped to (crm_tabular's targets).")
class ImportTargetField:
    name: str = strawberry.field(description="As the mapping names it: `title`, `custom.<key>`.")
    type: str = strawberry.field(description="How its text is read: text, date, amount...")
    description: str
    required: bool
    identity: bool = strawberry.field(
        description="Whether it identifies a record (a re-import finds the record by it)."
    )
    choices: list[str] = strawberry.field(description="The values an enumerated field takes.")

    @classmethod
    def of_target(cls, record_type: str) -> list[ImportTargetField]:
        target = TARGETS[record_type]
        return [
            cls(
                name=spec.name,
                type=str(spec.type),
                description=spec.doc,
                required=spec.required,
                identity=spec.name in target.identity,
                choices=list(spec.choices),
            )
            for spec in target.fields
        ]


@strawberry.type(description="An import: a file, its mapping, and its runs (dry or real).")
class ImportJob:
    id: strawberry.ID
    record_type: ImportRecordType
    status: ImportStatus
    file_name: str
    file_size: int
    dry_run: bool = strawberry.field(description="Whether the current (or last) run is dry.")
    created_by: str
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None = strawberry.field(description="Why the run failed.")
    preview: ImportPreview
    mapping: JSON | None = strawberry.field(description="crm_tabular's mapping (JSON).")
    on_existing: ImportOnExisting
    default_currency: str | None
    progress: ImportProgress
    dry_run_result: ImportProgress | None = strawberry.field(
        description="The counts of the last completed dry run (a real run's equal them)."
    )
    duplicates: ImportDuplicateReport | None = strawberry.field(description="Once a run completed.")
    removed: int = strawberry.field(description="Records the undo removed.")
    cancel_requested: bool
    _job: strawberry.Private[Job]

    @strawberry.field(
        description="The fields of this record type a column can be mapped to, in the order "
        "the import documentation lists them; any `custom.<key>` is taken too."
    )
    def target_fields(self) -> list[ImportTargetField]:
        return ImportTargetField.of_target(self._job.record_type)

    @strawberry.field(description="The current run's row issues, in row order (10,000 kept).")
    async def issues(
        self, info: ContextInfo, first: int | None = None, after: str | None = None
    ) -> Connection[ImportRowIssue]:
        page, cursors = await job_issues.of_job(info.context.scope, self._job, first, after)
        edges = [
            Edge(node=ImportRowIssue.of(issue), cursor=cursor)
            for issue, cursor in zip(page.items, cursors, strict=True)
        ]
        return Connection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next, end_cursor=cursors[-1] if cursors else None
            ),
            total_count=page.total,
        )

    @classmethod
    def of(cls, j: Job) -> ImportJob:
        return cls(
            id=strawberry.ID(j.id),
            record_type=ImportRecordType(j.record_type),
            status=ImportStatus(j.status),
            file_name=j.file_name,
            file_size=j.file_size,
            dry_run=j.dry_run,
            created_by=j.created_by,
            created_at=j.created_at,
            updated_at=j.updated_at,
            started_at=j.started_at,
            finished_at=j.finished_at,
            error=j.error,
            preview=ImportPreview.of(j.preview),
            mapping=cast(JSON, j.mapping),
            on_existing=ImportOnExisting(j.on_existing),
            default_currency=j.default_currency,
            progress=ImportProgress.of(j.counts, j.fraction),
            dry_run_result=(ImportProgress.of(j.dry_run_counts, 1.0) if j.dry_run_counts else None),
            duplicates=ImportDuplicateReport.of(j.duplicates) if j.duplicates else None,
            removed=j.removed,
            cancel_requested=j.cancel_requested,
            _job=j,
        )


@strawberry.type(description="A saved mapping, reused for the next file of the same shape.")
class ImportTemplate:
    id: strawberry.ID
    name: str
    record_type: ImportRecordType
    mapping: JSON
    created_by: str
    updated_at: datetime

    @classmethod
    def of(cls, t: MappingTemplate) -> ImportTemplate:
        return cls(
            id=strawberry.ID(t.id),
            name=t.name,
            record_type=ImportRecordType(t.record_type),
            mapping=cast(JSON, t.mapping),
            created_by=t.created_by,
            updated_at=t.updated_at,
        )
