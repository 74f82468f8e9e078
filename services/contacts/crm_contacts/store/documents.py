"""The Mongo adapter's mapping between domain records and documents (`to_doc`/`from_doc`),
and how each kind of record is stored (`crm_kit.records.RecordType`).

Custom fields are stored as a JSON string: their keys are user-defined and MongoDB forbids
keys containing `.` or starting with `$`. Derived fields (search text, sort keys, the
unique email key) are written here, at write time, because FerretDB v1 cannot compute
them in a query; the filters (`filters.py`) and sort orders name them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from crm_kit.records import RecordType

from ..config import COMPANIES, CONTACTS, INTERACTIONS, MERGES
from ..domain.company import Address, Company
from ..domain.contact import Contact, LifecycleStage
from ..domain.interaction import Direction, Interaction, InteractionKind
from ..domain.merge import MergeRecord


def _custom_out(values: dict[str, Any]) -> str:
    return orjson.dumps(values).decode() if values else ""


def _custom_in(raw: str | None) -> dict[str, Any]:
    return orjson.loads(raw) if raw else {}


def contact_to_doc(contact: Contact) -> dict[str, Any]:
    return {
        "_id": contact.id,
        "workspace_id": contact.workspace_id,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "email": contact.email,
        "emails": list(contact.emails),
        "email_key": contact.email_key,
        "phones": list(contact.phones),
        "title": contact.title,
        "company_id": contact.company_id,
        "company_name": contact.company_name,
        "owner_id": contact.owner_id,
        "lifecycle_stage": contact.lifecycle_stage.value,
        "tags": list(contact.tags),
        "source": contact.source,
        "custom_json": _custom_out(contact.custom_fields),
        "created_at": contact.created_at,
        "updated_at": contact.updated_at,
        "created_by": contact.created_by,
        "updated_by": contact.updated_by,
        "deleted_at": contact.deleted_at,
        "merged_into": contact.merged_into,
        "merged_from": list(contact.merged_from),
        "last_activity_at": contact.last_activity_at,
        "search_text": contact.search_text,
        "last_name_key": contact.last_name_key,
        "version": contact.version,
        "external_id": contact.external_id,
        "import_job": contact.import_job,
    }


def contact_from_doc(doc: Mapping[str, Any]) -> Contact:
    return Contact(
        id=doc["_id"],
        workspace_id=doc["workspace_id"],
        first_name=doc.get("first_name") or "",
        last_name=doc.get("last_name") or "",
        emails=list(doc.get("emails") or []),
        phones=list(doc.get("phones") or []),
        title=doc.get("title"),
        company_id=doc.get("company_id"),
        company_name=doc.get("company_name"),
        owner_id=doc.get("owner_id"),
        lifecycle_stage=LifecycleStage(doc.get("lifecycle_stage") or "lead"),
        tags=list(doc.get("tags") or []),
        source=doc.get("source"),
        custom_fields=_custom_in(doc.get("custom_json")),
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
        created_by=doc.get("created_by"),
        updated_by=doc.get("updated_by"),
        deleted_at=doc.get("deleted_at"),
        merged_into=doc.get("merged_into"),
        merged_from=list(doc.get("merged_from") or []),
        last_activity_at=doc.get("last_activity_at"),
        version=int(doc.get("version") or 1),
        external_id=doc.get("external_id"),
        import_job=doc.get("import_job"),
    )


def company_to_doc(company: Company) -> dict[str, Any]:
    address = company.address
    return {
        "_id": company.id,
        "workspace_id": company.workspace_id,
        "name": company.name,
        "name_key": company.name_key,
        "domain": company.domain,
        # Unique per workspace; a company without a domain gets a placeholder of its own.
        "domain_key": company.domain or f"none:{company.id}",
        "industry": company.industry,
        "size": company.size,
        "address": {
            "street": address.street,
            "city": address.city,
            "region": address.region,
            "postal_code": address.postal_code,
            "country": address.country,
        },
        "website": company.website,
        "owner_id": company.owner_id,
        "tags": list(company.tags),
        "custom_json": _custom_out(company.custom_fields),
        "search_text": company.search_text,
        "created_at": company.created_at,
        "updated_at": company.updated_at,
        "created_by": company.created_by,
        "updated_by": company.updated_by,
        "deleted_at": company.deleted_at,
        "version": company.version,
        "external_id": company.external_id,
        "import_job": company.import_job,
    }


def company_from_doc(doc: Mapping[str, Any]) -> Company:
    address = doc.get("address") or {}
    return Company(
        id=doc["_id"],
        workspace_id=doc["workspace_id"],
        name=doc["name"],
        domain=doc.get("domain"),
        industry=doc.get("industry"),
        size=doc.get("size"),
        address=Address(
            street=address.get("street"),
            city=address.get("city"),
            region=address.get("region"),
            postal_code=address.get("postal_code"),
            country=address.get("country"),
        ),
        website=doc.get("website"),
        owner_id=doc.get("owner_id"),
        tags=list(doc.get("tags") or []),
        custom_fields=_custom_in(doc.get("custom_json")),
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
        created_by=doc.get("created_by"),
        updated_by=doc.get("updated_by"),
        deleted_at=doc.get("deleted_at"),
        version=int(doc.get("version") or 1),
        external_id=doc.get("external_id"),
        import_job=doc.get("import_job"),
    )


def interaction_to_doc(interaction: Interaction) -> dict[str, Any]:
    return {
        "_id": interaction.id,
        "workspace_id": interaction.workspace_id,
        "kind": interaction.kind.value,
        "occurred_at": interaction.occurred_at,
        "direction": interaction.direction.value if interaction.direction else None,
        "subject": interaction.subject,
        "summary": interaction.summary,
        "participants": list(interaction.participants),
        "duration_seconds": interaction.duration_seconds,
        "contact_ids": list(interaction.contact_ids),
        "company_id": interaction.company_id,
        "deal_id": interaction.deal_id,
        "logged_by": interaction.logged_by,
        "created_at": interaction.created_at,
        "source": interaction.source,
        "revision": interaction.revision,
        "removed_at": interaction.removed_at,
        "external_id": interaction.external_id,
        "import_job": interaction.import_job,
    }


def interaction_from_doc(doc: Mapping[str, Any]) -> Interaction:
    direction = doc.get("direction")
    return Interaction(
        id=doc["_id"],
        workspace_id=doc["workspace_id"],
        kind=InteractionKind(doc["kind"]),
        occurred_at=doc["occurred_at"],
        direction=Direction(direction) if direction else None,
        subject=doc.get("subject"),
        summary=doc.get("summary"),
        participants=list(doc.get("participants") or []),
        duration_seconds=doc.get("duration_seconds"),
        contact_ids=list(doc.get("contact_ids") or []),
        company_id=doc.get("company_id"),
        deal_id=doc.get("deal_id"),
        logged_by=doc.get("logged_by"),
        created_at=doc["created_at"],
        source=doc.get("source"),
        revision=int(doc.get("revision") or 0),
        removed_at=doc.get("removed_at"),
        external_id=doc.get("external_id"),
        import_job=doc.get("import_job"),
    )


def merge_to_doc(record: MergeRecord) -> dict[str, Any]:
    return {
        "_id": merge_id(record.workspace_id, record.duplicate_id),
        "workspace_id": record.workspace_id,
        "duplicate_id": record.duplicate_id,
        "survivor_id": record.survivor_id,
        "moved_interactions": record.moved_interactions,
        "changed_fields": list(record.changed_fields),
        "status": record.status,
        "started_at": record.started_at,
        "finished_at": record.finished_at,
    }


def merge_from_doc(doc: Mapping[str, Any]) -> MergeRecord:
    return MergeRecord(
        duplicate_id=doc["duplicate_id"],
        workspace_id=doc["workspace_id"],
        survivor_id=doc["survivor_id"],
        moved_interactions=int(doc.get("moved_interactions") or 0),
        changed_fields=list(doc.get("changed_fields") or []),
        status=doc.get("status") or "started",
        started_at=doc["started_at"],
        finished_at=doc.get("finished_at"),
    )


def merge_id(workspace_id: str, duplicate_id: str) -> str:
    return f"{workspace_id}:{duplicate_id}"


# One contact per primary email and one company per domain, per workspace (scalar keys:
# FerretDB has no partial indexes and does not enforce uniqueness per array element).
CONTACT = RecordType(
    CONTACTS, contact_to_doc, contact_from_doc, unique=("email_key",), versioned=True
)
COMPANY = RecordType(
    COMPANIES, company_to_doc, company_from_doc, unique=("domain_key",), versioned=True
)
INTERACTION = RecordType(INTERACTIONS, interaction_to_doc, interaction_from_doc)
MERGE = RecordType(MERGES, merge_to_doc, merge_from_doc)
