"""Where a read's cost goes, on a stack `serve.py` serves: per request, the CPU of every
process and FerretDB's commands, net of what the stack does with no requests at all.

    .venv/bin/python bench/scale/probe.py --reuse DIR --size 10000 [--idle 60]
        [--samples 20] [--ops board,board-bare,board-totals,search,search-bare]

First an idle window (no requests): each process's CPU per second and FerretDB's commands
per second (relay sweeps, safety rebuilds, snapshot writes, consumers' pulls). Then each
operation `--samples` times, one at a time as one manager: p50/p95, and per request the
CPU milliseconds of each process and FerretDB's commands by name, the idle rates times
the operation's duration taken off. The variants of the board and of the search leave
fields out, to split a request's cost between the services it reaches: `board-bare` the
cards without their company (contacts) and open tasks (tasks), `board-company` and
`board-tasks` with one of the two, `board-totals` the
columns' counts and sums alone; `search-bare` the contacts without their company."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
for path in (ROOT / "bench" / "load", ROOT / "bench" / "import", HERE):
    sys.path.insert(0, str(path))
sys.path.insert(0, str(ROOT / "libs"))

import httpx  # noqa: E402
import kept  # noqa: E402
import orjson  # noqa: E402
import psutil  # noqa: E402
from documents import document  # noqa: E402
from measure import percentile  # noqa: E402
from probes import SEARCH_TERMS  # noqa: E402

from crm_kit.auth import issue_token  # noqa: E402

REQUEST_TIMEOUT = 120.0
METRIC = "ferretdb_client_requests_total{"
# Handshakes and pings every client sends on its own schedule: not a request's work.
HOUSEKEEPING = {"hello", "ismaster", "ping", "buildInfo", "endSessions"}


def _without(text: str, *fields: str) -> str:
    """`text` (a document) with each `field { ... }` selection (one level of braces) left
    out."""
    for name in fields:
        text = re.sub(rf"\n\s*{name}(\([^)]*\))?\s*\{{[^{{}}]*\}}", "", text)
    return text


def documents() -> dict[str, tuple[str, str]]:
    """Operation name -> (document, GraphQL operation name)."""
    board = document("Board")
    search = document("ContactsList")
    totals = (
        "query BoardTotals($pipelineId: ID) { pipelineBoard(pipelineId: $pipelineId) {"
        " currency columns { stage { key } count totalAmount weightedAmount } } }"
    )
    return {
        "board": (board, "Board"),
        "board-bare": (_without(board, "company", "tasks"), "Board"),
        "board-company": (_without(board, "tasks"), "Board"),
        "board-tasks": (_without(board, "company"), "Board"),
        "board-totals": (totals, "BoardTotals"),
        "search": (search, "ContactsList"),
        "search-bare": (_without(search, "company"), "ContactsList"),
    }


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    found: dict[str, float] = {}
    for name, pid in pids.items():
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue
        found[name] = times.user + times.system
    return found


def commands(http: httpx.Client, url: str) -> Counter[str]:
    found: Counter[str] = Counter()
    for line in http.get(url).text.splitlines():
        if line.startswith(METRIC):
            name = line.split('command="', 1)[1].split('"', 1)[0]
            found[name] += int(float(line.rsplit(" ", 1)[1]))
    return found


CURSORS = "ferretdb_cursors_duration_seconds_"


def cursors(http: httpx.Client, url: str) -> dict[str, tuple[float, float]]:
    """FerretDB's cursors by database.collection: (opened, seconds open in all)."""
    found: dict[str, list[float]] = {}
    for line in http.get(url).text.splitlines():
        if not line.startswith(CURSORS) or "_bucket{" in line:
            continue
        labels, value = line.rsplit(" ", 1)
        collection = labels.split('collection="', 1)[1].split('"', 1)[0]
        db = labels.split('db="', 1)[1].split('"', 1)[0]
        slot = 0 if labels.startswith(CURSORS + "count") else 1
        found.setdefault(f"{db}.{collection}", [0.0, 0.0])[slot] += float(value)
    return {k: (v[0], v[1]) for k, v in found.items()}


class Window:
    """CPU per process and FerretDB commands over a stretch of time."""

    def __init__(self, http: httpx.Client, state: dict[str, Any]) -> None:
        self.http, self.state = http, state

    def __enter__(self) -> Window:
        self.started = time.monotonic()
        self.cpu = cpu_seconds(self.state["pids"])
        self.commands = commands(self.http, self.state["ferretdb_metrics_url"])
        self.cursors = cursors(self.http, self.state["ferretdb_metrics_url"])
        return self

    def __exit__(self, *_: object) -> None:
        self.seconds = time.monotonic() - self.started
        after = cpu_seconds(self.state["pids"])
        self.cpu = {k: after[k] - v for k, v in self.cpu.items() if k in after}
        self.commands = commands(self.http, self.state["ferretdb_metrics_url"]) - self.commands
        before, self.cursors = self.cursors, {}
        for name, (count, seconds) in cursors(
            self.http, self.state["ferretdb_metrics_url"]
        ).items():
            was = before.get(name, (0.0, 0.0))
            if count > was[0]:
                self.cursors[name] = (count - was[0], seconds - was[1])

    def busiest_cursors(self, most: int = 8) -> str:
        """The collections whose cursors were open longest (wall seconds: where FerretDB's
        time went, a scan's included), with how many were opened."""
        ranked = sorted(self.cursors.items(), key=lambda kv: -kv[1][1])[:most]
        return ", ".join(f"{name} {n:.0f} x, {s:.1f} s" for name, (n, s) in ranked)


