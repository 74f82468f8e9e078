"""Service constants and settings."""

from __future__ import annotations

import os

from crm_kit.settings import Settings

SERVICE = "contacts"
SOURCE = "crm/contacts"
VERSION = "1.0.0"

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


def load_settings() -> Settings:
    return Settings.from_env(SERVICE)


def default_phone_region() -> str:
    """Region assumed for phone numbers written without a +country prefix."""
    return os.environ.get("CONTACTS_PHONE_REGION", "US").upper()
