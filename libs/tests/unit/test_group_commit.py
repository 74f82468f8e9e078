"""Group commit: what is submitted while a write is in flight goes in the next write,
each submitter gets its own result or its write's failure, and a cancelled submitter
stops no one else's write."""

from __future__ import annotations

import asyncio

import pytest

from crm_kit.group_commit import GroupCommit


class Recorder:
    def __init__(self, fail_on: set[int] | None = None) -> None:
        self.writes: list[list[int]] = []
        self.gate = asyncio.Event()
        self.fail_on = fail_on or set()

    async def write(self, items: list[int]) -> list[int]:
        self.writes.append(items)
        await self.gate.wait()
        if self.fail_on & set(items):
            raise ConnectionError("the statement failed")
        return [item * 10 for item in items]


async def test_items_submitted_during_a_write_go_together_in_the_next() -> None:
    recorder = Recorder()
    group: GroupCommit[int, int] = GroupCommit(recorder.write, most=3)
    first = asyncio.ensure_future(group.submit(1))
    await asyncio.sleep(0)
    rest = [asyncio.ensure_future(group.submit(n)) for n in range(2, 7)]
    await asyncio.sleep(0)
    recorder.gate.set()
    assert await first == 10
    assert await asyncio.gather(*rest) == [20, 30, 40, 50, 60]
    assert recorder.writes == [[1], [2, 3, 4], [5, 6]]  # at most 3 a write


async def test_a_failed_write_fails_its_submitters_only() -> None:
    recorder = Recorder(fail_on={2})
    group: GroupCommit[int, int] = GroupCommit(recorder.write, most=2)
    submitted = [asyncio.ensure_future(group.submit(n)) for n in (1, 2, 3)]
    await asyncio.sleep(0)
    recorder.gate.set()
    outcomes = await asyncio.gather(*submitted, return_exceptions=True)
    assert isinstance(outcomes[0], ConnectionError) and isinstance(outcomes[1], ConnectionError)
    assert outcomes[2] == 30


async def test_a_cancelled_submitter_stops_no_one_elses_write() -> None:
    recorder = Recorder()
    group: GroupCommit[int, int] = GroupCommit(recorder.write)
    leaving = asyncio.ensure_future(group.submit(1))
    staying = asyncio.ensure_future(group.submit(2))
    await asyncio.sleep(0)
    leaving.cancel()
    recorder.gate.set()
    assert await staying == 20
    with pytest.raises(asyncio.CancelledError):
        await leaving
    assert recorder.writes == [[1, 2]]


async def test_many_submitted_at_once_go_in_one_write_with_their_results_in_order() -> None:
    """`submit_many` (an import batch's change-log slots): the items queued at once, one
    write for them (within `most`), each item's result in order; a failed write fails
    the call; a write in flight keeps them for the next."""
    recorder = Recorder()
    group: GroupCommit[int, int] = GroupCommit(recorder.write, most=4)
    first = asyncio.ensure_future(group.submit(1))
    await asyncio.sleep(0)
    many = asyncio.ensure_future(group.submit_many([2, 3, 4, 5, 6]))
    await asyncio.sleep(0)
    recorder.gate.set()
    assert await first == 10
    assert await many == [20, 30, 40, 50, 60]
    assert recorder.writes == [[1], [2, 3, 4, 5], [6]]
    assert await group.submit_many([]) == []
    failing = Recorder(fail_on={8})
    failing.gate.set()
    group = GroupCommit(failing.write)
    with pytest.raises(ConnectionError):
        await group.submit_many([7, 8])
    assert await group.submit_many([9]) == [90]  # the next write goes on
