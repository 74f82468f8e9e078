"""NATS request/reply endpoints (micro protocol) for other services.

Reads for any role. Every request carries the caller's signed assertion (`crm_kit.rpc`)
and is answered from its workspace only, as the caller it names. Errors: UNAUTHENTICATED
(no valid assertion), FORBIDDEN, BAD_REQUEST (body not a JSON object, a missing or
malformed field), NOT_FOUND (no such record in the workspace), INTERNAL.
"""

from __future__ import annotations

from typing import Any

from crm_contracts import contacts as contract
from crm_kit.audit_rpc import trail_endpoint
from crm_kit.context import RequestContext
from crm_kit.errors import BadUserInput, Conflict, Forbidden, NotFound
from crm_kit.rpc import READ, WRITE, Endpoint, RpcError

from ..domain.contact import Contact
from ..events.publish import company_snapshot, contact_snapshot
from ..usecases import audit, contacts, lookups, visibility
from ..usecases.inputs import ContactInput
from ..usecases.scope import Scope, Scopes

MAX_NAMES = 1000
# Addresses or domains per look-up (a message's participants, a few dozen at most).
MAX_KEYS = 100


def _string(payload: dict[str, Any], key: str) -> str:
    value = payload.get(key)
    if not isinstance(value, str) or not value.strip():
        raise RpcError("BAD_REQUEST", f"'{key}' must be a non-empty string")
    return value.strip()


def _strings(payload: dict[str, Any], key: str, limit: int) -> list[str]:
    values = payload.get(key)
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise RpcError("BAD_REQUEST", f"'{key}' must be a list of strings")
    if len(values) > limit:
        raise RpcError("BAD_REQUEST", f"at most {limit} {key} per request")
    return values


def _optional(payload: dict[str, Any], key: str) -> str | None:
    value = payload.get(key)
    if value is not None and not isinstance(value, str):
        raise RpcError("BAD_REQUEST", f"'{key}' must be a string")
    return value


async def contact_json(scope: Scope, contact: Contact) -> dict[str, Any]:
    """The contact as the caller may read it: addresses and numbers null for a role the
    workspace does not let read them (crm_kit.sharing)."""
    body = contact_snapshot(contact).wire()
    if not await visibility.reads(scope, visibility.EMAIL):
        body.update(email=None, emails=None)
    if not await visibility.reads(scope, visibility.PHONE):
        body.update(phones=None)
    return body


async def _require_emails(scope: Scope) -> None:
    """Finding contacts by address tells the address: not for a role that may not read
    them."""
    if not await visibility.reads(scope, visibility.EMAIL):
        raise RpcError("FORBIDDEN", "your role may not read email addresses")


def endpoints(scopes: Scopes) -> list[Endpoint]:
    async def contact_get(caller: RequestContext, payload: dict[str, Any]) -> dict[str, Any]:
        contact_id = _string(payload, "id")
        scope = scopes(caller)
        try:
            contact = await lookups.contact(scope, contact_id)
        except BadUserInput:
            raise RpcError("BAD_REQUEST", "'id' is not a valid id") from None
        except NotFound:
            raise RpcError("NOT_FOUND", f"no contact {contact_id}") from None
        return await contact_json(scope, contact)

    async def contact_find_by_email(caller: RequestContext, payload: dict[str, Any]) -> Any:
        email = _string(payload, "email")
        scope = scopes(caller)
        await _require_emails(scope)
        try:
            contact = await lookups.find_contact_by_email(scope, email)
        except BadUserInput:
            raise RpcError("BAD_REQUEST", "'email' is not an email address") from None
        return await contact_json(scope, contact) if contact else None

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

    async def contact_find_by_emails(
        caller: RequestContext, payload: dict[str, Any]
    ) -> dict[str, Any]:
        emails = _strings(payload, "emails", MAX_KEYS)
        scope = scopes(caller)
        await _require_emails(scope)
        try:
            found = await lookups.find_contacts_by_emails(scope, emails)
        except BadUserInput as error:
            raise RpcError("BAD_REQUEST", f"{error.field}: {error.message}") from None
        return {email: await contact_json(scope, contact) for email, contact in found.items()}

    async def company_find_by_domains(
        caller: RequestContext, payload: dict[str, Any]
    ) -> dict[str, Any]:
        domains = _strings(payload, "domains", MAX_KEYS)
        try:
            found = await lookups.find_companies_by_domains(scopes(caller), domains)
        except BadUserInput as error:
            raise RpcError("BAD_REQUEST", f"{error.field}: {error.message}") from None
        return {domain: company_snapshot(company).wire() for domain, company in found.items()}

    async def contact_create(caller: RequestContext, payload: dict[str, Any]) -> dict[str, Any]:
        data = ContactInput(
            first_name=_string(payload, "firstName"),
            last_name=_optional(payload, "lastName"),
            email=_string(payload, "email"),
            company_id=_optional(payload, "companyId"),
            source=_optional(payload, "source"),
        )
        scope = scopes(caller)
        try:
            contact = await contacts.create_contact(scope, data)
        except BadUserInput as error:
            raise RpcError("BAD_REQUEST", f"{error.field}: {error.message}") from None
        except Conflict as error:
            raise RpcError("CONFLICT", error.message) from None
        except NotFound as error:
            raise RpcError("NOT_FOUND", error.message) from None
        except Forbidden as error:
            raise RpcError("FORBIDDEN", error.message) from None
        return await contact_json(scope, contact)

    async def records_check(caller: RequestContext, payload: dict[str, Any]) -> dict[str, Any]:
        contact_ids = _strings(payload, "contactIds", MAX_KEYS) if "contactIds" in payload else []
        company_ids = _strings(payload, "companyIds", MAX_KEYS) if "companyIds" in payload else []
        missing = await lookups.missing_references(scopes(caller), contact_ids, company_ids)
        return contract.RecordsCheckReply(
            missing_contact_ids=missing[0], missing_company_ids=missing[1]
        ).wire()

    return [
        trail_endpoint(contract.RPC_AUDIT_TRAIL, scopes, audit.readable),
        Endpoint(
            "records-check",
            contract.RPC_RECORDS_CHECK,
            records_check,
            "Ids that name no live record: {contactIds?, companyIds?} -> "
            "{missingContactIds, missingCompanyIds}",
            roles=READ,
        ),
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
        Endpoint(
            "contact-find-by-emails",
            contract.RPC_CONTACT_FIND_BY_EMAILS,
            contact_find_by_emails,
            "Live contacts holding these addresses: {emails: [..]} -> {email: ContactSnapshot}",
            roles=READ,
        ),
        Endpoint(
            "company-find-by-domains",
            contract.RPC_COMPANY_FIND_BY_DOMAINS,
            company_find_by_domains,
            "Live companies with these domains: {domains: [..]} -> {domain: CompanySnapshot}",
            roles=READ,
        ),
        Endpoint(
            "contact-create",
            contract.RPC_CONTACT_CREATE,
            contact_create,
            "Create a contact as the caller: {firstName, lastName?, email, companyId?, "
            "source?} -> ContactSnapshot (CONFLICT: the address is taken)",
            roles=WRITE,
        ),
    ]
