"""`crm call SUBJECT [JSON]`: call a NATS request/reply endpoint as the operators' tool.

Connects as the `cli` NATS user and signs the request (`crm_kit.rpc`) for `service:cli` in
the workspace, with the roles asked for (default viewer: reads; writes need rep, manager
or admin; retraining needs admin). Prints the reply's `data` as JSON, or the error.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

import orjson
from nats.errors import Error as NatsError

from crm_kit.assertions import KeyRing
from crm_kit.context import ROLES
from crm_kit.nats_io import connect
from crm_kit.rpc import RpcError, rpc_call, service_context


async def _call(args: argparse.Namespace) -> int:
    try:
        payload = orjson.loads(args.body)
    except orjson.JSONDecodeError as error:
        print(f"crm call: the body is not JSON: {error}", file=sys.stderr)
        return 2
    if not isinstance(payload, dict):
        print("crm call: the body must be a JSON object", file=sys.stderr)
        return 2
    roles = [role.strip() for role in args.role.split(",") if role.strip()]
    if not roles or set(roles) - set(ROLES):
        print(f"crm call: roles must be some of {list(ROLES)}", file=sys.stderr)
        return 2
    try:
        nc = await connect(args.nats_url, user="cli", max_reconnect_attempts=1)
    except (NatsError, OSError, TimeoutError) as error:
        print(f"crm call: cannot reach NATS at {args.nats_url}: {error}", file=sys.stderr)
        return 2
    caller = service_context("cli", args.workspace, *roles)
    try:
        data = await rpc_call(
            nc, args.subject, caller, payload, keys=KeyRing.from_env("cli"), timeout=args.timeout
        )
    except RpcError as error:
        print(orjson.dumps({"error": {"code": error.code, "message": error.message}}).decode())
        return 1
    except (NatsError, TimeoutError) as error:
        print(f"crm call: no answer: {error}", file=sys.stderr)
        return 1
    finally:
        await nc.close()
    print(orjson.dumps({"data": data}, option=orjson.OPT_INDENT_2).decode())
    return 0


def call(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="crm call")
    parser.add_argument("subject", help="e.g. rpc.deals.deal.get")
    parser.add_argument("body", nargs="?", default="{}", help="the request, a JSON object")
    parser.add_argument("--workspace", default="demo")
    parser.add_argument("--role", default="viewer", help=f"comma-separated, from {ROLES}")
    parser.add_argument("--nats-url", default=os.environ.get("NATS_URL", "nats://127.0.0.1:4222"))
    parser.add_argument("--timeout", type=float, default=10.0)
    return asyncio.run(_call(parser.parse_args(argv)))
