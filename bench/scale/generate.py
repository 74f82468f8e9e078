"""The scale benchmark's data: a sales organisation of N deals, generated deterministically
from a seed, written as the CSV files a user would import (one file per record type and
chunk, columns named as crm_tabular's fields so the mapping is the identity).

Per workspace of N deals: N // 10 companies (at least 10), 2N contacts, N deals, 10N
interactions, 3N tasks; owners scale with the team (one rep per 500 deals, 5 to 200).
Every row is a function of (seed, workspace, kind, row number) alone, so a file is streamed
row by row (the bench's memory stays flat whatever N) and the references line up without
being held: contact j works at company j mod C; deal k is with company k mod C and one of
that company's contacts; interaction i is with contact i mod 2N (and its company); task t
is about deal t mod N, assigned to that deal's owner, with its primary contact.

Dates are relative to an anchor day (default today), so the forecast always has open deals
in the coming months and the dashboards' default windows hold data.
"""

from __future__ import annotations

import csv
import hashlib
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

# Rows per file: the gateway takes uploads up to 100 MiB, and a user splits a big export.
CHUNK_ROWS = 100_000
KINDS = ("companies", "contacts", "deals", "interactions", "tasks")

FIRST = (
    "Ada", "Alan", "Amir", "Anna", "Bea", "Ben", "Carla", "Chen", "Dario", "Dina", "Eli",
    "Emma", "Farah", "Felix", "Gita", "Hugo", "Ines", "Ivan", "Jana", "Jonas", "Kai", "Kira",
    "Lars", "Lena", "Luca", "Maya", "Mina", "Nils", "Nora", "Omar", "Olga", "Pablo", "Priya",
    "Quinn", "Rosa", "Rui", "Sara", "Sven", "Tara", "Theo", "Uma", "Vera", "Wen", "Xena",
    "Yara", "Yusuf", "Zoe",
)  # fmt: skip
LAST = (
    "Adams", "Bauer", "Berg", "Costa", "Dahl", "Diaz", "Eriksen", "Fischer", "Garcia", "Haas",
    "Ito", "Jensen", "Kato", "Khan", "Larsen", "Lopez", "Meyer", "Moreau", "Nakamura", "Novak",
    "Olsen", "Park", "Petrov", "Quist", "Rossi", "Sato", "Schmidt", "Silva", "Tanaka",
    "Torres", "Ueda", "Vogel", "Wagner", "Weber", "Xu", "Yamada", "Young", "Zhang", "Ziegler",
)  # fmt: skip
WORDS = (
    "Acme", "Apex", "Blue", "Bright", "Cedar", "Clear", "Delta", "Echo", "Ever", "Falcon",
    "Forge", "Green", "Harbor", "Iron", "Lumen", "Maple", "Nimbus", "Nova", "North", "Oak",
    "Orbit", "Peak", "Pine", "Prism", "Quartz", "Rapid", "River", "Silver", "Solar", "Stone",
    "Summit", "Terra", "True", "Vertex", "Wave", "Zen",
)  # fmt: skip
SUFFIXES = ("Systems", "Labs", "Logistics", "Foods", "Energy", "Health", "Retail", "Works")
INDUSTRIES = ("software", "retail", "energy", "health", "logistics", "finance", "manufacturing")
COUNTRIES = ("Norway", "Germany", "France", "Kenya", "Chile", "Japan", "Canada", "Brazil")
PRODUCTS = ("GTX Basic", "GTX Pro", "GTX Plus", "MG Special", "MG Advanced", "GTK 500")
# Stage keys of the default pipeline with their share of deals: a funnel, then the closed.
STAGES = (
    ("prospecting", 25),
    ("qualification", 15),
    ("engaging", 12),
    ("proposal", 8),
    ("negotiation", 5),
    ("won", 20),
    ("lost", 15),
)
INTERACTION_KINDS = (("email", 45), ("call", 25), ("meeting", 15), ("note", 10), ("web_visit", 5))
TASK_TYPES = ("call", "email", "meeting", "todo", "follow_up")
PRIORITIES = (("low", 20), ("normal", 55), ("high", 20), ("urgent", 5))
TASK_STATUSES = (("open", 60), ("in_progress", 10), ("done", 25), ("cancelled", 5))

