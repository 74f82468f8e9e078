"""`python -m crm_deals.win_model_cli`: train the win model, or measure it offline.

train [--workspace demo] [--pipeline ID] [--nats-url ...]
    asks the running deals service (`rpc.deals.win_model.train`) to train the
    pipeline's model and apply it to the open deals; `crm demo` runs it after the import.
report FILE [--products products.csv] [--now 2018-01-01] [--json]
    reads a CSV as `crm import deals` would (same mapping), trains the default
    pipeline's model in memory and prints the stage rates, age buckets and the
    backtest; no database, no service.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import orjson

from crm_contracts.deals import RPC_WIN_MODEL_TRAIN

from .config import load_settings
from .domain.default_pipeline import default_pipeline
from .domain.win_model import DealRecord, WinModel, percent, stage_days, train
from .importer import ImportReport, Options, RowMapper, mapped_rows, read_products

TRAIN_TIMEOUT = 600.0


def records_from_csv(path: Path, products: Path | None, now: datetime) -> list[DealRecord]:
    """The deals `crm import deals FILE` would create, as the model sees them."""
    pipeline = default_pipeline("report", now)
    options = Options(column_map={}, stage_map={}, prices=read_products(products))
    mapper = RowMapper(options, pipeline, "report", now)
    report = ImportReport()
    with path.open(newline="", encoding="utf-8-sig") as handle:
        rows = mapped_rows(csv.DictReader(handle), {})
    records = []
    for index, values in enumerate(rows, start=1):
        deal = mapper.map_row(values, index, report, {})
        if deal is None:
            continue
        closed = deal.status != "open"
        records.append(
            DealRecord(
                id=deal.id,
                status=deal.status,
                stage_key=deal.stage_key,
                stage_probability=deal.stage_probability,
                closed_at=deal.closed_at,
                stage_days=stage_days(deal.stage_history, None if closed else now),
            )
        )
    return records


def render(model: WinModel, records: list[DealRecord], out: TextIO) -> None:
    out.write(
        f"closed deals (training): {model.training_deals}, prior weight k = {model.prior_weight}\n"
        "stage           default  samples   wins  win rate  estimate  "
        "age buckets (from day: samples, rate)\n"
    )
    for s in model.stages:
        buckets = "; ".join(f"{b.min_days}d: {b.samples}, {b.win_rate:.3f}" for b in s.age_buckets)
        out.write(
            f"{s.key:<15} {s.default_probability:>6}% {s.samples:>8} {s.wins:>6} {s.win_rate:>9.4f}"
            f" {percent(s.win_rate):>8}%  {buckets}\n"
        )
    open_deals = [r for r in records if not r.closed]
    estimates: dict[tuple[str, int], int] = {}
    for r in open_deals:
        key = (r.stage_key, model.estimate_deal(r))
        estimates[key] = estimates.get(key, 0) + 1
    out.write("open deals' estimates (stage, estimate: count): ")
    out.write(", ".join(f"{k} {p}%: {n}" for (k, p), n in sorted(estimates.items())) + "\n")
    a = model.accuracy
    if a is None:
        out.write("backtest: too few closed deals\n")
        return
    out.write(
        f"backtest: trained on deals closed up to {a.cutoff:%Y-%m-%d}, {a.test_deals} test deals, "
        f"{a.predictions} predictions\n"
        f"  Brier  model {a.brier_score:.4f}  stage rates only {a.stage_only_brier_score:.4f}"
        f"  stage defaults {a.baseline_brier_score:.4f}\n"
        f"  log loss  model {a.log_loss:.4f}  stage defaults {a.baseline_log_loss:.4f}\n"
        "  calibration (predicted range: mean predicted, actual win share, count):\n"
    )
    for c in a.calibration:
        out.write(
            f"    {c.lower:.1f}-{c.upper:.1f}: {c.mean_predicted:.3f}, {c.actual_win_share:.3f}, "
            f"{c.count}\n"
        )


def report(args: argparse.Namespace, out: TextIO) -> int:
    if not args.file.exists():
        sys.stderr.write(f"no such file: {args.file}\n")
        return 2
    now = datetime.fromisoformat(args.now).replace(tzinfo=UTC) if args.now else datetime.now(UTC)
    records = records_from_csv(args.file, args.products or args.file.with_name("products.csv"), now)
    model = train(default_pipeline("report", now), records, now)
    if args.json:
        out.write(orjson.dumps(model.to_doc(), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        render(model, records, out)
    return 0


async def train_remote(args: argparse.Namespace, out: TextIO) -> int:
    from nats.errors import Error as NatsError

    from crm_kit.assertions import KeyRing
    from crm_kit.nats_io import connect
    from crm_kit.rpc import RpcError, rpc_call, service_context

    # An operator's tool: the `cli` party, asking as an admin (retraining is admin-only).
    try:
        nc = await connect(args.nats_url, user="cli", max_reconnect_attempts=1)
    except (NatsError, OSError, TimeoutError) as error:
        sys.stderr.write(f"cannot reach NATS at {args.nats_url}: {error}\n")
        return 2
    body = {"pipelineId": args.pipeline} if args.pipeline else {}
    caller = service_context("cli", args.workspace, "admin")
    try:
        data = await rpc_call(
            nc,
            RPC_WIN_MODEL_TRAIN,
            caller,
            body,
            keys=KeyRing.from_env("cli"),
            timeout=TRAIN_TIMEOUT,
        )
    except (RpcError, TimeoutError, KeyError, OSError) as error:
        sys.stderr.write(f"win model training failed: {error}\n")
        return 1
    finally:
        await nc.close()
    rates = ", ".join(
        f"{s['key']} {s['winRate']:.3f} ({s['samples']} closed)" for s in data["stages"]
    )
    out.write(
        f"win model trained on {data['trainingDeals']} closed deals: {rates}; "
        f"Brier {data.get('brierScore')} vs stage defaults {data.get('baselineBrierScore')}; "
        f"{data['dealsUpdated']} open deals updated\n"
    )
    return 0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m crm_deals.win_model_cli")
    commands = parser.add_subparsers(dest="command", required=True)
    t = commands.add_parser("train", help="train through the running deals service")
    t.add_argument("--workspace", default=os.environ.get("CRM_WORKSPACE", "demo"))
    t.add_argument("--pipeline", help="pipeline id (default: the workspace default)")
    t.add_argument("--nats-url", default=None)
    r = commands.add_parser("report", help="train and backtest offline from a CSV")
    r.add_argument("file", type=Path)
    r.add_argument("--products", type=Path)
    r.add_argument("--now", help="YYYY-MM-DD the open deals are aged to (default: today)")
    r.add_argument("--json", action="store_true", help="print the model document")
    args = parser.parse_args(argv)
    if args.command == "train" and not args.nats_url:
        args.nats_url = load_settings().nats_url
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "report":
        return report(args, sys.stdout)
    return asyncio.run(train_remote(args, sys.stdout))


if __name__ == "__main__":
    raise SystemExit(main())
