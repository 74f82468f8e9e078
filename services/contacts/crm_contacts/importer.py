"""`crm import companies FILE`: load companies from a CSV file.

    companies FILE [--workspace demo] [--dry-run] [--map csv_column=field ...]
                   [--mongodb-uri URI] [--database NAME] [--with-demo-contacts]

Columns map to company fields (defaults suit the Maven CRM `accounts.csv`); `--map col=`
ignores a column. Rows are de-duplicated on domain, else on the normalised name, against
the database and within the file, so running an import twice adds nothing. Writes go
through the store with the outbox: the running service's relay publishes the events.
Exit status: 0 all rows fine, 1 some rows had errors (reported per line), 2 usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import hashlib
import os
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from pymongo import AsyncMongoClient

from crm_kit.context import RequestContext
from crm_kit.errors import CRMError
from crm_kit.outbox import OutboxRelay
from crm_kit.profile import DatabaseProfile
from crm_kit.unset import UNSET
from crm_kit.writer import DocumentWriter

from .config import OUTBOX_COLLECTIONS, load_settings
from .domain.company import Company
from .domain.contact import LifecycleStage
from .domain.interaction import Direction, InteractionKind
from .domain.rules import name_key, normalise_domain, slug
from .events.publish import encode
from .store.mongo import ensure_indexes, mongo_store
from .usecases import companies, contacts, interactions
from .usecases.inputs import AddressInput, CompanyInput, ContactInput, InteractionInput
from .usecases.scope import Scope

TARGETS = {
    "name",
    "domain",
    "industry",
    "size",
    "website",
    "owner_id",
    "tags",
    "address.street",
    "address.city",
    "address.region",
    "address.postal_code",
    "address.country",
}
DEFAULT_MAP = {
    "account": "name",
    "name": "name",
    "domain": "domain",
    "website": "website",
    "sector": "industry",
    "industry": "industry",
    "employees": "size",
    "office_location": "address.country",
    "country": "address.country",
    "revenue": "custom.revenue",
    "year_established": "custom.year_established",
    "subsidiary_of": "custom.subsidiary_of",
    "tags": "tags",
}
# Known misspellings in source data, fixed on the way in (lower-case keys).
INDUSTRY_FIXES = {"technolgy": "technology"}
COUNTRY_FIXES = {"philipines": "Philippines"}


@dataclass
class RowError:
    line: int
    message: str


@dataclass
class Report:
    rows: int = 0
    created: int = 0
    skipped: int = 0
    errors: list[RowError] = field(default_factory=list)
    demo_contacts: int = 0
    demo_interactions: int = 0

    def print(self, out: TextIO, dry_run: bool) -> None:
        verb = "would create" if dry_run else "created"
        print(
            f"companies: {self.rows} rows, {verb} {self.created}, skipped {self.skipped} "
            f"already present, {len(self.errors)} with errors",
            file=out,
        )
        if self.demo_contacts or self.demo_interactions:
            print(
                f"demo: {verb} {self.demo_contacts} contacts, "
                f"{self.demo_interactions} interactions",
                file=out,
            )
        for error in self.errors:
            print(f"  line {error.line}: {error.message}", file=out)


def parse_mapping(pairs: list[str]) -> dict[str, str | None]:
    mapping: dict[str, str | None] = dict(DEFAULT_MAP)
    for pair in pairs:
        column, sep, target = pair.partition("=")
        if not sep or not column.strip():
            raise ValueError(f"--map {pair!r}: expected csv_column=field")
        target = target.strip()
        if target and target not in TARGETS and not target.startswith("custom."):
            raise ValueError(
                f"--map {pair!r}: unknown field {target!r}; one of {sorted(TARGETS)} "
                "or custom.<key>"
            )
        mapping[column.strip()] = target or None
    return mapping


def _number(text: str) -> int | float | str:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def row_to_input(row: dict[str, str], mapping: dict[str, str | None]) -> dict[str, Any]:
    """A CSV row as createCompany input (snake_case), with the normalisation table applied.
    Raises ValueError naming the column for values that cannot be converted."""
    data: dict[str, Any] = {}
    address: dict[str, str] = {}
    custom: dict[str, Any] = {}
    for column, raw in row.items():
        target = mapping.get(column.strip()) if column else None
        value = (raw or "").strip()
        if not target or not value:
            continue
        if target == "size":
            try:
                data["size"] = int(float(value.replace(",", "")))
            except ValueError:
                raise ValueError(f"{column}: {value!r} is not a number") from None
        elif target == "industry":
            data["industry"] = INDUSTRY_FIXES.get(value.lower(), value.lower())
        elif target == "tags":
            data["tags"] = [t for t in value.replace(";", ",").split(",") if t.strip()]
        elif target.startswith("address."):
            key = target.split(".", 1)[1]
            if key == "country":
                value = COUNTRY_FIXES.get(value.lower(), value)
            address[key] = value
        elif target.startswith("custom."):
            custom[target.split(".", 1)[1]] = _number(value)
        else:
            data[target] = value
    if address:
        data["address"] = address
    if custom:
        data["custom_fields"] = custom
    return data


# Deterministic demo people: the same file gives the same contacts on every machine.
FIRST_NAMES = [
    "Ava", "Ben", "Chloe", "Diego", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas",
    "Kira", "Liam", "Maya", "Noah", "Olga", "Priya", "Quinn", "Rosa", "Sami", "Tess",
]  # fmt: skip
LAST_NAMES = [
    "Adams", "Berg", "Costa", "Dubois", "Evans", "Fischer", "Garcia", "Hansen", "Ito",
    "Jensen", "Khan", "Larsen", "Moreau", "Novak", "Okafor", "Patel", "Rossi", "Silva",
    "Tanaka", "Weber",
]  # fmt: skip
TITLES = ["VP Sales", "Head of Procurement", "CTO", "Operations Manager", "CFO", "Buyer"]
DEMO_BASE = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
DEMO_STEPS = [("email", "Intro email"), ("call", "Discovery call"), ("meeting", "Demo meeting")]


def _digest(*parts: str) -> bytes:
    return hashlib.sha256(":".join(parts).encode()).digest()


def demo_people(company: Company) -> list[dict[str, Any]]:
    seed = _digest("demo-contact", name_key(company.name))
    host = f"{slug(company.name)}.example"
    people = []
    for n in range(2):
        first = FIRST_NAMES[(seed[2 * n] + n) % len(FIRST_NAMES)]
        last = LAST_NAMES[(seed[2 * n + 1] + 7 * n) % len(LAST_NAMES)]
        people.append(
            {
                "first_name": first,
                "last_name": last,
                "email": f"{first}.{last}@{host}".lower(),
                "title": TITLES[(seed[4 + n]) % len(TITLES)],
                "company_id": company.id,
                "lifecycle_stage": ("customer", "prospect", "lead")[seed[6 + n] % 3],
                "source": "demo",
                "tags": ["demo"],
            }
        )
    return people


def demo_interactions(workspace: str, contact_id: str, email: str) -> list[dict[str, Any]]:
    seed = _digest("demo-interaction", workspace, email)
    out = []
    for n, (kind, subject) in enumerate(DEMO_STEPS):
        out.append(
            {
                # Deterministic id: a second run finds it and adds nothing.
                "id": _digest("demo-interaction-id", workspace, email, str(n)).hex()[:24],
                "kind": kind,
                "contact_id": contact_id,
                "subject": subject,
                "direction": "outbound",
                "occurred_at": DEMO_BASE + timedelta(days=seed[n] % 60 + 14 * n, hours=n),
                "duration_seconds": 1800 if kind != "email" else None,
            }
        )
    return out


def company_input(data: dict[str, Any]) -> CompanyInput:
    """`row_to_input`'s dict as the use case's input."""
    address = data.get("address")
    fields = {key: value for key, value in data.items() if key != "address"}
    return CompanyInput(**fields, address=AddressInput(**address) if address else UNSET)


def contact_input(person: dict[str, Any]) -> ContactInput:
    return ContactInput(**{**person, "lifecycle_stage": LifecycleStage(person["lifecycle_stage"])})


def interaction_input(step: dict[str, Any]) -> InteractionInput:
    return InteractionInput(
        **{**step, "kind": InteractionKind(step["kind"]), "direction": Direction(step["direction"])}
    )


class CompanyImporter:
    def __init__(self, scope: Scope, *, dry_run: bool, demo: bool) -> None:
        self.scope = scope
        self.dry_run = dry_run
        self.demo = demo
        self.report = Report()
        self._seen: set[str] = set()

    async def _existing(self, data: dict[str, Any]) -> Company | None:
        store = self.scope.store
        domain = normalise_domain(data.get("domain"), "domain") if data.get("domain") else None
        if domain:
            found = await store.find_company_by_domain(domain)
            if found:
                return found
        matches = await store.find_companies_by_name_keys([name_key(data.get("name") or "")])
        return matches[0] if matches else None

    async def import_row(self, line: int, data: dict[str, Any]) -> None:
        self.report.rows += 1
        try:
            company = companies.build_company(self.scope, company_input(data), prefix="row")
        except CRMError as error:
            where = (error.field or "").removeprefix("row.")
            self.report.errors.append(RowError(line, f"{where}: {error.message}"))
            return
        keys = {f"name:{name_key(company.name)}"} | (
            {f"domain:{company.domain}"} if company.domain else set()
        )
        if keys & self._seen:
            self.report.skipped += 1
            return
        self._seen |= keys
        existing = await self._existing(data)
        if existing is not None:
            self.report.skipped += 1
            company = existing
        elif self.dry_run:
            self.report.created += 1
        else:
            try:
                company = await companies.create_company(
                    self.scope, company_input(data), prefix="row"
                )
            except CRMError as error:
                self.report.errors.append(RowError(line, error.message))
                return
            self.report.created += 1
        if self.demo:
            await self._demo_contacts(company)

    async def _demo_contacts(self, company: Company) -> None:
        for person in demo_people(company):
            contact = await self.scope.store.find_contact_by_email_key(person["email"])
            if contact is None:
                self.report.demo_contacts += 1
                if self.dry_run:
                    continue
                contact = await contacts.create_contact(
                    self.scope, contact_input(person), prefix="demo"
                )
            if self.dry_run:
                continue
            planned = demo_interactions(self.scope.workspace_id, contact.id, person["email"])
            if await self.scope.store.get_interactions([planned[-1]["id"]]):
                continue  # complete from an earlier run (they are written in order)
            for interaction in planned:
                try:
                    await interactions.log_interaction(
                        self.scope, interaction_input(interaction), prefix="demo"
                    )
                except CRMError:
                    continue  # already there from an earlier run
                self.report.demo_interactions += 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crm import", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="kind", required=True)
    companies = sub.add_parser("companies", help="import companies from a CSV file")
    companies.add_argument("file", type=Path)
    companies.add_argument("--workspace", default="demo")
    companies.add_argument("--dry-run", action="store_true", help="report, write nothing")
    companies.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="COLUMN=FIELD",
        help=f"map a CSV column to a field ({', '.join(sorted(TARGETS))}, custom.<key>); "
        "empty FIELD ignores the column",
    )
    companies.add_argument("--mongodb-uri", default=os.environ.get("MONGODB_URI"))
    companies.add_argument("--database", default=None)
    companies.add_argument(
        "--with-demo-contacts",
        action="store_true",
        help="also create 2 demo contacts with 3 interactions each per company",
    )
    companies.add_argument("--quiet", action="store_true", help="no progress output")
    return parser


async def run_import(args: argparse.Namespace, mapping: dict[str, str | None]) -> Report:
    settings = load_settings()
    uri = args.mongodb_uri or settings.mongodb_uri
    client: AsyncMongoClient = AsyncMongoClient(uri, tz_aware=True, serverSelectionTimeoutMS=5000)
    try:
        db = client[args.database or settings.database]
        if not args.dry_run:
            await ensure_indexes(db)
            await OutboxRelay.ensure_indexes(db, OUTBOX_COLLECTIONS)
        # No relay here: the events wait in the outbox for the running service's sweep.
        writer = DocumentWriter(
            db,
            profile=await DatabaseProfile.detect(db, settings.database_profile),
            outbox_collections=OUTBOX_COLLECTIONS,
            encode=encode,
        )
        store = mongo_store(writer).for_workspace(args.workspace)
        caller = RequestContext(args.workspace, "import", frozenset({"admin"}))
        importer = CompanyImporter(
            Scope(store, caller), dry_run=args.dry_run, demo=args.with_demo_contacts
        )
        with args.file.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
        for index, row in enumerate(rows, start=2):  # line 1 is the header
            try:
                data = row_to_input(row, mapping)
            except ValueError as error:
                importer.report.rows += 1
                importer.report.errors.append(RowError(index, str(error)))
            else:
                await importer.import_row(index, data)
            if not args.quiet:
                done = index - 1
                bar = "#" * (30 * done // len(rows))
                print(f"\rcompanies [{bar:<30}] {done}/{len(rows)}", end="", file=sys.stderr)
        if not args.quiet and rows:
            print(file=sys.stderr)
        return importer.report
    finally:
        await client.close()


def main(argv: list[str]) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        mapping = parse_mapping(args.map)
    except ValueError as error:
        parser.error(str(error))
    if not args.file.is_file():
        print(f"crm import: no such file {args.file}", file=sys.stderr)
        return 2
    report = asyncio.run(run_import(args, mapping))
    report.print(sys.stdout, args.dry_run)
    return 1 if report.errors else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
