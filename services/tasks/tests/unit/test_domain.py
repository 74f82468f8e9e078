"""Pure domain rules: status transitions, rule conditions, assignment strategies."""

from __future__ import annotations

import pytest

from crm_tasks.domain.assignment import EmptyTeam, fewest_open_pick, round_robin_pick
from crm_tasks.domain.conditions import InvalidCondition, all_hold, holds, resolve, validate
from crm_tasks.domain.rule import Condition
from crm_tasks.domain.transitions import InvalidTransition, can_transition, check_transition

ALLOWED = {
    ("open", "in_progress"),
    ("open", "done"),
    ("open", "cancelled"),
    ("in_progress", "done"),
    ("in_progress", "open"),
    ("in_progress", "cancelled"),
}
STATUSES = ("open", "in_progress", "done", "cancelled")


@pytest.mark.parametrize("current", STATUSES)
@pytest.mark.parametrize("requested", STATUSES)
def test_only_the_documented_transitions_are_allowed(current: str, requested: str) -> None:
    expected = (current, requested) in ALLOWED
    assert can_transition(current, requested) is expected
    if expected:
        check_transition(current, requested)
    else:
        with pytest.raises(InvalidTransition):
            check_transition(current, requested)


DATA = {
    "toStage": "proposal",
    "fromStage": None,
    "deal": {"amountMinor": 250000, "ownerId": "bob", "tags": ["vip", "eu"]},
    "contactIds": ["c1", "c2"],
    "changedAt": "2026-03-02T09:00:00Z",
    "flag": True,
}


@pytest.mark.parametrize(
    ("path", "op", "value", "expected"),
    [
        ("toStage", "eq", "proposal", True),
        ("toStage", "eq", "won", False),
        ("toStage", "neq", "won", True),
        ("missing", "neq", "x", True),
        ("missing", "eq", "x", False),
        ("deal.amountMinor", "gt", 100000, True),
        ("deal.amountMinor", "gt", 250000, False),
        ("deal.amountMinor", "lt", 250000.5, True),
        ("deal.amountMinor", "eq", 250000.0, True),
        ("deal.amountMinor", "gt", "100", False),  # number vs text never compares
        ("changedAt", "gt", "2026-01-01", True),
        ("toStage", "in", ["proposal", "negotiation"], True),
        ("toStage", "in", ["won"], False),
        ("deal.tags", "in", ["eu"], True),
        ("contactIds.1", "eq", "c2", True),
        ("contactIds.5", "exists", None, False),
        ("deal.ownerId", "exists", None, True),
        ("fromStage", "exists", True, False),
        ("fromStage", "exists", False, True),
        ("flag", "eq", 1, False),  # booleans are not numbers
        ("flag", "eq", True, True),
    ],
)
def test_conditions(path: str, op: str, value: object, expected: bool) -> None:
    assert holds(Condition(path, op, value), DATA) is expected


def test_all_conditions_must_hold() -> None:
    yes = Condition("toStage", "eq", "proposal")
    no = Condition("deal.amountMinor", "lt", 10)
    assert all_hold([yes], DATA)
    assert not all_hold([yes, no], DATA)
    assert all_hold([], DATA)


def test_resolve_walks_dicts_and_lists() -> None:
    assert resolve(DATA, "deal.tags.0") == "vip"


@pytest.mark.parametrize(
    "condition",
    [
        Condition("", "eq", 1),
        Condition("a..b", "eq", 1),
        Condition("a", "like", 1),
        Condition("a", "in", "x"),
        Condition("a", "gt", [1]),
        Condition("a", "exists", "yes"),
    ],
)
def test_invalid_conditions_are_refused(condition: Condition) -> None:
    with pytest.raises(InvalidCondition):
        validate(condition)


def test_round_robin_cycles_through_members_in_order() -> None:
    members = ["a", "b", "c"]
    assert [round_robin_pick(members, n) for n in range(1, 8)] == list("abcabca")


def test_fewest_open_picks_least_loaded_then_list_order() -> None:
    assert fewest_open_pick(["a", "b", "c"], {"a": 2, "b": 1, "c": 1}) == "b"
    assert fewest_open_pick(["a", "b"], {}) == "a"
    assert fewest_open_pick(["a", "b"], {"a": 1}) == "b"


def test_empty_team_has_no_pick() -> None:
    with pytest.raises(EmptyTeam):
        round_robin_pick([], 1)
    with pytest.raises(EmptyTeam):
        fewest_open_pick([], {})
