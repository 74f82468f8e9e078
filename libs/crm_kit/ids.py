"""Identifiers: 24-hex ObjectIds as strings, time-ordered so newest-first sorts are cheap.
Inside a keyed operation (`crm_kit.operation`) they are derived, not random, so a request
run again after a crash asks for the same ids as its first run."""

from __future__ import annotations

from bson import ObjectId

from .operation import current_operation


def new_id() -> str:
    operation = current_operation()
    if operation is not None:
        return operation.new_id()
    return str(ObjectId())


def is_id(value: str) -> bool:
    return ObjectId.is_valid(value)
