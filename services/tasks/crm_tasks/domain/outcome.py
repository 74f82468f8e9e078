"""How a deal ended, as the deals service announced it: what playbook effectiveness
(analytics) compares tasks against."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass
class DealOutcome:
    deal_id: str
    outcome: str  # won | lost
    closed_at: datetime
    workspace_id: str = ""
