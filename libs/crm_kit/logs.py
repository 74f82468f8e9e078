"""Structured JSON logs on stderr, one object per line, with the trace and request ids."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime

import orjson

from .context import current_request
from .telemetry import current_ids


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        ids = current_ids()
        if ids is not None:
            entry["trace_id"], entry["span_id"] = ids
        request = current_request()
        if request is not None:
            entry["workspace"] = request.workspace_id
            entry["sub"] = request.subject
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's access log duplicates what the services log themselves.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    logging.getLogger(service).debug("logging configured")


def log_fields(**fields: object) -> dict[str, object]:
    """`logger.info("x", extra=log_fields(a=1))` puts the fields into the JSON line."""
    return {"fields": fields}
