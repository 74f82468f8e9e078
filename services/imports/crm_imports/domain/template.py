"""A saved mapping: a workspace reuses it for the next file of the same shape."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass
class MappingTemplate:
    id: str
    workspace_id: str
    name: str
    record_type: str
    mapping: dict[str, Any]
    created_by: str
    updated_at: datetime


def template_id(workspace_id: str, record_type: str, name: str) -> str:
    """One template per name and record type: saving the name again replaces it."""
    key = f"{workspace_id}\x00{record_type}\x00{' '.join(name.split()).casefold()}"
    return "tpl_" + hashlib.sha256(key.encode()).hexdigest()[:24]
