"""`crm load companies FILE`: load companies from a CSV or XLSX file.

    companies FILE [--workspace demo] [--dry-run] [--map csv_column=field ...]
                   [--delimiter ;] [--encoding latin-1] [--sheet NAME]
                   [--mongodb-uri URI] [--database NAME] [--nats-url URL] [--with-demo-contacts]

The file is read by crm_tabular as a stream (encoding and delimiter detected, XLSX by its
content); columns map to company fields (defaults suit the Maven CRM `accounts.csv`);
`--map col=` ignores a column. Rows are de-duplicated on domain, else on the normalised
name, against the database and within the file, so running an import twice adds nothing.
Writes go through the store with the outbox: the running service's relay publishes the
events. Exit status: 0 all rows fine, 1 some rows had errors (reported per line, or the
file broke part-way: the summary says where), 2 usage error or a file that is no table
(empty, header only, binary).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import sys
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from nats.errors import Error as NatsError
from pymongo import AsyncMongoClient

from crm_contracts.import_batches import MAX_BATCH_ROWS, ImportBatchRequest, ImportRow
from crm_contracts.streams import stream_for
from crm_kit.audit import via
from crm_kit.context import RequestContext, bind_request
from crm_kit.errors import CRMError
from crm_kit.ids import new_id
from crm_kit.imports import write_batch
from crm_kit.mongo import apply_indexes
from crm_kit.nats_io import connect, require_stream
from crm_kit.outbox import OutboxRelay
from crm_kit.profile import DatabaseProfile
from crm_kit.unset import UNSET
from crm_kit.writer import DocumentWriter
from crm_tabular import (
    ColumnProfile,
    DuplicateFinder,
    FieldRule,
    Mapping,
    MappingError,
    MappingProblem,
    Row,
    RowMapper,
    Table,
    TabularError,
    mapped_rows,
    open_table,
    preview_file,
)

from .config import AUDIT, OUTBOX_COLLECTIONS, load_settings
from .domain.company import Company
from .domain.contact import LifecycleStage
from .domain.interaction import Direction, InteractionKind
from .domain.rules import name_key, slug
from .events.publish import encode
from .store.mongo import ensure_indexes, mongo_store
from .usecases import companies, contacts, imports, interactions
from .usecases.inputs import AddressInput, CompanyInput, ContactInput, InteractionInput
from .usecases.scope import Scope

TARGETS = {
    "name",
    "domain",
    "industry",
    "size",
    "website",
    "owner_id",
    "tags",
    "address.street",
    "address.city",
    "address.region",
    "address.postal_code",
    "address.country",
}
DEFAULT_MAP = {
    "account": "name",
    "name": "name",
    "domain": "domain",
    "website": "website",
    "sector": "industry",
    "industry": "industry",
    "employees": "size",
    "office_location": "address.country",
    "country": "address.country",
    "revenue": "custom.revenue",
    "year_established": "custom.year_established",
    "subsidiary_of": "custom.subsidiary_of",
    "tags": "tags",
}
# Known misspellings in source data, fixed on the way in (lower-case keys).
INDUSTRY_FIXES = {"technolgy": "technology"}
COUNTRY_FIXES = {"philipines": "Philippines"}


@dataclass
class RowError:
    line: int
    message: str


# Warnings past this many are counted, not listed (a trailing comma on every line of a
# large file is one fact, not 100,000).
WARNINGS_LISTED = 20


@dataclass
class Report:
    rows: int = 0
    created: int = 0
    skipped: int = 0
    errors: list[RowError] = field(default_factory=list)
    warnings: list[RowError] = field(default_factory=list)
    demo_contacts: int = 0
    demo_interactions: int = 0
    stopped: str | None = None  # why reading stopped part-way, if it did

    def print(self, out: TextIO, dry_run: bool) -> None:
        verb = "would create" if dry_run else "created"
        print(
            f"companies: {self.rows} rows, {verb} {self.created}, skipped {self.skipped} "
            f"already present, {len(self.errors)} with errors",
            file=out,
        )
        if self.stopped:
            message = f"reading stopped: {self.stopped}; the rows before it are counted above"
            print(message, file=out)
        if self.demo_contacts or self.demo_interactions:
            print(
                f"demo: {verb} {self.demo_contacts} contacts, "
                f"{self.demo_interactions} interactions",
                file=out,
            )
        for error in self.errors:
            print(f"  line {error.line}: {error.message}", file=out)
        for warning in self.warnings[:WARNINGS_LISTED]:
            print(f"  line {warning.line}: warning: {warning.message}", file=out)
        if len(self.warnings) > WARNINGS_LISTED:
            print(f"  ... and {len(self.warnings) - WARNINGS_LISTED} more warnings", file=out)


def parse_mapping(pairs: list[str]) -> dict[str, str | None]:
    mapping: dict[str, str | None] = dict(DEFAULT_MAP)
    for pair in pairs:
        column, sep, target = pair.partition("=")
        if not sep or not column.strip():
            raise ValueError(f"--map {pair!r}: expected csv_column=field")
        target = target.strip()
        if target and target not in TARGETS and not target.startswith("custom."):
            raise ValueError(
                f"--map {pair!r}: unknown field {target!r}; one of {sorted(TARGETS)} "
                "or custom.<key>"
            )
        mapping[column.strip()] = target or None
    return mapping


def company_mapping(
    header: tuple[str, ...],
    column_map: dict[str, str | None],
    *,
    require_name: bool = True,
    columns: list[ColumnProfile] | None = None,
) -> tuple[Mapping, list[str]]:
    """The crm_tabular mapping of a file with `header` under the importer's column map,
    and notes on what it chose. A field two columns map to takes the first of them.
    `columns` (a preview's) say which columns write numbers with a decimal comma."""
    decimal_comma = {c.name for c in columns or () if c.decimal_separator == ","}
    fields: dict[str, FieldRule] = {}
    notes: list[str] = []
    for column in header:
        target = column_map.get(column.strip())
        if not target:
            continue
        if target in fields:
            notes.append(
                f"columns {fields[target].column!r} and {column!r} both map to {target}: "
                f"{fields[target].column!r} is used"
            )
            continue
        numeric = target == "size" or target.startswith("custom.")
        separator = "," if numeric and column in decimal_comma else None
        fields[target] = FieldRule(column=column, decimal_separator=separator)
    if "name" not in fields:
        if require_name:
            raise MappingError(
                [
                    MappingProblem(
                        "name",
                        f"no column maps to name (columns: {', '.join(header)}); use "
                        "--map COLUMN=name",
                    )
                ]
            )
        fields["name"] = FieldRule(constant="")  # every row then says the name is missing
    return Mapping("companies", fields), notes


def company_data(values: dict[str, Any]) -> dict[str, Any]:
    """Mapped values as createCompany input (snake_case), the normalisation table
    applied."""
    data: dict[str, Any] = {}
    address: dict[str, str] = {}
    custom: dict[str, Any] = {}
    for target, value in values.items():
        if target == "industry":
            data["industry"] = INDUSTRY_FIXES.get(value.lower(), value.lower())
        elif target.startswith("address."):
            key = target.split(".", 1)[1]
            if key == "country":
                value = COUNTRY_FIXES.get(value.lower(), value)
            address[key] = value
        elif target.startswith("custom."):
            custom[target.split(".", 1)[1]] = value
        else:
            data[target] = value
    if address:
        data["address"] = address
    if custom:
        data["custom_fields"] = custom
    return data


def row_to_input(row: dict[str, str], mapping: dict[str, str | None]) -> dict[str, Any]:
    """One CSV row (column -> text) as createCompany input. Raises ValueError naming the
    column for values that cannot be converted."""
    header = tuple(row)
    tabular, _ = company_mapping(header, mapping, require_name=False)
    mapped = RowMapper(tabular, header).map(Row(2, tuple(row.values())))
    if not mapped.ok:
        raise ValueError("; ".join(issue.describe() for issue in mapped.issues if issue.is_error))
    return company_data(mapped.values)


# Deterministic demo people: the same file gives the same contacts on every machine.
FIRST_NAMES = [
    "Ava", "Ben", "Chloe", "Diego", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas",
    "Kira", "Liam", "Maya", "Noah", "Olga", "Priya", "Quinn", "Rosa", "Sami", "Tess",
]  # fmt: skip
LAST_NAMES = [
    "Adams", "Berg", "Costa", "Dubois", "Evans", "Fischer", "Garcia", "Hansen", "Ito",
    "Jensen", "Khan", "Larsen", "Moreau", "Novak", "Okafor", "Patel", "Rossi", "Silva",
    "Tanaka", "Weber",
]  # fmt: skip
TITLES = ["VP Sales", "Head of Procurement", "CTO", "Operations Manager", "CFO", "Buyer"]
DEMO_BASE = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
DEMO_STEPS = [("email", "Intro email"), ("call", "Discovery call"), ("meeting", "Demo meeting")]


def _digest(*parts: str) -> bytes:
    return hashlib.sha256(":".join(parts).encode()).digest()


def demo_people(company: Company) -> list[dict[str, Any]]:
    seed = _digest("demo-contact", name_key(company.name))
    host = f"{slug(company.name)}.example"
    people = []
    for n in range(2):
        first = FIRST_NAMES[(seed[2 * n] + n) % len(FIRST_NAMES)]
        last = LAST_NAMES[(seed[2 * n + 1] + 7 * n) % len(LAST_NAMES)]
        people.append(
            {
                "first_name": first,
                "last_name": last,
                "email": f"{first}.{last}@{host}".lower(),
                "title": TITLES[(seed[4 + n]) % len(TITLES)],
                "company_id": company.id,
                "lifecycle_stage": ("customer", "prospect", "lead")[seed[6 + n] % 3],
                "source": "demo",
                "tags": ["demo"],
            }
        )
    return people


def demo_interactions(workspace: str, contact_id: str, email: str) -> list[dict[str, Any]]:
    seed = _digest("demo-interaction", workspace, email)
    out = []
    for n, (kind, subject) in enumerate(DEMO_STEPS):
        out.append(
            {
                # Deterministic id: a second run finds it and adds nothing.
                "id": _digest("demo-interaction-id", workspace, email, str(n)).hex()[:24],
                "kind": kind,
                "contact_id": contact_id,
                "subject": subject,
                "direction": "outbound",
                "occurred_at": DEMO_BASE + timedelta(days=seed[n] % 60 + 14 * n, hours=n),
                "duration_seconds": 1800 if kind != "email" else None,
            }
        )
    return out


def sink_values(data: dict[str, Any]) -> dict[str, Any]:
    """`company_data`'s dict as an import row's values (crm_tabular's field names, JSON)."""
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key == "address":
            values.update({f"address.{k}": v for k, v in value.items()})
        elif key == "custom_fields":
            values.update({f"custom.{k}": _json(v) for k, v in value.items()})
        else:
            values[key] = _json(value)
    return values


def _json(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


def company_input(data: dict[str, Any]) -> CompanyInput:
    """`row_to_input`'s dict as the use case's input."""
    address = data.get("address")
    fields = {key: value for key, value in data.items() if key != "address"}
    return CompanyInput(**fields, address=AddressInput(**address) if address else UNSET)


def contact_input(person: dict[str, Any]) -> ContactInput:
    return ContactInput(**{**person, "lifecycle_stage": LifecycleStage(person["lifecycle_stage"])})


def interaction_input(step: dict[str, Any]) -> InteractionInput:
    return InteractionInput(
        **{**step, "kind": InteractionKind(step["kind"]), "direction": Direction(step["direction"])}
    )


class CompanyImporter:
    """Rows go to the companies import sink (`usecases.imports.CompanySink`, the import
    endpoint's write path) in batches; a company's domain, else its normalised name, is
    its identity (against the database and within the file)."""

    def __init__(self, scope: Scope, *, dry_run: bool, demo: bool) -> None:
        self.scope = scope
        self.dry_run = dry_run
        self.demo = demo
        self.report = Report()
        self.job_id = f"cli:{new_id()}"
        self._seen: set[str] = set()
        self._pending: list[ImportRow] = []

    async def import_row(self, line: int, data: dict[str, Any]) -> None:
        self.report.rows += 1
        try:
            company = companies.build_company(self.scope, company_input(data), prefix="row")
        except CRMError as error:
            where = (error.field or "").removeprefix("row.")
            self.report.errors.append(RowError(line, f"{where}: {error.message}"))
            return
        keys = {f"name:{name_key(company.name)}"} | (
            {f"domain:{company.domain}"} if company.domain else set()
        )
        # Repeats across the file's batches are judged here, so a dry run (which writes
        # nothing for the next batch to find) counts what the real run does.
        if keys & self._seen:
            self.report.skipped += 1
            return
        self._seen |= keys
        self._pending.append(ImportRow(row=line, values=sink_values(data)))
        if len(self._pending) >= MAX_BATCH_ROWS:
            await self.flush()

    async def flush(self) -> None:
        if not self._pending:
            return
        request = ImportBatchRequest(
            job_id=self.job_id, dry_run=self.dry_run, rows=list(self._pending)
        )
        self._pending.clear()
        sink = imports.CompanySink(self.scope, self.job_id, by_name=True)
        reply = await write_batch(sink, request, self.scope.workspace_id)
        touched: list[str] = []
        for result in reply.results:
            if result.outcome == "created":
                self.report.created += 1
            elif result.outcome == "failed":
                for issue in result.issues:
                    self.report.errors.append(
                        RowError(result.row, f"{issue.field}: {issue.message}")
                    )
                continue
            else:
                self.report.skipped += 1
            if result.id:
                touched.append(result.id)
        if self.demo:
            for company in await self.scope.store.get_companies(touched) if touched else []:
                await self._demo_contacts(company)
            if self.dry_run:
                missing = len(set(touched)) - len(
                    await self.scope.store.get_companies(touched) if touched else []
                )
                self.report.demo_contacts += 2 * missing

    async def _demo_contacts(self, company: Company) -> None:
        for person in demo_people(company):
            contact = await self.scope.store.find_contact_by_email_key(person["email"])
            if contact is None:
                self.report.demo_contacts += 1
                if self.dry_run:
                    continue
                contact = await contacts.create_contact(
                    self.scope, contact_input(person), prefix="demo"
                )
            if self.dry_run:
                continue
            planned = demo_interactions(self.scope.workspace_id, contact.id, person["email"])
            if await self.scope.store.get_interactions([planned[-1]["id"]]):
                continue  # complete from an earlier run (they are written in order)
            for interaction in planned:
                try:
                    await interactions.log_interaction(
                        self.scope, interaction_input(interaction), prefix="demo"
                    )
                except CRMError:
                    continue  # already there from an earlier run
                self.report.demo_interactions += 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crm load", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="kind", required=True)
    companies = sub.add_parser("companies", help="import companies from a CSV or XLSX file")
    companies.add_argument("file", type=Path)
    companies.add_argument(
        "--delimiter", help="field delimiter of a CSV file (default: detected; `tab` for tab)"
    )
    companies.add_argument("--encoding", help="text encoding of a CSV file (default: detected)")
    companies.add_argument("--sheet", help="worksheet of an XLSX file (default: the first)")
    companies.add_argument("--workspace", default="demo")
    companies.add_argument("--dry-run", action="store_true", help="report, write nothing")
    companies.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="COLUMN=FIELD",
        help=f"map a CSV column to a field ({', '.join(sorted(TARGETS))}, custom.<key>); "
        "empty FIELD ignores the column",
    )
    companies.add_argument("--mongodb-uri", default=os.environ.get("MONGODB_URI"))
    companies.add_argument("--database", default=None)
    companies.add_argument(
        "--nats-url", default=None, help="where to publish what was loaded (default: NATS_URL)"
    )
    companies.add_argument(
        "--with-demo-contacts",
        action="store_true",
        help="also create 2 demo contacts with 3 interactions each per company",
    )
    companies.add_argument("--quiet", action="store_true", help="no progress output")
    return parser


async def run_import(args: argparse.Namespace, mapping: dict[str, str | None]) -> Report:
    """Import `args.file`; a file that is no table raises TabularError before anything is
    written."""
    encoding = getattr(args, "encoding", None)
    delimiter = getattr(args, "delimiter", None)
    sheet = getattr(args, "sheet", None)
    # The preview's sample says how the file writes numbers (`1.200` is 1200 in a file
    # of `99,90`); then the file is read again, as a stream.
    columns = preview_file(
        args.file, rows=0, encoding=encoding, delimiter=delimiter, sheet=sheet
    ).columns
    table = open_table(args.file, encoding=encoding, delimiter=delimiter, sheet=sheet)
    with table:
        tabular, notes = company_mapping(table.header, mapping, columns=columns)
        settings = load_settings()
        uri = args.mongodb_uri or settings.mongodb_uri
        client: AsyncMongoClient = AsyncMongoClient(
            uri, tz_aware=True, serverSelectionTimeoutMS=5000
        )
        try:
            db = client[args.database or settings.database]
            if not args.dry_run:
                await apply_indexes(db, ensure_indexes)
                await apply_indexes(db, lambda d: OutboxRelay.ensure_indexes(d, OUTBOX_COLLECTIONS))
            writer = DocumentWriter(
                db,
                profile=await DatabaseProfile.detect(db, settings.database_profile),
                outbox_collections=OUTBOX_COLLECTIONS,
                encode=encode,
                audit=AUDIT,
            )
            store = mongo_store(writer, index=False).for_workspace(args.workspace)
            caller = RequestContext(args.workspace, "import", frozenset({"admin"}))
            # The audit log names the import as the path and its identity as the actor.
            bind_request(caller)
            importer = CompanyImporter(
                Scope(store, caller), dry_run=args.dry_run, demo=args.with_demo_contacts
            )
            report = importer.report
            report.warnings.extend(
                RowError(issue.row, issue.describe()) for issue in table.header_issues
            )
            report.warnings.extend(RowError(table.header_row, note) for note in notes)
            with via("import"):
                await import_rows(importer, table, tabular, quiet=args.quiet)
            if not args.dry_run:
                await publish_written(db, args.nats_url or settings.nats_url)
            return report
        finally:
            await client.close()


async def publish_written(db: Any, nats_url: str) -> None:
    """Publishes what the load wrote (as the contacts service it writes for), as the deals
    loader does: the running service's relay sweeps whole collections only as a backstop
    (every OUTBOX_BACKSTOP_SECONDS), so its lists and the other services would hear of
    the loaded records minutes late. NATS away: the events wait for that sweep."""
    try:
        nc = await connect(nats_url, user="contacts", max_reconnect_attempts=1)
    except (NatsError, OSError, TimeoutError) as error:
        print(f"warning: NATS unreachable ({error}): the service publishes later", file=sys.stderr)
        return
    try:
        js = nc.jetstream()
        await require_stream(js, stream_for("contacts"))
        await OutboxRelay.drain(db, OUTBOX_COLLECTIONS, js)
    finally:
        await nc.close()


async def import_rows(
    importer: CompanyImporter, table: Table, tabular: Mapping, *, quiet: bool
) -> None:
    report = importer.report
    rows = mapped_rows(table, tabular, duplicates=DuplicateFinder(()))
    try:
        for mapped in rows:
            report.warnings.extend(
                RowError(issue.row, issue.describe())
                for issue in mapped.issues
                if not issue.is_error
            )
            if mapped.ok:
                await importer.import_row(mapped.row, company_data(mapped.values))
            else:
                report.rows += 1
                report.errors.extend(
                    RowError(issue.row, issue.describe())
                    for issue in mapped.issues
                    if issue.is_error
                )
            if not quiet:
                _progress(report.rows, table.fraction_read())
    except TabularError as error:
        # The file broke part-way (a quote never closed, a damaged workbook): what came
        # before it is imported and the summary says where reading stopped.
        report.stopped = error.message
        report.errors.append(RowError(error.row or table.header_row, error.message))
    await importer.flush()  # the rows before a break are imported too
    if not quiet and report.rows:
        print(file=sys.stderr)


def _progress(done: int, fraction: float | None) -> None:
    bar = "#" * int(30 * (fraction or 0))
    print(f"\rcompanies [{bar:<30}] {done} rows", end="", file=sys.stderr)


def main(argv: list[str]) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        mapping = parse_mapping(args.map)
    except ValueError as error:
        parser.error(str(error))
    try:
        report = asyncio.run(run_import(args, mapping))
    except TabularError as error:
        print(f"crm load: {args.file}: {error.message}", file=sys.stderr)
        return 2
    report.print(sys.stdout, args.dry_run)
    return 1 if report.errors else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
