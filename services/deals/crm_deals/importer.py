"""`crm load deals FILE`: bulk load of opportunities from CSV.

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
import csv
import os
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from pathlib import Path
from typing import TextIO

import orjson

from crm_contracts.contacts import RPC_COMPANY_FIND_BY_NAME
from crm_contracts.streams import stream_for
from crm_kit.audit import via
from crm_kit.clock import utcnow
from crm_kit.context import RequestContext, bind_request
from crm_kit.ids import new_id
from crm_kit.mongo import apply_indexes

from .config import AUDIT, load_settings
from .domain.deal import Deal
from .domain.default_pipeline import default_pipeline, default_pipeline_id
from .store.port import WorkspaceStore
from .usecases.deal_rows import (  # noqa: F401  (the importer's names, as before)
    BATCH,
    DEFAULT_STAGE_MAP,
    LOST_REASON,
    Dates,
    ImportReport,
    Issue,
    Options,
    Row,
    RowMapper,
    RowRefused,
    slug,
    spread_close_date,
)
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
CompanyResolver = Callable[[list[str]], Awaitable[dict[str, str]]]


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
        refused = await store.import_deals(f"import:{new_id()}", list(pending))
        report.inserted += len(pending) - len(refused)
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
    parser = argparse.ArgumentParser(prog="crm load deals", description=__doc__.split("\n")[0])
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
            await apply_indexes(db, ensure_indexes)
            await apply_indexes(db, lambda d: OutboxRelay.ensure_indexes(d, OUTBOX_COLLECTIONS))
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
            await OutboxRelay.drain(db, OUTBOX_COLLECTIONS, js)
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