COLUMNS: dict[str, tuple[str, ...]] = {
    "companies": ("external_id", "name", "domain", "industry", "size", "owner_id",
                  "address.country"),
    "contacts": ("external_id", "first_name", "last_name", "email", "title", "owner_id",
                 "company_domain", "lifecycle_stage"),
    "deals": ("external_id", "title", "stage", "owner", "product", "amount", "currency",
              "engaged_at", "close_date", "expected_close_date", "company"),
    "interactions": ("external_id", "kind", "occurred_at", "subject", "direction",
                     "duration_seconds", "contact_email", "company"),
    "tasks": ("external_id", "title", "type", "priority", "status", "due_at", "assignee_id",
              "deal_external_id", "contact_email"),
}  # fmt: skip


@dataclass(frozen=True)
class Workspace:
    """One workspace's sizes, all derived from its number of deals."""

    name: str
    deals: int
    seed: int = 14
    anchor: date = date(2026, 1, 1)
    # Per deal (the proportions by default; a run may lower them to fit its time).
    interactions_per_deal: int = 10
    tasks_per_deal: int = 3
    contacts_per_deal: int = 2

    @property
    def companies(self) -> int:
        return max(10, self.deals // 10)

    @property
    def contacts(self) -> int:
        return self.contacts_per_deal * self.deals

    @property
    def interactions(self) -> int:
        return self.interactions_per_deal * self.deals

    @property
    def tasks(self) -> int:
        return self.tasks_per_deal * self.deals

    @property
    def owners(self) -> int:
        return max(5, min(200, self.deals // 500))

    def rows(self, kind: str) -> int:
        count: int = getattr(self, kind)
        return count

    def total_rows(self) -> int:
        return sum(self.rows(kind) for kind in KINDS)

    # --- one row of each kind, a pure function of the row number -----------------------

    def _rng(self, kind: str, n: int) -> random.Random:
        # A digest, not hash(): stable across processes (PYTHONHASHSEED) and runs.
        key = f"{self.seed}:{self.name}:{kind}:{n}".encode()
        return random.Random(int.from_bytes(hashlib.blake2b(key, digest_size=8).digest()))

    def owner(self, n: int) -> str:
        return f"rep-{n % self.owners:03d}"

    def company_domain(self, c: int) -> str:
        return f"{WORDS[c % len(WORDS)].lower()}-{c}.example"

    def contact_email(self, j: int) -> str:
        first, last = FIRST[j % len(FIRST)], LAST[(j // len(FIRST)) % len(LAST)]
        return f"{first}.{last}.{j}@{self.company_domain(j % self.companies)}".lower()

    def deal_contact(self, k: int) -> int:
        """One of the deal's company's contacts (contact j is with company j mod C)."""
        c = k % self.companies
        per_company = max(1, (self.contacts - c + self.companies - 1) // self.companies)
        return c + self.companies * ((k // self.companies) % per_company)

    def interaction_deal(self, i: int) -> int | None:
        """The deal an interaction is about: one of its company's deals, for 7 in 10."""
        if i % 10 >= 7:
            return None
        c = (i % self.contacts) % self.companies
        if c >= self.deals:
            return None
        per_company = max(1, (self.deals - c + self.companies - 1) // self.companies)
        return c + self.companies * ((i // self.contacts) % per_company)

    def deal_owner(self, k: int) -> str:
        return self.owner(self._rng("deal-owner", k).randrange(self.owners))

    def company_name(self, c: int) -> str:
        word, suffix = WORDS[(c // len(WORDS)) % len(WORDS)], SUFFIXES[c % len(SUFFIXES)]
        return f"{WORDS[c % len(WORDS)]} {word} {suffix} {c}"

    def company(self, c: int) -> dict[str, Any]:
        rng = self._rng("companies", c)
        return {
            "external_id": f"C{c:07d}",
            "name": self.company_name(c),
            "domain": self.company_domain(c),
            "industry": rng.choice(INDUSTRIES),
            "size": int(rng.lognormvariate(4.0, 1.4)) + 1,
            "owner_id": self.owner(rng.randrange(self.owners)),
            "address.country": rng.choice(COUNTRIES),
        }

    def contact(self, j: int) -> dict[str, Any]:
        rng = self._rng("contacts", j)
        return {
            "external_id": f"P{j:08d}",
            "first_name": FIRST[j % len(FIRST)],
            "last_name": LAST[(j // len(FIRST)) % len(LAST)],
            "email": self.contact_email(j),
            "title": rng.choice(("CTO", "Head of IT", "Buyer", "CFO", "Engineer", "COO")),
            "owner_id": self.owner(rng.randrange(self.owners)),
            "company_domain": self.company_domain(j % self.companies),
            "lifecycle_stage": _weighted(rng, (("lead", 40), ("prospect", 35), ("customer", 25))),
        }

    def deal(self, k: int) -> dict[str, Any]:
        rng = self._rng("deals", k)
        stage = _weighted(rng, STAGES)
        engaged = self.anchor - timedelta(days=rng.randrange(1, 720))
        closed = stage in ("won", "lost")
        close = min(self.anchor, engaged + timedelta(days=rng.randrange(7, 200)))
        expected = self.anchor + timedelta(days=rng.randrange(1, 180))
        product = rng.choice(PRODUCTS)
        return {
            "external_id": f"D{k:08d}",
            "title": f"{product} for {WORDS[k % self.companies % len(WORDS)]} {k}",
            "stage": stage,
            "owner": self.deal_owner(k),
            "product": product,
            "amount": f"{min(2_000_000.0, rng.lognormvariate(9.6, 1.0)):.2f}",
            "currency": "USD",
            "engaged_at": engaged.isoformat(),
            "close_date": close.isoformat() if closed else "",
            "expected_close_date": "" if closed else expected.isoformat(),
            "company": self.company_name(k % self.companies),
        }

    def interaction(self, i: int) -> dict[str, Any]:
        rng = self._rng("interactions", i)
        j = i % self.contacts
        kind = _weighted(rng, INTERACTION_KINDS)
        when = _moment(self.anchor, rng, -720, 0)
        return {
            "external_id": f"I{i:09d}",
            "kind": kind,
            "occurred_at": when,
            "subject": f"{kind.replace('_', ' ').capitalize()} about {rng.choice(PRODUCTS)}",
            "direction": rng.choice(("inbound", "outbound")) if kind in ("email", "call") else "",
            "duration_seconds": rng.randrange(60, 3600) if kind in ("call", "meeting") else "",
            "contact_email": self.contact_email(j),
            "company": self.company_name(j % self.companies),
        }

    def task(self, t: int) -> dict[str, Any]:
        rng = self._rng("tasks", t)
        k = t % self.deals
        kind = rng.choice(TASK_TYPES)
        return {
            "external_id": f"T{t:08d}",
            "title": f"{kind.replace('_', ' ').capitalize()}: deal D{k:08d}",
            "type": kind,
            "priority": _weighted(rng, PRIORITIES),
            "status": _weighted(rng, TASK_STATUSES),
            "due_at": _moment(self.anchor, rng, -30, 60),
            "assignee_id": self.deal_owner(k),
            "deal_external_id": f"D{k:08d}",
            "contact_email": self.contact_email(self.deal_contact(k)),
        }

    def row_of(self, kind: str) -> Callable[[int], dict[str, Any]]:
        makers: dict[str, Callable[[int], dict[str, Any]]] = {
            "companies": self.company,
            "contacts": self.contact,
            "deals": self.deal,
            "interactions": self.interaction,
            "tasks": self.task,
        }
        return makers[kind]


def _weighted(rng: random.Random, choices: tuple[tuple[str, int], ...]) -> str:
    total = sum(weight for _, weight in choices)
    pick = rng.randrange(total)
    for value, weight in choices:
        if pick < weight:
            return value
        pick -= weight
    raise AssertionError("unreachable")


def _moment(anchor: date, rng: random.Random, from_days: int, to_days: int) -> str:
    day = anchor + timedelta(days=rng.randrange(from_days, to_days + 1))
    at = datetime(day.year, day.month, day.day, 8, tzinfo=UTC)
    return (at + timedelta(minutes=rng.randrange(0, 600))).isoformat().replace("+00:00", "Z")


def chunks(rows: int, size: int = CHUNK_ROWS) -> Iterator[range]:
    for start in range(0, rows, size):
        yield range(start, min(rows, start + size))


def write_csv(workspace: Workspace, kind: str, numbers: range, path: Path) -> Path:
    """Rows `numbers` of `kind` as a CSV file at `path`, streamed row by row."""
    columns = COLUMNS[kind]
    make = workspace.row_of(kind)
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(columns)
        for n in numbers:
            row = make(n)
            writer.writerow([row.get(column, "") for column in columns])
    return path


def mapping(kind: str) -> dict[str, Any]:
    """The identity mapping of a generated file (its columns are the fields)."""
    return {"target": kind, "fields": {column: column for column in COLUMNS[kind]}}
