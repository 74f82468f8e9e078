"""Signatures (the Standard Webhooks test vector), the retry schedules (the receiver's, and
ours after a failure of our own), the SSRF guard, the per-record queue, endpoint
validation and who may manage webhooks."""

from __future__ import annotations

from collections.abc import Mapping
from itertools import pairwise
from typing import Any

import pytest

from crm_contracts.envelope import new_event
from crm_kit.clock import utcnow
from crm_kit.context import RequestContext
from crm_kit.errors import BadUserInput, Forbidden
from crm_kit.memory_db import MemoryDatabase
from crm_webhooks.config import DEFAULT_SCHEDULE, DeliverySettings
from crm_webhooks.domain.addresses import check_url, public
from crm_webhooks.domain.delivery import Attempt, Lane
from crm_webhooks.domain.events import DeliveryBecameDue
from crm_webhooks.domain.schedule import (
    ERROR_RETRY_FIRST,
    ERROR_RETRY_MAX,
    error_retry_delay,
    retry_delay,
)
from crm_webhooks.domain.signing import new_secret, signature, verify
from crm_webhooks.entrypoints.sender import Sender
from crm_webhooks.events.publish import encode
from crm_webhooks.store.memory import memory_store
from crm_webhooks.usecases import deliveries, dispatch, endpoints, intake
from crm_webhooks.usecases.scope import scopes


def test_the_signature_matches_the_specifications_test_vector() -> None:
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    signed = signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
    assert signed == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert verify(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body, f"v1,x {signed}")
    assert not verify(secret, "msg_other", 1614265330, body, signed)
    assert new_secret().startswith("whsec_") and new_secret() != new_secret()


def test_the_default_schedule_retries_for_more_than_a_day_with_jitter() -> None:
    assert sum(DEFAULT_SCHEDULE) >= 24 * 3600
    delays = [retry_delay(DEFAULT_SCHEDULE, n) for n in range(1, len(DEFAULT_SCHEDULE) + 1)]
    for delay, base in zip(delays, DEFAULT_SCHEDULE, strict=True):
        assert delay is not None and 0.8 * base <= delay <= 1.2 * base
    assert retry_delay(DEFAULT_SCHEDULE, len(DEFAULT_SCHEDULE) + 1) is None


