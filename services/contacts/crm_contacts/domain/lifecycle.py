"""What contacts and companies share: changes stamped with who and when, and a soft
delete that restoring undoes. The entity raises its own events around these."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar


class Stamped:
    # Attributes clients may change, with the names they know them by (camelCase).
    FIELD_NAMES: ClassVar[Mapping[str, str]]
    updated_at: datetime
    updated_by: str | None
    deleted_at: datetime | None

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None

    def _apply(self, values: Mapping[str, Any], *, at: datetime, by: str) -> list[str]:
        """Set validated `values` (attribute -> value); the changed fields (client names),
        stamped with who and when, or empty (then nothing is stamped)."""
        before = {name: copy.deepcopy(getattr(self, name)) for name in self.FIELD_NAMES}
        for name, value in values.items():
            setattr(self, name, value)
        changed = [
            wire for name, wire in self.FIELD_NAMES.items() if before[name] != getattr(self, name)
        ]
        if changed:
            self.updated_at, self.updated_by = at, by
        return changed

    def _delete(self, *, at: datetime, by: str) -> bool:
        if self.deleted:
            return False
        self.deleted_at = self.updated_at = at
        self.updated_by = by
        return True

    def _restore(self, *, at: datetime, by: str) -> bool:
        if not self.deleted:
            return False
        self.deleted_at = None
        self.updated_at, self.updated_by = at, by
        return True
