"""Where a stage change's time goes on the playbook path (`run.py --stages`): the service's
notes (`stage_trace.py`) joined with the bench's own (publish, `task.created` received,
visible to a poll), all wall-clock seconds of this machine.

Stages, each from the end of the one before:

- `stream`: publish -> stored in the JetStream stream (the message's metadata);
- `fetch`: -> the pull that took it returned its first events (a backlog, or the pullers
  busy: no pull was waiting);
- `gather`: -> the gathering window ended (0 for an event taken after the window began:
  the window is counted from the pull's first event);
- `queue`: -> the batch handler began (parsing; the event loop busy elsewhere);
- `prepare`: -> the store of the tasks began (outcomes and teams read, tasks made);
- `store`: -> the store returned (the tasks queryable from here);
- `announce`: -> all its `task.created` events received by the bench (the relay);
- `poll`: -> the bench's poll saw the tasks (the bench's own resolution, not the service's).

Also `stored`: publish -> the store returned, when the tasks became queryable (the
service's own mark), and `total`: publish -> visible to the bench's poll (`run.py`'s
figure).

Printed: the p50 of each stage over every change, and the mean of each over the slowest
1 % by the bench's figure (publish -> visible), so what the tail spends is read beside
what a typical change spends.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

STAGES = ("stream", "fetch", "gather", "queue", "prepare", "store", "announce", "poll")


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))]


def read_notes(path: Path, event_deals: Mapping[str, str]) -> dict[str, dict[str, float]]:
    """Per deal: the service's marks (a deal handled twice, a redelivery, keeps its first)."""
    marks: dict[str, dict[str, float]] = {}
    for line in path.read_text().splitlines():
        note = orjson.loads(line)
        if "pull" in note:
            for event in note["pull"]:
                deal = event_deals.get(event["id"] or "")
                if deal is None:
                    continue
                mine = marks.setdefault(deal, {})
                if "fetched" in mine:
                    continue
                if event["stream"] is not None:
                    mine["stream"] = event["stream"]
                mine["fetched"] = note["fetched"]
                mine["taken"] = note["taken"]
        elif "batch" in note:
            for deal in note["batch"]:
                mine = marks.setdefault(deal, {})
                mine.setdefault("began", note["began"])
                mine.setdefault("ended", note["ended"])
        elif "stored" in note:
            for deal in note["stored"]:
                mine = marks.setdefault(deal, {})
                mine.setdefault("store_began", note["store_began"])
                mine.setdefault("store_ended", note["store_ended"])
    return marks


def stage_times(
    published: Mapping[str, float],
    marks: Mapping[str, Mapping[str, float]],
    announced: Mapping[str, float],
    visible: Mapping[str, float],
) -> dict[str, dict[str, float]]:
    """Per deal with every mark: each stage's milliseconds, and `total` (publish -> visible)."""
    times: dict[str, dict[str, float]] = {}
    for deal, sent in published.items():
        mine = marks.get(deal, {})
        needed = ("stream", "fetched", "taken", "began", "store_began", "store_ended")
        if any(key not in mine for key in needed) or deal not in announced or deal not in visible:
            continue
        # A change taken into a window already open was fetched after the pull's first
        # event: its own arrival (the stream's time) stands for its fetch then.
        fetched = max(mine["fetched"], mine["stream"])
        points = [
            sent,
            mine["stream"],
            fetched,
            max(mine["taken"], fetched),
            mine["began"],
            mine["store_began"],
            mine["store_ended"],
            announced[deal],
            visible[deal],
        ]
        times[deal] = {
            stage: (after - before) * 1000
            for stage, before, after in zip(STAGES, points, points[1:], strict=False)
        }
        # The tasks are queryable once their store returned (the write refreshed the read
        # index; a later query on any replica probes the change log and sees them): what
        # the bench's poll adds after that is its own resolution, and the relay's
        # announcing is not on a reader's way.
        times[deal]["stored"] = (mine["store_ended"] - sent) * 1000
        times[deal]["total"] = (visible[deal] - sent) * 1000
    return times


def stage_summary(times: Mapping[str, Mapping[str, float]]) -> dict[str, Any]:
    if not times:
        return {"n": 0}
    ordered = sorted(times.values(), key=lambda t: t["total"])
    tail = ordered[-max(1, len(ordered) // 100) :]
    keys = (*STAGES, "stored", "total")
    return {
        "n": len(ordered),
        "tail_n": len(tail),
        "p50": {k: round(_percentile([t[k] for t in ordered], 50), 1) for k in keys},
        "p99": {k: round(_percentile([t[k] for t in ordered], 99), 1) for k in keys},
        "tail_mean": {k: round(statistics.fmean(t[k] for t in tail), 1) for k in keys},
    }


def print_stages(summary: Mapping[str, Any]) -> None:
    if not summary.get("n"):
        print("stages: no change with every mark")
        return
    print(
        f"stages (ms; {summary['n']} changes; tail = the slowest {summary['tail_n']} "
        "by publish -> visible):"
    )
    print(f"{'stage':10} {'p50':>8} {'p99':>8} {'tail mean':>10}")
    for key in (*STAGES, "stored", "total"):
        print(
            f"{key:10} {summary['p50'][key]:>8} {summary['p99'][key]:>8} "
            f"{summary['tail_mean'][key]:>10}"
        )
