"""Write hooks: a read model's failure is logged and the write stands; a required hook's
failure (a claim later look-ups trust) fails the write, after every hook has run, and the
keyed retry of that write runs the hooks again (an update too, though it finds its write
made). The same on FerretDB: tests/integration/test_keyed_writes.py. An import batch's
writes heard together (`emit_batch`): each hook in turn, in one call where it has a batch
form, failures as for one write."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from crm_kit.memory_db import MemoryDatabase
from crm_kit.operation import Operation, operation_bound
from crm_kit.writer import WriteHooks, Written, one_by_one

from ..support.keyed import NameClaims, rename_then_bump
from ..support.things import THING, Thing, encode

WRITTEN = Written("contacts", "c1", "w1", None)


def _operation() -> Operation:
    """One keyed request: each call is a run of it."""
    return Operation(token="a" * 32, started_at=datetime(2026, 3, 1, tzinfo=UTC))


async def test_a_read_model_hook_failing_is_logged_and_the_others_still_hear() -> None:
    heard: list[str] = []
    hooks = WriteHooks()

    async def broken(written: Written) -> None:
        raise RuntimeError("index gone")

    async def listener(written: Written) -> None:
        heard.append(written.doc_id)

    hooks.subscribe(broken)
    hooks.subscribe(listener)
    await hooks.emit(WRITTEN)
    assert heard == ["c1"]


async def test_a_required_hook_failing_fails_the_write_after_the_others_ran() -> None:
    heard: list[str] = []
    hooks = WriteHooks()

    async def claim(written: Written) -> None:
        raise ConnectionError("database down")

    async def listener(written: Written) -> None:
        heard.append(written.doc_id)

    hooks.subscribe(claim, required=True)
    hooks.subscribe(listener)
    with pytest.raises(ConnectionError, match="database down"):
        await hooks.emit(WRITTEN)
    assert heard == ["c1"]


async def test_the_keyed_retry_of_an_update_runs_a_required_hook_that_failed() -> None:
    """The first run saved the rename and failed on its claim (the write failed, so the
    client retries with its key); the retry finds the rename made and claims it."""
    db = MemoryDatabase(encode=encode)
    things = db.records(THING, "w1")
    await things.insert(Thing("t1", "w1", "Ada", score=0))
    claims = NameClaims()
    db.hooks.subscribe(claims.on_write, required=True)
    claims.fail_next = True
    with operation_bound(_operation()), pytest.raises(ConnectionError):
        await rename_then_bump(things, "t1", "Ada L", bump=False)
    assert (await things.get(["t1"]))[0].name == "Ada L"
    assert "Ada L" not in claims.holders  # the gap a look-up by name would fall into
    with operation_bound(_operation()):
        again = await rename_then_bump(things, "t1", "Ada L", bump=False)
    assert again is not None and again.name == "Ada L"
    assert claims.holders["Ada L"] == "t1"
    assert len(db.outbox) == 1  # the rename's event once


def _batch(n: int) -> list[Written]:
    return [Written("deals", f"d{i}", "w1", None, kind="insert") for i in range(n)]


async def test_a_batch_is_heard_by_each_hook_in_turn_whole_or_write_by_write() -> None:
    """`emit_batch` (an import batch's inserts): a hook with a batch form hears every write
    in one call, a hook without one hears each write; the hooks in the order subscribed,
    each done with the whole batch before the next starts (a change log's slots are in
    before the read index installs)."""
    heard: list[tuple[str, list[str]]] = []
    hooks = WriteHooks()

    async def first(written: Written) -> None:
        raise AssertionError("the batch form hears a batch")

    async def first_batch(writes: Sequence[Written]) -> None:
        heard.append(("first", [w.doc_id for w in writes]))

    async def second(written: Written) -> None:
        heard.append(("second", [written.doc_id]))

    async def third(written: Written) -> None:
        heard.append(("third", [written.doc_id]))

    hooks.subscribe(first, batch=first_batch)
    hooks.subscribe(second)  # these two: a task a write calling both, as `emit` does
    hooks.subscribe(third)
    hooks.subscribe(second, batch=one_by_one(second))
    await hooks.emit_batch(_batch(3))
    assert heard == [
        ("first", ["d0", "d1", "d2"]),
        *[(name, [f"d{i}"]) for i in range(3) for name in ("second", "third")],
        *[("second", [f"d{i}"]) for i in range(3)],
    ]
    heard.clear()
    await hooks.emit_batch([])
    assert heard == []


async def test_a_batch_failing_in_a_required_hook_fails_after_every_hook_heard_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    heard: list[str] = []
    hooks = WriteHooks()

    async def journal(writes: Sequence[Written]) -> None:
        raise ConnectionError("database down")

    async def broken(written: Written) -> None:
        if written.doc_id == "d1":
            raise RuntimeError("index gone")
        heard.append(f"broken {written.doc_id}")

    async def listener(written: Written) -> None:
        heard.append(written.doc_id)

    hooks.subscribe(listener, required=True, batch=journal)
    hooks.subscribe(broken)  # a read model's failure: logged, the batch stands
    hooks.subscribe(listener, batch=one_by_one(listener))
    with pytest.raises(ConnectionError, match="database down"):
        await hooks.emit_batch(_batch(3))
    assert heard == ["broken d0", "broken d2", "d0", "d1", "d2"]
    assert "write hook failed for deals d1" in caplog.text  # as `emit` logs it
    # Without the required hook's failure, the read model's is only logged.
    quiet = WriteHooks()
    quiet.subscribe(broken)
    await quiet.emit_batch(_batch(2))


async def test_one_by_one_hears_every_write_and_raises_the_first_failure() -> None:
    heard: list[str] = []

    async def hook(written: Written) -> None:
        heard.append(written.doc_id)
        if written.doc_id != "d0":
            raise ValueError(written.doc_id)

    with pytest.raises(ValueError, match="d1"):
        await one_by_one(hook)(_batch(3))
    assert heard == ["d0", "d1", "d2"]
