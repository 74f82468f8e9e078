"""Idempotency keys (`crm_kit.idempotency`) over in-memory records, and the subgraph gate
that applies them (`crm_kit.keyed_http`): a repeat gets the stored response, another
request with the key is refused, a concurrent repeat waits, a dead attempt is taken over
in the same operation, a failed one is released. (On FerretDB with a real service:
services/contacts/tests/integration/test_idempotency_keys.py.)"""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import strawberry
from strawberry.federation import Schema

from crm_kit import faults
from crm_kit.clock import utcnow
from crm_kit.context import RequestContext
from crm_kit.idempotency import (
    Attempt,
    IdempotencyKeys,
    IdempotencySettings,
    KeyInUse,
    KeyRefused,
    KeyReused,
    MemoryKeyRecords,
    StoredResponse,
    checked_key,
    checked_step,
    request_fingerprint,
)
from crm_kit.ids import new_id
from crm_kit.runtime import build_http_app
from crm_kit.testing import gateway_auth, running_app

ALICE = RequestContext("w1", "alice", frozenset({"rep"}))
BOB = RequestContext("w1", "bob", frozenset({"rep"}))
DONE = StoredResponse(200, "application/json", b'{"data": {"x": 1}}')


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _keys(
    records: MemoryKeyRecords | None = None, clock: Clock | None = None, **settings: float
) -> IdempotencyKeys:
    return IdempotencyKeys(
        records or MemoryKeyRecords(),
        IdempotencySettings(**{"wait_seconds": 0.3, "stale_seconds": 10.0, **settings}),
        clock=clock or Clock(),
    )


def test_keys_and_steps_have_bounds() -> None:
    for good in ("a", "x" * 255, "4f1c2a8e-0c7b-4d2e-9f3a-1b2c3d4e5f60", "AZaz09-_.:~+/="):
        assert checked_key(good) == good
    for bad in ("", "x" * 256, "has space", "é", "line\nbreak", "a;b", 'quote"'):
        with pytest.raises(KeyRefused):
            checked_key(bad)
    assert checked_step(None) == 1 and checked_step("3") == 3
    for bad_step in ("0", "-1", "x", "12345"):
        with pytest.raises(KeyRefused):
            checked_step(bad_step)


def test_a_fingerprint_ignores_how_variables_were_ordered() -> None:
    one = request_fingerprint("mutation { a }", None, {"x": 1, "y": {"b": 2, "a": 1}})
    same = request_fingerprint("mutation { a }", None, {"y": {"a": 1, "b": 2}, "x": 1})
    assert one == same
    assert one != request_fingerprint("mutation { a }", None, {"x": 2, "y": {"a": 1, "b": 2}})
    assert one != request_fingerprint("mutation { b }", None, {"x": 1, "y": {"a": 1, "b": 2}})


async def test_the_first_request_runs_and_a_repeat_gets_its_response() -> None:
    keys = _keys()
    first = await keys.begin(ALICE, "k1", 1, "f")
    assert isinstance(first, Attempt) and first.number == 1
    await keys.finish(first, DONE)
    assert await keys.begin(ALICE, "k1", 1, "f") == DONE
    # Per caller and per step: the same key is another record there.
    assert isinstance(await keys.begin(BOB, "k1", 1, "f"), Attempt)
    assert isinstance(await keys.begin(ALICE, "k1", 2, "g"), Attempt)
    elsewhere = RequestContext("w2", "alice", frozenset({"rep"}))
    assert isinstance(await keys.begin(elsewhere, "k1", 1, "f"), Attempt)


async def test_the_same_key_with_another_request_is_refused_even_while_it_runs() -> None:
    keys = _keys()
    await keys.begin(ALICE, "k1", 1, "f")
    with pytest.raises(KeyReused):
        await keys.begin(ALICE, "k1", 1, "other")


async def test_a_concurrent_repeat_waits_for_the_first_and_gets_its_response() -> None:
    keys = _keys(wait_seconds=5.0)
    first = await keys.begin(ALICE, "k1", 1, "f")
    assert isinstance(first, Attempt)
    repeat = asyncio.ensure_future(keys.begin(ALICE, "k1", 1, "f"))
    await asyncio.sleep(0.1)
    assert not repeat.done()  # waiting
    await keys.finish(first, DONE)
    assert await asyncio.wait_for(repeat, 2) == DONE


async def test_a_repeat_waits_a_bounded_time_then_is_told_to_retry() -> None:
    keys = _keys(wait_seconds=0.2)
    await keys.begin(ALICE, "k1", 1, "f")
    with pytest.raises(KeyInUse):
        await keys.begin(ALICE, "k1", 1, "f")


