"""What the contact search's tail is made of, on a stack `serve.py` serves: the search of
`run.py` (the web app's `ContactsList`, by last name, 25 a page, as a manager) `--samples`
times, `--concurrency` at once, each with a text no request asked before (real users type
new texts: each is a first evaluation, not a memo's answer), then every sample in order
with its text, when it started and how long it took, the slowest first, and what the
contacts process did meanwhile: its CPU, and its garbage collections by generation (a
full one walks every object the process holds: the read indexes' ~1 million).

    .venv/bin/python bench/scale/search_tail.py --reuse DIR --size 100000 [--samples 40]
        [--concurrency 4] [--seed 1] [--texts son,ber]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import string
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
for path in (ROOT / "bench" / "load", ROOT / "bench" / "import", HERE):
    sys.path.insert(0, str(path))
sys.path.insert(0, str(ROOT / "libs"))

import httpx  # noqa: E402
import psutil  # noqa: E402
from measure import percentile  # noqa: E402
from probes import Gateway  # noqa: E402

WORKSPACE = "scale"
SYLLABLES = ("an", "er", "on", "in", "ar", "en", "el", "or", "al", "ri", "ma", "le")


def gc_counts(url: str) -> dict[str, float]:
    text = httpx.get(url, timeout=5.0, trust_env=False).text
    found: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("python_gc_collections_total{"):
            generation = line.split('generation="', 1)[1].split('"', 1)[0]
            found[generation] = float(line.rsplit(" ", 1)[1])
    return found


def new_texts(count: int, seed: int) -> list[str]:
    """Three-letter texts most names hold a few of (a syllable and a letter), none twice."""
    rng = random.Random(seed)
    seen: set[str] = set()
    while len(seen) < count:
        seen.add(rng.choice(SYLLABLES) + rng.choice(string.ascii_lowercase[:20]))
    return sorted(seen, key=lambda _: rng.random())


async def run(state: dict[str, Any], texts: list[str], concurrency: int) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    numbers = iter(range(len(texts)))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=120.0, limits=limits, trust_env=False) as http:
        manager = Gateway(http, state["gateway_url"], WORKSPACE, "manager")
        began = time.perf_counter()

        async def worker() -> None:
            for n in numbers:
                variables = {
                    "filter": {"text": texts[n]},
                    "orderBy": {"field": "LAST_NAME", "direction": "ASC"},
                    "first": 25,
                }
                started = time.perf_counter()
                ok = await manager("ContactsList", variables) is not None
                rows.append((n, texts[n], started - began, time.perf_counter() - started, ok))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        if manager.failures:
            print("failures: " + "; ".join(manager.failures))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reuse", required=True, metavar="DIR")
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--texts", default="", help="these texts instead of new ones")
    args = parser.parse_args()
    root = Path(args.reuse).resolve() / str(args.size)
    state = json.loads((root / "stack.json").read_text())
    os.environ["JWT_SECRET"] = (root / "jwt_secret").read_text().strip()  # `kept.SECRET`
    texts = args.texts.split(",") if args.texts else new_texts(args.samples, args.seed)
    texts = (texts * (args.samples // len(texts) + 1))[: args.samples]
    parts = {
        name: psutil.Process(state["pids"][name])
        for name in ("contacts", "gateway", "ferretdb")
        if name in state["pids"]
    }
    url = state["metrics_urls"]["contacts"]
    gc_before = gc_counts(url)
    cpu_before = {name: sum(p.cpu_times()[:2]) for name, p in parts.items()}
    started = time.perf_counter()
    rows = asyncio.run(run(state, texts, args.concurrency))
    wall = time.perf_counter() - started
    spent = {name: sum(p.cpu_times()[:2]) - cpu_before[name] for name, p in parts.items()}
    cpu = spent["contacts"]
    gc_after = gc_counts(url)
    latencies = [row[3] for row in rows]
    print(
        f"{len(rows)} searches, {args.concurrency} at once, {wall:.1f} s: p50 "
        f"{percentile(latencies, 50) * 1000:.0f} ms, p95 {percentile(latencies, 95) * 1000:.0f}"
        f" ms; contacts {cpu * 1000 / max(len(rows), 1):.1f} ms of CPU a search; garbage "
        "collections by generation: "
        + ", ".join(f"{g} +{gc_after[g] - gc_before.get(g, 0):.0f}" for g in sorted(gc_after))
    )
    print(
        "CPU ms a search: "
        + ", ".join(f"{name} {s * 1000 / max(len(rows), 1):.1f}" for name, s in spent.items())
    )
    print("slowest (n, text, started at s, ms):")
    for n, text, at, took, ok in sorted(rows, key=lambda r: -r[3])[:8]:
        print(f"  {n:3d} {text:6s} {at:6.2f} {took * 1000:7.0f}{'' if ok else ' FAILED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
