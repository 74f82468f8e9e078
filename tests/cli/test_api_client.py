"""The CLI's GraphQL client (`crm_cli.api`): a fresh idempotency key per mutation, the same
key on each repeat, and repeats only when the answer says repeating is safe."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from crm_cli.api import REPEAT_DELAYS, post_graphql

MUTATION = 'mutation { createTask(input: {title: "x"}) { id } }'
DONE = {"data": {"createTask": {"id": "t1"}}}


def _unavailable(retryable: bool) -> dict[str, Any]:
    return {"errors": [{"message": "down", "extensions": {"code": "X", "retryable": retryable}}]}


class Gateway:
    """Answers from a script; `None` in it drops the connection."""

    def __init__(self, *answers: tuple[int, dict[str, Any]] | None) -> None:
        self.answers = list(answers)
        self.keys: list[str | None] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.keys.append(request.headers.get("idempotency-key"))
        assert json.loads(request.content)["query"]
        answer = self.answers.pop(0)
        if answer is None:
            raise httpx.ReadError("connection reset", request=request)
        status, body = answer
        return httpx.Response(status, json=body, headers={"retry-after": "3"})


def _post(gateway: Gateway, query: str = MUTATION) -> tuple[dict[str, Any], list[float]]:
    waits: list[float] = []
    with httpx.Client(transport=httpx.MockTransport(gateway)) as http:
        body = post_graphql(http, "http://gw/graphql", "t", query, sleep=waits.append)
    return body, waits


def test_a_lost_or_retryable_answer_is_repeated_with_the_same_key() -> None:
    gateway = Gateway(None, (503, _unavailable(True)), (200, DONE))
    body, waits = _post(gateway)
    assert body == DONE
    assert len(gateway.keys) == 3 and len(set(gateway.keys)) == 1 and gateway.keys[0]
    assert waits == [REPEAT_DELAYS[0], 3.0]  # the server's Retry-After when longer


def test_each_mutation_has_its_own_key_and_a_query_none() -> None:
    gateway = Gateway((200, DONE), (200, DONE), (200, {"data": {"me": None}}))
    _post(gateway)
    _post(gateway)
    _post(gateway, "{ me { id } }")
    assert gateway.keys[0] != gateway.keys[1] and gateway.keys[2] is None


def test_what_may_not_be_repeated_is_not_and_repeats_are_bounded() -> None:
    gateway = Gateway((502, _unavailable(False)))
    body, waits = _post(gateway)
    assert body["errors"][0]["extensions"]["retryable"] is False and waits == []
    with pytest.raises(httpx.TransportError):
        _post(Gateway(*[None] * (len(REPEAT_DELAYS) + 1)))
