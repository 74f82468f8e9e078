"""Choosing a team member: pure parts of the assignment strategies.

Round robin takes the position from an atomic counter in the database (so replicas share
it); fewest-open takes the open-task counts per member from the store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class EmptyTeam(ValueError):
    pass


def round_robin_pick(member_ids: Sequence[str], counter: int) -> str:
    """`counter` is the value after an atomic increment (1 for the first pick)."""
    if not member_ids:
        raise EmptyTeam("the team has no members")
    return member_ids[(counter - 1) % len(member_ids)]


def fewest_open_pick(member_ids: Sequence[str], open_counts: Mapping[str, int]) -> str:
    """The member with the fewest open tasks; ties go to the earlier member in the list."""
    if not member_ids:
        raise EmptyTeam("the team has no members")
    return min(
        member_ids, key=lambda member: (open_counts.get(member, 0), member_ids.index(member))
    )
