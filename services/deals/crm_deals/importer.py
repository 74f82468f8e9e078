"""`crm import deals FILE`: bulk import of opportunities from CSV.

    deals FILE [--workspace demo] [--dry-run] [--map csv_column=field ...]
               [--stage-map Won=won ...] [--products products.csv] [--pipeline ID]
               [--currency USD] [--report report.json] [--mongodb-uri ...] [--nats-url ...]
               [--spread-expected-close MONTHS] [--shift-dates-to-today]

Fields a column can map to: external_id (required), title, owner, product, company,
stage (required), engaged_at, close_date, amount, currency, source. The columns of the
Maven "CRM Sales Opportunities" dataset map by default (see DEFAULT_MAP).

Idempotent on external_id (unique per workspace): a second run adds nothing. Rows that
duplicate another row apart from their id are imported (they are distinct opportunities)
and reported. Imports emit `deal.created` but never `stage_changed`: history that already
happened must not start playbooks. Closed deals get their history (engaging -> won/lost
with the source dates).

Exit criteria: an import is a history record (the source says where each deal was), so a
row is never refused for them. The criteria of every open stage a deal has passed (the
stages before its own; every open stage for a closed deal) are checked, and the unmet ones
are recorded on its `import` history entry as `overridden` (the importer acts as an admin)
and counted in the report (`rowsWithUnmetCriteria`, `unmetCriteria` by criterion).

`--spread-expected-close MONTHS` (the demo uses it) gives each open deal that has no close
date an expected close date in the coming MONTHS months, the same one on every run (derived
from its external id), so a forecast over the imported pipeline has months to show.
`--shift-dates-to-today` moves every date of the file by the same number of days so that
its latest one is today: an old dataset then reads as recent history (ages, stale deals,
closed months in the forecast, analytics windows) with every interval kept.
"""

from __future__ import annotations

import argparse
import asyncio
import calendar
import csv
import hashlib
import os
import re
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import orjson

from crm_contracts.contacts import RPC_COMPANY_FIND_BY_NAME
from crm_contracts.streams import stream_for
from crm_kit.audit import via
from crm_kit.clock import utcnow
from crm_kit.context import RequestContext, bind_request
from crm_kit.errors import CRMError
from crm_kit.ids import new_id

from .config import AUDIT, load_settings
from .domain.deal import OPEN, Deal, StageChange, criteria_names, seconds_between, unmet_before
from .domain.default_pipeline import default_pipeline, default_pipeline_id
from .domain.money import parse_amount, validate_currency
from .domain.pipeline import LOST, WON, Pipeline, Stage
from .store.port import WorkspaceStore
from .usecases.pipelines import get_pipeline
from .usecases.scope import Scope

FIELDS = (
    "external_id",
    "title",
    "owner",
    "product",
    "company",
    "stage",
    "engaged_at",
    "close_date",
    "amount",
    "currency",
    "source",
)
DEFAULT_MAP = {
    "opportunity_id": "external_id",
    "sales_agent": "owner",
    "product": "product",
    "account": "company",
    "deal_stage": "stage",
    "engage_date": "engaged_at",
    "close_date": "close_date",
    "close_value": "amount",
}
DEFAULT_STAGE_MAP = {"won": WON, "lost": LOST, "closed won": WON, "closed lost": LOST}
LOST_REASON = "not recorded in the imported source"
BATCH = 500

CompanyResolver = Callable[[list[str]], Awaitable[dict[str, str]]]


def slug(name: str) -> str:
    """`Darcel Schlecht` -> `darcel-schlecht` (owners are user ids)."""
    return re.sub(r"[^a-z0-9]+", "-", name.strip().lower()).strip("-")


def _squash(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


@dataclass
class Issue:
    row: int  # 1-based data row (the header is row 0)
    external_id: str | None
    message: str
    kind: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "externalId": self.external_id,
            "kind": self.kind,
            "message": self.message,
        }


