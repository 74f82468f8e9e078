"""NATS request/reply endpoints (micro protocol) for other services.

Reads for any role. Every request carries the caller's signed assertion (`crm_kit.rpc`)
and is answered from its workspace only, as the caller it names. Errors: UNAUTHENTICATED
(no valid assertion), FORBIDDEN, BAD_REQUEST (body not a JSON object, a missing or
malformed field), NOT_FOUND (no such record in the workspace), INTERNAL.
"""

from __future__ import annotations

from typing import Any

from crm_contracts import contacts as contract
from crm_kit.context import RequestContext
from crm_kit.errors import BadUserInput, NotFound
from crm_kit.rpc import READ, Endpoint, RpcError

from ..events.publish import company_snapshot, contact_snapshot
from ..usecases import lookups
from ..usecases.scope import Scopes

MAX_NAMES = 1000


def _string(payload: dict[str, Any], key: str) -> str:
    value = payload.get(key)
    if not isinstance(value, str) or not value.strip():
        raise RpcError("BAD_REQUEST", f"'{key}' must be a non-empty string")
    return value.strip()


def endpoints(scopes: Scopes) -> list[Endpoint]:
    async def contact_get(caller: RequestContext, payload: dict[str, Any]) -> dict[str, Any]:
        contact_id = _string(payload, "id")
        try:
            contact = await lookups.contact(scopes(caller), contact_id)
        except BadUserInput:
            raise RpcError("BAD_REQUEST", "'id' is not a valid id") from None
        except NotFound:
            raise RpcError("NOT_FOUND", f"no contact {contact_id}") from None
        return contact_snapshot(contact).wire()

    async def contact_find_by_email(caller: RequestContext, payload: dict[str, Any]) -> Any:
        email = _string(payload, "email")
        try:
            contact = await lookups.find_contact_by_email(scopes(caller), email)
        except BadUserInput:
            raise RpcError("BAD_REQUEST", "'email' is not an email address") from None
        return contact_snapshot(contact).wire() if contact else None

    async def company_get(caller: RequestContext, payload: dict[str, Any]) -> dict[str, Any]:
        company_id = _string(payload, "id")
        try:
            company = await lookups.company(scopes(caller), company_id)
        except BadUserInput:
            raise RpcError("BAD_REQUEST", "'id' is not a valid id") from None
        except NotFound:
            raise RpcError("NOT_FOUND", f"no company {company_id}") from None
        return company_snapshot(company).wire()

    async def company_find_by_name(
        caller: RequestContext, payload: dict[str, Any]
    ) -> dict[str, str]:
        names = payload.get("names")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise RpcError("BAD_REQUEST", "'names' must be a list of strings")
        if len(names) > MAX_NAMES:
            raise RpcError("BAD_REQUEST", f"at most {MAX_NAMES} names per request")
        return await lookups.find_companies_by_names(scopes(caller), names)

    return [
        Endpoint(
            "contact-get",
            contract.RPC_CONTACT_GET,
            contact_get,
            "A contact by id (deleted ones too, flagged): {id} -> ContactSnapshot",
            roles=READ,
        ),
        Endpoint(
            "contact-find-by-email",
            contract.RPC_CONTACT_FIND_BY_EMAIL,
            contact_find_by_email,
            "The live contact with this address, or null: {email} -> ContactSnapshot|null",
            roles=READ,
        ),
        Endpoint(
            "company-get",
            contract.RPC_COMPANY_GET,
            company_get,
            "A company by id (deleted ones too, flagged): {id} -> CompanySnapshot",
            roles=READ,
        ),
        Endpoint(
            "company-find-by-name",
            contract.RPC_COMPANY_FIND_BY_NAME,
            company_find_by_name,
            "Exact, case-insensitive names to ids: {names: [..]} -> {name: id}",
            roles=READ,
        ),
    ]
