"""`run.py --stages`: the tasks service started through this module, which wraps a few of
its functions to note, per stage change, when each step of the playbook path happened
(wall-clock seconds, `time.time()`: the bench in its own process notes the publish and
the receipt of the `task.created` events on the same clock), then runs `python -m
crm_tasks` as usual. Nothing of the service's code changes; the notes are lines of JSON
appended to `$STAGE_TRACE_FILE`, one per pull and one per playbook batch:

- a pull (`Gathering.take`): per event its `Nats-Msg-Id`, when JetStream stored it in
  the stream (the message's metadata), when the pull's first fetch returned, and when
  the gathering window ended (the same when no window was gathered);
- a batch (`apply_playbooks`): its deals, when the handler began, when the store of the
  tasks began and returned (queryable from then: the read index is refreshed by the
  write), and when the handler returned (the second outcome read after it).
"""

from __future__ import annotations

import functools
import os
import runpy
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

import orjson

ROOT = Path(__file__).resolve().parents[2]
for sub in ("libs", "services/tasks"):
    sys.path.insert(0, str(ROOT / sub))

from crm_contracts.envelope import HEADER_MSG_ID  # noqa: E402
from crm_kit import gathering  # noqa: E402
from crm_tasks.entrypoints import consumers  # noqa: E402
from crm_tasks.usecases import playbooks  # noqa: E402

_out: TextIO | None = None


def _note(record: dict[str, Any]) -> None:
    assert _out is not None
    _out.write(orjson.dumps(record).decode() + "\n")
    _out.flush()  # small: a line per pull and per batch, read after the run


def _stream_time(message: Any) -> float | None:
    try:
        return float(message.metadata.timestamp.timestamp())
    except (AttributeError, ValueError, TypeError):  # not a JetStream delivery
        return None


def _wrap_take(take: Callable[..., Any]) -> Callable[..., Any]:
    fetched: dict[int, float] = {}
    original_pull = gathering.pull_within

    async def pull_within(*args: Any, **kwargs: Any) -> Any:
        import asyncio

        fetched[id(asyncio.current_task())] = time.time()
        return await original_pull(*args, **kwargs)

    gathering.pull_within = pull_within  # type: ignore[assignment]

    @functools.wraps(take)
    async def traced(self: Any, *args: Any, **kwargs: Any) -> Any:
        import asyncio

        entered = time.time()
        messages = await take(self, *args, **kwargs)
        taken = time.time()
        first = fetched.pop(id(asyncio.current_task()), taken)
        if messages:
            _note(
                {
                    "pull": [
                        {
                            "id": (m.headers or {}).get(HEADER_MSG_ID),
                            "stream": _stream_time(m),
                        }
                        for m in messages
                    ],
                    "entered": entered,
                    "fetched": first,
                    "taken": taken,
                }
            )
        return messages

    return traced


def _wrap_apply(apply: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(apply)
    async def traced(scope: Any, changes: Sequence[Any]) -> Any:
        began = time.time()
        try:
            return await apply(scope, changes)
        finally:
            _note(
                {
                    "batch": [change.deal_id for change in changes],
                    "began": began,
                    "ended": time.time(),
                }
            )

    return traced


def _wrap_store(store: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(store)
    async def traced(scope: Any, by_deal: Any) -> Any:
        started = time.time()
        try:
            return await store(scope, by_deal)
        finally:
            _note({"stored": list(by_deal), "store_began": started, "store_ended": time.time()})

    return traced


def install(path: str) -> None:
    global _out
    _out = open(path, "a")  # noqa: SIM115 (the process's lifetime)
    gathering.Gathering.take = _wrap_take(gathering.Gathering.take)  # type: ignore[method-assign]
    consumers.apply_playbooks = _wrap_apply(consumers.apply_playbooks)  # type: ignore[assignment]
    playbooks.store_playbook_tasks = _wrap_store(playbooks.store_playbook_tasks)  # type: ignore[assignment]


if __name__ == "__main__":
    install(os.environ["STAGE_TRACE_FILE"])
    runpy.run_module("crm_tasks", run_name="__main__", alter_sys=True)
