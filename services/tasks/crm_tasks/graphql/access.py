"""The sharing settings in GraphQL (`crm_kit.sharing`): read by anyone, set by admins."""

from __future__ import annotations

from enum import Enum

import strawberry

from crm_kit.sharing import RECORD_TYPES, SENSITIVE_FIELDS

from ..domain.access import WorkspaceAccess
from ..usecases import access
from .context import ContextInfo


@strawberry.enum(description="How widely reps see records of one type.")
class SharingLevel(Enum):
    EVERYONE = "everyone"
    TEAM = "team"
    OWN = "own"


@strawberry.enum
class SharedRecordType(Enum):
    DEAL = "deal"
    CONTACT = "contact"
    TASK = "task"


@strawberry.enum(
    description="A field only some roles may read (DEAL_AMOUNT covers every "
    "money figure of a deal)."
)
class SensitiveField(Enum):
    DEAL_AMOUNT = "deal.amount"
    CONTACT_EMAIL = "contact.email"
    CONTACT_PHONE = "contact.phone"


@strawberry.type
class RecordSharing:
    record_type: SharedRecordType
    level: SharingLevel


@strawberry.type
class FieldAccess:
    field: SensitiveField
    roles: list[str] = strawberry.field(description="The roles that read it (admin always).")


@strawberry.type(
    description="Who sees which records (EVERYONE: every member; TEAM: a rep sees their "
    "teams' records; OWN: a rep sees the records they hold; managers also see the "
    "records of the teams they manage, admins everything) and who reads sensitive fields."
)
class SharingSettings:
    records: list[RecordSharing]
    fields: list[FieldAccess]
    version: int
    audit_retention_days: int | None = strawberry.field(
        description="Days every service keeps the workspace's audit log (null: the "
        "platform's AUDIT_RETENTION_DAYS, 365 by default)."
    )

    @classmethod
    def of(cls, found: WorkspaceAccess) -> SharingSettings:
        settings = found.settings
        return cls(
            records=[
                RecordSharing(
                    record_type=SharedRecordType(kind), level=SharingLevel(settings.level(kind))
                )
                for kind in RECORD_TYPES
            ],
            fields=[
                FieldAccess(field=SensitiveField(name), roles=sorted(settings.roles_for(name)))
                for name in SENSITIVE_FIELDS
            ],
            version=settings.version,
            audit_retention_days=settings.audit_retention_days,
        )


async def sharing_settings(info: ContextInfo) -> SharingSettings:
    return SharingSettings.of(await access.access_settings(info.context.scope))


async def set_sharing(
    info: ContextInfo, record_type: SharedRecordType, level: SharingLevel
) -> SharingSettings:
    found = await access.set_sharing(info.context.scope, record_type.value, level.value)
    return SharingSettings.of(found)


async def set_field_access(
    info: ContextInfo, field: SensitiveField, roles: list[str]
) -> SharingSettings:
    found = await access.set_field_access(info.context.scope, field.value, roles)
    return SharingSettings.of(found)


async def set_audit_retention(info: ContextInfo, days: int | None) -> SharingSettings:
    return SharingSettings.of(await access.set_audit_retention(info.context.scope, days))
