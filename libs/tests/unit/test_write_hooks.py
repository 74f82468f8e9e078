"""Write hooks: a read model's failure is logged and the write stands; a required hook's
failure (a claim later look-ups trust) fails the write, after every hook has run."""

from __future__ import annotations

import pytest

from crm_kit.writer import WriteHooks, Written

WRITTEN = Written("contacts", "c1", "w1", None)


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