async def test_a_silent_attempt_is_taken_over_in_the_same_operation() -> None:
    clock, records = Clock(), MemoryKeyRecords()
    keys = _keys(records, clock, wait_seconds=0.2, stale_seconds=10.0)
    first = await keys.begin(ALICE, "k1", 1, "f")
    assert isinstance(first, Attempt)
    clock.now += timedelta(seconds=5)
    with pytest.raises(KeyInUse):  # alive as far as anyone knows
        await keys.begin(ALICE, "k1", 1, "f")
    clock.now += timedelta(seconds=6)  # 11 s without a heartbeat: presumed dead
    second = await keys.begin(ALICE, "k1", 1, "f")
    assert isinstance(second, Attempt) and second.number == 2
    assert second.operation.token == first.operation.token
    assert second.operation.started_at == first.operation.started_at
    # The taker is alive now: a third request waits for it, then is told to retry.
    with pytest.raises(KeyInUse):
        await keys.begin(ALICE, "k1", 1, "f")
    # A taker that died before noting its attempt in the record is found by its lease.
    records.docs[first.record_id]["attempt"] = 1
    clock.now += timedelta(seconds=11)
    third = await keys.begin(ALICE, "k1", 1, "f")
    assert isinstance(third, Attempt) and third.number == 3
    await keys.finish(third, DONE)
    assert await keys.begin(ALICE, "k1", 1, "f") == DONE


async def test_a_heartbeat_keeps_a_long_attempt_from_being_taken_over() -> None:
    records = MemoryKeyRecords()
    keys = _keys(records, stale_seconds=0.3, wait_seconds=0.5)
    first = await keys.begin(ALICE, "k1", 1, "f")
    assert isinstance(first, Attempt)
    real = IdempotencyKeys(records, keys.settings)  # wall clock: beats move time on
    records.docs[first.record_id]["alive_at"] = utcnow()
    async with real.heartbeat(first):
        with pytest.raises(KeyInUse):
            await real.begin(ALICE, "k1", 1, "f")
    await asyncio.sleep(0.4)  # silent past the stale time: taken over
    assert isinstance(await real.begin(ALICE, "k1", 1, "f"), Attempt)


async def test_a_released_key_runs_again_at_once() -> None:
    keys = _keys(wait_seconds=5.0)
    first = await keys.begin(ALICE, "k1", 1, "f")
    assert isinstance(first, Attempt)
    await keys.release(first)
    second = await asyncio.wait_for(keys.begin(ALICE, "k1", 1, "f"), 1)
    assert isinstance(second, Attempt) and second.number == 2


async def test_a_key_whose_record_expired_is_a_new_operation() -> None:
    clock, records = Clock(), MemoryKeyRecords()
    keys = _keys(records, clock)
    first = await keys.begin(ALICE, "k1", 1, "f")
    assert isinstance(first, Attempt)
    await keys.finish(first, DONE)
    records.docs.clear()  # the janitor's work after 24 h
    clock.now += timedelta(hours=25)
    again = await keys.begin(ALICE, "k1", 1, "f")
    assert isinstance(again, Attempt)
    assert again.operation.token != first.operation.token


# -- through the subgraph gate ---------------------------------------------------------

SERVICE = "things"
RUNS: list[str] = []


@strawberry.type
class Query:
    @strawberry.field
    def hello(self) -> str:
        return "hi"


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def make(self, name: str, pause: float = 0.0) -> str:
        await asyncio.sleep(pause)
        made = new_id()
        RUNS.append(made)
        return f"{name}:{made}"

    @strawberry.mutation
    def fail(self) -> str:
        RUNS.append("fail")
        raise RuntimeError("disk on fire")


def _app() -> Any:
    return build_http_app(
        schema=Schema(query=Query, mutation=Mutation, federation_version="2.9"),
        context_factory=lambda ctx, request: {},
        service=SERVICE,
        readiness=_ready,
    )


async def _ready() -> dict[str, bool]:
    return {"store": True}


MAKE = "mutation($n: String!, $p: Float! = 0) { make(name: $n, pause: $p) }"
AS_ALICE = gateway_auth(SERVICE, "w1", "alice", "rep")


async def _post(http: Any, body: dict[str, Any], key: str | None, **headers: str) -> Any:
    if key is not None:
        headers["idempotency-key"] = key
    return await http.post("/graphql", json=body, auth=AS_ALICE, headers=headers)


@pytest.fixture(autouse=True)
def _runs() -> None:
    RUNS.clear()


