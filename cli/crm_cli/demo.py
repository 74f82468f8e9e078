"""`crm demo`: load the public CRM dataset as demo data. Every importer is idempotent, so
running it again adds nothing twice; a marker file only saves the time of re-checking."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
from pathlib import Path

from crm_kit.paths import data_dir, demo_dataset_dir


# (module, argv) in dependency order: deals resolve companies, the win model needs the
# deals; tasks need no other.
def _steps(workspace: str, data: Path) -> list[tuple[str, list[str]]]:
    ws = ["--workspace", workspace]
    return [
        (
            "crm_contacts.importer",
            ["companies", str(data / "accounts.csv"), *ws, "--with-demo-contacts"],
        ),
        ("crm_deals.importer", ["deals", str(data / "sales_pipeline.csv"), *ws]),
        # The win model learns from the imported closed deals and estimates the open ones
        # (asks the running deals service, which applies it under its document locks).
        ("crm_deals.win_model_cli", ["train", *ws]),
        ("crm_tasks.demo", ["teams", str(data / "sales_teams.csv"), *ws]),
    ]


def load_demo(argv: list[str], env: dict[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="crm demo")
    parser.add_argument("--workspace", default="demo")
    parser.add_argument("--force", action="store_true", help="re-run even if loaded before")
    args = parser.parse_args(argv)
    if env:
        os.environ.update({k: v for k, v in env.items() if k in ("MONGODB_URI", "NATS_URL")})
    data = demo_dataset_dir()
    if not data.exists():
        print(f"crm demo: dataset not found at {data}; set CRM_DEMO_DATA_DIR")
        return 1
    marker = data_dir() / f"demo-loaded-{args.workspace}"
    if marker.exists() and not args.force:
        print(f"demo data for workspace {args.workspace!r} already loaded ({marker})")
        return 0
    failures = 0
    for module_name, step_argv in _steps(args.workspace, data):
        if importlib.util.find_spec(module_name) is None:
            print(f"crm demo: {module_name} not available yet; skipped")
            continue
        print(f"loading demo data: {step_argv[0]} ...", flush=True)
        module = importlib.import_module(module_name)
        code = int(module.main(step_argv))
        if code != 0:
            print(f"crm demo: {module_name} exited {code}")
            failures += 1
    if failures == 0:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text("loaded\n")
    return 1 if failures else 0
