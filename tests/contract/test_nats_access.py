"""Everything the services do on NATS is declared in the access table the server's
permissions are generated from (`crm_contracts.access`): otherwise the server refuses it."""

from __future__ import annotations

from typing import Any

from crm_capture.entrypoints.consumers import subscriptions as capture_subscriptions
from crm_contacts.config import ACCESS_VIEW_CONSUMER as CONTACTS_ACCESS_VIEW
from crm_contacts.entrypoints.consumers import subscriptions as contacts_subscriptions
from crm_contracts.access import Durable, party
from crm_contracts.envelope import service_of
from crm_deals.config import ACCESS_VIEW_CONSUMER as DEALS_ACCESS_VIEW
from crm_deals.entrypoints.consumers import subscriptions as deals_subscriptions
from crm_kit.access_view import AccessViews, access_subscription
from crm_kit.inbound import Subscription
from crm_kit.memory_db import MemoryDatabase
from crm_tasks.config import ACCESS_VIEW_CONSUMER as TASKS_ACCESS_VIEW
from crm_tasks.entrypoints.consumers import subscriptions
from crm_tasks.store.memory import memory_store
from crm_tasks.usecases.scope import scopes

TASKS_CONSUMERS = subscriptions(scopes(memory_store(MemoryDatabase())))


def _durables(service: str, subs: list[Subscription]) -> set[tuple[str, Durable]]:
    return {(service, Durable(service_of(s.subjects[0]), s.durable)) for s in subs}


def _access_view(durable: str) -> list[Subscription]:
    """The consumer of teams and sharing settings each service starts beside its own."""
    return [access_subscription(durable, AccessViews(MemoryDatabase()))]


def _unused(_: Any) -> Any:
    raise AssertionError("only the subscriptions' declarations are read here")


def test_every_durable_consumer_is_declared_for_its_service() -> None:
    used = {
        *_durables("deals", deals_subscriptions(_unused)),
        *_durables("deals", _access_view(DEALS_ACCESS_VIEW)),
        *_durables("tasks", TASKS_CONSUMERS),
        *_durables("tasks", _access_view(TASKS_ACCESS_VIEW)),
        *_durables("contacts", contacts_subscriptions(_unused)),
        *_durables("contacts", _access_view(CONTACTS_ACCESS_VIEW)),
        *_durables("capture", capture_subscriptions(_unused)),
    }
    services = ("contacts", "deals", "tasks", "capture")
    declared = {(name, d) for name in services for d in party(name).durables}
    assert used == declared


def test_a_service_may_answer_the_longest_request_in_time() -> None:
    """NATS lets a service answer a request only within the response window: the win
    model's training (the CLI waits up to TRAIN_TIMEOUT) must fit."""
    from crm_deals.win_model_cli import TRAIN_TIMEOUT
    from crm_kit.nats_auth import RESPONSE_WINDOW, permissions

    assert RESPONSE_WINDOW.endswith("m") and int(RESPONSE_WINDOW[:-1]) * 60 > TRAIN_TIMEOUT
    assert permissions(party("deals"))["allow_responses"]["expires"] == RESPONSE_WINDOW


def test_every_service_holding_access_views_may_follow_the_tasks_stream() -> None:
    """Each instance of contacts, deals and tasks follows the tasks service's team and
    settings events with an ephemeral ordered consumer (`crm_kit.access_feed`)."""
    from crm_contracts.streams import stream_for
    from crm_kit.nats_auth import permissions

    create = f"$JS.API.CONSUMER.CREATE.{stream_for('tasks').name}"
    for name in ("contacts", "deals", "tasks"):
        assert create in permissions(party(name))["publish"]["allow"]
    assert create not in permissions(party("capture"))["publish"]["allow"]
    # Following adds to a service's own rights, takes none away.
    for name in ("contacts", "deals", "tasks"):
        assert f"rpc.{name}.>" in permissions(party(name))["subscribe"]["allow"]