@pytest.mark.parametrize(
    ("address", "ok"),
    [
        ("93.184.216.34", True),
        ("2606:4700::1111", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("192.168.0.10", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("::1", False),
        ("::ffff:127.0.0.1", False),
        ("fd00::1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
    ],
)
def test_only_public_addresses_pass_the_guard(address: str, ok: bool) -> None:
    assert public(address) is ok


@pytest.mark.parametrize("url", ["ftp://x.example/", "http://", "https://u:p@x.example/"])
def test_a_bad_url_names_the_field(url: str) -> None:
    with pytest.raises(BadUserInput) as refused:
        check_url(url, "input.url")
    assert refused.value.field == "input.url"


def test_a_lane_sends_one_delivery_at_a_time_in_order() -> None:
    lane = Lane("ep1:deal-1", "w1")
    for delivery in ("a", "b", "c", "a"):
        lane.enqueue(delivery)
    assert lane.queue == ["a", "b", "c"]
    lane.done("b")  # not the first: nothing becomes due
    lane.done("a")
    due = [e.delivery_id for e in lane.pending_events if isinstance(e, DeliveryBecameDue)]
    assert due == ["a", "c"]
    assert encode(lane.pending_events[0]).type == "crm.webhooks.delivery.due.v1"


async def test_only_admins_manage_webhooks_and_input_errors_name_the_field() -> None:
    store = memory_store(MemoryDatabase(encode=encode))
    scope_of = scopes(store, DeliverySettings())
    rep = scope_of(RequestContext("w1", "bob", frozenset({"rep"})))
    with pytest.raises(Forbidden):
        await endpoints.create(rep, "https://hooks.example/in", ["*"], None)
    admin = scope_of(RequestContext("w1", "ann", frozenset({"admin"})))
    with pytest.raises(BadUserInput) as refused:
        await endpoints.create(admin, "https://hooks.example/in", ["crm.nope.x.y.v1"], None)
    assert refused.value.field == "input.events"
    created, secret = await endpoints.create(
        admin, "https://hooks.example/in", ["crm.deals.deal.won.v1"], "billing"
    )
    assert secret.startswith("whsec_")
    other = scope_of(RequestContext("w2", "ann", frozenset({"admin"})))
    assert await endpoints.listed(other) == []
    rotated, fresh = await endpoints.rotate(admin, created.id)
    assert fresh != secret
    assert set(rotated.signing_secrets(admin.now())) == {secret, fresh}
    with pytest.raises(Forbidden) as private:
        await endpoints.set_private_networks(admin, True)
    assert private.value.field == "allowPrivateNetworks"


async def test_the_sender_refuses_a_loopback_receiver_unless_allowed() -> None:
    sender = Sender()
    try:
        refused = await sender(
            "http://127.0.0.1:9/hooks", {}, b"{}", allow_private=False, timeout=1.0
        )
        assert refused.status_code is None
        assert refused.error is not None and "private" in refused.error
        # Allowed, it tries (and finds nothing listening there).
        tried = await sender("http://127.0.0.1:9/hooks", {}, b"{}", allow_private=True, timeout=1.0)
        assert tried.error is not None and "private" not in tried.error
    finally:
        await sender.aclose()


def test_a_failure_of_our_own_is_retried_soon_then_less_often() -> None:
    delays = [error_retry_delay(n) for n in range(1, 12)]
    assert 0.8 * ERROR_RETRY_FIRST <= delays[0] <= 1.2 * ERROR_RETRY_FIRST
    # Doubling (0.25 s to 8 s: jitter of 20 % never undoes a doubling), then at the cap.
    assert all(later > earlier for earlier, later in pairwise(delays[:6]))
    assert all(0.8 * ERROR_RETRY_MAX <= d <= 1.2 * ERROR_RETRY_MAX for d in delays[-3:])
    assert error_retry_delay(10_000) <= 1.2 * ERROR_RETRY_MAX


async def test_only_attempts_at_the_receiver_move_a_delivery_along_its_schedule() -> None:
    schedule = (1.0, 10.0, 100.0)
    store = memory_store(MemoryDatabase(encode=encode))
    scope_of = scopes(store, DeliverySettings(schedule=schedule))
    admin = scope_of(RequestContext("w1", "ann", frozenset({"admin"})))
    await endpoints.create(admin, "https://hooks.example/in", ["crm.deals.deal.created.v1"], None)
    event = new_event(
        event_type="crm.deals.deal.created.v1",
        source="crm/deals",
        workspace="w1",
        subject="deal-1",
        data={"id": "deal-1"},
    )
    (delivery,) = await intake.take(admin, event)
    sent: list[str] = []

    async def refused(url: str, headers: Mapping[str, str], body: bytes, **_: Any) -> Attempt:
        sent.append(headers["webhook-id"])
        return Attempt(utcnow(), 503, 1.0, "HTTP 503")

    async def ours_failed(url: str, headers: Mapping[str, str], body: bytes, **_: Any) -> Attempt:
        raise ConnectionError("the database went away")

    first = await dispatch.attempt(admin, delivery, refused)
    with pytest.raises(ConnectionError):  # the dispatcher naks it with error_retry_delay
        await dispatch.attempt(admin, delivery, ours_failed)
    second = await dispatch.attempt(admin, delivery, refused)
    assert first.retry_in is not None and 0.8 <= first.retry_in <= 1.2
    # The schedule's second step, not its third: our own failure used none of it.
    assert second.retry_in is not None and 8.0 <= second.retry_in <= 12.0
    await deliveries.redeliver(admin, delivery)  # an admin's redelivery starts anew
    again = await dispatch.attempt(admin, delivery, refused)
    assert again.retry_in is not None and 0.8 <= again.retry_in <= 1.2
    assert sent == [delivery] * 3


async def test_a_fetchs_events_are_taken_together_in_their_order() -> None:
    store = memory_store(MemoryDatabase(encode=encode))
    scope_of = scopes(store, DeliverySettings())
    admin = scope_of(RequestContext("w1", "ann", frozenset({"admin"})))
    hook, _ = await endpoints.create(admin, "https://hooks.example/in", ["*"], None)

    def event(workspace: str, event_type: str, subject: str) -> Any:
        source = f"crm/{event_type.split('.')[1]}"
        data = {"id": subject}
        return new_event(
            event_type=event_type, source=source, workspace=workspace, subject=subject, data=data
        )

    fetched = [
        event("w1", "crm.deals.deal.created.v1", "deal-1"),
        event("w2", "crm.deals.deal.created.v1", "deal-2"),  # w2 has no endpoint
        event("w1", "crm.deals.deal.updated.v1", "deal-1"),
        event("w1", "crm.tasks.task.created.v1", "task-1"),
    ]
    await intake.take_all(
        lambda workspace: scope_of(RequestContext(workspace, "s", frozenset({"admin"}))), fetched
    )
    lane = await admin.store.change_lane(f"{hook.id}:deal-1", _unchanged)
    queued = [await admin.store.delivery(d) for d in lane.queue]
    assert [d.event_type for d in queued if d] == [
        "crm.deals.deal.created.v1",
        "crm.deals.deal.updated.v1",
    ]
    other = scope_of(RequestContext("w2", "ann", frozenset({"admin"})))
    assert (await other.store.change_lane(f"{hook.id}:deal-2", _unchanged)).queue == []
    # One at a time (the kit's fallback) makes the same deliveries: nothing twice.
    assert await intake.take(admin, fetched[0]) == [lane.queue[0]]


async def _unchanged(_: Lane) -> bool:
    return False