@dataclass
class ImportReport:
    rows: int = 0
    valid: int = 0
    inserted: int = 0
    skipped_existing: int = 0
    duplicate_rows: int = 0
    duplicate_groups: int = 0
    by_stage: dict[str, int] = field(default_factory=dict)
    # Valid rows placed past exit criteria they do not meet (recorded on their history).
    rows_with_unmet_criteria: int = 0
    unmet_criteria: dict[str, int] = field(default_factory=dict)
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    dry_run: bool = False

    def warn(self, row: int, ext: str | None, kind: str, message: str) -> None:
        self.warnings.append(Issue(row, ext, message, kind))

    def as_dict(self) -> dict[str, Any]:
        kinds: dict[str, int] = {}
        for w in self.warnings:
            kinds[w.kind] = kinds.get(w.kind, 0) + 1
        return {
            "rows": self.rows,
            "valid": self.valid,
            "inserted": self.inserted,
            "skippedExisting": self.skipped_existing,
            "duplicateRows": self.duplicate_rows,
            "duplicateGroups": self.duplicate_groups,
            "byStage": self.by_stage,
            "rowsWithUnmetCriteria": self.rows_with_unmet_criteria,
            "unmetCriteria": self.unmet_criteria,
            "warningsByKind": kinds,
            "errors": [e.as_dict() for e in self.errors],
            "warnings": [w.as_dict() for w in self.warnings],
            "dryRun": self.dry_run,
        }


@dataclass
class Options:
    column_map: dict[str, str]
    stage_map: dict[str, str]
    prices: dict[str, str]  # canonical product name -> list price (decimal string)
    currency: str = "USD"
    pipeline_id: str | None = None
    source_name: str = "import"
    dry_run: bool = False
    batch: int = BATCH
    spread_expected_close_months: int = 0
    date_shift_days: int = 0


