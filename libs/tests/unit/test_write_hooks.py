"""Write hooks: a read model's failure is logged and the write stands; a required hook's
failure (a claim later look-ups trust) fails the write, after every hook has run, and the
keyed retry of that write runs the hooks again (an update too, though it finds its write
made). The same on FerretDB: tests/integration/test_keyed_writes.py."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crm_kit.memory_db import MemoryDatabase
from crm_kit.operation import Operation, operation_bound
from crm_kit.writer import WriteHooks, Written

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
