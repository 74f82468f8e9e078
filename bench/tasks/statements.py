"""Database statements per stage change on the playbook hot path (issue 11: the write path
must keep this count).

On FerretDB's SQLite backend every write goes through one writer, so the hot path's
throughput is set by its number of write statements. This starts its own FerretDB + NATS
(crm_kit.devstack, 127.0.0.1, a temporary directory), runs the tasks app in this process
with a pymongo command listener, publishes `--changes` synthetic stage changes (three
playbook templates each: two for the deal owner, one round robin over a team, as
`run.py`), waits until every `task.created` event has arrived and the writes have
settled (the relay's clean-up), and prints the commands per stage change by command and
collection: writes (insert, update, delete, findAndModify) and reads, and the CPU time
this process spent per stage change (the service's work, plus this script's publishing
and listening: the same for every version measured). Statements and CPU time, unlike
latencies, hardly move with the load other programs put on the machine.

    .venv/bin/python bench/tasks/statements.py [--changes 50] [--rate 0] [--rules 0]
        [--profile auto|mongodb]

`--rules N` stores N automation rules in other workspaces first (`RULES_PER_WORKSPACE`
each, stage-change and overdue triggers, as other tenants have): on FerretDB a read of a
workspace's rules by trigger reads every workspace's.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import secrets
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
for sub in ("libs", "services/tasks"):
    sys.path.insert(0, str(ROOT / sub))
os.environ.setdefault("JWT_SECRET", "bench-" + secrets.token_hex(24))

import orjson  # noqa: E402
import psutil  # noqa: E402
from pymongo import monitoring  # noqa: E402

from crm_contracts import deals  # noqa: E402
from crm_contracts import tasks as task_events  # noqa: E402
from crm_contracts.envelope import HEADER_MSG_ID, HEADER_WORKSPACE  # noqa: E402
from crm_kit.devstack import InfraStack, free_port  # noqa: E402
from crm_kit.settings import Settings  # noqa: E402
from crm_kit.testing import GraphQLClient, eventually, gateway_auth, running_app  # noqa: E402
from crm_tasks.app import create_app  # noqa: E402
from crm_tasks.entrypoints import consumers  # noqa: E402
from crm_tasks.events.examples import stage_changed  # noqa: E402

WORKSPACE = "bench"
WRITES = {"insert", "update", "delete", "findAndModify"}
READS = {"find", "getMore", "count", "aggregate", "distinct"}
SETTLE_SECONDS = 1.5
# Documents FerretDB v1.24 inserts in one SQLite transaction (its handler's default batch
# size, `handler/msg_insert.go`).
INSERT_BATCH = 100
RULES_PER_WORKSPACE = 10


def commits_of(name: str, command: Mapping[str, Any]) -> int:
    """The SQLite transactions FerretDB v1.24's SQLite backend commits for a write command
    (each one a fsync of the WAL on disk with SQLite's default `synchronous=FULL`): an
    insert one per `INSERT_BATCH` documents (`InsertAll`), an update one per update it
    holds (`UpdateAll` per update: a grouped statement is not one transaction), a delete
    one per delete, a findAndModify one."""
    if name == "insert":
        return max(1, -(-len(command.get("documents") or []) // INSERT_BATCH))
    if name == "update":
        return len(command.get("updates") or []) or 1
    if name == "delete":
        return len(command.get("deletes") or []) or 1
    return 1 if name == "findAndModify" else 0


class Commands(monitoring.CommandListener):
    """Counts the commands sent to the database, by (command, collection), and the SQLite
    transactions they cost FerretDB (`commits_of`)."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()
        self.commits = 0
        self.last_write = time.monotonic()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        name = event.command_name
        if name in WRITES or name in READS:
            target = event.command.get(name)
            collection = target if isinstance(target, str) else "(cursor)"
            self.counts[(name, collection)] += 1
            if name in WRITES:
                self.commits += commits_of(name, event.command)
                self.last_write = time.monotonic()

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        return None

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        return None


def playbook(team_id: str) -> list[dict[str, Any]]:
    return [
        {"key": "intro-call", "title": "Intro call", "type": "call", "dueOffsetDays": 1},
        {"key": "send-deck", "title": "Send deck", "type": "email", "dueOffsetDays": 2},
        {
            "key": "sdr-research",
            "title": "Account research",
            "type": "todo",
            "assignee": {"rule": "team", "teamId": team_id},
        },
    ]


async def store_rules(mongodb_uri: str, database: str, count: int) -> None:
    """`count` rules of other workspaces (the bench's has none: its events run no rule)."""
    from pymongo import AsyncMongoClient

    from crm_tasks.domain.rule import Action, Rule
    from crm_tasks.store.documents import RULE

    triggers = ("deal_stage_changed", "task_overdue")
    rules = [
        RULE.to_doc(
            Rule(
                f"{n:024x}",
                f"tenant-{n // RULES_PER_WORKSPACE:04d}",
                f"rule {n}",
                triggers[n % 2],
                [],
                [Action("notify", title="Look at {{deal.title}}", user_id="u1")],
            )
        )
        for n in range(count)
    ]
    client: AsyncMongoClient[Any] = AsyncMongoClient(mongodb_uri)
    try:
        if rules:
            await client[database]["automation_rules"].insert_many(rules)
    finally:
        await client.close()


def count_batches() -> list[int]:
    """The stage changes of each playbook batch from now on (the consumer's batches, by the
    module global its batch handler calls)."""
    sizes: list[int] = []
    apply = consumers.apply_playbooks

    async def counted(scope: Any, changes: list[Any]) -> None:
        sizes.append(len(changes))
        await apply(scope, changes)

    consumers.apply_playbooks = counted  # type: ignore[assignment]
    return sizes


async def measure(
    changes: int, profile: str, cprofile: str | None = None, rate: float = 0.0, rules: int = 0
) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="crm-bench-statements-"))
    os.environ["CRM_DATA_DIR"] = str(tmp)
    stack = InfraStack(tmp, free_port(), free_port(), harness=True).start()
    ferretdb = psutil.Process(stack.servers[0].process.pid)
    commands = Commands()
    monitoring.register(commands)  # every client created from now on (the app's)
    batches = count_batches()
    nc = await stack.connect_nats()
    try:
        settings = Settings(
            service="tasks",
            mongodb_uri=stack.mongodb_uri,
            database=f"bench_{secrets.token_hex(4)}",
            nats_url=stack.nats_url,
            database_profile=profile,
        )
        await store_rules(stack.mongodb_uri, settings.database, rules)
        announced: Counter[str] = Counter()

        async def on_created(message: Any) -> None:
            announced[orjson.loads(message.data)["data"]["task"]["dealId"]] += 1

        await nc.subscribe(task_events.TASK_CREATED, cb=on_created)
        js = nc.jetstream()
        async with running_app(create_app(settings)) as http:
            client = GraphQLClient(http, gateway_auth("tasks", WORKSPACE, "bench", "admin"))
            made = await client.data(
                'mutation { createTeam(input: {name: "SDR", memberIds: ["s1", "s2", "s3"]}) '
                "{ id } }"
            )
            templates = playbook(made["createTeam"]["id"])
            # The read index loaded, the consumers bound: what a running service pays.
            await client.data("{ tasks(first: 1) { totalCount } }")

            async def publish(deal_id: str) -> None:
                event = stage_changed(workspace=WORKSPACE, deal_id=deal_id, playbook=templates)
                headers = {HEADER_MSG_ID: event.id, HEADER_WORKSPACE: WORKSPACE}
                await js.publish(deals.DEAL_STAGE_CHANGED, event.to_json(), headers=headers)

            async def settled() -> bool:
                return time.monotonic() - commands.last_write > SETTLE_SECONDS

            await publish("warmup")
            await eventually(lambda: _ready(announced, ["warmup"]), timeout=60, what="warm-up")
            await eventually(settled, timeout=60, what="writes settled")
            commands.counts.clear()
            commands.commits = 0
            batches.clear()

            deal_ids = [f"deal-{i:04d}" for i in range(changes)]
            # CPU time, not wall time: on a loaded machine a socket send waits for the core.
            profiler = cProfile.Profile(time.process_time) if cprofile else None
            if profiler is not None:
                profiler.enable()
            cpu = time.process_time()
            db_cpu = cpu_seconds(ferretdb)
            started = time.monotonic()
            for n, deal_id in enumerate(deal_ids):
                if rate > 0:  # paced: the consumer's batches as a steady rate makes them
                    await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))
                await publish(deal_id)
            await eventually(lambda: _ready(announced, deal_ids), timeout=300, what="playbooks")
            cpu = time.process_time() - cpu
            await eventually(settled, timeout=60, what="writes settled")
            if profiler is not None and cprofile:
                profiler.disable()
                profiler.dump_stats(cprofile)
            # FerretDB's share includes the settling writes (the relay's, the scheduler's).
            db_cpu = cpu_seconds(ferretdb) - db_cpu
            counted = Counter(commands.counts)
            commits = commands.commits
            sizes = list(batches)
    finally:
        await nc.close()
        stack.stop()
    per_change, writes, reads = per_operation(counted, changes)
    return {
        "changes": changes,
        "rate": rate or None,
        "rules": rules,
        "profile": profile,
        "writes_per_change": round(writes, 2),
        "reads_per_change": round(reads, 2),
        "commits_per_change": round(commits / changes, 2),
        "cpu_ms_per_change": round(cpu * 1000 / changes, 2),
        "ferretdb_cpu_ms_per_change": round(db_cpu * 1000 / changes, 2),
        "batches": len(sizes),
        "changes_per_batch": round(sum(sizes) / max(1, len(sizes)), 2),
        "batch_sizes": dict(sorted(Counter(sizes).items())),
        "load_average": [round(n, 2) for n in os.getloadavg()],
        "per_change": per_change,
    }


