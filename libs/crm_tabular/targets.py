"""The record types a file can be imported as, and their fields: the one place that says
which fields exist, their types, which are required and which column names suggest them.

Field names follow the importers and the GraphQL create inputs in snake_case (`owner_id`,
`address.postal_code`, `engaged_at`). Companies, contacts and deals also take
`custom.<key>` fields (the record's custom fields); interactions and tasks have none.
References to other records are by what a file holds: a company by name or domain, a
contact by email, a deal by its external id; the import service resolves them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .values import FieldType

T = FieldType
CUSTOM_PREFIX = "custom."
MAX_CUSTOM_KEY = 64  # characters of a custom field's name


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    type: FieldType
    doc: str
    required: bool = False
    aliases: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()
    # A moment that has happened by the time of import (a creation, a closing): the
    # consistency rules flag one in the future.
    past: bool = False


@dataclass(frozen=True, slots=True)
class TargetSpec:
    name: str
    doc: str
    fields: tuple[FieldSpec, ...]
    # Fields that identify a record: duplicates in a file are judged on each of them.
    identity: tuple[str, ...] = ()
    # Whether the record type has custom fields (`custom.<key>`).
    takes_custom: bool = True
    by_name: dict[str, FieldSpec] = field(init=False, repr=False, compare=False)
    past: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {spec.name: spec for spec in self.fields})
        object.__setattr__(self, "past", tuple(spec.name for spec in self.fields if spec.past))

    def field(self, name: str) -> FieldSpec | None:
        """The spec of `name`; `custom.<key>` fields are AUTO unless a rule types them."""
        spec = self.by_name.get(name)
        if spec is None and self.takes_custom and custom_key(name) is not None:
            return FieldSpec(name, T.AUTO, "a custom field")
        return spec

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.fields if spec.required)


def custom_key(name: str) -> str | None:
    """`custom.revenue` -> `revenue`; None for anything that is no custom field name."""
    if not name.startswith(CUSTOM_PREFIX):
        return None
    key = name.removeprefix(CUSTOM_PREFIX)
    return key if is_custom_key(key) else None


def is_custom_key(key: str) -> bool:
    """Whether `key` may name a custom field: the platform's one rule (the API applies it
    through `crm_kit.custom_fields`). Keys are MongoDB field names under `custom_fields`,
    so no `.` (a path) and no leading `$` (an operator); no control characters; spaces
    and punctuation are kept, as people head their columns ("Deal size (USD)")."""
    return (
        0 < len(key) <= MAX_CUSTOM_KEY
        and bool(key.strip())
        and "." not in key
        and not key.startswith("$")
        and not any(ord(c) < 32 or ord(c) == 127 for c in key)
    )


def _common(record: str) -> tuple[FieldSpec, ...]:
    return (
        FieldSpec(
            "external_id", T.TEXT, f"the {record}'s id in the system it comes from; a "
            "re-import skips what it already brought", aliases=("id", f"{record} id",
            "record id", "external id", "source id"),
        ),
        FieldSpec(
            "created_at", T.DATETIME, f"when the {record} was created (from the data, "
            "not the import's time)", aliases=("created", "created date", "create date",
            "date created", "creation date", "created on"), past=True,
        ),
    )  # fmt: skip


ADDRESS = (
    FieldSpec("address.street", T.TEXT, "street and number",
              aliases=("street", "address", "address line 1", "street address")),
    FieldSpec("address.city", T.TEXT, "city", aliases=("city", "town")),
    FieldSpec("address.region", T.TEXT, "state, province or region",
              aliases=("region", "state", "province", "county")),
    FieldSpec("address.postal_code", T.TEXT, "postal code",
              aliases=("postal code", "zip", "zip code", "postcode")),
    FieldSpec("address.country", T.TEXT, "country",
              aliases=("country", "office location", "office_location")),
)  # fmt: skip

COMPANIES = TargetSpec(
    "companies",
    "Companies (accounts): createCompany's fields.",
    (
        FieldSpec("name", T.TEXT, "the company's name", required=True,
                  aliases=("company", "company name", "account", "account name",
                           "organization", "organisation", "organization name")),
        FieldSpec("domain", T.DOMAIN, "web domain (`acme.com`); a URL is cut to its domain",
                  aliases=("company domain", "domain name", "web domain")),
        FieldSpec("website", T.URL, "web address",
                  aliases=("web", "url", "homepage", "web site", "site")),
        FieldSpec("industry", T.TEXT, "industry", aliases=("sector", "vertical")),
        FieldSpec("size", T.INTEGER, "number of employees",
                  aliases=("employees", "employee count", "headcount",
                           "number of employees", "company size")),
        FieldSpec("owner_id", T.TEXT, "owning user",
                  aliases=("owner", "account owner", "company owner")),
        FieldSpec("tags", T.LIST, "labels, `;`- or `,`-separated", aliases=("labels", "tag")),
        *ADDRESS,
        *_common("company"),
    ),
    identity=("external_id", "domain"),
)  # fmt: skip

CONTACTS = TargetSpec(
    "contacts",
    "People: createContact's fields; the company by name or by domain.",
    (
        FieldSpec("first_name", T.TEXT, "first name", required=True,
                  aliases=("first", "firstname", "given name", "forename")),
        FieldSpec("last_name", T.TEXT, "last name",
                  aliases=("last", "lastname", "surname", "family name")),
        FieldSpec("email", T.EMAIL, "main email address",
                  aliases=("email address", "e-mail", "mail", "work email")),
        FieldSpec("emails", T.LIST, "more email addresses",
                  aliases=("other emails", "additional emails", "secondary email")),
        FieldSpec("phones", T.LIST, "phone numbers",
                  aliases=("phone", "phone number", "mobile", "telephone", "tel", "cell",
                           "mobile phone", "work phone")),
        FieldSpec("title", T.TEXT, "job title",
                  aliases=("job title", "position", "role", "job")),
        FieldSpec("company", T.TEXT, "the company's name",
                  aliases=("company name", "account", "account name", "organization",
                           "organisation")),
        FieldSpec("company_domain", T.DOMAIN, "the company's web domain",
                  aliases=("company website", "company domain", "website", "domain")),
        FieldSpec("owner_id", T.TEXT, "owning user", aliases=("owner", "contact owner")),
        FieldSpec("lifecycle_stage", T.ENUM, "where the person is in the funnel",
                  aliases=("lifecycle stage", "lifecycle", "stage", "status"),
                  choices=("lead", "prospect", "customer", "churned")),
        FieldSpec("tags", T.LIST, "labels", aliases=("labels", "tag")),
        FieldSpec("source", T.TEXT, "where the contact came from",
                  aliases=("lead source", "origin")),
        *_common("contact"),
    ),
    identity=("external_id", "email"),
)  # fmt: skip

DEALS = TargetSpec(
    "deals",
    "Opportunities: the deals importer's fields; closed deals get their history.",
    (
        FieldSpec("external_id", T.TEXT, "the deal's id in the source; a re-import skips it",
                  aliases=("opportunity id", "opportunity_id", "deal id", "id", "record id")),
        FieldSpec("title", T.TEXT, "deal name (default: product for company)",
                  aliases=("deal name", "name", "opportunity", "opportunity name", "deal")),
        FieldSpec("owner", T.TEXT, "the sales rep (a user)",
                  aliases=("sales agent", "sales_agent", "deal owner", "rep", "salesperson",
                           "sales rep", "owner name")),
        FieldSpec("product", T.TEXT, "product sold", aliases=("product name", "item")),
        FieldSpec("company", T.TEXT, "the company's name",
                  aliases=("account", "account name", "company name", "organization",
                           "organisation")),
        FieldSpec("company_domain", T.DOMAIN, "the company's web domain (looked up first)",
                  aliases=("company domain", "company website", "account domain", "domain")),
        FieldSpec("contact_email", T.EMAIL, "the primary contact, by email address",
                  aliases=("contact email", "primary contact", "contact", "email")),
        FieldSpec("stage", T.TEXT, "a stage key or name of the pipeline; won and lost close",
                  required=True,
                  aliases=("deal stage", "deal_stage", "status", "pipeline stage", "outcome")),
        FieldSpec("engaged_at", T.DATE, "first contact: the deal's start",
                  aliases=("engage date", "engage_date", "engaged", "first contact",
                           "start date", "engagement date"), past=True),
        FieldSpec("close_date", T.DATE, "when a won or lost deal closed",
                  aliases=("close date", "closed", "closed at", "closing date", "won date",
                           "date closed")),
        FieldSpec("expected_close_date", T.DATE, "when an open deal should close",
                  aliases=("expected close date", "expected close", "forecast close date")),
        FieldSpec("amount", T.AMOUNT, "the deal's value",
                  aliases=("close value", "close_value", "value", "deal value", "deal amount",
                           "revenue", "price")),
        FieldSpec("currency", T.CURRENCY, "ISO 4217 code (default: the mapping's currency)",
                  aliases=("currency code", "deal currency")),
        FieldSpec("source", T.TEXT, "lead source", aliases=("lead source", "origin")),
        FieldSpec("pipeline", T.TEXT, "pipeline id or name (default: the default pipeline)",
                  aliases=("pipeline name",)),
        FieldSpec("created_at", T.DATETIME, "when the deal was created (default: the "
                  "earliest of its dates)", aliases=("created", "created date",
                  "create date", "date created", "creation date"), past=True),
    ),
    identity=("external_id",),
)  # fmt: skip

INTERACTIONS = TargetSpec(
    "interactions",
    "Timeline entries: logInteraction's fields; people by email, deals by external id.",
    (
        FieldSpec("kind", T.ENUM, "what happened", required=True,
                  aliases=("type", "activity type", "activity", "interaction type"),
                  choices=("email", "call", "meeting", "note", "web_visit")),
        FieldSpec("occurred_at", T.DATETIME, "when it happened",
                  aliases=("date", "activity date", "timestamp", "when", "occurred",
                           "time"), past=True),
        FieldSpec("subject", T.TEXT, "subject line", aliases=("title", "topic")),
        FieldSpec("summary", T.TEXT, "what was said or done",
                  aliases=("notes", "body", "description", "details", "note")),
        FieldSpec("direction", T.ENUM, "inbound or outbound",
                  aliases=("in/out",), choices=("inbound", "outbound")),
        FieldSpec("duration_seconds", T.INTEGER, "length in seconds",
                  aliases=("duration", "length", "seconds")),
        FieldSpec("contact_email", T.EMAIL, "the person, by email address",
                  aliases=("contact", "email", "contact email", "participant email")),
        FieldSpec("participants", T.LIST, "other people, by email address",
                  aliases=("attendees", "other participants")),
        FieldSpec("company", T.TEXT, "the company's name",
                  aliases=("company name", "account", "organization")),
        FieldSpec("deal_external_id", T.TEXT, "the deal, by its external id",
                  aliases=("deal id", "opportunity id", "deal")),
        FieldSpec("external_id", T.TEXT, "the entry's id in the source",
                  aliases=("id", "activity id", "record id", "interaction id")),
    ),
    identity=("external_id",),
    takes_custom=False,
)  # fmt: skip

TASKS = TargetSpec(
    "tasks",
    "To-dos: createTask's fields; the deal by external id, the contact by email.",
    (
        FieldSpec("title", T.TEXT, "what to do", required=True,
                  aliases=("task", "subject", "name", "task name")),
        FieldSpec("type", T.ENUM, "kind of task", aliases=("task type", "kind"),
                  choices=("call", "email", "meeting", "todo", "follow_up")),
        FieldSpec("priority", T.ENUM, "urgency", aliases=("importance",),
                  choices=("low", "normal", "high", "urgent")),
        FieldSpec("status", T.ENUM, "progress", aliases=("state", "task status"),
                  choices=("open", "in_progress", "done", "cancelled")),
        FieldSpec("description", T.TEXT, "details",
                  aliases=("notes", "details", "body", "comments")),
        FieldSpec("due_at", T.DATETIME, "deadline", aliases=("due", "due date", "deadline")),
        FieldSpec("remind_at", T.DATETIME, "when to remind",
                  aliases=("reminder", "remind", "reminder date")),
        FieldSpec("assignee_id", T.TEXT, "the user who does it",
                  aliases=("assignee", "assigned to", "owner", "task owner")),
        FieldSpec("team", T.TEXT, "the team, by name", aliases=("team name", "queue")),
        FieldSpec("deal_external_id", T.TEXT, "the deal, by its external id",
                  aliases=("deal id", "opportunity id", "deal")),
        FieldSpec("contact_email", T.EMAIL, "the person, by email address",
                  aliases=("contact", "email", "contact email")),
        FieldSpec("company", T.TEXT, "the company's name",
                  aliases=("company name", "account", "organization")),
        *_common("task"),
    ),
    identity=("external_id",),
    takes_custom=False,
)  # fmt: skip

TARGETS: dict[str, TargetSpec] = {
    spec.name: spec for spec in (COMPANIES, CONTACTS, DEALS, INTERACTIONS, TASKS)
}
