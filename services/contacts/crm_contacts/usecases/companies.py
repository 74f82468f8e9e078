"""Creating, changing, deleting and restoring companies."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from crm_kit.access import require_change_visible
from crm_kit.errors import Conflict, NotFound
from crm_kit.ids import new_id
from crm_kit.unset import Unset

from ..domain import rules
from ..domain.company import Address, Company
from ..store.port import Change, DomainTaken
from .changes import change_one
from .inputs import CompanyInput
from .lookups import seen_id
from .scope import Scope
from .validation import custom_fields, owner, size, website


def company_values(data: CompanyInput, prefix: str) -> dict[str, Any]:
    """The validated attributes `data` gives (attribute -> value)."""
    values: dict[str, Any] = {}
    if not isinstance(data.name, Unset):
        values["name"] = rules.clean_text(data.name, f"{prefix}.name", required=True)
    if not isinstance(data.domain, Unset):
        values["domain"] = rules.normalise_domain(data.domain, f"{prefix}.domain")
    if not isinstance(data.industry, Unset):
        industry = rules.clean_text(data.industry, f"{prefix}.industry", limit=100)
        values["industry"] = industry.lower() if industry else None
    if not isinstance(data.size, Unset):
        values["size"] = size(data.size, f"{prefix}.size")
    if not isinstance(data.address, Unset):
        raw = data.address
        values["address"] = Address(
            **{
                key: rules.clean_text(getattr(raw, key) if raw else None, f"{prefix}.address.{key}")
                for key in ("street", "city", "region", "postal_code", "country")
            }
        )
    if not isinstance(data.website, Unset):
        values["website"] = website(data.website, f"{prefix}.website")
    if not isinstance(data.owner_id, Unset):
        values["owner_id"] = owner(data.owner_id, f"{prefix}.ownerId")
    if not isinstance(data.tags, Unset):
        values["tags"] = rules.normalise_tags(data.tags or [], f"{prefix}.tags")
    if not isinstance(data.custom_fields, Unset):
        values["custom_fields"] = custom_fields(data.custom_fields, f"{prefix}.customFields")
    return values


def build_company(scope: Scope, data: CompanyInput, prefix: str = "input") -> Company:
    """A new, validated company, not saved (create_company, and import dry runs)."""
    named = data if not isinstance(data.name, Unset) else replace(data, name=None)
    return Company.create(
        new_id(),
        scope.workspace_id,
        company_values(named, prefix),
        at=scope.now(),
        by=scope.subject,
    )


async def _domain_taken(
    scope: Scope, taken: DomainTaken, domain: str | None, prefix: str
) -> Conflict:
    """Names the company holding the domain only when the caller sees it."""
    existing_id = await seen_id(scope, "company", taken.existing_id)
    return Conflict(
        f"a company with domain {domain} exists",
        field=f"{prefix}.domain",
        **({"existingId": existing_id} if existing_id else {}),
    )


async def create_company(scope: Scope, data: CompanyInput, prefix: str = "input") -> Company:
    scope.require_write()
    company = build_company(scope, data, prefix)
    try:
        await scope.store.add_company(company)
    except DomainTaken as taken:
        raise await _domain_taken(scope, taken, company.domain, prefix) from None
    return company


async def _change(scope: Scope, company_id: str, change: Change[Company]) -> Company:
    seen = (await scope.access()).of("contact")  # companies are shared as contacts are

    async def held(company: Company) -> bool:
        # A company the caller cannot see is NOT_FOUND, as one that does not exist.
        not_found = NotFound(f"no company {company_id}", field="id")
        require_change_visible(
            scope.caller, seen, [company.owner_id], kind="company", not_found=not_found
        )
        return await change(company)

    return await change_one(
        scope.store.change_company,
        company_id,
        held,
        kind="company",
        taken=DomainTaken,
        conflict=lambda taken, company: _domain_taken(scope, taken, company.domain, "input"),
    )


async def update_company(
    scope: Scope, company_id: str, data: CompanyInput, prefix: str = "input"
) -> Company:
    scope.require_write()
    renamed = False

    async def update(company: Company) -> bool:
        nonlocal renamed
        if company.deleted:
            raise NotFound(f"company {company_id} is deleted", field="id", deleted=True)
        changed = company.change(company_values(data, prefix), at=scope.now(), by=scope.subject)
        renamed = "name" in changed
        return bool(changed)

    company = await _change(scope, company_id, update)
    if renamed:
        await scope.store.set_company_name(company.id, company.name_key)
    return company


async def delete_company(scope: Scope, company_id: str) -> Company:
    scope.require_write()

    async def delete(company: Company) -> bool:
        return company.delete(at=scope.now(), by=scope.subject)

    return await _change(scope, company_id, delete)


async def restore_company(scope: Scope, company_id: str) -> Company:
    scope.require_write()

    async def restore(company: Company) -> bool:
        return company.restore(at=scope.now(), by=scope.subject)

    return await _change(scope, company_id, restore)
