"""Identifiers: 24-hex ObjectIds as strings, time-ordered so newest-first sorts are cheap."""

from __future__ import annotations

from bson import ObjectId


def new_id() -> str:
    return str(ObjectId())


def is_id(value: str) -> bool:
    return ObjectId.is_valid(value)
