"""The row issues of one batch of a run, kept as one record (written once per batch, so a
batch sent again after a restart writes the same record again)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Issue:
    row: int
    code: str
    severity: str  # error, warning
    message: str
    column: str | None = None
    field: str | None = None
    value: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "column": self.column,
            "field": self.field,
            "value": self.value,
        }

    @classmethod
    def of(cls, data: dict[str, Any]) -> Issue:
        return cls(
            row=int(data["row"]),
            code=str(data["code"]),
            severity=str(data["severity"]),
            message=str(data["message"]),
            column=data.get("column"),
            field=data.get("field"),
            value=data.get("value"),
        )


@dataclass
class IssueBatch:
    id: str
    workspace_id: str
    job_id: str
    issues: list[Issue] = field(default_factory=list)


def issue_batch_id(job_id: str, run: int, batch: int) -> str:
    return f"{job_id}:{run}:{batch:06d}"
