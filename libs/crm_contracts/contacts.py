"""Events published by the contacts service and its request/reply endpoints."""

from __future__ import annotations

from pydantic import Field, RootModel

from .audit_trail import AuditTrailReply, AuditTrailRequest
from .base import Payload, UtcDateTime
from .endpoints import COMMON_ERRORS, RpcEndpoint
from .envelope import event_subject
from .streams import rpc_subject

SERVICE = "contacts"

CONTACT_CREATED = event_subject(SERVICE, "contact", "created")
CONTACT_UPDATED = event_subject(SERVICE, "contact", "updated")
CONTACT_DELETED = event_subject(SERVICE, "contact", "deleted")
CONTACT_RESTORED = event_subject(SERVICE, "contact", "restored")
CONTACT_MERGED = event_subject(SERVICE, "contact", "merged")
COMPANY_CREATED = event_subject(SERVICE, "company", "created")
COMPANY_UPDATED = event_subject(SERVICE, "company", "updated")
COMPANY_DELETED = event_subject(SERVICE, "company", "deleted")
COMPANY_RESTORED = event_subject(SERVICE, "company", "restored")
INTERACTION_LOGGED = event_subject(SERVICE, "interaction", "logged")
INTERACTION_UPDATED = event_subject(SERVICE, "interaction", "updated")
INTERACTION_REMOVED = event_subject(SERVICE, "interaction", "removed")

RPC_CONTACT_GET = rpc_subject(SERVICE, "contact", "get")
RPC_CONTACT_FIND_BY_EMAIL = rpc_subject(SERVICE, "contact", "find_by_email")
RPC_COMPANY_GET = rpc_subject(SERVICE, "company", "get")
RPC_COMPANY_FIND_BY_NAME = rpc_subject(SERVICE, "company", "find_by_name")
RPC_CONTACT_FIND_BY_EMAILS = rpc_subject(SERVICE, "contact", "find_by_emails")
RPC_COMPANY_FIND_BY_DOMAINS = rpc_subject(SERVICE, "company", "find_by_domains")
# What another owner's import rows refer to (deals, tasks: companies, contacts), one
# request per batch (crm_contracts.import_batches).
RPC_IMPORT_REFERENCES = rpc_subject(SERVICE, "import", "references")
RPC_AUDIT_TRAIL = rpc_subject(SERVICE, "audit", "trail")
RPC_CONTACT_CREATE = rpc_subject(SERVICE, "contact", "create")
RPC_RECORDS_CHECK = rpc_subject(SERVICE, "records", "check")


class ContactSnapshot(Payload):
    id: str
    first_name: str
    last_name: str
    email: str | None = None
    emails: list[str] = []
    phones: list[str] = []
    title: str | None = None
    company_id: str | None = None
    owner_id: str | None = None
    lifecycle_stage: str
    tags: list[str] = []
    source: str | None = None
    # Added after v1 was first published (additive): record-keeping fields.
    deleted: bool = False
    merged_into: str | None = None
    updated_at: UtcDateTime | None = None


class ContactCreated(Payload):
    contact: ContactSnapshot


class ContactUpdated(Payload):
    contact: ContactSnapshot
    changed_fields: list[str]


class ContactDeleted(Payload):
    id: str
    company_id: str | None = None
    # Added (additive): the deleted contact's email, for consumers that index by it.
    email: str | None = None


class ContactRestored(Payload):
    contact: ContactSnapshot


class ContactMerged(Payload):
    """The merged contact is gone; every reference to `merged_id` must now point at
    `survivor_id`."""

    survivor_id: str
    merged_id: str
    moved_interactions: int
    # Added (additive): the survivor after the merge and the merged contact's emails.
    survivor: ContactSnapshot | None = None
    merged_emails: list[str] = []


class CompanySnapshot(Payload):
    id: str
    name: str
    domain: str | None = None
    industry: str | None = None
    owner_id: str | None = None
    tags: list[str] = []
    # Added after v1 was first published (additive).
    size: int | None = None
    website: str | None = None
    country: str | None = None
    deleted: bool = False
    updated_at: UtcDateTime | None = None