def per_operation(
    counted: Counter[tuple[str, str]], operations: int
) -> tuple[dict[str, float], float, float]:
    """Commands per operation by command and collection, and writes and reads per
    operation."""
    per = {
        f"{name} {collection}": round(n / operations, 2)
        for (name, collection), n in sorted(counted.items())
    }
    writes = sum(n for (name, _), n in counted.items() if name in WRITES) / operations
    reads = sum(n for (name, _), n in counted.items() if name in READS) / operations
    return per, writes, reads


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


async def _ready(announced: Counter[str], deal_ids: list[str]) -> bool:
    return all(announced[deal_id] >= 3 for deal_id in deal_ids)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--changes", type=int, default=50)
    parser.add_argument("--profile", default="auto", choices=("auto", "mongodb", "ferretdb"))
    parser.add_argument(
        "--cprofile",
        metavar="PATH",
        help="write a cProfile (CPU time) of this process, the service, over the stage changes "
        "to PATH (its overhead inflates the CPU figures printed by that run)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="stage changes published per second (0: as fast as the bench publishes; a "
        "steady rate gives the consumer the small batches of run.py's load)",
    )
    parser.add_argument(
        "--rules",
        type=int,
        default=0,
        help="automation rules stored in other workspaces first (what a read of the bench "
        "workspace's rules scans on FerretDB)",
    )
    args = parser.parse_args(argv)
    if not 0 < args.changes <= 1000 or not 0 <= args.rate <= 1000 or not 0 <= args.rules <= 10000:
        parser.error("bounded: 0 < changes <= 1000, 0 <= rate <= 1000, 0 <= rules <= 10000")
    result = asyncio.run(measure(args.changes, args.profile, args.cprofile, args.rate, args.rules))
    paced = f", {args.rate:g}/s" if args.rate else ""
    paced += f", {args.rules} rules elsewhere" if args.rules else ""
    print(f"tasks playbook statements ({result['changes']} stage changes{paced}, {args.profile}):")
    for key, value in result["per_change"].items():
        print(f"  {key:40} {value:>6}")
    print(f"writes per stage change: {result['writes_per_change']}")
    print(f"reads per stage change:  {result['reads_per_change']}")
    print(
        f"SQLite transactions (commits) per stage change: {result['commits_per_change']} "
        "(a fsync each on disk: `commit_latency.py`)"
    )
    print(f"CPU ms per stage change: {result['cpu_ms_per_change']} (this process)")
    print(f"FerretDB CPU ms per stage change: {result['ferretdb_cpu_ms_per_change']}")
    print(
        f"playbook batches: {result['batches']}, {result['changes_per_batch']} stage changes "
        f"each on average (size: count {result['batch_sizes']})"
    )
    print(f"load average: {' '.join(map(str, result['load_average']))}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
