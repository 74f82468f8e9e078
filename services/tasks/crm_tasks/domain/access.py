"""The workspace's sharing settings (`crm_kit.sharing`): which records reps see, per
record type, and which roles read the sensitive fields. The tasks service owns them, as it
owns the teams they build on. They also say how long the workspace's audit log is kept.
Every change is announced whole (`AccessSettingsChanged`)
so every service keeps its own view of them (`crm_kit.access_view`)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from crm_kit.entity import Entity
from crm_kit.sharing import AccessSettings


@dataclass
class WorkspaceAccess(Entity):
    workspace_id: str
    settings: AccessSettings = field(default_factory=AccessSettings)
    updated_at: datetime | None = None
    updated_by: str | None = None
    # Bumped by every save (a save is conditional on the version read).
    version: int = 0

    def set_level(self, record_type: str, level: str, by: str, at: datetime) -> bool:
        if self.settings.level(record_type) == level:
            return False
        sharing = {**self.settings.sharing, record_type: level}
        return self._set(replace(self.settings, sharing=sharing), by, at)

    def set_field_roles(
        self, sensitive_field: str, roles: frozenset[str], by: str, at: datetime
    ) -> bool:
        if self.settings.roles_for(sensitive_field) == roles:
            return False
        field_roles = {**self.settings.field_roles, sensitive_field: roles}
        return self._set(replace(self.settings, field_roles=field_roles), by, at)

    def set_audit_retention(self, days: int | None, by: str, at: datetime) -> bool:
        if self.settings.audit_retention_days == days:
            return False
        return self._set(replace(self.settings, audit_retention_days=days), by, at)

    def _set(self, settings: AccessSettings, by: str, at: datetime) -> bool:
        # Each change numbers the settings one up: the projections apply them in order.
        self.settings = replace(settings, version=self.settings.version + 1)
        self.updated_at, self.updated_by = at, by
        self.raise_event(AccessSettingsChanged(self))
        return True


@dataclass(frozen=True)
class AccessSettingsChanged:
    access: WorkspaceAccess
