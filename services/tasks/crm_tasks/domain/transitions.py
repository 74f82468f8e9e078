"""Valid task status transitions."""

from __future__ import annotations

ALLOWED: dict[str, frozenset[str]] = {
    "open": frozenset({"in_progress", "done", "cancelled"}),
    "in_progress": frozenset({"open", "done", "cancelled"}),
    "done": frozenset(),
    "cancelled": frozenset(),
}


class InvalidTransition(Exception):
    def __init__(self, current: str, requested: str) -> None:
        super().__init__(f"a task cannot go from {current} to {requested}")
        self.current = current
        self.requested = requested
        self.allowed = sorted(ALLOWED.get(current, frozenset()))


def check_transition(current: str, requested: str) -> None:
    """Raise InvalidTransition unless `current -> requested` is allowed."""
    if requested not in ALLOWED.get(current, frozenset()):
        raise InvalidTransition(current, requested)


def can_transition(current: str, requested: str) -> bool:
    return requested in ALLOWED.get(current, frozenset())
