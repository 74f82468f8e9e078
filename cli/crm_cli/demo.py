"""`crm demo`: load the public CRM dataset as demo data, then tell the demo's story through
the gateway (`demo_story`: deals moving, playbook tasks, overdue work for the demo users).
Every step is idempotent, so running it again adds nothing twice; a marker file only saves
the time of re-checking. Open deals get expected close dates over the coming six months so
the forecast has months to show."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
from pathlib import Path

from crm_kit.paths import data_dir, demo_dataset_dir

# The dataset ends in 2017: its dates move so the latest is today, and open deals get
# expected close dates over the coming six months.
DEMO_DATES = ["--shift-dates-to-today", "--spread-expected-close", "6"]


# (module, argv) in dependency order: deals resolve companies, the win model needs the
# deals; tasks need no other.
def _steps(workspace: str, data: Path) -> list[tuple[str, list[str]]]:
    ws = ["--workspace", workspace]
    return [
        (
            "crm_contacts.importer",
            ["companies", str(data / "accounts.csv"), *ws, "--with-demo-contacts"],
        ),
        (
            "crm_deals.importer",
            ["deals", str(data / "sales_pipeline.csv"), *ws, *DEMO_DATES],
        ),
        # The win model learns from the imported closed deals and estimates the open ones
        # (asks the running deals service, which applies it under its document locks).
        ("crm_deals.win_model_cli", ["train", *ws]),
        ("crm_tasks.demo", ["teams", str(data / "sales_teams.csv"), *ws]),
    ]


def load_demo(argv: list[str], env: dict[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="crm demo")
    parser.add_argument("--workspace", default="demo")
    parser.add_argument("--force", action="store_true", help="re-run even if loaded before")
    parser.add_argument(
        "--gateway-url",
        default="http://127.0.0.1:4000/graphql",
        help="the running gateway, for the story step (skipped when unreachable)",
    )
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
        failures += _story(args.gateway_url, args.workspace)
    if failures == 0:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text("loaded\n")
    return 1 if failures else 0


def _story(gateway_url: str, workspace: str) -> int:
    """The story step; 1 on failure (the marker is then not written, so a re-run retries)."""
    import httpx

    from .demo_story import StoryError, tell_story

    print("loading demo data: story (deals moving, tasks) ...", flush=True)
    try:
        made = tell_story(gateway_url, workspace)
    except (httpx.HTTPError, StoryError) as error:
        print(f"crm demo: the story step failed ({error}); is the gateway up at {gateway_url}?")
        return 1
    print(f"story: {made} deals, moves and tasks made")
    return 0
