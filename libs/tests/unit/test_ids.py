"""New ids: ObjectId-shaped (24 hex: the time, this process's random part, a counter),
unique, a forked child's apart from its parent's, derived inside a keyed operation."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

from bson import ObjectId

from crm_kit.ids import is_id, new_id
from crm_kit.operation import Operation, operation_bound


def test_new_ids_are_object_ids_of_now_and_unique() -> None:
    before = int(time.time())
    made = [new_id() for _ in range(50_000)]
    after = int(time.time())
    assert len(set(made)) == len(made)
    assert all(is_id(i) and i == i.lower() for i in made[:1000])
    assert before <= ObjectId(made[0]).generation_time.timestamp() <= after
    # The process's part is the same, the counter moves on.
    assert {i[8:18] for i in made} == {made[0][8:18]}
    assert int(made[1][18:], 16) == (int(made[0][18:], 16) + 1) % 0x1000000


def test_a_forked_child_makes_ids_apart_from_its_parent() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its first id, then out
        os.write(write, new_id().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read)
    assert is_id(child) and child[8:18] != new_id()[8:18]


def test_inside_a_keyed_operation_ids_are_derived() -> None:
    operation = Operation(token="b" * 32, started_at=datetime(2026, 3, 1, tzinfo=UTC))
    with operation_bound(operation):
        first = [new_id() for _ in range(3)]
    again = Operation(token="b" * 32, started_at=datetime(2026, 3, 1, tzinfo=UTC))
    with operation_bound(again):
        assert [new_id() for _ in range(3)] == first
