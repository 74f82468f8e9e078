"""Signatures (the Standard Webhooks test vector), the retry schedule, the SSRF guard, the
per-record queue, endpoint validation and who may manage webhooks."""

from __future__ import annotations

import pytest

from crm_kit.context import RequestContext
from crm_kit.errors import BadUserInput, Forbidden
from crm_kit.memory_db import MemoryDatabase
from crm_webhooks.config import DEFAULT_SCHEDULE, DeliverySettings
from crm_webhooks.domain.addresses import check_url, public
from crm_webhooks.domain.delivery import Lane
from crm_webhooks.domain.events import DeliveryBecameDue
from crm_webhooks.domain.schedule import retry_delay
from crm_webhooks.domain.signing import new_secret, signature, verify
from crm_webhooks.entrypoints.sender import Sender
from crm_webhooks.events.publish import encode
from crm_webhooks.store.memory import memory_store
from crm_webhooks.usecases import endpoints
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
