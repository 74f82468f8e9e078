"""How many of the load's reads a response cache at the gateway could answer (a design
estimate, no stack): requests drawn with `workload.py`'s weights (31 callers, the manager
one user in ten), each read keyed by (who, document, variables) and answered from the
cache when nothing it depends on was written since the same key's last answer.

- `--versions service`: a version per service; a write moves its services' versions
  (moves deals and tasks: the playbook; creates deals; interactions contacts; completions
  tasks). Entries are shared by callers of the same access (the demo shares deals with
  everyone: the reps one class, the manager another; `MyTasks` per caller).
- `--versions entity`: the deal page depends on its deal, the deal's tasks and its
  contacts; the contact page on the contact, its deals and their tasks; the rest as above.

    .venv/bin/python bench/load/cache_hits.py [--versions service|entity] [--requests 300000]
"""

from __future__ import annotations

import argparse
import random
from collections import Counter
from collections.abc import Hashable

# (operation, weight, services it reads or writes), as in workload.py.
OPS = [
    ("board", 18, "dct"),
    ("column", 7, "dct"),
    ("deal", 15, "dct"),
    ("search", 10, "c"),
    ("contacts", 5, "c"),
    ("contact", 8, "cdt"),
    ("mytasks", 10, "td"),
    ("dashboard", 7, "d"),
    ("move", 7, "dt"),
    ("create", 3, "d"),
    ("log", 5, "c"),
    ("complete", 5, "t"),
]
WRITES = {"move", "create", "log", "complete"}
DEALS, CONTACTS, REPS = 135, 100, 30  # the load's pools


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--versions", choices=("service", "entity"), default="service")
    parser.add_argument("--requests", type=int, default=300_000)
    args = parser.parse_args()
    rng = random.Random(14)
    contact_of = {d: rng.randrange(CONTACTS) for d in range(DEALS)}
    deals_of: dict[int, list[int]] = {}
    for d, c in contact_of.items():
        deals_of.setdefault(c, []).append(d)
    versions: Counter[Hashable] = Counter()
    cache: dict[Hashable, Hashable] = {}
    reads: Counter[str] = Counter()
    hits: Counter[str] = Counter()
    weights = [weight for _, weight, _ in OPS]
    for _ in range(args.requests):
        name, _, services = rng.choices(OPS, weights)[0]
        manager = rng.random() < 0.1
        rep = rng.randrange(REPS)
        deal = rng.choice([d for d in range(DEALS) if d % REPS == rep])  # one of theirs
        if name in WRITES:
            versions.update(services)
            if name in ("move", "complete"):
                versions[("deal", deal)] += name == "move"
                versions[("tasks", deal)] += 1
            if name == "log":
                versions[("contact", rng.randrange(CONTACTS))] += 1
            continue
        variables = {
            "column": rng.randrange(5),
            "deal": rng.randrange(DEALS),
            "search": rng.randrange(20),
            "contact": rng.randrange(CONTACTS),
            "dashboard": rng.randrange(3),
        }.get(name, 0)
        who = f"rep-{rep}" if name == "mytasks" else ("manager" if manager else "rep")
        stamp: Hashable = tuple(versions[s] for s in services)
        if args.versions == "entity" and name == "deal":
            d = variables
            stamp = (
                versions[("deal", d)],
                versions[("tasks", d)],
                versions[("contact", contact_of[d])],
            )
        elif args.versions == "entity" and name == "contact":
            ds = deals_of.get(variables, [])
            stamp = (
                versions[("contact", variables)],
                tuple(versions[("deal", d)] for d in ds),
                tuple(versions[("tasks", d)] for d in ds),
            )
        key = (who, name, variables)
        reads[name] += 1
        hits[name] += cache.get(key) == stamp
        cache[key] = stamp
    print(f"versions per {args.versions}, {args.requests} requests")
    for name, count in reads.items():
        print(f"  {name:<10} {hits[name] / count:6.1%} of {count}")
    print(f"  all reads  {sum(hits.values()) / sum(reads.values()):6.1%}")


if __name__ == "__main__":
    main()