def idle_window(http: httpx.Client, state: dict[str, Any], seconds: float, every: float) -> None:
    """Sleep `seconds`; with `every`, print each stretch's FerretDB CPU and commands (the
    safety rebuilds and the relays' backstop sweeps show as periodic spikes)."""
    if every <= 0:
        time.sleep(seconds)
        return
    ends = time.monotonic() + seconds
    while time.monotonic() < ends:
        with Window(http, state) as part:
            time.sleep(min(every, max(ends - time.monotonic(), 0.1)))
        busy = sorted(part.cpu.items(), key=lambda x: -x[1])[:4]
        print(
            f"  {time.strftime('%H:%M:%S')} CPU ms/s "
            + ", ".join(f"{k} {v * 1000 / part.seconds:.0f}" for k, v in busy)
            + "; commands "
            + ", ".join(f"{k} {v}" for k, v in part.commands.most_common() if k not in HOUSEKEEPING)
            + f"; cursors {part.busiest_cursors(3)}"
        )


def main() -> int:
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[attr-defined]
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reuse", required=True, metavar="DIR")
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--idle", type=float, default=60.0, help="seconds with no requests")
    parser.add_argument(
        "--every", type=float, default=0.0, help="print the idle window every N seconds"
    )
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument(
        "--ops",
        default="board,board-bare,board-company,board-tasks,board-totals,search,search-bare",
    )
    args = parser.parse_args()
    root = kept.directory(args.reuse, args.size)
    state = json.loads((root / "stack.json").read_text())
    os.environ["JWT_SECRET"] = (root / kept.SECRET).read_text().strip()
    token = issue_token("scale", "bench-manager", ["manager"], 3600)
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    known = documents()
    ops = [op for op in args.ops.split(",") if op in known]
    samples = max(1, min(args.samples, 500))
    print(f"probe {root} ({_load()})")
    with httpx.Client(timeout=REQUEST_TIMEOUT, trust_env=False) as http:
        with Window(http, state) as idle:
            idle_window(http, state, max(1.0, min(args.idle, 1800.0)), args.every)
        rate = {k: v / idle.seconds for k, v in idle.cpu.items()}
        per_second = {k: v / idle.seconds for k, v in idle.commands.items()}
        print(
            f"idle {idle.seconds:.0f} s, CPU ms per second: "
            + ", ".join(f"{k} {v * 1000:.0f}" for k, v in sorted(rate.items(), key=lambda x: -x[1]))
        )
        print(f"  FerretDB cursors (opened, seconds open): {idle.busiest_cursors()}")
        print(
            "  FerretDB commands per second: "
            + ", ".join(
                f"{k} {v:.2f}"
                for k, v in sorted(per_second.items(), key=lambda x: -x[1])
                if v >= 0.01
            )
        )
        pipeline = _pipeline(http, state, headers)
        for op in ops:
            text, name = known[op]
            latencies: list[float] = []
            errors = 0
            with Window(http, state) as window:
                for n in range(samples):
                    variables: dict[str, Any] = {"pipelineId": pipeline, "first": 20}
                    if op.startswith("search"):
                        term = SEARCH_TERMS[n % len(SEARCH_TERMS)]
                        variables = {
                            "filter": {"text": term},
                            "orderBy": {"field": "LAST_NAME", "direction": "ASC"},
                            "first": 25,
                        }
                    body = {"query": text, "variables": variables, "operationName": name}
                    started = time.perf_counter()
                    answer = http.post(
                        state["gateway_url"], content=orjson.dumps(body), headers=headers
                    )
                    latencies.append(time.perf_counter() - started)
                    if answer.status_code != 200 or orjson.loads(answer.content).get("errors"):
                        errors += 1
            cpu = {
                k: (v - rate.get(k, 0.0) * window.seconds) * 1000 / samples
                for k, v in window.cpu.items()
            }
            net = {
                k: (v - per_second.get(k, 0.0) * window.seconds) / samples
                for k, v in window.commands.items()
                if k not in HOUSEKEEPING
            }
            print(
                f"{op:13} n {samples} err {errors} p50 {percentile(latencies, 50) * 1000:.0f} ms"
                f" p95 {percentile(latencies, 95) * 1000:.0f} ms; CPU ms per request: "
                + ", ".join(
                    f"{k} {v:.1f}" for k, v in sorted(cpu.items(), key=lambda x: -x[1]) if v >= 0.5
                )
            )
            print(f"  FerretDB cursors (opened, seconds open): {window.busiest_cursors(5)}")
            print(
                "  FerretDB commands per request (net of idle): "
                + ", ".join(f"{k} {v:.2f}" for k, v in sorted(net.items(), key=lambda x: -x[1]))
            )
    print(f"({_load()})")
    return 0


def _pipeline(http: httpx.Client, state: dict[str, Any], headers: dict[str, str]) -> str:
    body = {"query": "{ pipelineBoard { pipeline { id } } }"}
    answer = orjson.loads(http.post(state["gateway_url"], json=body, headers=headers).content)
    return str(answer["data"]["pipelineBoard"]["pipeline"]["id"])


def _load() -> str:
    return "load average " + " ".join(f"{n:.2f}" for n in os.getloadavg())


if __name__ == "__main__":
    raise SystemExit(main())
