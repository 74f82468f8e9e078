"""What lists of the domain can be narrowed and ordered by: the specifications the use
cases take and the store answers (`crm_contacts.store.filters` turns each into one
filter, for every backend)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from crm_kit.pagination import Cursor


@dataclass
class ContactQuery:
    first: int
    after: Cursor | None = None
    text: str | None = None  # lower-case
    owner_id: str | None = None
    lifecycle_stage: str | None = None
    tag: str | None = None
    company_id: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    include_deleted: bool = False
    # Record sharing (`crm_kit.sharing`): only records owned by one of these (or by
    # nobody); None: all. Set by the read use cases.
    visible_to: frozenset[str] | None = None
    # `text` in the names only, not in the addresses (a caller who may not read them).
    names_only: bool = False
    # created_at | updated_at | last_name_key (attributes of Contact)
    order_field: str = "created_at"
    descending: bool = True


@dataclass
class CompanyQuery:
    first: int
    after: Cursor | None = None
    text: str | None = None  # lower-case
    owner_id: str | None = None
    tag: str | None = None
    industry: str | None = None
    include_deleted: bool = False
    # Record sharing (`crm_kit.sharing`): only records owned by one of these (or by
    # nobody); None: all. Set by the read use cases.
    visible_to: frozenset[str] | None = None
    # created_at | updated_at | name_key (attributes of Company)
    order_field: str = "created_at"
    descending: bool = True


@dataclass
class InteractionQuery:
    """A timeline, newest first: of one contact or of one company."""

    first: int
    after: Cursor | None = None
    contact_id: str | None = None
    company_id: str | None = None
