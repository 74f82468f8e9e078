"""Command dispatch. Each service owns its importer; this module only routes to them, so
the CLI stays thin and the services stay independent of each other."""

from __future__ import annotations

import argparse
import importlib
import sys

from crm_kit.auth import issue_token
from crm_kit.context import ROLES

# `crm load <kind>` -> the module whose main(argv) loads that kind straight into its
# service's database (the demo's bulk loaders; `crm import` goes through the API).
LOADERS = {
    "companies": "crm_contacts.importer",
    "deals": "crm_deals.importer",
    "teams": "crm_tasks.demo",
}

USAGE = """usage: crm <command> [options]

commands:
  token [--workspace W] [--subject S] [--role R]   print a development bearer token
  import TYPE FILE [options]                       import a CSV/XLSX file through the import
                                                   API (companies, contacts, deals,
                                                   interactions, tasks); prints the counts
                                                   and each row's issues
  import undo JOB                                  remove what an import created
  import teams FILE [options]                      sales teams (tasks service; no API type)
  load companies|deals|teams FILE [options]        bulk-load straight into the owning
                                                   service's database (the demo's loaders)
  run                                              start the whole local stack
  call SUBJECT [JSON] [--workspace W] [--role R]   call a NATS endpoint (signed, as `cli`)
  demo                                             load the demo data into a running stack

`crm import TYPE FILE --help` and `crm load <kind> --help` list the options.
"""


def _token(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="crm token")
    parser.add_argument("--workspace", default="demo")
    parser.add_argument("--subject", default="admin")
    parser.add_argument("--role", default="admin", help=f"comma-separated, from {ROLES}")
    parser.add_argument("--ttl-days", type=int, default=30)
    args = parser.parse_args(argv)
    roles = [role.strip() for role in args.role.split(",") if role.strip()]
    try:
        token = issue_token(args.workspace, args.subject, roles, args.ttl_days * 24 * 3600)
    except ValueError as error:
        print(f"crm token: {error}", file=sys.stderr)
        return 2
    print(f"workspace={args.workspace} subject={args.subject} roles={','.join(roles)}")
    print(token)
    return 0


def _import(argv: list[str]) -> int:
    if argv[:1] == ["teams"]:
        return _load(argv)
    from .imports import main as import_main

    return import_main(argv)


def _load(argv: list[str]) -> int:
    if not argv or argv[0] not in LOADERS:
        print(f"crm load: expected one of {sorted(LOADERS)}", file=sys.stderr)
        return 2
    module = importlib.import_module(LOADERS[argv[0]])
    return int(module.main(argv))


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    command, rest = argv[0], argv[1:]
    if command == "token":
        return _token(rest)
    if command == "import":
        return _import(rest)
    if command == "load":
        return _load(rest)
    if command == "run":
        from .stack import run_stack

        return run_stack(rest)
    if command == "call":
        from .call import call

        return call(rest)
    if command == "demo":
        from .demo import load_demo

        return load_demo(rest)
    print(f"crm: unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
    return 2


def cli() -> None:
    """The `crm` console script."""
    sys.exit(main(sys.argv[1:]))
