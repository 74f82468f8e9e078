"""Companies imported: a row makes a company with `createCompany`'s rules; identity keys
the external id, the domain and, when the batch asks (`matchByName`), the normalised name.
`CompanyResolver` finds (or makes) the company a contact or interaction row names."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from crm_contracts.import_batches import ImportRow
from crm_kit.imports import Built, Key, custom_fields, ignored, import_record_id
from crm_kit.unset import UNSET

from ...domain import rules
from ...domain.company import Address, Company
from .. import validation
from ..companies import company_values
from ..inputs import AddressInput, CompanyInput
from ..scope import Scope
from .rows import ADDRESS_FIELDS, PREFIX, given, integer, moment, text, texts

COMPANY_FIELDS = {
    "name", "domain", "website", "industry", "size", "owner_id", "tags", "external_id",
    "created_at", *(f"address.{key}" for key in ADDRESS_FIELDS),
}  # fmt: skip


def company_input(values: dict[str, Any]) -> CompanyInput:
    address = {key: text(values, f"address.{key}") for key in ADDRESS_FIELDS}
    has_address = any(f"address.{key}" in values for key in ADDRESS_FIELDS)
    custom = custom_fields(values)
    return CompanyInput(
        name=given(values, "name", text(values, "name")),
        domain=given(values, "domain", text(values, "domain")),
        industry=given(values, "industry", text(values, "industry")),
        size=given(values, "size", integer(values, "size")),
        address=AddressInput(**address) if has_address else UNSET,
        website=given(values, "website", text(values, "website")),
        owner_id=given(values, "owner_id", text(values, "owner_id")),
        tags=given(values, "tags", texts(values, "tags")),
        custom_fields=custom if custom else UNSET,
    )


def row_company_values(values: dict[str, Any]) -> tuple[dict[str, Any], datetime | None]:
    """What `company_values(company_input(values), PREFIX)` gives (the validated
    attributes a new company gets; a row without a name gets None, which fails as
    required), and the row's `created_at`, read in one pass: the same checks in the same
    order, so a bad row fails on the same field with the same message (the input's
    readers first, field by field as `company_input` reads them, then `created_at`, then
    the validation in `company_values`'s order). An import builds a thousand companies a
    batch; the input objects in between were ~a third of a company's build."""
    # The readers (type checks), in `company_input`'s order.
    address = [text(values, name) if name in values else None for name in _ADDRESS_COLUMNS]
    has_address = any(name in values for name in _ADDRESS_COLUMNS)
    custom = custom_fields(values)
    name = text(values, "name")
    domain = text(values, "domain") if "domain" in values else UNSET
    industry = text(values, "industry") if "industry" in values else UNSET
    size_given = integer(values, "size") if "size" in values else UNSET
    site = text(values, "website") if "website" in values else UNSET
    owner_id = text(values, "owner_id") if "owner_id" in values else UNSET
    tags = texts(values, "tags") if "tags" in values else UNSET
    created = moment(values, "created_at")
    # The validation, in `company_values`'s order.
    out: dict[str, Any] = {"name": rules.clean_text(name, f"{PREFIX}.name", required=True)}
    if domain is not UNSET:
        out["domain"] = rules.normalise_domain(domain, f"{PREFIX}.domain")
    if industry is not UNSET:
        cleaned = rules.clean_text(industry, f"{PREFIX}.industry", limit=100)
        out["industry"] = cleaned.lower() if cleaned else None
    if size_given is not UNSET:
        out["size"] = validation.size(size_given, f"{PREFIX}.size")
    if has_address:
        out["address"] = Address(
            *(
                rules.clean_text(given, f"{PREFIX}.address.{key}")
                for given, key in zip(address, ADDRESS_FIELDS, strict=True)
            )
        )
    if site is not UNSET:
        out["website"] = validation.website(site, f"{PREFIX}.website")
    if owner_id is not UNSET:
        out["owner_id"] = validation.owner(owner_id, f"{PREFIX}.ownerId")
    if tags is not UNSET:
        out["tags"] = rules.normalise_tags(tags or [], f"{PREFIX}.tags")
    if custom:
        out["custom_fields"] = validation.custom_fields(custom, f"{PREFIX}.customFields")
    return out, created


_ADDRESS_COLUMNS = tuple(f"address.{key}" for key in ADDRESS_FIELDS)


def new_company(
    scope: Scope, company_id: str, job_id: str, data: CompanyInput, created: datetime | None
) -> Company:
    named = data if data.name is not UNSET else CompanyInput(**{**data.__dict__, "name": None})
    company = Company.create(
        company_id,
        scope.workspace_id,
        company_values(named, PREFIX),
        at=created or scope.now(),
        by=scope.subject,
    )
    company.import_job = job_id
    return company


def company_keys(company: Company, by_name: bool = False) -> list[Key]:
    keys: list[Key] = []
    if company.external_id:
        keys.append(("external_id", company.external_id))
    if company.domain:
        keys.append(("domain", company.domain))
    if by_name:
        keys.append(("name", company.name_key))
    return keys


class CompanySink:
    """`by_name`: a company's normalised name identifies it too (the CLI importer's rule,
    for files without domains: running one twice adds nothing); the contract's identity
    keys are the external id and the domain."""

    kind = "company"

    def __init__(self, scope: Scope, job_id: str, *, by_name: bool = False) -> None:
        self.scope = scope
        self.job_id = job_id
        self.by_name = by_name

    def id_of(self, record: Company) -> str:
        return record.id

    async def prepare(self, rows: Sequence[ImportRow]) -> None:
        return None

    async def build(self, row: ImportRow, record_id: str) -> Built[Company]:
        values = row.values
        attributes, created = row_company_values(values)
        scope = self.scope
        company = Company.create(
            record_id,
            scope.workspace_id,
            attributes,
            at=created or scope.now(),
            by=scope.subject,
        )
        company.import_job = self.job_id
        company.external_id = text(values, "external_id")
        keys = company_keys(company, self.by_name)
        return Built(company, keys, ignored(values, COMPANY_FIELDS, "companies", custom=True))

    async def existing(self, keys: Sequence[Key]) -> dict[Key, Company]:
        external = [v for k, v in keys if k == "external_id"]
        domains = [v for k, v in keys if k == "domain"]
        found = await self.scope.store.companies_with_keys(external, domains)
        names = [v for k, v in keys if k == "name"]
        if names:
            named = await self.scope.store.companies_with_name_keys(names)  # oldest first
            found += reversed(named)  # the oldest of a name is the one that stays below
        return {key: c for c in found for key in company_keys(c, self.by_name)}

    async def update(
        self, existing: Company, built: Company, row: ImportRow, *, dry_run: bool
    ) -> bool:
        values = company_values(company_input(row.values), PREFIX)
        if dry_run:
            return bool(
                copy.deepcopy(existing).change(values, at=self.scope.now(), by=self.scope.subject)
            )

        async def change(company: Company) -> bool:
            return bool(company.change(values, at=self.scope.now(), by=self.scope.subject))

        before = existing.version
        saved = await self.scope.store.change_company(existing.id, change)
        return saved is not None and saved.version != before

    def prepare_insert(self, records: Sequence[Company], batch_id: str) -> None:
        self.scope.store.prepare_companies(records, batch_id)

    async def insert(self, records: Sequence[Company], batch_id: str) -> list[Company]:
        return await self.scope.store.add_companies(records, batch_id)

    async def get(self, ids: Sequence[str]) -> list[Company]:
        return await self.scope.store.get_companies(ids)


class CompanyResolver:
    """A batch's companies by domain, then by name: found once per batch; those not found
    are made (created with the first row that names them, unless a dry run)."""

    def __init__(self, scope: Scope, job_id: str) -> None:
        self.scope = scope
        self.job_id = job_id
        self.by_domain: dict[str, Company] = {}
        self.by_name: dict[str, Company] = {}
        self.made: dict[str, Company] = {}

    async def prepare(self, pairs: Sequence[tuple[str | None, str | None]]) -> None:
        domains = sorted({d for _, d in pairs if d})
        names = sorted({rules.name_key(n) for n, _ in pairs if n})
        store = self.scope.store
        for company in await store.companies_with_keys([], domains):
            if company.domain:
                self.by_domain[company.domain] = company
        for company in await store.find_companies_by_name_keys(names):
            if not company.deleted:
                self.by_name.setdefault(company.name_key, company)

    def find(self, name: str | None, domain: str | None) -> Company | None:
        """The stored company with this domain, else (when it has no other) this name."""
        if domain and domain in self.by_domain:
            return self.by_domain[domain]
        key = rules.name_key(name) if name else None
        if key and key in self.by_name and (not domain or not self.by_name[key].domain):
            return self.by_name[key]
        return None

    def resolve(self, name: str | None, domain: str | None) -> tuple[Company | None, bool]:
        """The company, and whether this import makes it (new: stored with the row)."""
        found = self.find(name, domain)
        if found is not None or (not name and not domain):
            return found, False
        made_key = f"domain:{domain}" if domain else f"name:{rules.name_key(name or '')}"
        if made_key in self.made:
            return self.made[made_key], False
        company_id = import_record_id(self.scope.workspace_id, self.job_id, made_key, 0)
        data = CompanyInput(name=name or domain, domain=domain)
        company = new_company(self.scope, company_id, self.job_id, data, None)
        self.made[made_key] = company
        return company, True


def company_ref(values: dict[str, Any]) -> tuple[str | None, str | None]:
    """The company a contact or interaction row names: (name, normalised domain)."""
    domain = text(values, "company_domain")
    return text(values, "company"), rules.normalise_domain(domain, f"{PREFIX}.company_domain")