class CompanyCreated(Payload):
    company: CompanySnapshot


class CompanyUpdated(Payload):
    company: CompanySnapshot
    changed_fields: list[str]


class CompanyDeleted(Payload):
    id: str


class CompanyRestored(Payload):
    company: CompanySnapshot


class InteractionLogged(Payload):
    id: str
    kind: str  # email, call, meeting, note, web_visit
    occurred_at: UtcDateTime
    direction: str | None = None  # inbound, outbound
    subject: str | None = None
    contact_ids: list[str] = []
    company_id: str | None = None
    deal_id: str | None = None
    logged_by: str | None = None
    # Added (additive).
    summary: str | None = None
    duration_seconds: int | None = None
    # Added (additive): where it came from (`capture`: an email, meeting or web visit the
    # capture service recorded; null: logged by a person) and who took part (addresses).
    source: str | None = None
    participants: list[str] = []


class InteractionUpdated(InteractionLogged):
    """A captured interaction changed (a meeting moved, a web session grew): the same
    fields as when it was logged, as it is now."""


class InteractionRemoved(Payload):
    """A captured interaction left the timeline (its meeting was cancelled)."""

    id: str
    kind: str
    contact_ids: list[str] = []
    company_id: str | None = None
    deal_id: str | None = None
    source: str | None = None


# Request/reply bodies (JSON, camelCase). Requests carry the caller's signed assertion in
# the `crm-assertion` header (crm_kit.rpc); replies are `{"data": ...}` or
# `{"error": {"code", "message"}}`.


class ContactGetRequest(Payload):
    id: str


class ContactFindByEmailRequest(Payload):
    email: str


class CompanyGetRequest(Payload):
    id: str


class CompanyFindByNameRequest(Payload):
    names: list[str]


class ContactFindByEmailsRequest(Payload):
    emails: list[str]  # at most 100


class CompanyFindByDomainsRequest(Payload):
    domains: list[str]  # at most 100


class ContactImportReferencesRequest(Payload):
    """Up to 1,000 of each: company names (exact, case-insensitive), company domains and
    contact email addresses."""

    company_names: list[str] = Field(default=[], max_length=1000)
    company_domains: list[str] = Field(default=[], max_length=1000)
    emails: list[str] = Field(default=[], max_length=1000)


class ContactImportReferences(Payload):
    """Reply of import.references: each name, domain or address found (as asked) -> the
    id of the live company or contact."""

    company_names: dict[str, str] = {}
    company_domains: dict[str, str] = {}
    emails: dict[str, str] = {}


class ContactCreateRequest(Payload):
    """Create a contact (the caller must be allowed to write); CONFLICT when the address
    belongs to a contact already (the reply's message names it)."""

    first_name: str
    last_name: str | None = None
    email: str
    company_id: str | None = None
    source: str | None = None


class RecordsCheckRequest(Payload):
    """Ids another service's record is about to reference (a deal's contacts and company,
    a task's contact and company): at most 100 of each."""

    contact_ids: list[str] = []
    company_ids: list[str] = []


class RecordsCheckReply(Payload):
    """The asked ids that name no live record in the caller's workspace (absent, another
    workspace's, deleted or merged away), in the order asked."""

    missing_contact_ids: list[str]
    missing_company_ids: list[str]


# Reply of contact.get and contact.find_by_email (`data` is null when find_by_email finds
# nothing); reply of company.get.
ContactReply = ContactSnapshot
CompanyReply = CompanySnapshot
# Reply of contact.find_by_emails: `{"<address as asked>": ContactSnapshot, ...}` for the
# addresses a live contact holds; of company.find_by_domains: `{"<domain>": CompanySnapshot}`
# for the domains of live companies; of contact.create: the new ContactSnapshot.
# Reply of company.find_by_name: `{"<requested name>": "<company id>", ...}` for the names
# found (exact match, case-insensitive, surrounding/inner whitespace normalised).


