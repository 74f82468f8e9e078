"""Pieces of MongoDB filters that every service builds."""

from __future__ import annotations

from typing import Any


def bounds(**operators: Any) -> dict[str, Any]:
    """A range condition from the bounds that are given: `bounds(gte=a, lt=None)` is
    `{"$gte": a}`; empty when none is (the caller then leaves the field unfiltered)."""
    return {f"${op}": value for op, value in operators.items() if value is not None}