def spread_close_date(external_id: str, now: datetime, months: int) -> str:
    """A date in the `months` months after `now`'s month, fixed by the external id (a hash,
    so re-runs and replicas agree): 1..months months ahead, any day of that month."""
    digest = int.from_bytes(hashlib.sha256(external_id.encode()).digest()[:8], "big")
    ahead = 1 + digest % months
    year, month = divmod(now.month - 1 + ahead, 12)
    year, month = now.year + year, month + 1
    day = 1 + (digest // months) % calendar.monthrange(year, month)[1]
    return date(year, month, day).isoformat()


class Progress:
    """A one-line progress bar on stderr (redrawn in place on a terminal)."""

    def __init__(self, total: int, stream: TextIO = sys.stderr, width: int = 30) -> None:
        self.total = max(total, 1)
        self.stream = stream
        self.width = width
        self.tty = stream.isatty()
        self._last_decile = -1

    def update(self, done: int, label: str = "deals") -> None:
        fraction = min(done / self.total, 1.0)
        decile = int(fraction * 10)
        if not self.tty and decile == self._last_decile and done < self.total:
            return
        self._last_decile = decile
        filled = int(fraction * self.width)
        bar = "#" * filled + "." * (self.width - filled)
        end = "" if self.tty and done < self.total else "\n"
        prefix = "\r" if self.tty else ""
        self.stream.write(f"{prefix}[{bar}] {done}/{self.total} {label}{end}")
        self.stream.flush()


def read_products(path: Path | None) -> dict[str, str]:
    if path is None or not path.exists():
        return {}
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return {
            row["product"].strip(): (row.get("sales_price") or "").strip()
            for row in csv.DictReader(handle)
            if row.get("product")
        }


def _parse_date(text: str) -> datetime | None:
    text = (text or "").strip()
    if not text:
        return None
    return datetime.combine(date.fromisoformat(text), datetime.min.time(), tzinfo=UTC)


class RowRefused(Exception):
    """A row that cannot become a deal: reported as a row error of `kind`."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass
class Row:
    """One CSV row being mapped: its values (by field), number and external id."""

    values: dict[str, str]
    number: int
    external_id: str
    report: ImportReport

    def get(self, name: str) -> str:
        return (self.values.get(name) or "").strip()

    def warn(self, kind: str, message: str) -> None:
        self.report.warn(self.number, self.external_id, kind, message)


@dataclass(frozen=True)
class Dates:
    engaged_at: datetime | None
    closed_at: datetime | None


class RowMapper:
    """Turns CSV rows into deals, one small step per concern; every problem becomes a row
    error (`RowRefused`) or a warning."""

    def __init__(self, options: Options, pipeline: Pipeline, workspace: str, now: datetime) -> None:
        self.o = options
        self.pipeline = pipeline
        self.workspace = workspace
        self.now = now
        self.products = {_squash(name): name for name in options.prices}
        self.stages: dict[str, str] = {}
        for stage in pipeline.stages:
            self.stages[stage.key.lower()] = stage.key
            self.stages[stage.name.lower()] = stage.key
        self.stages.update({k.lower(): v for k, v in DEFAULT_STAGE_MAP.items()})
        self.stages.update({k.lower(): v for k, v in options.stage_map.items()})

    def map_row(
        self, values: dict[str, str], row: int, report: ImportReport, companies: dict[str, str]
    ) -> Deal | None:
        ext = values.get("external_id", "").strip()
        if not ext:
            report.errors.append(Issue(row, None, "missing external id", "missing_id"))
            return None
        mapped = Row(values, row, ext, report)
        try:
            return self._deal(mapped, companies)
        except RowRefused as refused:
            report.errors.append(Issue(row, ext, refused.message, refused.kind))
            return None

    def _deal(self, row: Row, companies: dict[str, str]) -> Deal:
        stage = self._stage(row)
        currency, dates = self._currency_and_dates(row)
        status = stage.key if stage.terminal else OPEN
        if status != OPEN and dates.closed_at is None:
            raise RowRefused("bad_value", f"{row.get('stage')} deal without a close date")
        product = self.product(row.get("product"), row.report, row.number, row.external_id)
        custom: dict[str, Any] = {}
        amount = self._amount(row, status, currency, product, custom)
        account = " ".join(row.get("company").split())
        company_id = self._company(row, account, companies)
        owner = self._owner(row)
        title = row.get("title") or " ".join(
            part for part in (product or "Deal", f"for {account}" if account else "") if part
        )
        closed_at = dates.closed_at if status != OPEN else None
        entered = (closed_at or dates.engaged_at) or self.now
        expected_close = None
        if status == OPEN and self.o.spread_expected_close_months > 0:
            expected_close = spread_close_date(
                row.external_id, self.now, self.o.spread_expected_close_months
            )
        deal = Deal(
            id=new_id(),
            workspace_id=self.workspace,
            title=title[:200],
            amount_minor=amount,
            currency=currency,
            pipeline_id=self.pipeline.id,
            pipeline_version=self.pipeline.version,
            stage_key=stage.key,
            stage_probability=stage.probability,
            forecast_category=stage.forecast_category,
            status=status,
            owner_id=owner,
            company_id=company_id,
            product=product,
            source=row.get("source") or self.o.source_name,
            lost_reason=LOST_REASON if status == LOST else None,
            closed_at=closed_at,
            expected_close_date=expected_close,
            custom_fields=custom,
            stage_entered_at=entered,
            last_activity_at=dates.closed_at or dates.engaged_at,
            external_id=row.external_id,
            created_at=dates.engaged_at or self.now,
            created_by="import",
            updated_at=self.now,
            updated_by="import",
        )
        deal.stage_history = self._history(deal, dates.engaged_at, dates.closed_at)
        self._audit_criteria(deal, stage, row.report)
        return deal.imported(stage)

    def _audit_criteria(self, deal: Deal, stage: Stage, report: ImportReport) -> None:
        """History is imported as it happened: criteria it skipped are recorded, not
        enforced (see the module's docstring)."""
        overridden = criteria_names(unmet_before(deal, self.pipeline, stage))
        if not overridden:
            return
        deal.stage_history[-1].overridden = overridden
        report.rows_with_unmet_criteria += 1
        for name in overridden:
            report.unmet_criteria[name] = report.unmet_criteria.get(name, 0) + 1

    def _stage(self, row: Row) -> Stage:
        raw = row.get("stage")
        key = self.stages.get(raw.lower())
        stage = self.pipeline.stage(key) if key else None
        if stage is None:
            raise RowRefused("bad_stage", f"unknown stage {raw!r} (use --stage-map)")
        return stage

    def _date(self, text: str) -> datetime | None:
        parsed = _parse_date(text)
        if parsed is None or not self.o.date_shift_days:
            return parsed
        return parsed + timedelta(days=self.o.date_shift_days)

    def _currency_and_dates(self, row: Row) -> tuple[str, Dates]:
        try:
            currency = validate_currency(row.get("currency") or self.o.currency, "currency")
            dates = Dates(self._date(row.get("engaged_at")), self._date(row.get("close_date")))
        except (ValueError, CRMError) as error:
            raise RowRefused("bad_value", str(error)) from None
        return currency, dates

    def _amount(
        self, row: Row, status: str, currency: str, product: str | None, custom: dict[str, Any]
    ) -> int:
        raw = row.get("amount")
        price = self.o.prices.get(product or "", "")
        try:
            if status == LOST and raw in ("0", "0.00", ""):
                # The source writes 0 for lost deals: the value at stake is the list price.
                custom["closeValue"] = raw or None
                return parse_amount(price or "0", currency, "amount")
            if raw and (status != OPEN or raw != "0"):
                return parse_amount(raw, currency, "amount")
            if price:
                return parse_amount(price, currency, "amount")
        except CRMError as error:
            raise RowRefused("bad_amount", error.message) from None
        row.warn("no_amount", "no amount and no list price: amount 0")
        return 0

    def _company(self, row: Row, account: str, companies: dict[str, str]) -> str | None:
        company_id = companies.get(account) if account else None
        if not account:
            row.warn("no_account", "no account: imported without a company")
        elif company_id is None:
            row.warn("unknown_account", f"account {account!r} not found in contacts")
        return company_id

    def _owner(self, row: Row) -> str | None:
        owner = slug(row.get("owner")) or None
        if owner is None:
            row.warn("no_owner", "no sales agent: imported without an owner")
        return owner

    def product(self, raw: str, report: ImportReport, row: int, ext: str) -> str | None:
        text = " ".join(raw.split())
        if not text:
            return None
        canonical = self.products.get(_squash(text))
        if canonical is None:
            if self.products:
                report.warn(row, ext, "unknown_product", f"product {text!r} not in the price list")
            return text
        if canonical != text:
            report.warn(row, ext, "product_normalised", f"product {text!r} -> {canonical!r}")
        return canonical

    def _history(
        self, deal: Deal, engaged_at: datetime | None, close_date: datetime | None
    ) -> list[StageChange]:
        def change(src: str | None, dst: str, at: datetime, seconds: int | None) -> StageChange:
            return StageChange(
                id=new_id(),
                from_stage=src,
                to_stage=dst,
                at=at,
                by="import",
                seconds_in_from_stage=seconds,
                pipeline_id=self.pipeline.id,
                pipeline_version=self.pipeline.version,
                kind="import",
            )

        if deal.status == OPEN:
            return [change(None, deal.stage_key, engaged_at or self.now, None)]
        # Closed deals in the source were engaged, then closed: keep both steps and dates.
        history = []
        if engaged_at is not None:
            history.append(change(None, "engaging", engaged_at, None))
        assert close_date is not None
        history.append(
            change(
                "engaging" if engaged_at else None,
                deal.stage_key,
                close_date,
                seconds_between(engaged_at, close_date),
            )
        )
        return history


def shift_to_today(rows: list[dict[str, str]], today: date) -> int:
    """Days to add to every date so the file's latest date becomes `today` (0 if none)."""
    latest: date | None = None
    for values in rows:
        for key in ("engaged_at", "close_date"):
            text = (values.get(key) or "").strip()
            try:
                day = date.fromisoformat(text) if text else None
            except ValueError:
                continue  # reported as a row error by the mapper
            if day and (latest is None or day > latest):
                latest = day
    return (today - latest).days if latest else 0


def mapped_rows(reader: csv.DictReader, column_map: dict[str, str]) -> list[dict[str, str]]:
    mapping = {
        **{c: c for c in (reader.fieldnames or []) if c in FIELDS},
        **DEFAULT_MAP,
        **column_map,
    }
    rows = []
    for raw in reader:
        values: dict[str, str] = {}
        for column, target in mapping.items():
            if column in raw and raw[column] is not None:
                values[target] = raw[column].strip()
        rows.append(values)
    return rows


def _duplicates(rows: list[dict[str, str]], report: ImportReport) -> None:
    groups: dict[tuple, list[int]] = {}
    for index, values in enumerate(rows, start=1):
        key = tuple(sorted((k, v) for k, v in values.items() if k != "external_id"))
        groups.setdefault(key, []).append(index)
    for members in groups.values():
        if len(members) < 2:
            continue
        report.duplicate_groups += 1
        report.duplicate_rows += len(members)
        first = members[0]
        for index in members[1:]:
            report.warn(
                index,
                rows[index - 1].get("external_id"),
                "duplicate_row",
                f"same values as row {first} ({rows[first - 1].get('external_id')}) apart from "
                "the id; imported as a distinct opportunity",
            )


async def import_rows(
    rows: list[dict[str, str]],
    store: WorkspaceStore,
    options: Options,
    *,
    resolve_companies: CompanyResolver | None = None,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> ImportReport:
    report = ImportReport(rows=len(rows), dry_run=options.dry_run)
    now = now or utcnow()
    caller = RequestContext(store.workspace_id, "import", frozenset({"admin"}))
    scope = Scope(store, caller, clock=lambda: now)
    if options.dry_run and not options.pipeline_id:
        # A dry run writes nothing, not even the lazily created default pipeline.
        found = await store.get_pipeline(default_pipeline_id(store.workspace_id))
        pipeline = found or default_pipeline(store.workspace_id, now)
    else:
        pipeline = await get_pipeline(scope, options.pipeline_id, field="--pipeline")
    _duplicates(rows, report)
    names = sorted({" ".join(r.get("company", "").split()) for r in rows} - {""})
    companies: dict[str, str] = {}
    if names and resolve_companies is not None:
        for start in range(0, len(names), 200):
            companies.update(await resolve_companies(names[start : start + 200]))
    if not options.dry_run:
        await store.repair_imports()
    mapper = RowMapper(options, pipeline, store.workspace_id, now)
    existing = await store.existing_external_ids(
        [r["external_id"] for r in rows if r.get("external_id")]
    )
    seen: set[str] = set()
    pending: list[Deal] = []
    done = 0
    for index, values in enumerate(rows, start=1):
        deal = mapper.map_row(values, index, report, companies)
        if deal is None:
            continue
        report.valid += 1
        report.by_stage[deal.stage_key] = report.by_stage.get(deal.stage_key, 0) + 1
        if deal.external_id in existing or deal.external_id in seen:
            if deal.external_id in seen:
                report.errors.append(
                    Issue(
                        index, deal.external_id, "external id repeated in the file", "repeated_id"
                    )
                )
            report.skipped_existing += deal.external_id in existing
            continue
        seen.add(deal.external_id or "")
        pending.append(deal)
        if len(pending) >= options.batch:
            done += await _flush(store, pending, report, options)
            if progress:
                progress.update(done)
    done += await _flush(store, pending, report, options)
    if progress:
        progress.update(done)
    return report


async def _flush(
    store: WorkspaceStore, pending: list[Deal], report: ImportReport, options: Options
) -> int:
    count = len(pending)
    if count and not options.dry_run:
        report.inserted += await store.import_deals(f"import:{new_id()}", list(pending))
    pending.clear()
    return count


# --- command line ----------------------------------------------------------------------------


def _pairs(values: list[str], flag: str) -> dict[str, str]:
    out = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise SystemExit(f"{flag} expects A=B, got {item!r}")
        out[key] = value
    return out


def parse_args(argv: list[str]) -> argparse.Namespace:
    if argv and argv[0] == "deals":
        argv = argv[1:]
    settings = load_settings()
    parser = argparse.ArgumentParser(prog="crm import deals", description=__doc__.split("\n")[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--workspace", default=os.environ.get("CRM_WORKSPACE", "demo"))
    parser.add_argument("--dry-run", action="store_true")
    parser.add_argument("--map", action="append", default=[], metavar="COLUMN=FIELD")
    parser.add_argument("--stage-map", action="append", default=[], metavar="VALUE=STAGE_KEY")
    parser.add_argument(
        "--products", type=Path, help="price list (default: products.csv beside FILE)"
    )
    parser.add_argument("--pipeline", help="pipeline id (default: the workspace default)")
    parser.add_argument("--currency", default="USD")
    parser.add_argument("--source", default="import", help="the deals' `source` field")
    parser.add_argument("--report", type=Path, help="write the full JSON report here")
    parser.add_argument("--mongodb-uri", default=settings.mongodb_uri)
    parser.add_argument("--database", default=settings.database)
    parser.add_argument("--nats-url", default=settings.nats_url)
    parser.add_argument("--no-companies", action="store_true", help="do not ask contacts")
    parser.add_argument("--batch", type=int, default=BATCH)
    parser.add_argument(
        "--shift-dates-to-today",
        action="store_true",
        help="move every date by the same days so the latest is today (demo data)",
    )
    parser.add_argument(
        "--spread-expected-close",
        type=int,
        default=0,
        metavar="MONTHS",
        help="give open deals without a close date one in the next MONTHS months (demo data)",
    )
    args = parser.parse_args(argv)
    bad = [f for f in _pairs(args.map, "--map").values() if f not in FIELDS]
    if bad:
        parser.error(f"--map targets must be among {FIELDS}: {bad}")
    return args


def print_report(report: ImportReport, out: TextIO) -> None:
    summary = report.as_dict()
    verb = "would insert" if report.dry_run else "inserted"
    out.write(
        f"rows {report.rows}, valid {report.valid}, {verb} "
        f"{report.inserted if not report.dry_run else report.valid - report.skipped_existing}, "
        f"already imported {report.skipped_existing}, errors {len(report.errors)}\n"
    )
    out.write(f"by stage: {orjson.dumps(report.by_stage).decode()}\n")
    out.write(
        f"placed past unmet exit criteria (recorded on their history): "
        f"{report.rows_with_unmet_criteria} {orjson.dumps(report.unmet_criteria).decode()}\n"
    )
    out.write(
        f"duplicate rows (same values apart from the id, imported): {report.duplicate_rows} "
        f"in {report.duplicate_groups} groups\n"
    )
    out.write(f"warnings: {orjson.dumps(summary['warningsByKind']).decode()}\n")
    for issue in report.errors:
        out.write(f"error row {issue.row} ({issue.external_id}): {issue.message}\n")


async def run(argv: list[str], out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    from nats.errors import Error as NatsError
    from pymongo import AsyncMongoClient

    from crm_kit.assertions import KeyRing
    from crm_kit.nats_io import connect, require_stream
    from crm_kit.outbox import OutboxRelay
    from crm_kit.profile import DatabaseProfile
    from crm_kit.rpc import RpcError, rpc_call, service_context
    from crm_kit.writer import DocumentWriter

    from .config import OUTBOX_COLLECTIONS
    from .events.publish import encode
    from .store.mongo import ensure_indexes, mongo_store

    args = parse_args(argv)
    if not args.file.exists():
        err.write(f"no such file: {args.file}\n")
        return 2
    options = Options(
        column_map=_pairs(args.map, "--map"),
        stage_map=_pairs(args.stage_map, "--stage-map"),
        prices=read_products(args.products or args.file.with_name("products.csv")),
        currency=args.currency,
        pipeline_id=args.pipeline,
        source_name=args.source,
        dry_run=args.dry_run,
        batch=max(1, args.batch),
        spread_expected_close_months=max(0, args.spread_expected_close),
    )
    with args.file.open(newline="", encoding="utf-8-sig") as handle:
        rows = mapped_rows(csv.DictReader(handle), options.column_map)
    if args.shift_dates_to_today:
        options.date_shift_days = shift_to_today(rows, utcnow().date())

    nc = None
    if not args.no_companies or not args.dry_run:
        try:
            # The importer is the deals service's own job: it writes the deals database and
            # publishes deals' events, so it connects and signs as `deals`.
            nc = await connect(args.nats_url, user="deals", max_reconnect_attempts=1)
        except (NatsError, OSError, TimeoutError) as error:
            if not args.dry_run:
                err.write(f"cannot reach NATS at {args.nats_url}: {error}\n")
                return 2
            err.write(f"warning: NATS unreachable ({error}); companies not resolved\n")

    async def resolve(names: list[str]) -> dict[str, str]:
        assert nc is not None
        try:
            found = await rpc_call(
                nc,
                RPC_COMPANY_FIND_BY_NAME,
                service_context("deals", args.workspace, "viewer"),
                {"names": names},
                keys=KeyRing.from_env("deals"),
                timeout=10,
            )
        except (RpcError, TimeoutError, Exception) as error:
            if not args.dry_run:
                raise SystemExit(f"contacts company lookup failed: {error}") from error
            err.write(f"warning: company lookup failed ({error})\n")
            return {}
        return {k: v for k, v in (found or {}).items() if isinstance(v, str) and v}

    client: AsyncMongoClient = AsyncMongoClient(
        args.mongodb_uri, tz_aware=True, serverSelectionTimeoutMS=5000
    )
    started = time.monotonic()
    try:
        db = client[args.database]
        if not args.dry_run:
            await ensure_indexes(db)
            await OutboxRelay.ensure_indexes(db, OUTBOX_COLLECTIONS)
        writer = DocumentWriter(
            db,
            profile=await DatabaseProfile.detect(db, load_settings().database_profile),
            outbox_collections=OUTBOX_COLLECTIONS,
            encode=encode,
            audit=AUDIT,
        )
        # No read index: the importer only writes (the service's index hears the events).
        store = mongo_store(writer, index=False).for_workspace(args.workspace)
        # The audit log names the import as the path and its identity as the actor.
        bind_request(RequestContext(args.workspace, "import", frozenset({"admin"})))
        with via("import"):
            report = await import_rows(
                rows,
                store,
                options,
                resolve_companies=resolve if nc is not None and not args.no_companies else None,
                progress=Progress(len(rows), err),
            )
        if nc is not None and not args.dry_run:
            js = nc.jetstream()
            await require_stream(js, stream_for("deals"))
            relay = OutboxRelay(db, OUTBOX_COLLECTIONS, js, batch=1000)
            while await relay.publish_pending():
                pass
    finally:
        await client.close()
        if nc is not None:
            await nc.close()
    print_report(report, out)
    out.write(f"took {time.monotonic() - started:.1f}s\n")
    if args.report:
        args.report.write_bytes(orjson.dumps(report.as_dict(), option=orjson.OPT_INDENT_2))
    return 1 if report.errors else 0


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(run(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    raise SystemExit(main())
