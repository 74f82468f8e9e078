"""Saved mapping templates: a workspace names a mapping once and applies it to the next
file of the same shape (`setImportMapping` with the template's mapping)."""

from __future__ import annotations

from typing import Any

from crm_kit.errors import BadUserInput, NotFound

from ..domain.template import MappingTemplate, template_id
from .jobs import checked_mapping, record_type_of
from .scope import Scope

MAX_NAME = 100


async def save(scope: Scope, name: str, record_type: str, mapping: Any) -> MappingTemplate:
    """Saved under its name (a template of the same name and record type is replaced)."""
    scope.require_importer()
    name = " ".join(name.split())
    if not name or len(name) > MAX_NAME:
        raise BadUserInput(f"1 to {MAX_NAME} characters", field="name")
    record_type_of(record_type)
    checked = checked_mapping(mapping, record_type, None)
    template = MappingTemplate(
        id=template_id(scope.workspace_id, record_type, name),
        workspace_id=scope.workspace_id,
        name=name,
        record_type=record_type,
        mapping=checked.to_json(),
        created_by=scope.caller.subject,
        updated_at=scope.now(),
    )
    await scope.store.put_template(template)
    return template


async def listed(scope: Scope, record_type: str | None) -> list[MappingTemplate]:
    scope.require_importer()
    if record_type is not None:
        record_type_of(record_type)
    return await scope.store.templates(record_type)


async def delete(scope: Scope, template_id_: str) -> str:
    scope.require_importer()
    if not await scope.store.delete_template(template_id_):
        raise NotFound(f"no template {template_id_}", field="id")
    return template_id_