async def test_a_repeated_mutation_runs_once_and_is_answered_from_its_key() -> None:
    async with running_app(_app()) as http:
        body = {"query": MAKE, "variables": {"n": "a"}}
        first = await _post(http, body, "k-1")
        again = await _post(http, body, "k-1")
        assert first.status_code == again.status_code == 200
        assert again.json() == first.json() and len(RUNS) == 1
        assert again.headers["idempotent-replayed"] == "true"
        assert "idempotent-replayed" not in first.headers
        # Without a key, or with another one, it runs again.
        await _post(http, body, None)
        await _post(http, body, "k-2")
        assert len(RUNS) == 3
        # A query ignores the header, even a malformed one.
        query = await _post(http, {"query": "{ hello }"}, "not a key")
        assert query.json() == {"data": {"hello": "hi"}}


async def test_a_key_reused_for_another_request_or_out_of_bounds_is_refused() -> None:
    async with running_app(_app()) as http:
        await _post(http, {"query": MAKE, "variables": {"n": "a"}}, "k-1")
        other = await _post(http, {"query": MAKE, "variables": {"n": "b"}}, "k-1")
        assert other.status_code == 409
        error = other.json()["errors"][0]
        assert error["extensions"] == {"code": "CONFLICT", "field": "idempotency-key"}
        for bad in ("with space", "x" * 256):
            refused = await _post(http, {"query": MAKE, "variables": {"n": "c"}}, bad)
            assert refused.status_code == 400
            ext = refused.json()["errors"][0]["extensions"]
            assert ext == {"code": "BAD_USER_INPUT", "field": "idempotency-key"}
        assert len(RUNS) == 1


async def test_a_concurrent_repeat_waits_and_gets_the_first_ones_response() -> None:
    async with running_app(_app()) as http:
        body = {"query": MAKE, "variables": {"n": "a", "p": 0.3}}
        first, second = await asyncio.gather(_post(http, body, "k-1"), _post(http, body, "k-1"))
        assert first.json() == second.json() and len(RUNS) == 1
        assert first.json()["data"]["make"].startswith("a:")


async def test_a_repeat_that_waited_too_long_is_told_to_retry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("IDEMPOTENCY_WAIT_SECONDS", "0.1")
    async with running_app(_app()) as http:
        body = {"query": MAKE, "variables": {"n": "a", "p": 0.6}}
        slow = asyncio.ensure_future(_post(http, body, "k-1"))
        await asyncio.sleep(0.1)
        busy = await _post(http, body, "k-1")
        assert busy.status_code == 409 and busy.headers["retry-after"] == "1"
        assert busy.json()["errors"][0]["extensions"] == {
            "code": "IDEMPOTENCY_KEY_IN_USE",
            "field": "idempotency-key",
            "retryable": True,
        }
        assert (await slow).status_code == 200
        # Once done, the repeat is answered.
        assert (await _post(http, body, "k-1")).json() == (await slow).json()
        assert len(RUNS) == 1


async def test_a_mutation_that_failed_inside_is_not_kept_and_runs_again() -> None:
    async with running_app(_app()) as http:
        body = {"query": "mutation { fail }"}
        first = await _post(http, body, "k-1")
        assert first.json()["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
        await _post(http, body, "k-1")
        assert RUNS == ["fail", "fail"]


async def test_a_second_run_of_a_key_derives_the_same_ids() -> None:
    """The gate binds the key's operation: a released attempt's repeat makes the ids the
    first run made (what lets its inserts meet the first run's)."""
    app = _app()
    async with running_app(app) as http:
        body = {"query": MAKE, "variables": {"n": "a"}}
        await _post(http, body, "k-1")
        keys = app.state.idempotency_keys
        (record,) = keys.records.docs.values()
        record["state"] = "open"  # as a failed attempt leaves it
        await _post(http, body, "k-1")
        assert len(RUNS) == 2 and RUNS[0] == RUNS[1]


def test_the_fault_point_fires_for_its_key_in_development_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    killed: list[tuple[int, int]] = []
    monkeypatch.setattr(faults.os, "kill", lambda pid, sig: killed.append((pid, sig)))
    monkeypatch.setenv("CRM_FAULT_KILL", f"{faults.BEFORE_STORING_RESULT}:k-1")
    faults.kill_point(faults.BEFORE_STORING_RESULT, "k-2")
    faults.kill_point("elsewhere", "k-1")
    assert killed == []
    faults.kill_point(faults.BEFORE_STORING_RESULT, "k-1")
    assert killed == [(os.getpid(), signal.SIGKILL)]
    monkeypatch.setenv("CRM_ENV", "production")
    faults.kill_point(faults.BEFORE_STORING_RESULT, "k-1")
    assert len(killed) == 1