class CompaniesByName(RootModel[dict[str, str]]):
    """Reply of company.find_by_name: each requested name found -> its company id."""


class ContactsByEmail(RootModel[dict[str, ContactSnapshot]]):
    """Reply of contact.find_by_emails: each address a live contact holds -> the contact."""


class CompaniesByDomain(RootModel[dict[str, CompanySnapshot]]):
    """Reply of company.find_by_domains: each domain of a live company -> the company."""


EVENTS: dict[str, type[Payload]] = {
    CONTACT_CREATED: ContactCreated,
    CONTACT_UPDATED: ContactUpdated,
    CONTACT_DELETED: ContactDeleted,
    CONTACT_RESTORED: ContactRestored,
    CONTACT_MERGED: ContactMerged,
    COMPANY_CREATED: CompanyCreated,
    COMPANY_UPDATED: CompanyUpdated,
    COMPANY_DELETED: CompanyDeleted,
    COMPANY_RESTORED: CompanyRestored,
    INTERACTION_LOGGED: InteractionLogged,
    INTERACTION_UPDATED: InteractionUpdated,
    INTERACTION_REMOVED: InteractionRemoved,
}

ENDPOINTS: tuple[RpcEndpoint, ...] = (
    RpcEndpoint(
        RPC_AUDIT_TRAIL,
        "One page of the audit trail of a contact, company or interaction, as the caller "
        "may read it (the platform's `auditTrail(recordId)` asks each service).",
        AuditTrailRequest,
        AuditTrailReply,
        roles="read",
        errors=(*COMMON_ERRORS, "NOT_FOUND"),
    ),
    RpcEndpoint(
        RPC_CONTACT_GET,
        "A contact by id (deleted ones too, flagged).",
        ContactGetRequest,
        ContactReply,
        roles="read",
        errors=(*COMMON_ERRORS, "NOT_FOUND"),
    ),
    RpcEndpoint(
        RPC_CONTACT_FIND_BY_EMAIL,
        "The live contact with this address; null when there is none.",
        ContactFindByEmailRequest,
        ContactReply,
        roles="read",
        nullable=True,
    ),
    RpcEndpoint(
        RPC_COMPANY_GET,
        "A company by id (deleted ones too, flagged).",
        CompanyGetRequest,
        CompanyReply,
        roles="read",
        errors=(*COMMON_ERRORS, "NOT_FOUND"),
    ),
    RpcEndpoint(
        RPC_COMPANY_FIND_BY_NAME,
        "Company ids of up to 1,000 exact names (case-insensitive, whitespace normalised).",
        CompanyFindByNameRequest,
        CompaniesByName,
        roles="read",
    ),
    RpcEndpoint(
        RPC_CONTACT_FIND_BY_EMAILS,
        "The live contacts holding up to 100 addresses (case-insensitive).",
        ContactFindByEmailsRequest,
        ContactsByEmail,
        roles="read",
    ),
    RpcEndpoint(
        RPC_COMPANY_FIND_BY_DOMAINS,
        "The live companies of up to 100 domains.",
        CompanyFindByDomainsRequest,
        CompaniesByDomain,
        roles="read",
    ),
    RpcEndpoint(
        RPC_IMPORT_REFERENCES,
        "Ids of the live companies and contacts an import batch names (names, domains, "
        "emails; up to 1,000 each): one request per batch.",
        ContactImportReferencesRequest,
        ContactImportReferences,
        roles="read",
    ),
    RpcEndpoint(
        RPC_CONTACT_CREATE,
        "Create a contact as the caller; CONFLICT when a contact holds the address already.",
        ContactCreateRequest,
        ContactReply,
        roles="write",
        errors=(*COMMON_ERRORS, "NOT_FOUND", "CONFLICT"),
    ),
    RpcEndpoint(
        RPC_RECORDS_CHECK,
        "Which of up to 100 contact ids and 100 company ids name no live record in the "
        "workspace (what a reference to them would point at).",
        RecordsCheckRequest,
        RecordsCheckReply,
        roles="read",
    ),
)
