"""`python -m crm_deals.win_model_cli`: train the win model, or measure it offline.

train [--workspace demo] [--pipeline ID] [--nats-url ...]
    asks the running deals service (`rpc.deals.win_model.train`) to train the
    pipeline's model and apply it to the open deals; `crm demo` runs it after the import.
report FILE [--products products.csv] [--accounts accounts.csv] [--now 2018-01-01] [--json]
    reads a CSV as `crm load deals` would (same mapping; company facts from the accounts
    file), trains the default pipeline's model in memory and prints its status, feature
    importances and the backtest against both baselines; no database, no service.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import TextIO

import orjson

from crm_contracts.deals import RPC_WIN_MODEL_TRAIN
from crm_kit.clock import parse_iso, utcnow

from .config import load_settings
from .domain.default_pipeline import default_pipeline
from .domain.win_features import CompanyFact, DealHistory
from .domain.win_metrics import Scores
from .domain.win_model import WinModel
from .domain.win_training import train
from .importer import ImportReport, Options, RowMapper, mapped_rows, read_products
from .store.model_documents import win_model_to_doc

TRAIN_TIMEOUT = 600.0


def histories_from_csv(
    path: Path, products: Path | None, accounts: Path | None, now: datetime
) -> tuple[list[DealHistory], dict[str, CompanyFact]]:
    """The deals `crm load deals FILE` would create, as the model sees them, and the
    companies' facts from an accounts file (Maven columns `account`, `sector`,
    `employees`), keyed by account name (the company id stands in for it here)."""
    pipeline = default_pipeline("report", now)
    options = Options(column_map={}, stage_map={}, prices=read_products(products))
    mapper = RowMapper(options, pipeline, "report", now)
    report = ImportReport()
    facts: dict[str, CompanyFact] = {}
    if accounts is not None and accounts.exists():
        with accounts.open(newline="", encoding="utf-8-sig") as handle:
            for row in csv.DictReader(handle):
                size = (row.get("employees") or "").strip()
                facts[row["account"].strip()] = CompanyFact(
                    (row.get("sector") or "").strip().lower() or None,
                    int(size) if size.isdigit() else None,
                )
    with path.open(newline="", encoding="utf-8-sig") as handle:
        rows = mapped_rows(csv.DictReader(handle), {})
    histories = []
    names = {name: name for name in facts}
    for index, values in enumerate(rows, start=1):
        deal = mapper.map_row(values, index, report, names)
        if deal is not None:
            histories.append(DealHistory.of(deal))
    return histories, facts


def _scores_line(name: str, s: Scores) -> str:
    auc = "-" if s.auc is None else f"{s.auc:.4f}"
    return (
        f"  {name:<16} Brier {s.brier:.4f}  log loss {s.log_loss:.4f}  AUC {auc}  ECE {s.ece:.4f}\n"
    )


def render(model: WinModel, out: TextIO) -> None:
    t = model.training
    out.write(
        f"status: {model.status}; horizon {model.horizon_days} days; trained on {t.rows} "
        f"snapshots of open deals ({t.won_rows} won, every {t.step_days} days; "
        f"{t.censored_rows} censored) from {t.dated_closed_deals} dated closed deals "
        f"({t.closed_deals} closed, {t.deals} deals)\n"
    )
    for note in (*model.reasons, *model.warnings):
        out.write(f"  {note.code}: {note.message}\n")
    if model.importances:
        out.write("feature importances (mean |log-odds|): ")
        out.write(", ".join(f"{f} {v:.3f}" for f, v in model.importances) + "\n")
    e = model.evaluation
    if e is None:
        out.write("backtest: none\n")
        return
    out.write(
        f"backtest: {len(e.folds)} cut-offs, {e.model.rows} predictions of open deals, "
        f"{e.censored_deals} censored\n"
    )
    out.write(_scores_line("model", e.model))
    out.write(_scores_line("constant rate", e.constant))
    out.write(_scores_line("stage defaults", e.stage_defaults))
    out.write("  reliability (model; predicted range: mean predicted, won share, count):\n")
    for b in e.model.reliability:
        out.write(
            f"    {b.lower:.1f}-{b.upper:.1f}: {b.mean_predicted:.3f}, {b.won_share:.3f}, "
            f"{b.count}\n"
        )


def report(args: argparse.Namespace, out: TextIO) -> int:
    if not args.file.exists():
        sys.stderr.write(f"no such file: {args.file}\n")
        return 2
    now = parse_iso(args.now) if args.now else utcnow()
    histories, facts = histories_from_csv(
        args.file,
        args.products or args.file.with_name("products.csv"),
        args.accounts or args.file.with_name("accounts.csv"),
        now,
    )
    model = train(default_pipeline("report", now), histories, now, companies=facts)
    if args.json:
        out.write(orjson.dumps(win_model_to_doc(model), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        render(model, out)
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
    out.write(
        f"win model v{data.get('version')} ({data.get('status')}"
        f"{' ' + ', '.join(data.get('reasons') or []) if data.get('reasons') else ''}) "
        f"trained on {data['trainingDeals']} dated closed deals; backtest Brier "
        f"{data.get('brierScore')} vs constant {data.get('constantBrierScore')} vs stage "
        f"defaults {data.get('baselineBrierScore')}; {data['dealsUpdated']} open deals updated\n"
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
    r.add_argument("--accounts", type=Path, help="accounts CSV (default: beside FILE)")
    r.add_argument(
        "--now", help="YYYY-MM-DD: what is known at (default: today; the demo data ends 2018-01-01)"
    )
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
