"""Benchmark (issue 4): deal stage changed -> its playbook tasks queryable.

Starts its own FerretDB + NATS (crm_kit.devstack, own ports and a temporary directory) and
the tasks service as a uvicorn subprocess (`python -m crm_tasks`), all on 127.0.0.1. Then it
publishes synthetic `crm.deals.deal.stage_changed.v1` events (built with crm_contracts) on
JetStream at a steady rate, each with a playbook of three templates (two for the deal
owner, one round-robin over a team), and measures per event:

- service: publish -> all its playbook tasks returned by the subgraph (`_entities` ->
  `Deal.tasks(status: OPEN)`, one batched request per poll). Polls ask for the deals whose
  `task.created` events have all arrived (the service stores tasks before announcing them),
  plus, every `SWEEP_SECONDS`, the oldest pending deals whatever the events say, so a lost
  event cannot hide a visible deal nor make one look visible;
- service events: publish -> all its `task.created` events received (informative);
- NATS: publish -> the same message received by a plain subscriber in this process.

It prints p50/p99/max of both, their ratio, and checks every playbook task exists once.
After the load, `lists.py` times `myTasks`, `tasks(filter: {assigneeId})` and
`Contact.tasks` through the service vs the raw driver, and the read index's bytes per task
(`--list-samples 0` skips it).

    .venv/bin/python bench/tasks/run.py [--seconds 30] [--rate 50]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
for sub in ("libs", "services/tasks"):
    sys.path.insert(0, str(ROOT / sub))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("JWT_SECRET", "bench-" + secrets.token_hex(24))

import httpx  # noqa: E402
import orjson  # noqa: E402
import psutil  # noqa: E402
from lists import list_phase, print_lists  # noqa: E402
from stages import print_stages, read_notes, stage_summary, stage_times  # noqa: E402
from statements import cpu_seconds  # noqa: E402

from crm_contracts import deals  # noqa: E402
from crm_contracts import tasks as task_events  # noqa: E402
from crm_contracts.envelope import HEADER_MSG_ID, HEADER_WORKSPACE  # noqa: E402
from crm_contracts.streams import stream_for  # noqa: E402
from crm_kit.devstack import InfraStack, free_port, wait_for_port  # noqa: E402
from crm_kit.nats_io import ensure_stream  # noqa: E402
from crm_kit.testing import gateway_auth  # noqa: E402
from crm_tasks.events.examples import stage_changed  # noqa: E402

WORKSPACE = "bench"
POLL_BATCH = 200
# Each poll is one batched `_entities` request (a deal costs the service one `_id` read of
# its task list, plus one per task once listed, plus GraphQL work on the service's CPU).
# The pause between polls bounds the measurement's resolution and keeps the probe from
# becoming the load.
POLL_PAUSE = 0.1
SWEEP_SECONDS = 2.0
DRAIN_SECONDS = 180
DEAL_TASKS = """query($reps: [_Any!]!) { _entities(representations: $reps) {
  ... on Deal { id tasks(status: OPEN) { id } } } }"""


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary(name: str, values_ms: list[float]) -> dict[str, Any]:
    return {
        "name": name,
        "n": len(values_ms),
        "p50_ms": round(percentile(values_ms, 50), 2),
        "p99_ms": round(percentile(values_ms, 99), 2),
        "max_ms": round(max(values_ms), 2) if values_ms else None,
        "mean_ms": round(statistics.fmean(values_ms), 2) if values_ms else None,
    }


def start_service(
    stack: InfraStack,
    port: int,
    database: str,
    log: Path,
    metrics_port: int,
    trace: Path | None = None,
) -> subprocess.Popen:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(str(ROOT / s) for s in ("libs", "services/tasks")),
        "MONGODB_URI": stack.mongodb_uri,
        "NATS_URL": stack.nats_url,
        "TASKS_HOST": "127.0.0.1",
        "TASKS_PORT": str(port),
        "TASKS_DB": database,
        "LOG_LEVEL": "WARNING",
        # A port of this run's (the default one may be another stack's on this machine).
        "METRICS_PORT": str(metrics_port),
    }
    command = [sys.executable, "-m", "crm_tasks"]
    if trace is not None:  # the same service, a few functions wrapped to note times
        env["STAGE_TRACE_FILE"] = str(trace)
        command = [sys.executable, str(Path(__file__).resolve().parent / "stage_trace.py")]
    process = subprocess.Popen(
        command,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        cwd=ROOT,
        start_new_session=True,
    )
    wait_for_port(port, 60, process)
    return process


async def playbook_batches(metrics_port: int) -> tuple[float, float]:
    """(batches, stage changes) the playbook durable handled so far, from the service's
    metrics: a batch is one observation of its handling time."""
    async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
        text = (await client.get(f"http://127.0.0.1:{metrics_port}/metrics")).text
    batches = changes = 0.0
    for line in text.splitlines():
        if 'durable="tasks-playbooks"' not in line:
            continue
        if line.startswith("crm_consumer_handle_duration_seconds_count{"):
            batches = float(line.rsplit(" ", 1)[1])
        elif line.startswith("crm_consumer_events_total{") and 'outcome="handled"' in line:
            changes = float(line.rsplit(" ", 1)[1])
    return batches, changes


async def all_batches(metrics_ports: list[int]) -> tuple[float, float]:
    """`playbook_batches` summed over the replicas."""
    counts = [await playbook_batches(port) for port in metrics_ports]
    return sum(b for b, _ in counts), sum(c for _, c in counts)


class Bench:
    def __init__(
        self, http: httpx.AsyncClient, js: Any, team_id: str, templates: int, pause: float
    ) -> None:
        self.http = http
        self.pause = pause
        self.js = js
        self.team_id = team_id
        self.templates = templates
        self.published: dict[str, float] = {}  # deal id -> publish time
        self.nats_seen: dict[str, float] = {}  # deal id -> receive time
        self.created_events: dict[str, set[str]] = {}  # deal id -> task ids announced
        self.announced: dict[str, float] = {}  # deal id -> all its task.created received
        self.visible: dict[str, float] = {}  # deal id -> tasks visible time
        self.queries = 0
        self.warm = asyncio.Event()
        self.event_deals: dict[str, str] = {}  # event id -> deal id (the stage trace's key)

    def playbook(self) -> list[dict[str, Any]]:
        return [
            {"key": "intro-call", "title": "Intro call", "type": "call", "dueOffsetDays": 1},
            {"key": "send-deck", "title": "Send deck", "type": "email", "dueOffsetDays": 2},
            {
                "key": "sdr-research",
                "title": "Account research",
                "type": "todo",
                "assignee": {"rule": "team", "teamId": self.team_id},
            },
        ][: self.templates]

    async def publish(self, deal_id: str, **deal: Any) -> None:
        event = stage_changed(
            workspace=WORKSPACE, deal_id=deal_id, playbook=self.playbook(), **deal
        )
        headers = {HEADER_MSG_ID: event.id, HEADER_WORKSPACE: WORKSPACE}
        body = event.to_json()
        self.event_deals[event.id] = deal_id
        self.published[deal_id] = time.perf_counter()
        await self.js.publish(deals.DEAL_STAGE_CHANGED, body, headers=headers)

    async def on_nats(self, message: Any) -> None:
        now = time.perf_counter()
        deal_id = orjson.loads(message.data)["data"]["dealId"]
        self.nats_seen.setdefault(deal_id, now)

    async def on_task_created(self, message: Any) -> None:
        now = time.perf_counter()
        task = orjson.loads(message.data)["data"]["task"]
        seen = self.created_events.setdefault(task["dealId"], set())
        seen.add(task["id"])
        if len(seen) >= self.templates:
            self.announced.setdefault(task["dealId"], now)

    async def poll(self, stop: asyncio.Event) -> None:
        last_sweep = time.perf_counter()
        while not stop.is_set() or len(self.visible) < len(self.published):
            ready = [d for d in self.announced if d not in self.visible][:POLL_BATCH]
            if time.perf_counter() - last_sweep >= SWEEP_SECONDS:
                last_sweep = time.perf_counter()
                oldest = [d for d in self.published if d not in self.visible]
                ready = list(dict.fromkeys(ready + oldest[: POLL_BATCH // 4]))
            if not ready:
                await asyncio.sleep(0.002)
                continue
            pending = ready
            reps = [{"__typename": "Deal", "id": d} for d in pending]
            response = await self.http.post(
                "/graphql", json={"query": DEAL_TASKS, "variables": {"reps": reps}}
            )
            now = time.perf_counter()
            self.queries += 1
            for entity in response.json()["data"]["_entities"]:
                if len(entity["tasks"]) >= self.templates:
                    self.visible.setdefault(entity["id"], now)
                    if entity["id"] == "warmup":
                        self.warm.set()
            await asyncio.sleep(self.pause)


async def run(
    seconds: float,
    rate: float,
    templates: int,
    keep: bool,
    tmpfs: bool,
    pause: float,
    list_samples: int = 30,
    stages: bool = False,
    replicas: int = 1,
) -> dict[str, Any]:
    # --tmpfs puts FerretDB's SQLite files and JetStream on /dev/shm: no fsync per commit,
    # which shows what the service costs apart from the disk.
    tmp = Path(tempfile.mkdtemp(prefix="crm-bench-tasks-", dir="/dev/shm" if tmpfs else None))
    # Credentials of this run only; the harness user publishes the deals events.
    os.environ["CRM_DATA_DIR"] = str(tmp)
    stack = InfraStack(tmp, free_port(), free_port(), harness=True).start()
    ferretdb = psutil.Process(stack.servers[0].process.pid)
    port = free_port()
    database = f"bench_{secrets.token_hex(4)}"
    metrics_port = free_port()
    trace = tmp / "stages.jsonl" if stages else None
    service = start_service(stack, port, database, tmp / "tasks.log", metrics_port, trace)
    # More replicas share the durables (each takes its share of the stage changes, as
    # replicas of a deployment do); the bench polls the first, which sees the others'
    # writes through the change logs. Their notes go to the same trace file.
    others = [
        (
            start_service(
                stack, free_port(), database, tmp / f"tasks-{n}.log", extra_metrics, trace
            ),
            extra_metrics,
        )
        for n, extra_metrics in ((n, free_port()) for n in range(1, replicas))
    ]
    metrics_ports = [metrics_port, *(m for _, m in others)]
    nc = await stack.connect_nats()
    try:
        js = nc.jetstream()
        await ensure_stream(js, stream_for("deals"))
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}",
            auth=gateway_auth("tasks", WORKSPACE, "bench", "admin"),  # as the gateway signs
            timeout=30,
        ) as http:
            for _ in range(200):
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get("/ready")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            made = await http.post(
                "/graphql",
                json={
                    "query": 'mutation { createTeam(input: {name: "SDR", '
                    'memberIds: ["s1", "s2", "s3", "s4", "s5"]}) { id } }'
                },
            )
            team_id = made.json()["data"]["createTeam"]["id"]
            # Load the (empty) workspace's read index now, so every write of the load phase
            # pays its index refresh, as in a running service.
            await http.post("/graphql", json={"query": "{ tasks(first: 1) { totalCount } }"})
            bench = Bench(http, js, team_id, templates, pause)
            await nc.subscribe(deals.DEAL_STAGE_CHANGED, cb=bench.on_nats)
            await nc.subscribe(task_events.TASK_CREATED, cb=bench.on_task_created)

            # Warm-up: the consumer exists and a round trip works before timing starts.
            stop = asyncio.Event()
            poller = asyncio.create_task(bench.poll(stop))
            await bench.publish("warmup")
            await asyncio.wait_for(bench.warm.wait(), timeout=60)
            for table in (bench.published, bench.nats_seen, bench.visible, bench.announced):
                table.pop("warmup", None)

            total = int(seconds * rate)
            processes = {"service": psutil.Process(service.pid), "ferretdb": ferretdb}
            for n, (other, _) in enumerate(others, start=1):
                processes[f"service-{n}"] = psutil.Process(other.pid)
            cpu_before = {name: cpu_seconds(p) for name, p in processes.items()}
            batches_before = await all_batches(metrics_ports)
            start = time.perf_counter()
            for i in range(total):
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                await bench.publish(f"deal-{i:06d}")
            publish_seconds = time.perf_counter() - start
            stop.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(poller, timeout=DRAIN_SECONDS)
            poller.cancel()
            drained_seconds = max(bench.visible.values(), default=start) - start
            # Per stage change handled (a backlog left at the drain's end did part of its
            # work only: the figure is then approximate).
            handled = max(len(bench.visible), 1)
            cpu_ms = {
                name: round((cpu_seconds(p) - cpu_before[name]) * 1000 / handled, 2)
                for name, p in processes.items()
            }

            batches_after = await all_batches(metrics_ports)
            batches = batches_after[0] - batches_before[0]
            batch_changes = batches_after[1] - batches_before[1]
            count = await http.post(
                "/graphql",
                json={"query": "{ tasks(first: 1) { totalCount } }"},
            )
            total_tasks = count.json()["data"]["tasks"]["totalCount"]
            assignees = await http.post(
                "/graphql",
                json={
                    "query": "query($t: ID!) { tasks(filter: {teamId: $t}, first: 1) "
                    "{ totalCount } }",
                    "variables": {"t": team_id},
                },
            )
            team_tasks = assignees.json()["data"]["tasks"]["totalCount"]
        lists = None
        if list_samples > 0:

            async def seed(contact: str, deals: int) -> int:
                for n in range(deals):
                    deal_id = f"{contact}-deal-{n}"
                    await bench.publish(deal_id, primary_contact_id=contact)
                    bench.published.pop(deal_id)  # not part of the load's figures
                return deals * templates

            lists = await list_phase(
                f"http://127.0.0.1:{port}",
                stack.mongodb_uri,
                database,
                WORKSPACE,
                owner="owner-1",
                member="s1",
                samples=list_samples,
                seed=seed,
            )

        service_ms = [
            (bench.visible[d] - t) * 1000 for d, t in bench.published.items() if d in bench.visible
        ]
        nats_ms = [
            (bench.nats_seen[d] - t) * 1000
            for d, t in bench.published.items()
            if d in bench.nats_seen
        ]
        announced_ms = [
            (bench.announced[d] - t) * 1000
            for d, t in bench.published.items()
            if d in bench.announced
        ]
        stage_stats = None
        if trace is not None:
            # perf_counter -> this machine's wall clock, the service's notes' (one offset
            # for the run: minutes of drift between the two clocks are far below a ms).
            wall = time.time() - time.perf_counter()

            def walled(table: dict[str, float]) -> dict[str, float]:
                return {deal: at + wall for deal, at in table.items()}

            stage_stats = stage_summary(
                stage_times(
                    walled(bench.published),
                    read_notes(trace, bench.event_deals),
                    walled(bench.announced),
                    walled(bench.visible),
                )
            )
        service_stats = summary("publish -> playbook tasks queryable", service_ms)
        announced_stats = summary("publish -> task.created events received", announced_ms)
        nats_stats = summary("NATS publish -> receive", nats_ms)
        result = {
            "events": total,
            "rate_target": rate,
            "rate_achieved": round(total / publish_seconds, 1),
            "templates_per_event": templates,
            "tasks_expected": total * templates + templates,  # + the warm-up event
            "tasks_found": total_tasks,
            "team_tasks": team_tasks,
            "events_not_visible": total - len(service_ms),
            "poll_requests": bench.queries,
            "seconds_until_last_visible": round(drained_seconds, 1),
            "throughput_events_per_s": round(len(service_ms) / max(drained_seconds, 1e-6), 1),
            # CPU per stage change from the first publish until the last playbook was
            # visible (the relay's and the scheduler's work meanwhile included): unlike
            # latencies, it hardly depends on what else the machine runs.
            "cpu_ms_per_change": cpu_ms,
            # The consumer's playbook batches over the load (its metrics): how many, and
            # how many stage changes each held on average.
            "playbook_batches": int(batches),
            "changes_per_batch": round(batch_changes / max(batches, 1), 2),
            "load_average": [round(n, 2) for n in os.getloadavg()],
            "service": service_stats,
            "announced": announced_stats,
            "nats": nats_stats,
            "ratio_p50": round(service_stats["p50_ms"] / max(nats_stats["p50_ms"], 1e-6), 1),
            "ratio_p99": round(service_stats["p99_ms"] / max(nats_stats["p99_ms"], 1e-6), 1),
            "lists": lists,
            "stages": stage_stats,
        }
        return result
    finally:
        with contextlib.suppress(Exception):
            await nc.close()
        for process in (service, *(other for other, _ in others)):
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
        stack.stop()
        if not keep:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # runs the clean-up (`finally`) on SIGTERM as on Ctrl-C


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _interrupt)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=50.0, help="stage changes per second")
    parser.add_argument("--templates", type=int, default=3, choices=(1, 2, 3))
    parser.add_argument("--keep", action="store_true", help="keep the temporary data and logs")
    parser.add_argument(
        "--tmpfs", action="store_true", help="FerretDB and NATS data on /dev/shm (no fsync)"
    )
    parser.add_argument(
        "--poll-pause",
        type=float,
        default=POLL_PAUSE,
        help="seconds between visibility polls (resolution vs. probe load)",
    )
    parser.add_argument(
        "--list-samples", type=int, default=30, help="timed list queries of each kind (0: none)"
    )
    parser.add_argument(
        "--stages",
        action="store_true",
        help="the service noting when each step happened (stage_trace.py): where the time goes",
    )
    parser.add_argument(
        "--replicas", type=int, default=1, choices=(1, 2, 3), help="tasks service processes"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object only")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.seconds > 600 or args.rate <= 0 or args.rate > 1000:
        parser.error("bounded: 0 < seconds <= 600, 0 < rate <= 1000")
    result = asyncio.run(
        run(
            args.seconds,
            args.rate,
            args.templates,
            args.keep,
            args.tmpfs,
            args.poll_pause,
            max(0, min(args.list_samples, 500)),
            args.stages,
            args.replicas,
        )
    )
    result["poll_pause_s"] = args.poll_pause
    result["storage"] = "tmpfs" if args.tmpfs else "disk"
    if args.json:
        print(json.dumps(result))
        return 0
    print(
        f"tasks bench: {result['events']} stage changes at {result['rate_achieved']}/s "
        f"(target {args.rate}/s), {args.templates} playbook tasks each, "
        f"data on {result['storage']}"
    )
    print(f"{'measure':40} {'n':>6} {'p50 ms':>9} {'p99 ms':>9} {'max ms':>9}")
    for key in ("service", "announced", "nats"):
        s = result[key]
        print(f"{s['name']:40} {s['n']:>6} {s['p50_ms']:>9} {s['p99_ms']:>9} {s['max_ms']:>9}")
    print(f"ratio service/NATS: p50 x{result['ratio_p50']}, p99 x{result['ratio_p99']}")
    found, expected = result["tasks_found"], result["tasks_expected"]
    ok = found == expected and not result["events_not_visible"]
    if ok:
        verdict = "each once"
    elif found > expected:
        verdict = "DUPLICATES"
    else:
        verdict = (
            f"backlog: {result['events_not_visible']} stage changes not yet handled when the "
            f"{DRAIN_SECONDS} s drain window closed"
        )
    print(
        f"tasks: {found} found / {expected} expected ({verdict}); "
        f"poll requests: {result['poll_requests']}"
    )
    print(
        f"service throughput: {result['throughput_events_per_s']} stage changes/s "
        f"(last playbook visible {result['seconds_until_last_visible']} s after the first "
        "publish)"
    )
    print(
        f"playbook batches: {result['playbook_batches']}, "
        f"{result['changes_per_batch']} stage changes each on average"
    )
    cpu = result["cpu_ms_per_change"]
    replicas = "".join(f", {name} {ms}" for name, ms in cpu.items() if name.startswith("service-"))
    print(
        f"CPU ms per stage change: service {cpu['service']}{replicas}, "
        f"FerretDB {cpu['ferretdb']}; load average {' '.join(map(str, result['load_average']))}"
    )
    if result["stages"] is not None:
        print_stages(result["stages"])
    if result["lists"] is not None:
        print_lists(result["lists"])
    print(json.dumps(result))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
