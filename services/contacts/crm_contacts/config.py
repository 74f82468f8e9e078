"""Service constants and settings."""

from __future__ import annotations

import os

from crm_kit.audit import Audited, AuditPolicy
from crm_kit.settings import Settings, with_index_env

SERVICE = "contacts"
SOURCE = "crm/contacts"
VERSION = "1.0.0"
# The list indexes (store/indexed.py): CONTACTS_INDEX, CONTACTS_INDEX_REBUILD_SECONDS,
# CONTACTS_INDEX_CHANGE_LOG.
INDEX_PREFIX = "CONTACTS"

CONTACTS = "contacts"
COMPANIES = "companies"
INTERACTIONS = "interactions"
MERGES = "merges"
# Derived look-up table email -> contact (FerretDB answers only `_id` from an index).
EMAIL_CLAIMS = "contact_emails"
# Derived look-up table domain -> company (the same reason).
DOMAIN_CLAIMS = "company_domains"
# The durable consumer turning captured emails, meetings and visits into interactions.
DURABLE_CAPTURES = "contacts-captures"
# Collections whose documents carry an outbox.
# One outbox document per import batch: its records' events (`DocumentWriter.insert_batch`).
IMPORT_BATCHES = "import_batches"
OUTBOX_COLLECTIONS = (CONTACTS, COMPANIES, INTERACTIONS, IMPORT_BATCHES)
# Fields derived at write time (search and sort keys), the version and the stamps the
# audit entry carries itself: no diff shows them (crm_kit.audit).
_DERIVED = frozenset(
    {"version", "search_text", "created_at", "updated_at", "created_by", "updated_by"}
)
AUDIT = AuditPolicy(
    SERVICE,
    {
        CONTACTS: Audited("contact", _DERIVED | {"email_key", "last_name_key"}),
        COMPANIES: Audited("company", _DERIVED | {"name_key", "domain_key"}),
        INTERACTIONS: Audited(
            "interaction", frozenset({"revision", "created_at"}), deleted_field="removed_at"
        ),
    },
)


def load_settings() -> Settings:
    return with_index_env(Settings.from_env(SERVICE), INDEX_PREFIX)


def default_phone_region() -> str:
    """Region assumed for phone numbers written without a +country prefix."""
    return os.environ.get("CONTACTS_PHONE_REGION", "US").upper()


# The durable consumer keeping this service's view of teams and sharing settings.
ACCESS_VIEW_CONSUMER = "contacts-access-view"


def import_batches_at_once() -> int:
    """Companies batches one process writes at once (CONTACTS_IMPORT_BATCHES_AT_ONCE, default
    2): a batch waits on the database about half its time, during which the next one is
    built. Contacts and interactions batches come one at a time anyway (the import service
    sends them so: they may make companies the next batch finds)."""
    return max(1, int(os.environ.get("CONTACTS_IMPORT_BATCHES_AT_ONCE", "2")))
